// Benchmarks: `npm run bench -- NAME` runs one (no name: all), prints a table and writes
// its figures to bench/out/NAME.json. Every figure that compares is a ratio of two
// things measured in the same run: these machines are shared and noisy.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { loadModule, instantiate, FLAVOURS } from '../dist/js/node.mjs';

const root = new URL('../', import.meta.url);
const RUNS = 5;
const TARGET_MS = 300; // per run

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// ns per call of an async function: iterations scaled to about TARGET_MS per run,
// RUNS runs, the median reported.
async function measure(fn) {
  let iterations = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (ms >= TARGET_MS / 4) {
      iterations = Math.max(1, Math.round(iterations * TARGET_MS / ms));
      break;
    }
    iterations *= 4;
  }
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    runs.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  return { ns_per_call: median(runs), iterations, runs };
}

function nativeBinary(name) {
  for (const candidate of [`build/native/bench/${name}`, `build/native/${name}`]) {
    if (existsSync(new URL(candidate, root))) return new URL(candidate, root).pathname;
  }
  throw new Error(`${name} not built: run npm run build -- native`);
}

async function wasmSizes() {
  const sizes = {};
  for (const flavour of FLAVOURS) {
    const bytes = await readFile(new URL(`dist/${flavour}/qv.wasm`, root));
    sizes[flavour] = { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  }
  return sizes;
}

const benchmarks = {
  async tiers() {
    const inputPath = new URL('bench/inputs/tiers-evaluate.json', root).pathname;
    const input = await readFile(inputPath, 'utf8');
    const native = JSON.parse(execFileSync(nativeBinary('qv_bench_tiers'), [inputPath], { encoding: 'utf8' }));
    const rows = [{ runtime: 'native (C++ shim)', ns: native.ns_per_call }];
    const figures = { native, wasm: {} };
    for (const flavour of FLAVOURS) {
      const qv = await instantiate(await loadModule(flavour), { log: () => {} });
      const check = await qv.invoke('tiers.evaluate', input);
      if (check.status !== 'ok') throw new Error(`tiers.evaluate failed on ${flavour}: ${JSON.stringify(check.body)}`);
      const result = await measure(() => qv.invoke('tiers.evaluate', input));
      figures.wasm[flavour] = result;
      rows.push({ runtime: `wasm ${flavour} (JS shim, Node ${process.versions.node})`, ns: result.ns_per_call });
    }
    const sizes = await wasmSizes();
    figures.sizes = sizes;
    console.log('tiers.evaluate, 30 days of history, one call through each shim (median of 5 runs)');
    console.log(`${'runtime'.padEnd(44)} ${'ns/call'.padStart(10)} ${'x native'.padStart(9)}`);
    for (const row of rows) {
      console.log(`${row.runtime.padEnd(44)} ${row.ns.toFixed(0).padStart(10)} ${(row.ns / native.ns_per_call).toFixed(2).padStart(9)}`);
    }
    if (native.ns_per_evaluate_direct) {
      console.log(`native, tiers::evaluate alone (no JSON, no ABI): ${native.ns_per_evaluate_direct.toFixed(0)} ns`);
    }
    console.log('\nbundle sizes');
    let total = 0;
    for (const [flavour, size] of Object.entries(sizes)) {
      total += size.gzip;
      console.log(`dist/${flavour}/qv.wasm`.padEnd(28), `${(size.raw / 1024).toFixed(1)} KiB raw`.padStart(16), `${(size.gzip / 1024).toFixed(1)} KiB gzip`.padStart(16));
    }
    console.log(`all .wasm together: ${(total / 1024).toFixed(1)} KiB gzip (budget 250 KiB)`);
    figures.ratios = Object.fromEntries(FLAVOURS.map((f) => [f, figures.wasm[f].ns_per_call / native.ns_per_call]));
    return figures;
  },
};

const names = process.argv.slice(2);
for (const name of names) {
  if (!benchmarks[name]) {
    console.error(`bench: unknown benchmark '${name}' (known: ${Object.keys(benchmarks).join(', ')})`);
    process.exit(2);
  }
}
await mkdir(new URL('bench/out/', root), { recursive: true });
for (const name of names.length ? names : Object.keys(benchmarks)) {
  console.log(`== bench ${name}`);
  const figures = await benchmarks[name]();
  const out = new URL(`bench/out/${name}.json`, root);
  await writeFile(out, JSON.stringify({ benchmark: name, date: new Date().toISOString(), node: process.versions.node, ...figures }, null, 2) + '\n');
  console.log(`figures written to bench/out/${name}.json`);
}

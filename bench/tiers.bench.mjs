// Benchmark `tiers`: ns per tiers.evaluate call natively (through the native shim) and
// through the JS shim on each WebAssembly flavour, their ratio, and the bundle sizes.
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { loadModule, instantiate, FLAVOURS } from '../dist/js/node.mjs';
import { root, measure, mid, alternateRounds, perFlavour, flavourRatios, nativeBinary, wasmSizes, printWasmSizes } from './lib.mjs';

export async function run() {
  const inputPath = new URL('bench/inputs/tiers-evaluate.json', root).pathname;
  const input = await readFile(inputPath, 'utf8');
  const instances = {};
  for (const flavour of FLAVOURS) {
    instances[flavour] = await instantiate(await loadModule(flavour), { log: () => {} });
    const check = await instances[flavour].invoke('tiers.evaluate', input);
    if (check.status !== 'ok') throw new Error(`tiers.evaluate failed on ${flavour}: ${JSON.stringify(check.body)}`);
  }
  const rounds = await alternateRounds({
    native: () => JSON.parse(execFileSync(nativeBinary('qv_bench_tiers'), [inputPath], { encoding: 'utf8' })),
    wasm: () => perFlavour((flavour) => measure(() => instances[flavour].invoke('tiers.evaluate', input))),
  });
  const native = {
    ns_per_call: mid(rounds, (r) => r.native.ns_per_call),
    ns_per_evaluate_direct: mid(rounds, (r) => r.native.ns_per_evaluate_direct),
  };
  const ratios = flavourRatios(rounds, (w) => w.ns_per_call, (n) => n.ns_per_call);
  const rows = [{ runtime: 'native (C++ shim)', ns: native.ns_per_call, ratio: 1 }];
  const figures = { native, wasm: {}, rounds };
  for (const flavour of FLAVOURS) {
    figures.wasm[flavour] = { ns_per_call: mid(rounds, (r) => r.wasm[flavour].ns_per_call) };
    rows.push({ runtime: `wasm ${flavour} (JS shim, Node ${process.versions.node})`, ns: figures.wasm[flavour].ns_per_call, ratio: ratios[flavour] });
  }
  const sizes = await wasmSizes();
  figures.sizes = sizes;
  console.log(`tiers.evaluate, 30 days of history, one call through each shim (median of ${rounds.length} alternated rounds; x native: the median of the rounds' ratios)`);
  console.log(`${'runtime'.padEnd(44)} ${'ns/call'.padStart(10)} ${'x native'.padStart(9)}`);
  for (const row of rows) {
    console.log(`${row.runtime.padEnd(44)} ${row.ns.toFixed(0).padStart(10)} ${row.ratio.toFixed(2).padStart(9)}`);
  }
  if (native.ns_per_evaluate_direct) {
    console.log(`native, tiers::evaluate alone (no JSON, no ABI): ${native.ns_per_evaluate_direct.toFixed(0)} ns`);
  }
  printWasmSizes(sizes);
  figures.ratios = ratios;
  return figures;
}

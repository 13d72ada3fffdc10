// Benchmark `tiers`: ns per tiers.evaluate call natively (through the native shim) and
// through the JS shim on each WebAssembly flavour, their ratio, and the bundle sizes.
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { loadModule, instantiate, FLAVOURS } from '../dist/js/node.mjs';
import { root, measure, nativeBinary, wasmSizes, printWasmSizes } from './lib.mjs';

export async function run() {
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
  printWasmSizes(sizes);
  figures.ratios = Object.fromEntries(FLAVOURS.map((f) => [f, figures.wasm[f].ns_per_call / native.ns_per_call]));
  return figures;
}

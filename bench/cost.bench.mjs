// Benchmark `cost`: estimates per second natively (through the ABI, qv_bench_cost) and
// through the JS shim on each WebAssembly flavour, their ratio; and the time to split
// three shared costs across 10,000 organisations the same three ways. Both sides run on
// the same input files, written to bench/out/ first.
import { readFile, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { loadModule, instantiate, FLAVOURS } from '../dist/js/node.mjs';
import { root, measure, mid, alternateRounds, perFlavour, flavourRatios, nativeBinary, wasmSizes, printWasmSizes } from './lib.mjs';

const ORGANIZATIONS = 10_000;

// 10,000 organisations with a direct cost and a call count from a fixed-seed generator, and
// three shared costs: even, in proportion to direct cost, by calls.
function allocationInput() {
  let state = 2026n;
  const next = () => {
    state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number(state >> 11n) / 2 ** 53;
  };
  const organizations = [];
  for (let i = 0; i < ORGANIZATIONS; i++) {
    organizations.push({
      id: `org_${String(i).padStart(5, '0')}`,
      directCost: Math.round(next() * 500000) / 100,
      metrics: { calls: Math.floor(next() * 50000) },
    });
  }
  return {
    sharedCosts: [
      { name: 'platform', amount: 12000, split: 'even' },
      { name: 'database', amount: 4800.5, split: 'proportional' },
      { name: 'media', amount: 9100.25, split: 'metric', metric: 'calls' },
    ],
    organizations,
  };
}

export async function run() {
  const usage = JSON.parse(await readFile(new URL('examples/usage/growth.json', root), 'utf8'));
  const probe = await instantiate(await loadModule('emscripten'), { log: () => {} });
  const tiers = await probe.call('tiers.catalogue', {});
  const estimateInput = JSON.stringify({ usage, tiers });
  const allocateInput = JSON.stringify(allocationInput());
  const estimatePath = new URL('bench/out/cost-estimate.json', root).pathname;
  const allocatePath = new URL('bench/out/cost-allocate-10k.json', root).pathname;
  await writeFile(estimatePath, estimateInput);
  await writeFile(allocatePath, allocateInput);

  const instances = {};
  for (const flavour of FLAVOURS) {
    instances[flavour] = await instantiate(await loadModule(flavour), { log: () => {} });
    for (const [method, input] of [['cost.estimate', estimateInput], ['cost.allocate', allocateInput]]) {
      const check = await instances[flavour].invoke(method, input);
      if (check.status !== 'ok') throw new Error(`${method} failed on ${flavour}: ${JSON.stringify(check.body)}`);
    }
  }
  const rounds = await alternateRounds({
    native: () => JSON.parse(execFileSync(nativeBinary('qv_bench_cost'), [estimatePath, allocatePath], { encoding: 'utf8' })),
    wasm: () => perFlavour(async (flavour) => ({
      estimate: await measure(() => instances[flavour].invoke('cost.estimate', estimateInput)),
      allocate: await measure(() => instances[flavour].invoke('cost.allocate', allocateInput)),
    })),
  });
  const native = {
    estimate: { ns_per_call: mid(rounds, (r) => r.native.estimate.ns_per_call), ns_per_estimate_direct: mid(rounds, (r) => r.native.estimate.ns_per_estimate_direct) },
    allocate: { ns_per_call: mid(rounds, (r) => r.native.allocate.ns_per_call), ns_per_allocate_direct: mid(rounds, (r) => r.native.allocate.ns_per_allocate_direct) },
  };
  const estimateRatios = flavourRatios(rounds, (w) => w.estimate.ns_per_call, (n) => n.estimate.ns_per_call);
  const allocateRatios = flavourRatios(rounds, (w) => w.allocate.ns_per_call, (n) => n.allocate.ns_per_call);
  const figures = {
    inputs: { estimate: 'examples/usage/growth.json with tiers.catalogue', estimateBytes: estimateInput.length, organizations: ORGANIZATIONS, allocateBytes: allocateInput.length },
    native,
    wasm: Object.fromEntries(FLAVOURS.map((f) => [f, {
      estimate: { ns_per_call: mid(rounds, (r) => r.wasm[f].estimate.ns_per_call) },
      allocate: { ns_per_call: mid(rounds, (r) => r.wasm[f].allocate.ns_per_call) },
    }])),
    ratios: Object.fromEntries(FLAVOURS.map((f) => [f, { estimate: estimateRatios[f], allocate: allocateRatios[f] }])),
    rounds,
  };
  figures.sizes = await wasmSizes();

  const perSecond = (ns) => 1e9 / ns;
  console.log(`cost.estimate of examples/usage/growth.json (with the tier fit), one call through each shim, median of ${rounds.length} alternated rounds (x native: the median of the rounds' ratios)`);
  console.log(`${'runtime'.padEnd(44)} ${'estimates/s'.padStart(12)} ${'ns/call'.padStart(10)} ${'x native'.padStart(9)}`);
  const rows = [['native (ABI, C++)', native.estimate.ns_per_call, 1]];
  for (const flavour of FLAVOURS) rows.push([`wasm ${flavour} (JS shim, Node ${process.versions.node})`, figures.wasm[flavour].estimate.ns_per_call, figures.ratios[flavour].estimate]);
  for (const [name, ns, ratio] of rows) {
    console.log(`${name.padEnd(44)} ${perSecond(ns).toFixed(0).padStart(12)} ${ns.toFixed(0).padStart(10)} ${ratio.toFixed(2).padStart(9)}`);
  }
  console.log(`native, estimate() + write_estimate() alone (no input JSON, no ABI): ${native.estimate.ns_per_estimate_direct.toFixed(0)} ns`);

  console.log(`\ncost.allocate: 3 shared costs (even, proportional, by calls) over ${ORGANIZATIONS.toLocaleString('en')} organisations, ${(allocateInput.length / 1024).toFixed(0)} KiB of input`);
  console.log(`${'runtime'.padEnd(44)} ${'ms/call'.padStart(12)} ${'x native'.padStart(9)}`);
  const allocRows = [['native (ABI, C++)', native.allocate.ns_per_call, 1]];
  for (const flavour of FLAVOURS) allocRows.push([`wasm ${flavour} (JS shim)`, figures.wasm[flavour].allocate.ns_per_call, figures.ratios[flavour].allocate]);
  for (const [name, ns, ratio] of allocRows) {
    console.log(`${name.padEnd(44)} ${(ns / 1e6).toFixed(2).padStart(12)} ${ratio.toFixed(2).padStart(9)}`);
  }
  console.log(`native, allocate() alone (parsed input, no JSON): ${(native.allocate.ns_per_allocate_direct / 1e6).toFixed(2)} ms`);

  printWasmSizes(figures.sizes);

  return figures;
}

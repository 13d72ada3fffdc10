// Benchmark `admission`: (a) KV round trips per admitted request at a steady load below
// the limit; (b) the global admitted rate as a fraction of the limit when 8 isolates
// together offer 3x the limit; (c) ns per decision on the no-KV (leased) path, in wasm
// and natively, and their ratio. (a) and (b) run on a simulated clock (deterministic);
// (c) is timed, both sides in this run.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { loadModule, instantiate, FLAVOURS, MemoryKv } from '../dist/js/node.mjs';
import { simulateAdmission } from '../wasm-tests/admission-sim.mjs';
import { root, measure, mid, alternateRounds, perFlavour, flavourRatios, nativeBinary } from './lib.mjs';

// A tier whose limit a benchmark never reaches, so every decision after the first is
// served from the isolate's lease: bench/inputs/admission-catalogue.json, which
// qv_bench_admission reads too.
const UNREACHABLE_TIER_PATH = new URL('bench/inputs/admission-catalogue.json', root).pathname;
export const UNREACHABLE_TIER = JSON.parse(readFileSync(UNREACHABLE_TIER_PATH, 'utf8'));

export async function run() {
  const steady = await simulateAdmission({ isolates: 4, seconds: 30, perSecond: 600, tier: 'Growth' });
  const roundTrips = steady.kvOps / steady.admitted;
  const flood = await simulateAdmission({ isolates: 8, seconds: 30, perSecond: 300, tier: 'Startup' });
  const allowance = 100 * 30; // Startup: 100 per second for 30 s
  const gcraAllowance = 100 + allowance; // GCRA also lets the initial burst through
  const fraction = flood.admitted / allowance;

  const now = () => 1764115200000; // frozen: the lease never lapses
  const instances = {};
  const input = JSON.stringify({ organizationId: 'org_bench', tier: 'Bench' });
  for (const flavour of FLAVOURS) {
    const qv = await instantiate(await loadModule(flavour), { kv: new MemoryKv({ now }), now, log: () => {} });
    await qv.call('tiers.configure', UNREACHABLE_TIER);
    await qv.call('tiers.admit', input);
    instances[flavour] = qv;
  }
  const rounds = await alternateRounds({
    native: () => JSON.parse(execFileSync(nativeBinary('qv_bench_admission'), [UNREACHABLE_TIER_PATH], { encoding: 'utf8' })),
    wasm: () => perFlavour((flavour) => measure(() => instances[flavour].invoke('tiers.admit', input))),
  });
  const native = { ns_per_call: mid(rounds, (r) => r.native.ns_per_call) };
  const wasm = Object.fromEntries(FLAVOURS.map((f) => [f, { ns_per_call: mid(rounds, (r) => r.wasm[f].ns_per_call) }]));
  const ratios = flavourRatios(rounds, (w) => w.ns_per_call, (n) => n.ns_per_call);

  console.log('(a) steady load below the limit: Growth (1000/s), 4 isolates offering 600/s for 30 simulated s');
  console.log(`    ${steady.admitted} of ${steady.offered} admitted, ${steady.kvOps} KV round trips: ${roundTrips.toFixed(4)} per admitted request (goal <= 0.1)`);
  console.log('(b) overload: Startup (100/s), 8 isolates offering 300/s together for 30 simulated s');
  console.log(`    ${flood.admitted} admitted: ${(fraction * 100).toFixed(2)}% of rate x time (${allowance}; goal within 5%), ${(flood.admitted / gcraAllowance * 100).toFixed(2)}% of what GCRA allows with the initial burst (${gcraAllowance})`);
  console.log(`(c) ns per tiers.admit decision on the leased path (no KV), median of ${rounds.length} alternated rounds (x native: the median of the rounds' ratios)`);
  console.log(`    native (C++ shim)          ${native.ns_per_call.toFixed(0).padStart(8)} ns`);
  for (const flavour of FLAVOURS) {
    console.log(`    wasm ${flavour.padEnd(11)} (JS shim) ${wasm[flavour].ns_per_call.toFixed(0).padStart(8)} ns   ${ratios[flavour].toFixed(2)}x native`);
  }
  return {
    steady: { ...steady, round_trips_per_admitted: roundTrips },
    overload: { ...flood, allowance, gcra_allowance: gcraAllowance, fraction_of_limit: fraction },
    leased_path: { native, wasm, ratios, rounds },
  };
}

// Benchmark `router`: (a) routing decisions per second in WebAssembly (both flavours,
// through the JS shim) and natively (the decision function directly, and through the
// module ABI), and their ratios, all measured in this run; (b) the fraction of calls moved
// when one of n media nodes leaves, against the ideal 1/n; (c) simulated seconds from a
// region's failure to traffic having left it, per kind of failure (virtual clock).
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { loadModule, instantiate, FLAVOURS, MemoryKv } from '../dist/js/node.mjs';
import { simulateRouting, window, STEADY_RTT } from '../wasm-tests/router-sim.mjs';
import { measure, mid, alternateRounds, perFlavour, flavourRatios, nativeBinary, root, wasmSizes, printWasmSizes } from './lib.mjs';

const INPUTS = new URL('bench/inputs/router-clients.json', root);
const NOW = 1764115200000; // frozen, as the native side freezes it

// The warm-up both sides do: every other client's area gets three RTT samples of its two
// preferred regions (bench/inputs/router-clients.json).
async function warmed(flavour, clients, samplesMs) {
  const now = () => NOW;
  const qv = await instantiate(await loadModule(flavour), { kv: new MemoryKv({ now }), now, log: () => {} });
  for (let i = 0; i < clients.length; i += 2) {
    const decision = await qv.call('router.route', { headers: clients[i].headers });
    const regions = [decision.optimalRegion, decision.fallbackRegions[0]];
    for (let s = 0; s < 3; s++) {
      for (let k = 0; k < 2; k++) {
        await qv.call('router.observe', { region: regions[k], area: decision.clientArea, rttMs: samplesMs[k], status: 200 });
      }
    }
  }
  return qv;
}

// The machines are shared and noisy: native and wasm are measured in alternation (which goes
// first changing), ROUNDS times, and each figure is the median of its rounds (each round
// itself a median of 5 runs).
const ROUNDS = 3;

async function decisionsPerSecond() {
  const { clients, samplesMs } = JSON.parse(await readFile(INPUTS, 'utf8'));
  const inputs = clients.map((c) => JSON.stringify({ headers: c.headers })); // serialised once, as natively
  const instances = {};
  for (const flavour of FLAVOURS) instances[flavour] = await warmed(flavour, clients, samplesMs);
  const rounds = await alternateRounds({
    native: () => JSON.parse(execFileSync(nativeBinary('qv_bench_router'), [INPUTS.pathname], { encoding: 'utf8' })),
    wasm: () => perFlavour(async (flavour) => {
      let next = 0;
      return (await measure(() => instances[flavour].invoke('router.route', inputs[next++ % inputs.length]))).ns_per_call;
    }),
  }, ROUNDS);
  return {
    rounds,
    native: {
      pure_ns_per_decision: mid(rounds, (r) => r.native.pure_ns_per_decision),
      abi_ns_per_decision: mid(rounds, (r) => r.native.abi_ns_per_decision),
    },
    wasm: Object.fromEntries(FLAVOURS.map((f) => [f, { ns_per_call: mid(rounds, (r) => r.wasm[f]) }])),
  };
}

async function movedFraction(algorithm, nodes, calls) {
  const qv = await instantiate(await loadModule('emscripten'), { log: () => {} });
  const ids = Array.from({ length: nodes }, (_, i) => `node-${i}`);
  const place = async (list) => {
    await qv.call('router.configure', { regions: [{ id: 'us-east-1', mediaNodes: list }], affinity: { algorithm } });
    const out = [];
    for (let i = 0; i < calls; i++) out.push((await qv.call('router.affinity', { callId: `call-${i}`, region: 'us-east-1' })).node);
    return out;
  };
  const before = await place(ids);
  const removed = ids[Math.floor(nodes / 2)];
  const after = await place(ids.filter((id) => id !== removed));
  let moved = 0;
  let fromOthers = 0;
  for (let i = 0; i < calls; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    if (before[i] !== removed) fromOthers++;
  }
  return { algorithm, nodes, calls, moved_fraction: moved / calls, ideal: 1 / nodes, moved_from_other_nodes: fromOthers };
}

// One busy isolate (5 of every 6 requests) and 19 quiet ones sharing the rest: quiet
// isolates fail rarely, so they learn of an ejection from KV before they eject it themselves.
const UNEVEN = (k) => (k % 6 !== 0 ? 0 : 1 + (Math.floor(k / 6) % 19));

// Traffic from New York (us-east-1 nearest) at 50 requests/s over `isolates` isolates;
// us-east-1 fails at 30 s and stays down. "Left" is the last request sent to it first.
async function timeToLeave(kind, what, { isolates = 4, perSecond = 50, routerConfig = {}, isolateOf, episodeGapMs = Infinity } = {}) {
  const failAt = 30000;
  const behaviour = (region, path, t) => (region === 'us-east-1' && t >= failAt ? what : { rttMs: STEADY_RTT[region] });
  const { requests } = await simulateRouting({ isolates, seconds: 90, perSecond, behaviour, routerConfig, isolateOf });
  const after = requests.filter((r) => r.at >= failAt);
  const tried = after.filter((r) => r.firstRegion === 'us-east-1');
  // A slow region is re-probed later by real traffic (its aged EWMA): for it the episode
  // ends at the first gap of episodeGapMs. Failed regions return only through a probe.
  let left = failAt;
  for (const r of tried) {
    if (r.at - left > episodeGapMs && left > failAt) break;
    left = r.at;
  }
  const outage = window(requests, failAt, 90000);
  return {
    kind, isolates, per_second: perSecond,
    seconds_to_leave: (left - failAt) / 1000,
    requests_sent_there: tried.filter((r) => r.at <= left).length,
    failed_over: outage.failedOver,
    failed: outage.failed,
  };
}

export async function run() {
  const { native, wasm, rounds } = await decisionsPerSecond();
  const perSecond = (ns) => 1e9 / ns;
  console.log(`(a) routing decisions per second (16 clients round-robin, half with measured RTTs), median of ${ROUNDS} alternating rounds`);
  console.log(`    native, Router::route() directly   ${perSecond(native.pure_ns_per_decision).toFixed(0).padStart(9)} /s  (${native.pure_ns_per_decision.toFixed(0)} ns)`);
  console.log(`    native, through the ABI (JSON)     ${perSecond(native.abi_ns_per_decision).toFixed(0).padStart(9)} /s  (${native.abi_ns_per_decision.toFixed(0)} ns)`);
  const vsAbi = flavourRatios(rounds, (ns) => ns, (n) => n.abi_ns_per_decision);
  const vsDirect = flavourRatios(rounds, (ns) => ns, (n) => n.pure_ns_per_decision);
  const ratios = {};
  for (const flavour of FLAVOURS) {
    const ns = wasm[flavour].ns_per_call;
    ratios[flavour] = { vs_native_abi: vsAbi[flavour], vs_native_direct: vsDirect[flavour] };
    console.log(`    wasm ${flavour.padEnd(10)} (JS shim, JSON)  ${perSecond(ns).toFixed(0).padStart(9)} /s  (${ns.toFixed(0)} ns)  ${ratios[flavour].vs_native_abi.toFixed(2)}x native ABI, ${ratios[flavour].vs_native_direct.toFixed(2)}x native direct`);
  }

  console.log('(b) calls moved when one of n media nodes leaves (10,000 calls, wasm)');
  const moves = [];
  for (const algorithm of ['rendezvous', 'maglev']) {
    for (const nodes of [5, 10, 20]) {
      const m = await movedFraction(algorithm, nodes, 10000);
      moves.push(m);
      console.log(`    ${algorithm.padEnd(10)} n=${String(nodes).padEnd(3)} moved ${(m.moved_fraction * 100).toFixed(2)}% (ideal 1/n = ${(m.ideal * 100).toFixed(2)}%), of them from nodes that stayed: ${m.moved_from_other_nodes}`);
    }
  }

  console.log('(c) simulated seconds from us-east-1 failing to traffic having left it (New York; 50 requests/s unless said)');
  const leaving = [
    await timeToLeave('503 answers', { rttMs: 5, status: 503 }),
    await timeToLeave('connections refused', { refuse: true }),
    await timeToLeave('no answer (5 s timeout)', { hang: true }),
    await timeToLeave('slow: 20 -> 400 ms', { rttMs: 400 }, { episodeGapMs: 5000 }),
    await timeToLeave('503 answers, 20 isolates', { rttMs: 5, status: 503 }, { isolates: 20 }),
    await timeToLeave('503 answers, 20 isolates, no KV sharing', { rttMs: 5, status: 503 }, { isolates: 20, routerConfig: { shareEjections: false } }),
    await timeToLeave('503 answers, 1 busy + 19 quiet isolates', { rttMs: 5, status: 503 }, { isolates: 20, perSecond: 24, isolateOf: UNEVEN }),
    await timeToLeave('503 answers, 1 busy + 19 quiet, no KV sharing', { rttMs: 5, status: 503 }, { isolates: 20, perSecond: 24, isolateOf: UNEVEN, routerConfig: { shareEjections: false } }),
  ];
  for (const l of leaving) {
    console.log(`    ${l.kind.padEnd(48)} ${l.seconds_to_leave.toFixed(2).padStart(6)} s, ${String(l.requests_sent_there).padStart(4)} requests sent there, ${String(l.failed_over).padStart(4)} failed over, ${String(l.failed).padStart(4)} failed`);
  }

  const sizes = await wasmSizes();
  printWasmSizes(sizes);
  return { decisions: { native, wasm, ratios, rounds }, affinity_moves: moves, time_to_leave: leaving, wasm_sizes: sizes };
}

// Benchmark `cache`:
//  (a) hit ratios on every row of the shared traces' table: adaptive W-TinyLFU (the L1's
//      policy), LRU, static W-TinyLFU and Belady's OPT, replayed natively (qv cache replay),
//      with the goal (adaptive >= max(LRU, W-TinyLFU) - 0.5 points) and the distance to OPT;
//  (b) the L1 through the JS shim (DirectL1: get, and set on a miss) against npm lru-cache
//      with a TTL, on the same key stream in the same run: ns per operation and their ratio
//      (goal <= 1.0), for each wasm flavour; then what the shim's JavaScript alone costs
//      (over a policy-free stand-in for the module) and what its key hash costs;
//  (c) the same stream through the L1's exports in wasm and natively (qv_bench_cache): the
//      wasm/native ratio of the module's own work.
// The stream: 2M accesses, Zipf(0.99) over 100,000 keys (YCSB's request distribution),
// cache-aside (get; on a miss, set), L1 of 1,000 entries, TTL 60 s.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { loadModule, instantiate, QvInstance, FLAVOURS, DirectL1 } from '../dist/js/node.mjs';
import { coarseClock, hashKey } from '../dist/js/l1.mjs';
import { root, mid, alternateRounds, perFlavour, flavourRatios, nativeBinary } from './lib.mjs';
import { zipfStream, edgeKeys } from './cache-streams.mjs';

export const ROWS = [
  ['cache2k-web07.trace.xz', 'cache2k', 400, 43.98, 45.32, 57.71],
  ['cache2k-web07.trace.xz', 'cache2k', 2000, 55.50, 55.86, 67.97],
  ['cache2k-orm-busy.trace.xz', 'cache2k', 1000, 78.78, 64.43, 84.14],
  ['cache2k-orm-busy.trace.xz', 'cache2k', 10000, 89.49, 89.23, 94.41],
  ['scarab-scarab-recs.trace.xz', 'scarab', 10000, 48.65, 51.68, 66.57],
  ['scarab-scarab-recs.trace.xz', 'scarab', 100000, 75.91, 71.37, 79.25],
  ['lirs-multi2.trace.gz', 'lirs', 400, 33.79, 43.83, 51.70],
  ['lirs-sprite.trace.gz', 'lirs', 400, 70.77, 67.58, 84.56],
  ['lirs-loop.trace.gz', 'lirs', 400, 0.00, 39.01, 39.47],
  ['lirs-gli.trace.gz', 'lirs', 1000, 11.21, 50.26, 53.13],
];

const KEYS = 100_000;
const ACCESSES = 2_000_000;
const CAPACITY = 1000;
const TTL_MS = 60_000;
const RUNS = 5;

export function tracesDir() {
  return process.env.QV_TRACES_DIR ?? new URL('../shared/traces', root).pathname;
}

// `qv cache replay`, from the native CLI.
function replayCommand() {
  const file = new URL('build/native/qv', root).pathname;
  if (existsSync(file)) return [file, ['cache', 'replay']];
  throw new Error('qv cache replay not built: run npm run build -- native');
}

function hitRatios() {
  const [binary, prefix] = replayCommand();
  return ROWS.map(([file, format, capacity, lru, tinylfu, opt]) => {
    const lines = execFileSync(binary, [...prefix, '--capacity', String(capacity), '--format', format,
      '--policy', 'adaptive,lru,tinylfu,opt', join(tracesDir(), file)], { encoding: 'utf8' }).trim().split('\n');
    const measured = Object.fromEntries(lines.map((line) => JSON.parse(line)).map((r) => [r.policy, 100 * r.hit_ratio]));
    const goal = Math.max(lru, tinylfu) - 0.5;
    return {
      trace: file, capacity, ...measured, reference: { lru, tinylfu, opt }, goal,
      met: measured.adaptive >= goal, margin: measured.adaptive - goal, toOpt: measured.opt - measured.adaptive,
    };
  });
}

// ns per access of a cache-aside loop over the stream: get, and set on a miss.
function cacheAside(cache, keys, stream, value) {
  let hits = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < stream.length; i++) {
    const key = keys[stream[i]];
    if (cache.get(key) !== undefined) hits++;
    else cache.set(key, value, TTL_MS);
  }
  return { ns: Number(process.hrtime.bigint() - started) / stream.length, hitRatio: hits / stream.length };
}

// The same stream through the raw exports, as qv_bench_cache does natively.
async function rawExports(module, hashes, stream) {
  const host = new QvInstance({ log: () => {} });
  const instance = await WebAssembly.instantiate(module, host.imports());
  host.attach(instance);
  const ex = instance.exports;
  const ref = ex.qv_alloc(24);
  let words = new Uint32Array(ex.memory.buffer);
  const slot = new Uint32Array(hashes.length / 2);
  const version = new Uint32Array(hashes.length / 2);
  const now = 1764115200000;
  let hits = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < stream.length; i++) {
    const k = stream[i];
    if (version[k] !== 0 && ex.qv_l1_touch(slot[k], version[k], now) === 0) {
      hits++;
      continue;
    }
    if (ex.qv_l1_put(0, 0, hashes[2 * k], hashes[2 * k + 1], 400, TTL_MS, now, ref) === 0) {
      if (words.length === 0) words = new Uint32Array(ex.memory.buffer); // memory grew
      slot[k] = words[ref >>> 2];
      version[k] = words[(ref >>> 2) + 1];
    } else {
      version[k] = 0;
    }
  }
  return { ns: Number(process.hrtime.bigint() - started) / stream.length, hitRatio: hits / stream.length };
}

// A stand-in for the module's L1 exports with no policy at all: slots are handed out in
// FIFO order in JavaScript, the oldest value released. DirectL1 over it costs what the
// shim's own JavaScript costs (mirror, hashing, buffering, releases), without W-TinyLFU
// and without WebAssembly: the least the shim could cost on this stream.
function fifoExports(capacity) {
  const memory = new WebAssembly.Memory({ initial: 2 });
  const words = new Uint32Array(memory.buffer);
  const doubles = new Float64Array(memory.buffer);
  const versions = new Uint32Array(capacity);
  const released = 64; // byte offset of the one-pair released list
  let top = 1024;
  let next = 0;
  let version = 0;
  return {
    memory,
    qv_alloc: (bytes) => { const at = top; top += (bytes + 7) & ~7; return at; },
    qv_l1_put: (accesses, count, lo, hi, size, ttlMs, now, ref) => {
      const slot = next;
      next = (next + 1) % capacity;
      const at = ref >>> 2;
      words[at + 4] = released;
      words[at + 5] = 0;
      if (versions[slot] !== 0) {
        words[released >>> 2] = slot;
        words[(released >>> 2) + 1] = versions[slot];
        words[at + 5] = 1;
      }
      versions[slot] = ++version;
      words[at] = slot;
      words[at + 1] = version;
      doubles[(ref + 8) >>> 3] = now + ttlMs;
      return 0;
    },
    qv_l1_touch_batch: () => 0,
    qv_l1_released: (pairs, count) => { words[count >>> 2] = 0; return 0; },
    qv_l1_remove: () => 0,
    qv_l1_alive: () => 1,
  };
}

// ns per key of the shim's key hash (hashKey) over the stream's keys, as the shim computes
// it for every set of a key it does not hold.
function hashCost(keys, stream) {
  const out = new Uint32Array(2);
  let sink = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < stream.length; i++) {
    hashKey(keys[stream[i]], out);
    sink ^= out[0];
  }
  const ns = Number(process.hrtime.bigint() - started) / stream.length;
  return sink === 0.5 ? 0 : ns; // sink keeps the loop
}

export async function run() {
  // (a)
  const rows = hitRatios();
  console.log('(a) hit ratios (%) on the shared traces; goal: adaptive >= max(LRU, W-TinyLFU) - 0.5 (reference table)');
  console.log('    trace                        capacity  adaptive     LRU  TinyLFU     OPT    goal  margin  to OPT');
  for (const r of rows) {
    console.log(`    ${r.trace.padEnd(28)} ${String(r.capacity).padStart(8)}  ${r.adaptive.toFixed(2).padStart(8)} ${r.lru.toFixed(2).padStart(7)} ${r.tinylfu.toFixed(2).padStart(8)} ${r.opt.toFixed(2).padStart(7)} ${r.goal.toFixed(2).padStart(7)} ${(r.margin >= 0 ? '+' : '') + r.margin.toFixed(2).padStart(6)} ${r.toOpt.toFixed(2).padStart(7)}${r.met ? '' : '  MISSED'}`);
  }
  console.log(`    goal met on ${rows.filter((r) => r.met).length} of ${rows.length} rows`);

  // (b)
  const keys = edgeKeys(KEYS);
  // The keys as the edge builds them (concatenated: V8 keeps them as cons strings, read
  // through an indirection) and flat copies of them, for what the representation costs the hash.
  const flatKeys = keys.map((key) => JSON.parse(JSON.stringify(key)));
  const stream = zipfStream({ keys: KEYS, length: ACCESSES });
  const value = JSON.stringify({ leads: Array.from({ length: 4 }, (_, i) => ({ id: `lead_${i}`, name: 'Ada Lovelace', status: 'new', score: 42 })) });
  const modules = {};
  for (const flavour of FLAVOURS) modules[flavour] = await loadModule(flavour);
  const lruAside = () => {
    const lru = new LRUCache({ max: CAPACITY, ttl: TTL_MS });
    return cacheAside({ get: (k) => lru.get(k), set: (k, v) => lru.set(k, v) }, keys, stream, value);
  };
  const shimRounds = await alternateRounds({
    qv: () => perFlavour(async (flavour) => {
      const qv = await instantiate(modules[flavour], { log: () => {} });
      await qv.call('cache.configure', { l1: { maxEntries: CAPACITY } });
      return cacheAside(qv.l1, keys, stream, value);
    }),
    lru: lruAside,
  }, RUNS);
  const shimRatios = flavourRatios(shimRounds, (q) => q.ns, (l) => l.ns, 'qv', 'lru');
  const shim = Object.fromEntries(FLAVOURS.map((flavour) => [flavour, {
    qv_ns_per_op: mid(shimRounds, (r) => r.qv[flavour].ns), lru_cache_ns_per_op: mid(shimRounds, (r) => r.lru.ns),
    ratio: shimRatios[flavour], qv_hit_ratio: shimRounds[0].qv[flavour].hitRatio, lru_cache_hit_ratio: shimRounds[0].lru.hitRatio,
  }]));
  console.log(`(b) L1 through the JS shim vs npm lru-cache (TTL ${TTL_MS / 1000} s): cache-aside over ${ACCESSES / 1e6}M accesses, Zipf(0.99) over ${KEYS / 1000}k keys, ${CAPACITY} entries, median of ${RUNS} alternated rounds (ratio: the median of the rounds' ratios)`);
  for (const flavour of FLAVOURS) {
    const s = shim[flavour];
    console.log(`    ${flavour.padEnd(11)} qv ${s.qv_ns_per_op.toFixed(0).padStart(5)} ns/op (hit ratio ${(100 * s.qv_hit_ratio).toFixed(1)}%)   lru-cache ${s.lru_cache_ns_per_op.toFixed(0).padStart(5)} ns/op (hit ratio ${(100 * s.lru_cache_hit_ratio).toFixed(1)}%)   ratio ${s.ratio.toFixed(2)} (goal <= 1.0${s.ratio <= 1 ? ', met' : ', missed'})`);
  }

  // (b), where the time goes: the shim's JavaScript over a policy-free FIFO stand-in, and
  // the key hash it computes per set of a new key.
  const floorRounds = await alternateRounds({
    shim: () => cacheAside(new DirectL1(fifoExports(CAPACITY), coarseClock(() => Date.now()), (error) => { throw error; }), keys, stream, value),
    lru: lruAside,
    hash: () => hashCost(keys, stream),
    hashFlat: () => hashCost(flatKeys, stream),
  }, RUNS);
  const shimAlone = {
    ns_per_op: mid(floorRounds, (r) => r.shim.ns), hit_ratio: floorRounds[0].shim.hitRatio,
    lru_cache_ns_per_op: mid(floorRounds, (r) => r.lru.ns), ratio: mid(floorRounds, (r) => r.shim.ns / r.lru.ns),
    hash_ns_per_key: mid(floorRounds, (r) => r.hash),
    hash_ns_per_flat_key: mid(floorRounds, (r) => r.hashFlat),
  };
  console.log(`    the shim's JavaScript alone (a FIFO stand-in for the module, hit ratio ${(100 * shimAlone.hit_ratio).toFixed(1)}%): ${shimAlone.ns_per_op.toFixed(0)} ns/op, ${shimAlone.ratio.toFixed(2)}x lru-cache (${shimAlone.lru_cache_ns_per_op.toFixed(0)} ns/op); of it, hashing a key for the module: ${shimAlone.hash_ns_per_key.toFixed(0)} ns per set of a new key (${shimAlone.hash_ns_per_flat_key.toFixed(0)} ns on flat copies of the same keys)`);

  // (c)
  const dir = await mkdtemp(join(tmpdir(), 'qv-bench-cache-'));
  const hashes = new Uint32Array(2 * KEYS); // per key: the shim's hash, low and high
  keys.forEach((key, i) => hashKey(key, hashes.subarray(2 * i, 2 * i + 2)));
  const streamFile = join(dir, 'stream.bin');
  const hashesFile = join(dir, 'hashes.bin');
  await writeFile(streamFile, Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength));
  await writeFile(hashesFile, Buffer.from(hashes.buffer));
  const exportRounds = await alternateRounds({
    native: () => JSON.parse(execFileSync(nativeBinary('qv_bench_cache'), [streamFile, hashesFile, '1'], { encoding: 'utf8' })),
    wasm: () => perFlavour((flavour) => rawExports(modules[flavour], hashes, stream)),
  }, RUNS);
  const exportRatios = flavourRatios(exportRounds, (w) => w.ns, (n) => n.ns_per_op);
  const native = { ns_per_op: mid(exportRounds, (r) => r.native.ns_per_op), hit_ratio: exportRounds[0].native.hit_ratio };
  const wasm = Object.fromEntries(FLAVOURS.map((flavour) => [flavour, {
    ns_per_op: mid(exportRounds, (r) => r.wasm[flavour].ns), hit_ratio: exportRounds[0].wasm[flavour].hitRatio,
    ratio_to_native: exportRatios[flavour],
  }]));
  console.log(`(c) the module's L1 work (qv_l1_touch / qv_l1_put per access, same stream): wasm vs native, median of ${RUNS} alternated rounds`);
  console.log(`    native             ${native.ns_per_op.toFixed(0).padStart(5)} ns/op (hit ratio ${(100 * native.hit_ratio).toFixed(1)}%)`);
  for (const flavour of FLAVOURS) {
    console.log(`    wasm ${flavour.padEnd(13)} ${wasm[flavour].ns_per_op.toFixed(0).padStart(5)} ns/op (hit ratio ${(100 * wasm[flavour].hit_ratio).toFixed(1)}%)   ${wasm[flavour].ratio_to_native.toFixed(2)}x native`);
  }
  const rounds = { shim: shimRounds, shim_javascript_alone: floorRounds, exports: exportRounds };
  return { hit_ratios: rows, l1_shim_vs_lru_cache: shim, l1_shim_javascript_alone: shimAlone, l1_wasm_vs_native: { native, wasm }, rounds, stream: { keys: KEYS, accesses: ACCESSES, zipf: 0.99, capacity: CAPACITY, ttl_ms: TTL_MS } };
}

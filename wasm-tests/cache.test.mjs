// The cache module through the JS shim, on both WebAssembly flavours, with an origin that
// counts its fetches and a KV that counts its operations: coalescing (in one isolate, and
// across isolates with collapseMs), the layers and their
// TTLs, Cache-Control and stale serving, what is never shared, failures of KV and origin,
// the L1 for values the host keeps, and reads racing invalidations over three isolates held
// to the journals' bound.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadModule, instantiate, FLAVOURS, MemoryKv, QvInstance, HostOps, OP } from '../dist/js/node.mjs';
import { headerValueOf } from '../dist/js/host-ops.mjs';
import { CountingKv, delayedOps, withOps, failWith } from './kv-doubles.mjs';
import { random } from '../bench/cache-streams.mjs';

const START = 1764115200000;
const ORG = 'org_a';
const quiet = () => {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// An origin as a fetch function: answers with `reply` after `delayMs`, counting requests.
function fakeOrigin({ delayMs = 5, reply } = {}) {
  const origin = {
    fetches: 0,
    failing: null, // 'timeout' | 'status' | null
    headers: { 'cache-control': 'public, max-age=60', 'content-type': 'application/json' },
    body: (n) => JSON.stringify({ version: n }),
    async fetch(url, init) {
      origin.fetches++;
      const n = origin.fetches;
      await sleep(delayMs);
      if (origin.failing === 'status') return new Response('{"error":"down"}', { status: 503 });
      if (origin.failing === 'network') throw new TypeError('fetch failed');
      return reply ? reply(url, init, n) : new Response(origin.body(n), { status: 200, headers: origin.headers });
    },
  };
  return origin;
}

// An origin whose answers are fresh for 10 s and stale-while-revalidate for 60, the second
// fetch held until release() (called when the test ends, after a failure too: the held fetch
// would wait out its deadline).
function secondFetchHeld(t) {
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  t.after(() => release());
  const origin = fakeOrigin({ reply: async (url, init, n) => {
    if (n === 2) await gate;
    return new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=10, stale-while-revalidate=60' } });
  } });
  return { origin, release };
}

// An origin whose answers carry `cacheControl`, fetch number `held` (default the first) held
// until release() (called when the test ends, after a failure too); origin.reached resolves
// once that fetch has begun.
function heldOrigin(t, cacheControl, held = 1) {
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  t.after(() => release());
  let reach;
  const reached = new Promise((resolve) => { reach = resolve; });
  const origin = fakeOrigin({ delayMs: 0, reply: async (url, init, n) => {
    if (n === held) { reach(); await gate; }
    return new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': cacheControl } });
  } });
  origin.reached = reached;
  return { origin, release };
}

// Timers (the shim's timers option) that fire only when the test says: fire(ms) runs every
// timer set for ms milliseconds and not cleared; count(ms) says how many are set.
function heldTimers() {
  const set = new Map();
  let ids = 0;
  return {
    set,
    setTimeout: (fire, ms) => { set.set(++ids, { fire, ms }); return ids; },
    clearTimeout: (id) => { set.delete(id); },
    count: (ms) => [...set.values()].filter((timer) => timer.ms === ms).length,
    fire(ms) {
      for (const [id, timer] of [...set]) {
        if (timer.ms === ms) { set.delete(id); timer.fire(); }
      }
    },
  };
}

// Lets the calls in flight run (a turn of the event loop at a time) until done() holds;
// fails naming `what` when it never does.
async function until(done, what) {
  for (let turn = 0; turn < 1000 && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(done(), what);
}

// A hold on one journal key of `store`: hold.arm(op) makes the next `op` ('get' or 'cas')
// on `key` reach the store at once and answer only when the test calls hold.release();
// hold.reached resolves once it has reached the store. holding(op) is the store's op with
// the hold, for withOps. A hold still armed is released when the test ends.
function journalHold(t, store, key) {
  const hold = { op: null, release: null };
  hold.arm = (op) => {
    hold.op = op;
    hold.reached = new Promise((resolve) => { hold.reach = resolve; });
  };
  const holding = (op) => async (name, ...rest) => {
    const result = await store[op](name, ...rest);
    if (hold.op === op && name === key) {
      hold.op = null;
      await new Promise((resolve) => { hold.release = resolve; hold.reach(); });
    }
    return result;
  };
  t.after(() => hold.release?.()); // (after a failure too)
  return { hold, holding };
}

// A host freeing a call mid-flight, through the module's exports (the shim's invoke runs
// every call to its end): starts `method`, performs its operations with `ops` (a HostOps)
// until it asks for a fetch, and frees it there, the fetch never made. Resolves to the
// operations performed.
async function freedAtFetch(exports, ops, method, input) {
  const encoder = new TextEncoder();
  const put = (bytes) => {
    const ptr = exports.qv_alloc(bytes.length);
    new Uint8Array(exports.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  };
  const name = encoder.encode(method);
  const text = encoder.encode(JSON.stringify(input));
  const [scratch, namePtr, textPtr] = [exports.qv_alloc(8), put(name), put(text)];
  let status = exports.qv_call_start(namePtr, name.length, textPtr, text.length, scratch);
  const call = new DataView(exports.memory.buffer).getUint32(scratch, true);
  const performed = [];
  try {
    while (status === 1) { // pending
      assert.equal(exports.qv_call_ops(call, scratch, scratch + 4), 0);
      const view = new DataView(exports.memory.buffer);
      const bytes = (at) => new Uint8Array(exports.memory.buffer, view.getUint32(at, true), view.getUint32(at + 4, true)).slice();
      const base = view.getUint32(scratch, true);
      const batch = Array.from({ length: view.getUint32(scratch + 4, true) }, (_, n) => {
        const at = base + 40 * n; // qv_op, as qv_abi.h lays it out in wasm32
        return { kind: view.getUint32(at, true), durationMs: view.getUint32(at + 4, true), delta: Number(view.getBigInt64(at + 8, true)),
          key: new TextDecoder().decode(bytes(at + 16)), value: bytes(at + 24), meta: bytes(at + 32) };
      });
      if (batch.some((op) => op.kind === OP.FETCH)) return performed;
      const results = await Promise.all(batch.map((op) => ops.perform(op)));
      results.forEach(({ status: done, number = 0, data = '', meta = '' }, n) => {
        const [d, m] = [data, meta].map((v) => (typeof v === 'string' ? encoder.encode(v) : v));
        const [dPtr, mPtr] = [put(d), put(m)];
        assert.equal(exports.qv_call_complete_op(call, n, done, BigInt(number), dPtr, d.length, mPtr, m.length), 0);
        exports.qv_free(dPtr);
        exports.qv_free(mPtr);
      });
      performed.push(...batch);
      status = exports.qv_call_resume(call);
    }
    throw new Error(`the call ended (status ${status}) without a fetch`);
  } finally {
    exports.qv_call_free(call);
    for (const ptr of [scratch, namePtr, textPtr]) exports.qv_free(ptr);
  }
}

const input = (extra = {}) => ({
  organizationId: ORG, key: 'GET /api/campaigns', vary: { scope: 'Growth' },
  origin: { url: 'http://origin.test/api/campaigns' }, ...extra,
});

for (const flavour of FLAVOURS) {
  describe(`cache on ${flavour}`, () => {
    let module;
    before(async () => { module = await loadModule(flavour); });

    async function isolate({ kv = new CountingKv(), origin = fakeOrigin(), clock = { t: START }, config, randomBytes, kvTimeoutMs = 200, timers } = {}) {
      const now = () => clock.t;
      kv = kv ?? new CountingKv({ now });
      const qv = await instantiate(module, { kv, now, fetch: origin.fetch, log: quiet, kvTimeoutMs, randomBytes, timers });
      if (config) await qv.call('cache.configure', config);
      return { qv, kv, origin, clock };
    }

    test('100 concurrent misses for one key: exactly one origin fetch and one KV read', async () => {
      const { qv, kv, origin } = await isolate({ kv: new CountingKv() });
      const answers = await Promise.all(Array.from({ length: 100 }, () => qv.call('cache.get', input())));
      assert.equal(origin.fetches, 1);
      assert.equal(kv.counts.get, 1, `KV reads: ${kv.counts.get}`);
      assert.equal(kv.counts.set, 1);
      assert.ok(answers.every((a) => a.found && a.body === '{"version":1}'));
      assert.equal(answers.filter((a) => a.coalesced).length, 99);
      assert.ok(answers.every((a) => a.xCache === 'MISS'));
      const stats = await qv.call('cache.stats', {});
      assert.equal(stats.coalescedWaits, 99);
      assert.equal(stats.origin.fetches, 1);
    });

    // A cache.get of the key whose origin gives up after timeoutMs.
    const within = (timeoutMs) => input({ origin: { url: 'http://origin.test/api/campaigns', timeoutMs } });

    test('a call waiting for another\'s fetch waits at most its own timeoutMs, then answers 504 as its own fetch would; the fetch goes on, stores, and serves the calls still waiting', async (t) => {
      const { origin, release } = heldOrigin(t, 'max-age=60');
      const timers = heldTimers();
      const clock = { t: START };
      const { qv } = await isolate({ origin, clock, timers });
      const leader = qv.call('cache.get', within(30_000));
      await origin.reached;
      const waiter = qv.call('cache.get', within(1000));
      const later = qv.call('cache.get', within(60_000));
      await until(() => timers.count(1000) === 1 && timers.count(60_000) === 1, 'both calls wait, each with its own timeout');
      clock.t += 1000;
      timers.fire(1000);
      const left = await waiter;
      assert.deepEqual([left.xCache, left.found, left.status, left.coalesced], ['MISS', false, 504, false]);
      assert.match(left.reason, /^origin failed: timeout: .* within its 1000 ms$/);
      release();
      const [led, joined] = await Promise.all([leader, later]);
      assert.deepEqual([led.xCache, led.stored, led.body], ['MISS', true, '{"version":1}']);
      assert.deepEqual([joined.coalesced, joined.body], [true, '{"version":1}']);
      assert.equal((await qv.call('cache.get', within(1000))).xCache, 'HIT-L1', 'the leader stored its copy');
      const stats = await qv.call('cache.stats', {});
      assert.deepEqual([stats.origin.fetches, stats.coalescedWaits, stats.coalescedTimeouts, stats.trackedKeys], [1, 2, 1, 0]);
      assert.equal(timers.set.size, 0, 'no timer left set');
    });

    test('a waiting call with a stale copy inside stale-if-error serves it at its own timeout', async (t) => {
      const { origin, release } = heldOrigin(t, 'max-age=10, stale-if-error=60', 2);
      const timers = heldTimers();
      const clock = { t: START };
      const { qv } = await isolate({ origin, clock, timers });
      await qv.call('cache.get', within(1000));
      clock.t += 20_000; // stale, inside stale-if-error
      const leader = qv.call('cache.get', within(30_000));
      await origin.reached;
      const waiter = qv.call('cache.get', within(1000));
      await until(() => timers.count(1000) === 1, 'the call waits, with its own timeout');
      clock.t += 1000;
      timers.fire(1000);
      const left = await waiter;
      assert.deepEqual([left.xCache, left.layer, left.body, left.coalesced], ['STALE', 'L1', '{"version":1}', false]);
      assert.match(left.reason, /^stale-if-error: the origin failed \(timeout: /);
      release();
      assert.deepEqual([(await leader).stored, (await leader).body], [true, '{"version":2}']);
      assert.equal((await qv.call('cache.get', within(1000))).body, '{"version":2}');
      const stats = await qv.call('cache.stats', {});
      assert.deepEqual([stats.coalescedTimeouts, stats.origin.staleIfError, stats.trackedKeys], [1, 1, 0]);
      assert.equal(timers.set.size, 0, 'no timer left set');
    });

    test('a wait woken before its timeout is served the fetch, and its timeout is cleared', async (t) => {
      const { origin, release } = heldOrigin(t, 'max-age=60');
      const timers = heldTimers();
      const { qv } = await isolate({ origin, timers });
      const leader = qv.call('cache.get', within(30_000));
      await origin.reached;
      const waiter = qv.call('cache.get', within(1000));
      await until(() => timers.count(1000) === 1, 'the call waits, with its own timeout');
      release();
      await Promise.all([leader, waiter]);
      assert.equal((await waiter).coalesced, true);
      assert.equal(timers.count(1000), 0, 'the wake cleared the wait\'s timeout');
      assert.equal(timers.set.size, 0);
    });

    test('a call\'s own fetch performs its origin fetch instead of the instance\'s (the edge\'s proxy)', async () => {
      const { qv, origin } = await isolate();
      const own = fakeOrigin();
      const answers = await Promise.all(Array.from({ length: 10 }, () => qv.call('cache.get', input(), { fetch: own.fetch })));
      assert.equal(own.fetches, 1);
      assert.equal(origin.fetches, 0, 'the instance\'s fetch was not used');
      assert.ok(answers.every((a) => a.found));
      await qv.call('cache.get', input({ key: 'GET /api/leads' }));
      assert.equal(origin.fetches, 1, 'a call without one uses the instance\'s');
    });

    test('a hit in L2 fills L1: a second isolate on the same KV reads L2 once, then L1', async () => {
      const kv = new CountingKv();
      const clock = { t: START };
      const first = await isolate({ kv, clock });
      await first.qv.call('cache.get', input());
      const second = await isolate({ kv, clock, origin: first.origin });
      assert.equal((await second.qv.call('cache.get', input())).xCache, 'HIT-L2');
      const reads = kv.counts.get;
      assert.equal((await second.qv.call('cache.get', input())).xCache, 'HIT-L1');
      assert.equal(kv.counts.get, reads, 'an L1 hit needs no KV read');
      assert.equal(first.origin.fetches, 1);
    });

    test('layer TTLs: L1 keeps a copy 1 min, L2 5 min at most, the origin says less', async () => {
      const origin = fakeOrigin();
      origin.headers = { 'content-type': 'application/json' }; // no max-age: the origin TTL (1 h)
      const { qv, clock } = await isolate({ origin });
      assert.equal((await qv.call('cache.get', input())).xCache, 'MISS');
      clock.t = START + 59_000;
      assert.equal((await qv.call('cache.get', input())).xCache, 'HIT-L1');
      clock.t = START + 61_000; // L1's copy is done; L2's is fresh
      assert.equal((await qv.call('cache.get', input())).xCache, 'HIT-L2');
      clock.t = START + 301_000; // past the L2 TTL: back to the origin
      assert.equal((await qv.call('cache.get', input())).xCache, 'MISS');
      assert.equal(origin.fetches, 2);

      const short = fakeOrigin();
      short.headers = { 'cache-control': 'max-age=10' };
      const other = await isolate({ origin: short });
      await other.qv.call('cache.get', input());
      other.clock.t = START + 11_000;
      assert.equal((await other.qv.call('cache.get', input())).xCache, 'MISS', 'max-age=10 ends freshness in every layer');
    });

    test('stale-while-revalidate: a stale copy is served at once and one refresh fetches', async () => {
      const origin = fakeOrigin();
      origin.headers = { 'cache-control': 'max-age=10, stale-while-revalidate=30' };
      const { qv, clock } = await isolate({ origin });
      await qv.call('cache.get', input());
      clock.t = START + 15_000;
      const stale = await Promise.all([1, 2, 3].map(() => qv.call('cache.get', input())));
      assert.ok(stale.every((a) => a.xCache === 'STALE' && a.revalidate && a.body === '{"version":1}'));
      assert.equal(origin.fetches, 1, 'stale answers wait for nothing');
      const refreshes = await Promise.all([1, 2].map(() => qv.call('cache.refresh', input())));
      assert.equal(refreshes.filter((r) => r.refreshed).length, 1, JSON.stringify(refreshes));
      assert.equal(origin.fetches, 2);
      const fresh = await qv.call('cache.get', input());
      assert.equal(fresh.xCache, 'HIT-L1');
      assert.equal(fresh.body, '{"version":2}');
      clock.t = START + 15_000 + 41_000; // past freshness and the stale window of the new copy
      assert.equal((await qv.call('cache.get', input())).xCache, 'MISS');
    });

    test('one isolate at a time refreshes a stale key (a lease in the KV); the others find its copy in L2', async () => {
      for (const refreshLeaseMs of [10_000, 0]) {
        const kv = new CountingKv();
        const clock = { t: START };
        const origin = fakeOrigin();
        origin.headers = { 'cache-control': 'max-age=10, stale-while-revalidate=60' };
        const config = { refreshLeaseMs };
        const [a, b, c] = await Promise.all([1, 2, 3].map(() => isolate({ kv, clock, origin, config })));
        await a.qv.call('cache.get', input());
        for (const other of [b, c]) assert.equal((await other.qv.call('cache.get', input())).xCache, 'HIT-L2');
        clock.t = START + 15_000;
        const refreshes = await Promise.all([a, b, c].map((i) => i.qv.call('cache.refresh', input())));
        if (refreshLeaseMs === 0) { // no lease: every isolate fetches for itself
          assert.equal(origin.fetches, 4);
          continue;
        }
        assert.equal(origin.fetches, 2, JSON.stringify(refreshes));
        assert.equal(refreshes.filter((r) => r.refreshed).length, 1);
        const waited = refreshes.filter((r) => !r.refreshed);
        assert.ok(waited.every((r) => r.reason === 'another isolate holds this key\'s refresh lease'), JSON.stringify(waited));
        // The isolates that waited still serve their stale copy, and their next refresh
        // takes the new copy from L2, without the origin.
        const loser = [a, b, c][refreshes.findIndex((r) => !r.refreshed)];
        const stale = await loser.qv.call('cache.get', input());
        assert.equal(stale.xCache, 'STALE');
        assert.equal(stale.revalidate, true);
        const again = await loser.qv.call('cache.refresh', input());
        assert.equal(again.refreshed, true);
        assert.equal(again.source, 'L2');
        assert.equal((await loser.qv.call('cache.get', input())).body, '{"version":2}');
        assert.equal(origin.fetches, 2);
        assert.equal((await loser.qv.call('cache.stats', {})).refreshesLeasedElsewhere, 1);
        // The refresh that stored its copy gave the lease back: when that copy is stale in
        // turn, the next refresh need not wait out the lease's 10 s.
        clock.t = START + 30_000;
        assert.equal((await loser.qv.call('cache.refresh', input())).refreshed, true);
        assert.equal(origin.fetches, 3);
      }
    });

    test('a refresh that found the lease held elsewhere asks the KV for it again only after a tenth of the lease', async (t) => {
      const kv = new CountingKv();
      const clock = { t: START };
      const { origin, release } = secondFetchHeld(t); // the first refresh hangs on the origin, holding the lease
      const [a, b] = await Promise.all([1, 2].map(() => isolate({ kv, clock, origin })));
      await a.qv.call('cache.get', input());
      await b.qv.call('cache.get', input());
      clock.t = START + 15_000;
      const holding = a.qv.call('cache.refresh', input());
      await sleep(20);
      const cas = kv.counts.cas;
      for (let i = 0; i < 50; i++) assert.equal((await b.qv.call('cache.refresh', input())).refreshed, false);
      assert.equal(kv.counts.cas - cas, 1, 'one compare-and-set for the lease, then the note');
      assert.equal((await b.qv.call('cache.stats', {})).refreshesLeasedElsewhere, 50);
      release();
      assert.equal((await holding).refreshed, true);
      clock.t += 1_001; // past the note (a tenth of the 10 s lease): b finds a's copy in L2
      const after = await b.qv.call('cache.refresh', input());
      assert.deepEqual([after.refreshed, after.source], [true, 'L2']);
    });

    test('a refresh that takes the refresh lease after its holder gave it back serves the holder\'s copy, not a second fetch', async (t) => {
      // The holder stores its copy and gives the lease back between another refresh's L2 read
      // (a stale copy) and its request for the lease: it gets the lease, and the copy is in L2.
      const clock = { t: START };
      const kv = new CountingKv({ now: () => clock.t }); // the lease given back stays free
      const { origin, release } = secondFetchHeld(t); // the holder's refresh
      const holder = await isolate({ kv, clock, origin });
      await holder.qv.call('cache.get', input());
      clock.t = START + 15_000;
      const holding = holder.qv.call('cache.refresh', input());
      while (origin.fetches < 2) await sleep(1); // the holder has the lease and is fetching
      let leaseRequests = 0;
      let leaseKey;
      const late = withOps(kv, { cas: async (key, ...rest) => {
        if (key.startsWith('qvc:r:') && leaseRequests++ === 0) {
          leaseKey = key;
          release();
          assert.equal((await holding).refreshed, true, 'the holder fetched, stored its copy and gave the lease back');
        }
        return kv.cas(key, ...rest);
      } });
      const other = await isolate({ kv: late, clock, origin });
      const refresh = await other.qv.call('cache.refresh', input());
      // Asked for once, taken from the free value its holder left, and given back.
      assert.equal(leaseRequests, 3, 'the refresh took the lease from its holder\'s free value and gave it back');
      assert.equal(origin.fetches, 2, `origin fetches: expected the first and the holder's, the other refresh answered ${JSON.stringify(refresh)}`);
      assert.deepEqual([refresh.refreshed, refresh.source], [true, 'L2'], JSON.stringify(refresh));
      assert.equal((await other.qv.call('cache.get', input())).body, '{"version":2}');
      assert.equal(new TextDecoder().decode(await kv.get(leaseKey)), 'free', 'the lease was given back with the copy found');
    });

    test('at most maxRefreshes refreshes run at once in an isolate; past it the stale copy stands', async (t) => {
      let release;
      const gate = new Promise((resolve) => { release = resolve; });
      t.after(() => release()); // (after a failure too: the held fetch would wait out its deadline)
      let refreshing = false;
      const origin = fakeOrigin({ reply: async (url, init, n) => {
        if (refreshing) await gate; // the refreshes hang on the origin
        return new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=10, stale-while-revalidate=60' } });
      } });
      const { qv, clock } = await isolate({ origin, config: { maxRefreshes: 2 } });
      const keys = ['a', 'b', 'c'].map((k) => input({ key: `GET /api/${k}`, origin: { url: `http://origin.test/api/${k}` } }));
      for (const key of keys) await qv.call('cache.get', key);
      clock.t = START + 15_000;
      refreshing = true;
      const running = keys.slice(0, 2).map((key) => qv.call('cache.refresh', key));
      await sleep(20);
      const deferred = await qv.call('cache.refresh', keys[2]);
      assert.deepEqual([deferred.refreshed, deferred.reason], [false, 'maxRefreshes refreshes already running in this isolate']);
      assert.equal((await qv.call('cache.get', keys[2])).xCache, 'STALE', 'the stale copy stands');
      assert.equal((await qv.call('cache.stats', {})).refreshesDeferred, 1);
      release();
      assert.deepEqual((await Promise.all(running)).map((r) => r.refreshed), [true, true]);
      assert.equal((await qv.call('cache.refresh', keys[2])).refreshed, true, 'room again once they finish');
    });

    test('a refresh whose origin fails keeps the lease, also when a stale-if-error copy stands in', async () => {
      const kv = new CountingKv();
      const clock = { t: START };
      const origin = fakeOrigin();
      origin.headers = { 'cache-control': 'max-age=10, stale-while-revalidate=60, stale-if-error=600' };
      const [a, b] = await Promise.all([1, 2].map(() => isolate({ kv, clock, origin })));
      await a.qv.call('cache.get', input());
      await b.qv.call('cache.get', input());
      clock.t = START + 15_000;
      origin.failing = 'status';
      const fetches = origin.fetches;
      assert.match((await a.qv.call('cache.refresh', input())).reason, /stale-if-error/);
      assert.equal(kv.counts.del, 0, 'the lease is not given back');
      assert.match((await a.qv.call('cache.refresh', input())).reason, /this isolate's refresh of this key failed/);
      assert.match((await b.qv.call('cache.refresh', input())).reason, /another isolate holds this key's refresh lease/);
      assert.equal(origin.fetches - fetches, 1, 'the failing origin gets the lease\'s rest');
    });

    test('an isolate knows its own refresh lease by its id in the KV, also once the note of its failed refresh was swept with the per-key hints', async () => {
      const kv = new CountingKv();
      const clock = { t: START };
      // The key's origin fails; the /fill/ keys answer no-store, each a hit-for-pass mark.
      const origin = fakeOrigin({ reply: async (url) => (url.includes('/fill/')
        ? new Response('{}', { status: 200, headers: { 'cache-control': 'no-store' } })
        : new Response('{"error":"down"}', { status: 503 })) });
      const [a, b] = await Promise.all([1, 2].map(() => isolate({ kv, clock, origin })));
      assert.equal((await a.qv.call('cache.refresh', input())).refreshed, false);
      const leaseKey = 'qvc:r:org_a:GET%20%2Fapi%2Fcampaigns:scope=Growth';
      const lease = new TextDecoder().decode(await kv.get(leaseKey));
      assert.match(lease, /^[0-9a-f]{16}$/, 'the lease holds the isolate\'s id');
      // Past the per-key map's bound (1,024 keys) with every hint still in force, the sweep
      // drops them all, the note of the failed refresh with them.
      await Promise.all(Array.from({ length: 1100 }, (_, n) => a.qv.call('cache.get', {
        organizationId: ORG, key: `GET /fill/${n}`, origin: { url: `http://origin.test/fill/${n}` },
      })));
      const before = await a.qv.call('cache.stats', {});
      assert.ok(before.trackedKeys < 1100, `the hints were swept (${before.trackedKeys} kept)`);
      const fetches = origin.fetches;
      const again = await a.qv.call('cache.refresh', input());
      assert.match(again.reason, /this isolate's refresh of this key failed/, JSON.stringify(again));
      const stats = await a.qv.call('cache.stats', {});
      assert.deepEqual([stats.refreshesLeasedElsewhere, stats.refreshesBackedOff], [0, 1]);
      // Noted again: the next refresh asks the KV no more, and still backs off.
      const cas = kv.counts.cas;
      assert.match((await a.qv.call('cache.refresh', input())).reason, /this isolate's refresh of this key failed/);
      assert.equal(kv.counts.cas, cas);
      // Another isolate's id is not its own.
      assert.match((await b.qv.call('cache.refresh', input())).reason, /another isolate holds this key's refresh lease/);
      assert.equal(origin.fetches, fetches, 'the failing origin rests');
      assert.equal(new TextDecoder().decode(await kv.get(leaseKey)), lease);
    });

    test('an answer invalidated while it was fetched is served to its caller and kept nowhere', async () => {
      const kv = new CountingKv();
      const clock = { t: START };
      let version = 1;
      const origin = fakeOrigin({ reply: async (url) => {
        const seen = version; // the origin reads the row as the request arrives
        if (url.endsWith('/slow')) await sleep(100);
        return new Response(`{"version":${seen}}`, { status: 200, headers: { 'cache-control': 'max-age=60' } });
      } });
      const [a, b] = await Promise.all([1, 2].map(() => isolate({ kv, clock, origin })));
      const at = (path) => input({ key: `GET ${path}`, tags: ['t'], origin: { url: `http://origin.test${path}` } });
      await a.qv.call('cache.get', at('/other'));
      clock.t += 1001;
      await a.qv.call('cache.get', at('/other')); // a has read the journals
      const slow = a.qv.call('cache.get', at('/slow'));
      await sleep(20);
      version = 2;
      await b.qv.call('cache.invalidate', { organizationId: ORG, tags: ['t'] });
      clock.t += 1001;
      await a.qv.call('cache.get', at('/other')); // a reads the journals during the fetch
      const answer = await slow;
      assert.deepEqual([answer.body, answer.stored, answer.reason], ['{"version":1}', false, 'not stored: invalidated during the fetch']);
      clock.t += 1001;
      assert.deepEqual([(await a.qv.call('cache.get', at('/slow'))).body], ['{"version":2}']);
    });

    test('a stale-if-error stand-in invalidated while the origin failed is not served', async () => {
      const kv = new CountingKv();
      const clock = { t: START };
      let failing = false;
      const origin = fakeOrigin({ reply: async (url) => {
        if (url.endsWith('/slow') && failing) { await sleep(100); return new Response('{"error":"down"}', { status: 503 }); }
        return new Response('{"version":1}', { status: 200, headers: { 'cache-control': 'max-age=10, stale-if-error=600' } });
      } });
      const [a, b] = await Promise.all([1, 2].map(() => isolate({ kv, clock, origin })));
      const at = (path, tag) => input({ key: `GET ${path}`, tags: [tag], origin: { url: `http://origin.test${path}` } });
      await a.qv.call('cache.get', at('/slow', 't'));
      await a.qv.call('cache.get', at('/other', 'u'));
      clock.t += 20_000;
      failing = true;
      const pending = a.qv.call('cache.get', at('/slow', 't')); // L1's stale copy would stand in
      await sleep(20);
      await b.qv.call('cache.invalidate', { organizationId: ORG, tags: ['t'] });
      clock.t += 1001;
      await a.qv.call('cache.get', at('/other', 'u')); // a reads the journals: the copy is invalidated
      const answer = await pending;
      assert.deepEqual([answer.xCache, answer.status], ['MISS', 503]);
    });

    test('a stale serve from L2 counts as an L2 hit and as stale, as one from L1 does', async () => {
      const kv = new CountingKv();
      const clock = { t: START };
      const origin = fakeOrigin();
      origin.headers = { 'cache-control': 'max-age=10, stale-while-revalidate=60' };
      const a = await isolate({ kv, clock, origin });
      await a.qv.call('cache.get', input());
      clock.t = START + 15_000;
      const b = await isolate({ kv, clock, origin });
      assert.deepEqual([(await a.qv.call('cache.get', input())).layer, (await b.qv.call('cache.get', input())).layer], ['L1', 'L2']);
      const [l1, l2] = [(await a.qv.call('cache.stats', {})).l1, (await b.qv.call('cache.stats', {})).l2];
      assert.deepEqual([l1.hits, l1.stale, l2.hits, l2.stale], [1, 1, 1, 1]);
    });

    test('a call counts once in each layer, by its first look there: a call that waited for another\'s fetch is a miss and one coalesced wait', async () => {
      // Variants on a first miss: de waits for fr's fetch, then fetches; the second de waits
      // for fr's, then for the first de's.
      const varying = await isolate({ origin: languageOrigin() });
      const langs = ['fr', 'de', 'de'];
      await Promise.all(langs.map((lang) => varying.qv.call('cache.get', asOrg(ORG, lang))));
      const counted = await varying.qv.call('cache.stats', {});
      assert.deepEqual([counted.l1.hits, counted.l1.misses, counted.coalescedWaits], [0, 3, 2]);
      // A call that waited, was not handed the answer (private), and then found a copy in
      // L1 (stored meanwhile): served HIT-L1, counted a miss, as at its first look.
      let release;
      const gate = new Promise((resolve) => { release = resolve; });
      const origin = fakeOrigin({ reply: async () => {
        await gate;
        return new Response('{"who":"you"}', { status: 200, headers: { 'cache-control': 'private, max-age=60' } });
      } });
      const { qv } = await isolate({ origin });
      const first = qv.call('cache.get', input());
      const waiting = qv.call('cache.get', input());
      await qv.call('cache.set', { organizationId: ORG, key: 'GET /api/campaigns', vary: { scope: 'Growth' }, body: '{"set":true}', headers: { 'cache-control': 'max-age=60' } });
      release();
      assert.equal((await first).body, '{"who":"you"}');
      const served = await waiting;
      assert.deepEqual([served.xCache, served.coalesced, served.body], ['HIT-L1', true, '{"set":true}']);
      const stats = await qv.call('cache.stats', {});
      assert.deepEqual([stats.l1.hits, stats.l1.misses, stats.coalescedWaits], [0, 2, 1]);
      // A collapsed miss (collapseMs) counts its first L2 read, not each poll: its serve is
      // collapse.served.
      const kv = new CountingKv();
      const slow = fakeOrigin({ delayMs: 30 });
      const config = { collapseMs: 5000, collapsePollMs: 5 };
      const [a, b] = await Promise.all([1, 2].map(() => isolate({ kv, origin: slow, config })));
      const answers = await Promise.all([a, b].map(({ qv: one }) => one.call('cache.get', input())));
      assert.equal(slow.fetches, 1, JSON.stringify(answers));
      const polled = (await Promise.all([a, b].map(({ qv: one }) => one.call('cache.stats', {})))).find((s) => s.collapse.served === 1);
      assert.ok(kv.counts.get > 3, `the collapsed miss polled L2 (${kv.counts.get} KV reads)`);
      assert.deepEqual([polled.l2.hits, polled.l2.misses, polled.l2.stale], [0, 1, 0]);
    });

    test('misses collapse across isolates (collapseMs): one origin fetch, the others take its copy from L2', async () => {
      for (const collapseMs of [5000, 0]) {
        const kv = new CountingKv();
        const origin = fakeOrigin({ delayMs: 30 });
        const config = { collapseMs, collapsePollMs: 5 };
        const isolates = await Promise.all([1, 2, 3, 4].map(() => isolate({ kv, origin, config })));
        const answers = await Promise.all(isolates.map(({ qv }) => qv.call('cache.get', input())));
        assert.ok(answers.every((a) => a.body === '{"version":1}' || collapseMs === 0), JSON.stringify(answers));
        if (collapseMs === 0) { // off: every isolate fetches for itself, no lease asked for
          assert.equal(origin.fetches, 4);
          assert.equal(kv.counts.cas, 0);
          continue;
        }
        assert.equal(origin.fetches, 1, JSON.stringify(answers));
        const collapsed = answers.filter((a) => a.reason === 'collapsed: another isolate fetched it');
        assert.equal(collapsed.length, 3, JSON.stringify(answers));
        assert.ok(collapsed.every((a) => a.xCache === 'HIT-L2'));
        const stats = await Promise.all(isolates.map(({ qv }) => qv.call('cache.stats', {})));
        assert.equal(stats.reduce((sum, s) => sum + s.collapse.served, 0), 3);
        assert.equal(stats.reduce((sum, s) => sum + s.collapse.fallbacks, 0), 0);
        // The holder gave the lease back with its copy in L2: once that copy is gone, the
        // next miss takes the lease at once and fetches.
        await isolates[0].qv.call('cache.invalidate', { organizationId: ORG, keys: [{ key: 'GET /api/campaigns', vary: { scope: 'Growth' } }] });
        const next = await isolates[0].qv.call('cache.get', input());
        assert.equal(next.xCache, 'MISS', JSON.stringify(next));
        assert.equal(origin.fetches, 2);
      }
    });

    test('a miss that takes the fill lease after its holder gave it back serves the holder\'s copy, not a second fetch', async () => {
      // Another isolate's L2 read missed just before the holder stored its copy, and its lease
      // request came just after the holder gave the lease back: it must look in L2 again.
      const kv = new CountingKv();
      const origin = fakeOrigin();
      const config = { collapseMs: 5000, collapsePollMs: 5 };
      const holder = await isolate({ kv, origin, config });
      assert.equal((await holder.qv.call('cache.get', input())).xCache, 'MISS');
      let entryReads = 0;
      const late = withOps(kv, { get: async (key) => (key.startsWith('qvc:e:') && entryReads++ === 0 ? null : kv.get(key)) });
      const other = await isolate({ kv: late, origin, config });
      const answer = await other.qv.call('cache.get', input());
      assert.equal(entryReads, 2, 'the first read missed, the second found the copy');
      assert.equal(origin.fetches, 1, JSON.stringify(answer));
      assert.deepEqual([answer.xCache, answer.body], ['HIT-L2', '{"version":1}']);
    });

    test('a collapsed miss that finds the fill lease given back serves the holder\'s copy, not a second fetch', async (t) => {
      // The holder stores its copy and gives the lease back between a waiting call's L2 read
      // and its read of the lease: the lease is gone because the copy is in L2.
      const kv = new CountingKv();
      let release;
      const gate = new Promise((resolve) => { release = resolve; });
      t.after(() => release()); // (after a failure too: the held fetch would wait out its deadline)
      const origin = fakeOrigin({ reply: async (url, init, n) => {
        await gate;
        return new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=60' } });
      } });
      const config = { collapseMs: 5000, collapsePollMs: 5 };
      const holder = await isolate({ kv, origin, config });
      const holding = holder.qv.call('cache.get', input());
      while (origin.fetches === 0) await sleep(1); // the holder has the lease and is fetching
      let leaseReads = 0;
      const late = withOps(kv, { get: async (key) => {
        if (key.startsWith('qvc:f:') && leaseReads++ === 0) {
          release();
          assert.equal((await holding).xCache, 'MISS', 'the holder fetched, stored its copy and gave the lease back');
        }
        return kv.get(key);
      } });
      const waiting = await isolate({ kv: late, origin, config });
      const answer = await waiting.qv.call('cache.get', input());
      assert.ok(leaseReads >= 1, `the waiting call read the lease (${leaseReads} reads)`);
      assert.equal(origin.fetches, 1, `origin fetches: expected the holder's alone, the waiting call answered ${JSON.stringify(answer)}`);
      assert.deepEqual([answer.xCache, answer.reason, answer.body], ['HIT-L2', 'collapsed: another isolate fetched it', '{"version":1}']);
      assert.equal((await waiting.qv.call('cache.stats', {})).collapse.fallbacks, 0);
    });

    test('a collapsed miss does not wait for a fetch that leaves no copy: the lease says "pass"', async (t) => {
      const kv = new CountingKv();
      const origin = fakeOrigin({ delayMs: 30 });
      origin.headers = { 'cache-control': 'no-store' };
      const config = { collapseMs: 60_000, collapsePollMs: 5 };
      const isolates = await Promise.all([1, 2, 3].map(() => isolate({ kv, origin, config })));
      // A guard, not a timing: without the "pass" the waiters would wait out the minute.
      // (Cleared when the test ends: its timer kept the process up for 20 s after it.)
      let timer;
      const guard = new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error('the waiting misses waited for the lease to expire')), 20_000);
      });
      t.after(() => clearTimeout(timer));
      const answers = await Promise.race([guard, Promise.all(isolates.map(({ qv }) => qv.call('cache.get', input())))]);
      assert.equal(origin.fetches, 3, JSON.stringify(answers));
      assert.ok(answers.every((a) => a.xCache === 'MISS' && a.stored === false), JSON.stringify(answers));
      const stats = await Promise.all(isolates.map(({ qv }) => qv.call('cache.stats', {})));
      assert.equal(stats.reduce((sum, s) => sum + s.collapse.fallbacks, 0), 2);
      // While the "pass" lasts, a miss elsewhere fetches at once, without waiting.
      const other = await isolate({ kv, origin, config });
      assert.equal((await Promise.race([guard, other.qv.call('cache.get', input())])).xCache, 'MISS');
      assert.equal((await other.qv.call('cache.stats', {})).collapse.fallbacks, 0);
      assert.equal(origin.fetches, 4);
    });

    test('a fill lease its leader left, freed mid-fetch, is taken over by the isolate\'s next miss at once; another isolate\'s is waited for and left alone', async () => {
      const clock = { t: START };
      const now = () => clock.t;
      const kv = new CountingKv({ now }); // leases lapse by the test's clock only
      const origin = fakeOrigin();
      const config = { collapseMs: 200, collapsePollMs: 20 };
      // Isolates the test drives through their exports as well as through the shim.
      const rawIsolate = async () => {
        const host = new QvInstance({ kv, now, fetch: origin.fetch, log: quiet });
        const wasm = await WebAssembly.instantiate(module, host.imports());
        host.attach(wasm);
        await host.call('cache.configure', config);
        return { qv: host, exports: wasm.exports, ops: new HostOps({ kv, fetch: origin.fetch }) };
      };
      const [a, b] = [await rawIsolate(), await rawIsolate()];
      const leaseOf = async (key) => { const value = await kv.get(key); return value == null ? null : new TextDecoder().decode(value); };
      const freed = await freedAtFetch(a.exports, a.ops, 'cache.get', input());
      const leaseKey = freed.find((op) => op.kind === OP.KV_CAS).key;
      assert.match(leaseKey, /^qvc:f:/);
      const lease = await leaseOf(leaseKey);
      assert.match(lease, /^[0-9a-f]{16}$/, 'the lease holds a\'s id, and stays: a freed call runs no operation');
      clock.t += 50;
      const reads = kv.counts.get;
      const next = await a.qv.call('cache.get', input());
      assert.deepEqual([next.xCache, next.body, origin.fetches], ['MISS', '{"version":1}', 1], JSON.stringify(next));
      const stats = await a.qv.call('cache.stats', {});
      assert.deepEqual([stats.collapse.takenOver, stats.collapse.fallbacks], [1, 0]);
      assert.equal(kv.counts.get - reads, 2, 'two L2 reads, no poll of the lease');
      assert.equal(await leaseOf(leaseKey), 'free', 'given back with the copy stored');
      // A lease another isolate left is its own: a's miss waits for it, then fetches for itself, and leaves it.
      const other = input({ key: 'GET /api/leads', origin: { url: 'http://origin.test/api/leads' } });
      const leads = (await freedAtFetch(b.exports, b.ops, 'cache.get', other)).find((op) => op.kind === OP.KV_CAS).key;
      const bLease = await leaseOf(leads);
      assert.notEqual(bLease, lease);
      assert.equal((await a.qv.call('cache.get', other)).xCache, 'MISS');
      const after = await a.qv.call('cache.stats', {});
      assert.deepEqual([after.collapse.takenOver, after.collapse.fallbacks], [1, 1]);
      assert.equal(await leaseOf(leads), bLease);
    });

    test('a fill lease that lapsed mid-fetch and another isolate took is left to it: the first leader neither gives it back nor writes its "pass" there', async (t) => {
      for (const outcome of ['stored', 'failed']) {
        const clock = { t: START };
        const kv = new CountingKv({ now: () => clock.t }); // leases lapse by the test's clock only
        // Each fetch held until the test releases it; reached[n] resolves once fetch n began.
        const gates = [];
        const reached = [1, 2].map(() => new Promise((resolve) => gates.push({ reach: resolve })));
        for (const gate of gates) gate.opened = new Promise((resolve) => { gate.open = resolve; });
        t.after(() => gates.forEach((gate) => gate.open())); // (after a failure too)
        const origin = fakeOrigin({ delayMs: 0, reply: async (url, init, n) => {
          gates[n - 1].reach();
          await gates[n - 1].opened;
          return n === 1 && outcome === 'failed'
            ? new Response('{"error":"down"}', { status: 503 })
            : new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=60' } });
        } });
        const config = { collapseMs: 200, collapsePollMs: 20 };
        const [a, b] = await Promise.all([1, 2].map(() => isolate({ kv, clock, origin, config })));
        const leaseKey = 'qvc:f:org_a:GET%20%2Fapi%2Fcampaigns:scope=Growth';
        const leaseOf = async () => { const value = await kv.get(leaseKey); return value == null ? null : new TextDecoder().decode(value); };
        const first = a.qv.call('cache.get', input());
        await reached[0];
        const aId = await leaseOf();
        clock.t += 250; // a's fetch outlasts the lease: it lapses, and b's miss takes it
        const second = b.qv.call('cache.get', input());
        await reached[1];
        const bId = await leaseOf();
        assert.match(bId, /^[0-9a-f]{16}$/);
        assert.notEqual(bId, aId);
        gates[0].open();
        const answer = await first;
        assert.deepEqual([answer.xCache, answer.stored], outcome === 'stored' ? ['MISS', true] : ['MISS', false], JSON.stringify(answer));
        assert.equal(await leaseOf(), bId, `${outcome}: b's lease is left as it was`);
        gates[1].open();
        assert.equal((await second).xCache, 'MISS');
        assert.equal(await leaseOf(), 'free', `${outcome}: b gave its own lease back`);
        assert.equal(origin.fetches, 2);
      }
    });

    test('a refresh lease that lapsed mid-fetch and another isolate took is left to it: the first refresh does not give it back', async (t) => {
      const clock = { t: START };
      const kv = new CountingKv({ now: () => clock.t }); // leases lapse by the test's clock only
      // Fetches 2 and 3 (the refreshes) held until the test releases them.
      const gates = new Map([2, 3].map((n) => {
        const gate = {};
        gate.reached = new Promise((resolve) => { gate.reach = resolve; });
        gate.opened = new Promise((resolve) => { gate.open = resolve; });
        return [n, gate];
      }));
      t.after(() => gates.forEach((gate) => gate.open())); // (after a failure too)
      const origin = fakeOrigin({ delayMs: 0, reply: async (url, init, n) => {
        gates.get(n)?.reach();
        await gates.get(n)?.opened;
        return new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=10, stale-while-revalidate=60' } });
      } });
      const [a, b] = await Promise.all([1, 2].map(() => isolate({ kv, clock, origin })));
      await a.qv.call('cache.get', input());
      clock.t = START + 15_000; // stale in both isolates (b's copy in L2)
      const leaseKey = 'qvc:r:org_a:GET%20%2Fapi%2Fcampaigns:scope=Growth';
      const leaseOf = async () => { const value = await kv.get(leaseKey); return value == null ? null : new TextDecoder().decode(value); };
      const first = a.qv.call('cache.refresh', input());
      await gates.get(2).reached;
      const aId = await leaseOf();
      clock.t += 10_001; // a's fetch outlasts the lease (refreshLeaseMs, 10 s): b's refresh takes it
      const second = b.qv.call('cache.refresh', input());
      await gates.get(3).reached;
      const bId = await leaseOf();
      assert.match(bId, /^[0-9a-f]{16}$/);
      assert.notEqual(bId, aId);
      gates.get(2).open();
      assert.equal((await first).refreshed, true);
      assert.equal(await leaseOf(), bId, 'b\'s lease is left as it was');
      gates.get(3).open();
      assert.equal((await second).refreshed, true);
      assert.equal(await leaseOf(), 'free', 'b gave its own lease back');
    });

    test('a KV that cannot answer collapses nothing: each isolate fetches', async () => {
      const kv = new CountingKv();
      kv.failing = new Set(['cas']);
      const origin = fakeOrigin({ delayMs: 10 });
      const isolates = await Promise.all([1, 2, 3].map(() => isolate({ kv, origin, config: { collapseMs: 5000, collapsePollMs: 5 } })));
      const answers = await Promise.all(isolates.map(({ qv }) => qv.call('cache.get', input())));
      assert.ok(answers.every((a) => a.body === '{"version":1}' || a.body === '{"version":2}' || a.body === '{"version":3}'));
      assert.equal(origin.fetches, 3);
      assert.equal(kv.counts.cas, 3, 'the lease was asked for');
    });

    test('a KV that cannot answer grants the refresh lease: the refresh still reaches the origin', async () => {
      const origin = fakeOrigin();
      origin.headers = { 'cache-control': 'max-age=10, stale-while-revalidate=60' };
      const { qv, kv, clock } = await isolate({ origin });
      await qv.call('cache.get', input());
      clock.t = START + 15_000;
      kv.failing = new Set(['cas']);
      const refresh = await qv.call('cache.refresh', input());
      assert.equal(kv.counts.cas, 1, 'the lease was asked for');
      assert.equal(refresh.refreshed, true, JSON.stringify(refresh));
      assert.equal(origin.fetches, 2);
    });

    test('stale-if-error: a failing origin gets the stale copy in its place, within the window only', async () => {
      const origin = fakeOrigin();
      origin.headers = { 'cache-control': 'max-age=10, stale-if-error=60' };
      const { qv, clock, kv } = await isolate({ origin });
      await qv.call('cache.get', input());
      origin.failing = 'status';
      clock.t = START + 20_000;
      const answer = await qv.call('cache.get', input());
      assert.equal(answer.xCache, 'STALE');
      assert.equal(answer.layer, 'L1');
      assert.equal(answer.body, '{"version":1}');
      const other = await isolate({ origin, clock, kv }); // nothing in its L1: L2's copy stands in
      const fromL2 = await other.qv.call('cache.get', input());
      assert.deepEqual([fromL2.xCache, fromL2.layer, fromL2.body], ['STALE', 'L2', '{"version":1}']);
      assert.match(answer.reason, /stale-if-error: the origin failed \(status 503\)/);
      origin.failing = 'network';
      assert.equal((await qv.call('cache.get', input())).xCache, 'STALE');
      clock.t = START + 71_000; // beyond stale-if-error
      const failed = await qv.call('cache.get', input());
      assert.equal(failed.found, false);
      assert.equal(failed.status, 502);
      assert.match(failed.reason, /origin failed: unavailable/);
    });

    test('an origin answer over the host\'s fetchMaxBytes is not read: a 502 that names it', async () => {
      const origin = fakeOrigin();
      origin.body = () => 'x'.repeat(4 << 20);
      const qv = await instantiate(module, { kv: new CountingKv(), now: () => START, fetch: origin.fetch, log: quiet, fetchMaxBytes: 1 << 20 });
      const answer = await qv.call('cache.get', input());
      assert.deepEqual([answer.found, answer.status, answer.stored], [false, 502, false]);
      assert.match(answer.reason, /^origin failed: too_large: fetch GET \S+: the answer's body is over 1048576 bytes \(fetchMaxBytes\)$/);
    });

    test('revalidation: a stale copy with an ETag is fetched conditionally, and a 304 makes it fresh again', async () => {
      const seen = [];
      const origin = fakeOrigin({
        reply: (url, init, n) => {
          const asked = new Headers(init?.headers).get('if-none-match');
          seen.push(asked);
          if (asked === '"v1"') return new Response(null, { status: 304, headers: { 'cache-control': 'max-age=20, stale-while-revalidate=30, stale-if-error=60', etag: '"v1"' } });
          return new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=10, stale-while-revalidate=30, stale-if-error=60', etag: '"v1"', 'surrogate-key': 'campaigns' } });
        },
      });
      const { qv, kv, clock } = await isolate({ origin });
      assert.equal((await qv.call('cache.get', input())).xCache, 'MISS');
      assert.deepEqual(seen, [null], 'nothing held: an unconditional fetch');

      clock.t = START + 15_000; // stale, within stale-while-revalidate: the refresh revalidates
      assert.equal((await qv.call('cache.get', input())).xCache, 'STALE');
      const refresh = await qv.call('cache.refresh', input());
      assert.equal(refresh.refreshed, true, JSON.stringify(refresh));
      assert.deepEqual(seen, [null, '"v1"']);
      const fresh = await qv.call('cache.get', input());
      assert.equal(fresh.xCache, 'HIT-L1');
      assert.equal(fresh.body, '{"version":1}', 'the stored body, which the 304 did not resend');
      assert.equal(fresh.headers['cache-control'], 'max-age=20, stale-while-revalidate=30, stale-if-error=60', 'the 304\'s headers replace the stored ones');
      assert.deepEqual(fresh.tags, ['campaigns'], 'tags the 304 did not repeat stay');

      clock.t = START + 15_000 + 55_000; // past max-age 20 + swr 30 of the revalidated copy, within stale-if-error
      const again = await qv.call('cache.get', input());
      assert.equal(again.xCache, 'MISS');
      assert.equal(again.layer, 'origin');
      assert.equal(again.body, '{"version":1}');
      assert.match(again.reason, /revalidated: the origin answered 304 Not Modified/);
      assert.deepEqual(seen, [null, '"v1"', '"v1"']);
      const stats = await qv.call('cache.stats', {});
      assert.equal(stats.origin.notModified, 2);
      assert.equal(stats.origin.fetches, 3);
      // L2 holds the revalidated copy too: another isolate reads it fresh.
      const other = await isolate({ kv, clock, origin });
      const fromL2 = await other.qv.call('cache.get', input());
      assert.equal(fromL2.xCache, 'HIT-L2');
      assert.equal(fromL2.body, '{"version":1}');
    });

    test('revalidation: without an ETag the copy\'s Last-Modified is sent; a 200 answer replaces the copy', async () => {
      const seen = [];
      const origin = fakeOrigin({
        reply: (url, init, n) => {
          seen.push([new Headers(init?.headers).get('if-modified-since'), new Headers(init?.headers).get('if-none-match')]);
          return new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=10, stale-while-revalidate=30', 'last-modified': `Wed, 26 Nov 2025 00:00:0${n} GMT` } });
        },
      });
      const { qv, clock } = await isolate({ origin });
      await qv.call('cache.get', input());
      clock.t = START + 15_000;
      assert.equal((await qv.call('cache.refresh', input())).refreshed, true);
      assert.deepEqual(seen, [[null, null], ['Wed, 26 Nov 2025 00:00:01 GMT', null]]);
      const fresh = await qv.call('cache.get', input());
      assert.equal(fresh.body, '{"version":2}');
      assert.equal((await qv.call('cache.stats', {})).origin.notModified, 0);
    });

    test('revalidation: a 304 naming another ETag confirms nothing: the copy is fetched again, unconditionally', async () => {
      const origin = fakeOrigin({
        reply: (url, init, n) => (new Headers(init?.headers).has('if-none-match')
          ? new Response(null, { status: 304, headers: { etag: '"v2"' } })
          : new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=10, stale-if-error=60', etag: '"v1"' } })),
      });
      const { qv, clock } = await isolate({ origin });
      await qv.call('cache.get', input());
      clock.t = START + 15_000;
      const answer = await qv.call('cache.get', input());
      assert.deepEqual([answer.status, answer.body, answer.stored, origin.fetches], [200, '{"version":3}', true, 3]);
      assert.equal((await qv.call('cache.stats', {})).origin.notModified, 0);
    });

    test('revalidation: a 304 naming the copy\'s ETag weakly (W/) confirms it', async () => {
      const origin = fakeOrigin({
        reply: (url, init) => (new Headers(init?.headers).has('if-none-match')
          ? new Response(null, { status: 304, headers: { etag: 'W/"v1"' } })
          : new Response('{"version":1}', { status: 200, headers: { 'cache-control': 'max-age=10', etag: '"v1"' } })),
      });
      const { qv, clock } = await isolate({ origin });
      await qv.call('cache.get', input());
      clock.t = START + 15_000;
      const answer = await qv.call('cache.get', input());
      assert.deepEqual([answer.status, answer.body, origin.fetches], [200, '{"version":1}', 2]);
      assert.equal((await qv.call('cache.stats', {})).origin.notModified, 1);
    });

    test('revalidation: a 304 without freshness of its own leaves the copy\'s Expires in force', async () => {
      const expires = new Date(START + 30_000).toUTCString();
      const origin = fakeOrigin({
        reply: (url, init, n) => (new Headers(init?.headers).has('if-none-match')
          ? new Response(null, { status: 304, headers: { etag: '"v1"' } })
          : new Response(`{"version":${n}}`, { status: 200, headers: { expires, etag: '"v1"', 'cache-control': 'stale-if-error=600' } })),
      });
      const { qv, clock } = await isolate({ origin });
      await qv.call('cache.get', input());
      clock.t = START + 40_000; // past Expires: revalidated, and still past it
      assert.equal((await qv.call('cache.get', input())).status, 200);
      const fetches = origin.fetches;
      clock.t += 1000;
      await qv.call('cache.get', input());
      assert.equal(origin.fetches, fetches + 1, 'not fresh again for the default lifetime');
    });

    test('an answer\'s age counts the Age it arrived with, in both layers, until a 304 without one confirms it', async () => {
      const origin = fakeOrigin({
        reply: (url, init) => (new Headers(init?.headers).has('if-none-match')
          ? new Response(null, { status: 304, headers: { etag: '"v1"' } })
          : new Response('{"version":1}', { status: 200, headers: { 'cache-control': 'max-age=10, stale-if-error=60', etag: '"v1"', age: '5' } })),
      });
      const { qv, kv, clock } = await isolate({ origin });
      assert.equal((await qv.call('cache.get', input())).ageMs, 5000, 'as old as it arrived');
      clock.t = START + 2000;
      assert.deepEqual(await qv.call('cache.get', input()).then((a) => [a.xCache, a.ageMs]), ['HIT-L1', 7000]);
      const other = await isolate({ kv, clock, origin });
      assert.deepEqual(await other.qv.call('cache.get', input()).then((a) => [a.xCache, a.ageMs]), ['HIT-L2', 7000]);
      clock.t = START + 8000; // 5 s upstream + 8 s here: past max-age, revalidated
      const revalidated = await qv.call('cache.get', input());
      assert.deepEqual([revalidated.layer, revalidated.ageMs], ['origin', 0]);
      clock.t = START + 9000;
      assert.deepEqual(await qv.call('cache.get', input()).then((a) => [a.xCache, a.ageMs]), ['HIT-L1', 1000]);
    });

    test('revalidation: a caller\'s own If-None-Match is left alone, and its 304 passes through unstored', async () => {
      const seen = [];
      const origin = fakeOrigin({
        reply: (url, init) => {
          const asked = new Headers(init?.headers).get('if-none-match');
          seen.push(asked);
          if (asked) return new Response(null, { status: 304, headers: { etag: asked } });
          return new Response('{"version":1}', { status: 200, headers: { 'cache-control': 'max-age=10, stale-if-error=60', etag: '"v1"' } });
        },
      });
      const { qv, clock } = await isolate({ origin });
      await qv.call('cache.get', input());
      clock.t = START + 15_000;
      const own = input({ origin: { url: 'http://origin.test/api/campaigns', headers: { 'if-none-match': '"mine"' } } });
      const answer = await qv.call('cache.get', own);
      assert.deepEqual(seen, [null, '"mine"']);
      assert.equal(answer.status, 304);
      assert.equal(answer.stored, false);
      assert.equal((await qv.call('cache.stats', {})).origin.notModified, 0);
    });

    test('a 501 the origin gives a max-age is cached for that long (cacheable by default), and it is no failure a stale copy stands in for', async () => {
      const origin = fakeOrigin({ reply: (url, init, n) => (n === 1
        ? new Response('{"version":1}', { status: 200, headers: { 'cache-control': 'max-age=10, stale-if-error=600' } })
        : new Response('{"error":"not_implemented"}', { status: 501, headers: { 'cache-control': 'max-age=30' } })) });
      const { qv, clock } = await isolate({ origin });
      await qv.call('cache.get', input());
      clock.t = START + 15_000;
      const answer = await qv.call('cache.get', input());
      assert.deepEqual([answer.xCache, answer.status, answer.stored], ['MISS', 501, true], answer.reason);
      const again = await qv.call('cache.get', input());
      assert.deepEqual([again.xCache, again.status, again.body], ['HIT-L1', 501, '{"error":"not_implemented"}']);
      assert.equal(origin.fetches, 2);
      assert.equal((await qv.call('cache.stats', {})).origin.errors, 0);
    });

    test('a 404 the origin gives a max-age is cached for that long; one without is not', async () => {
      for (const [headers, fetches] of [[{ 'cache-control': 'max-age=30' }, 1], [{}, 2]]) {
        const origin = fakeOrigin({ reply: () => new Response('{"error":"not_found"}', { status: 404, headers }) });
        const { qv } = await isolate({ origin });
        await qv.call('cache.get', input());
        const again = await qv.call('cache.get', input());
        assert.equal(again.status, 404);
        assert.equal(again.body, '{"error":"not_found"}');
        assert.equal(again.xCache, fetches === 1 ? 'HIT-L1' : 'MISS');
        assert.equal(origin.fetches, fetches);
      }
    });

    test('an origin error without a stale copy passes through, uncached', async () => {
      const origin = fakeOrigin();
      origin.failing = 'status';
      const { qv, kv } = await isolate({ origin });
      const answer = await qv.call('cache.get', input());
      assert.equal(answer.status, 503);
      assert.equal(answer.stored, false);
      assert.equal(kv.counts.set, 0);
    });

    for (const [what, headers] of [
      ['private', { 'cache-control': 'private, max-age=60' }],
      ['no-store', { 'cache-control': 'no-store' }],
      ['Set-Cookie', { 'cache-control': 'public, max-age=60', 'set-cookie': 'session=abc' }],
    ]) {
      test(`a ${what} response is stored nowhere and never handed to other waiting calls`, async () => {
        const origin = fakeOrigin({ reply: (url, init, n) => new Response(`{"user":${n}}`, { status: 200, headers }) });
        const { qv, kv } = await isolate({ origin });
        const answers = await Promise.all(Array.from({ length: 5 }, () => qv.call('cache.get', input())));
        const bodies = new Set(answers.map((a) => a.body));
        assert.equal(bodies.size, 5, `each call got its own response: ${[...bodies]}`);
        assert.equal(origin.fetches, 5);
        assert.ok(answers.every((a) => a.stored === false && a.xCache === 'MISS'));
        assert.equal(kv.counts.set, 0, 'nothing written to L2');
        assert.deepEqual(kv.keys().filter((k) => k.startsWith('qvc:e:')), []);
        const again = await qv.call('cache.get', input());
        assert.equal(again.xCache, 'MISS', 'nothing kept in L1 either');
      });
    }

    for (const [what, reply] of [
      ['403 with Set-Cookie', () => new Response('{"error":"no"}', { status: 403, headers: { 'set-cookie': 'session=abc' } })],
      ['404 that is private', () => new Response('{"error":"none"}', { status: 404, headers: { 'cache-control': 'private, max-age=30' } })],
      ['503 with no-store', () => new Response('{"error":"busy"}', { status: 503, headers: { 'cache-control': 'no-store' } })],
    ]) {
      test(`a ${what} is never handed to other waiting calls, which go to the origin at once`, async () => {
        let inFlight = 0;
        let most = 0;
        const origin = fakeOrigin({ delayMs: 20, reply: async () => {
          most = Math.max(most, ++inFlight);
          await sleep(20);
          inFlight--;
          return reply();
        } });
        const { qv } = await isolate({ origin });
        const answers = await Promise.all(Array.from({ length: 5 }, () => qv.call('cache.get', input())));
        assert.equal(origin.fetches, 5);
        assert.ok(answers.every((a) => a.stored === false), JSON.stringify(answers.map((a) => a.xCache)));
        assert.ok(most >= 4, `the waiting calls fetched one after another (at most ${most} at once)`);
        assert.ok(answers.every((a) => !a.coalesced), 'each fetched for itself: none is coalesced');
      });
    }

    test('a response to a request with Authorization is shared only when it says so (RFC 9111 §3.5)', async () => {
      const origin = fakeOrigin({ reply: (url, init) => new Response(JSON.stringify({ who: new Headers(init?.headers).get('authorization') }), {
        status: 200, headers: { 'cache-control': url.endsWith('/public') ? 'public, max-age=60' : 'max-age=60' },
      }) });
      const { qv, kv } = await isolate({ origin });
      const as = (who, path = '/api/campaigns') => input({ key: `GET ${path}`, origin: { url: `http://origin.test${path}`, headers: { authorization: `Bearer ${who}` } } });
      const alice = await qv.call('cache.get', as('alice'));
      assert.equal(alice.stored, false);
      assert.match(alice.reason, /authorization/);
      const bob = await qv.call('cache.get', as('bob'));
      assert.deepEqual([bob.xCache, bob.body], ['MISS', '{"who":"Bearer bob"}'], 'bob is not served alice\'s answer');
      const waiting = await Promise.all(['carol', 'dave'].map((who) => qv.call('cache.get', as(who, '/api/leads'))));
      assert.deepEqual(waiting.map((a) => a.body), ['{"who":"Bearer carol"}', '{"who":"Bearer dave"}'], 'nor handed to a call that waited');
      assert.deepEqual(kv.keys().filter((k) => k.startsWith('qvc:e:')), []);
      assert.equal((await qv.call('cache.get', as('erin', '/public'))).stored, true, 'public allows it');
    });

    test('a response is served only to requests that send what its Vary names, in every layer (RFC 9111 §4.1)', async () => {
      const origin = fakeOrigin({ delayMs: 5, reply: (url, init) => new Response(JSON.stringify({ lang: new Headers(init?.headers).get('accept-language') }), {
        status: 200, headers: { 'cache-control': 'max-age=60', vary: 'Accept-Encoding, Accept-Language' },
      }) });
      const { qv, kv } = await isolate({ origin });
      const other = await isolate({ kv, origin });
      const as = (lang) => input({ origin: { url: 'http://origin.test/api/campaigns', headers: lang ? { 'accept-language': lang } : {} } });
      const fr = await qv.call('cache.get', as('fr'));
      assert.deepEqual([fr.xCache, fr.stored, fr.body], ['MISS', true, '{"lang":"fr"}']);
      assert.equal((await qv.call('cache.get', as('fr'))).xCache, 'HIT-L1');
      const de = await qv.call('cache.get', as('de'));
      assert.deepEqual([de.xCache, de.body], ['MISS', '{"lang":"de"}'], 'L1 holds the fr variant: not served to de');
      assert.deepEqual([(await other.qv.call('cache.get', as('de'))).xCache], ['HIT-L2'], 'the same variant in L2');
      const none = await other.qv.call('cache.get', as(null));
      assert.deepEqual([none.xCache, none.body], ['MISS', '{"lang":null}'], 'a request without the header is a variant too');
      // The variants live side by side: each is served in turn, in L1 and (found under the
      // key its Vary names select) in L2, while the key holds the latest.
      for (const lang of ['fr', 'de', 'fr']) {
        const again = await qv.call('cache.get', as(lang));
        assert.deepEqual([again.xCache, again.body], ['HIT-L1', `{"lang":"${lang}"}`], lang);
      }
      const third = await isolate({ kv, origin });
      for (const lang of ['fr', 'de', null]) {
        const found = await third.qv.call('cache.get', as(lang));
        assert.deepEqual([found.xCache, found.body], ['HIT-L2', JSON.stringify({ lang })], `${lang} in L2`);
      }
      assert.equal((await qv.call('cache.stats', {})).l2.misses, 2, 'fr and de missed L2 once each');
      assert.equal(origin.fetches, 3, 'one origin fetch per variant');
      // Invalidating the key reaches every variant, in L1 and in L2.
      const invalidated = await third.qv.call('cache.invalidate', { organizationId: ORG, keys: [{ key: 'GET /api/campaigns', vary: { scope: 'Growth' } }] });
      assert.equal(invalidated.l1Dropped, 4, 'three variants, and the key with the latest');
      const fourth = await isolate({ kv, origin });
      for (const [isolated, lang] of [[third, 'de'], [fourth, 'fr']]) {
        const fresh = await isolated.qv.call('cache.get', as(lang));
        assert.deepEqual([fresh.xCache, fresh.body], ['MISS', `{"lang":"${lang}"}`], lang);
      }
      // Concurrent calls of two variants: a call waiting for the other variant's fetch is not handed it.
      const both = await Promise.all([qv.call('cache.get', as('es')), qv.call('cache.get', as('it'))]);
      assert.deepEqual(both.map((a) => a.body), ['{"lang":"es"}', '{"lang":"it"}']);
    });

    test('a 304 that does not repeat the Vary leaves the revalidated copy a variant: served only to requests that send what it names', async () => {
      const origin = fakeOrigin({ reply: (url, init) => {
        const asked = new Headers(init?.headers);
        if (asked.get('if-none-match') === '"fr"') return new Response(null, { status: 304, headers: { etag: '"fr"', 'cache-control': 'max-age=60' } });
        const lang = asked.get('accept-language');
        return new Response(JSON.stringify({ lang }), { status: 200, headers: { 'cache-control': 'max-age=10, stale-while-revalidate=30', etag: `"${lang}"`, vary: 'Accept-Language' } });
      } });
      const { qv, kv, clock } = await isolate({ origin });
      const as = (lang) => input({ origin: { url: 'http://origin.test/api/campaigns', headers: { 'accept-language': lang } } });
      await qv.call('cache.get', as('fr'));
      clock.t = START + 15_000; // stale: the refresh revalidates fr, and the 304 names no Vary
      assert.equal((await qv.call('cache.get', as('fr'))).xCache, 'STALE');
      const refresh = await qv.call('cache.refresh', as('fr'));
      assert.match(refresh.reason ?? '', /revalidated/, JSON.stringify(refresh));
      assert.equal((await qv.call('cache.get', as('fr'))).xCache, 'HIT-L1');
      const de = await qv.call('cache.get', as('de'));
      assert.deepEqual([de.xCache, de.body], ['MISS', '{"lang":"de"}'], 'L1 holds fr: not served to de');
      const other = await isolate({ kv, origin, clock });
      const es = await other.qv.call('cache.get', as('es'));
      assert.deepEqual([es.xCache, es.body], ['MISS', '{"lang":"es"}'], 'nor from L2');
      const fr = await other.qv.call('cache.get', as('fr'));
      assert.deepEqual([fr.xCache, fr.body], ['HIT-L2', '{"lang":"fr"}'], 'the revalidated fr, found in L2');
    });

    test('a variant stored before the latest and usable longer is still found once the latest has lapsed', async () => {
      // fr lives 10 min fresh and an hour for stale-if-error; de, stored after it, 10 s.
      const clock = { t: START };
      const kv = new CountingKv({ now: () => clock.t });
      const origin = fakeOrigin({ reply: (url, init) => {
        const lang = new Headers(init?.headers).get('accept-language');
        return new Response(JSON.stringify({ lang }), { status: 200, headers: {
          'cache-control': lang === 'fr' ? 'max-age=600, stale-if-error=3600' : 'max-age=10', vary: 'Accept-Language',
        } });
      } });
      const as = (lang) => input({ origin: { url: 'http://origin.test/api/campaigns', headers: { 'accept-language': lang } } });
      const { qv } = await isolate({ kv, origin, clock });
      assert.equal((await qv.call('cache.get', as('fr'))).stored, true);
      assert.equal((await qv.call('cache.get', as('de'))).stored, true);
      clock.t = START + 61_000; // de has lapsed, in L1 and L2; fr is fresh
      for (const isolated of [qv, (await isolate({ kv, origin, clock })).qv]) {
        const fr = await isolated.call('cache.get', as('fr'));
        assert.deepEqual([fr.xCache, fr.body], ['HIT-L2', '{"lang":"fr"}']);
      }
      assert.equal(origin.fetches, 2, 'fr is not fetched again');
      // ... and stands in for it while the origin fails, within its stale-if-error window.
      clock.t = START + 700_000;
      origin.failing = 'status';
      const stale = await (await isolate({ kv, origin, clock })).qv.call('cache.get', as('fr'));
      assert.deepEqual([stale.xCache, stale.body], ['STALE', '{"lang":"fr"}'], stale.reason);
      // The lapsed de, kept under the key to find fr, is no stand-in for de (its window is over).
      const de = await (await isolate({ kv, origin, clock })).qv.call('cache.get', as('de'));
      assert.deepEqual([de.xCache, de.status], ['MISS', 503]);
    });

    test('a Vary naming the same headers in another order selects the same variants', async () => {
      const origin = fakeOrigin({ reply: (url, init, n) => new Response(JSON.stringify({ lang: new Headers(init?.headers).get('accept-language') }), {
        status: 200, headers: { 'cache-control': 'max-age=60', vary: n % 2 ? 'Accept-Encoding, Accept-Language' : 'accept-language,accept-encoding' },
      }) });
      const { qv } = await isolate({ origin });
      const as = (lang) => input({ origin: { url: 'http://origin.test/api/campaigns', headers: { 'accept-language': lang } } });
      for (const lang of ['fr', 'de']) assert.equal((await qv.call('cache.get', as(lang))).xCache, 'MISS');
      const fr = await qv.call('cache.get', as('fr'));
      assert.deepEqual([fr.xCache, fr.body], ['HIT-L1', '{"lang":"fr"}']);
      assert.equal(origin.fetches, 2);
    });

    test('once a copy names its Vary, the variants of a key are fetched side by side, each once', async () => {
      let inFlight = 0;
      let most = 0;
      const origin = fakeOrigin({ delayMs: 0, reply: async (url, init) => {
        most = Math.max(most, ++inFlight);
        await sleep(20);
        inFlight--;
        return new Response(JSON.stringify({ lang: new Headers(init?.headers).get('accept-language') }), {
          status: 200, headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' },
        });
      } });
      const { qv } = await isolate({ origin });
      const as = (lang) => input({ origin: { url: 'http://origin.test/api/campaigns', headers: { 'accept-language': lang } } });
      await qv.call('cache.get', as('fr'));
      most = 0;
      const answers = await Promise.all(['de', 'de', 'es', 'it', 'es'].map((lang) => qv.call('cache.get', as(lang))));
      assert.deepEqual(answers.map((a) => JSON.parse(a.body).lang), ['de', 'de', 'es', 'it', 'es']);
      assert.equal(origin.fetches, 4, 'fr, then de, es and it once each');
      assert.equal(most, 3, 'de, es and it at once, not one after another');
      assert.deepEqual(answers.map((a) => a.coalesced), [false, true, false, false, true]);
    });

    // An origin whose answers name Vary: Accept-Language and say which organisation (by the
    // URL's path) and language they were fetched for; `most` is the most fetches at once.
    function languageOrigin({ status = 200, cacheControl = 'max-age=60' } = {}) {
      let inFlight = 0;
      const origin = fakeOrigin({ delayMs: 0, reply: async (url, init) => {
        origin.most = Math.max(origin.most, ++inFlight);
        await sleep(20);
        inFlight--;
        const body = { org: new URL(url).pathname.split('/')[1], lang: new Headers(init?.headers).get('accept-language') };
        const headers = { vary: 'Accept-Language', ...(cacheControl ? { 'cache-control': cacheControl } : {}) };
        return new Response(JSON.stringify(body), { status, headers });
      } });
      origin.most = 0;
      return origin;
    }
    const asOrg = (org, lang) => input({ organizationId: org, origin: { url: `http://origin.test/${org}/api/campaigns`, headers: { 'accept-language': lang } } });

    for (const [what, reply] of [['stored', {}], ['not stored (a 404 without a lifetime)', { status: 404, cacheControl: null }]]) {
      test(`the first miss of a key whose answer names a Vary, ${what}: waiting calls of other variants fetch their own, side by side, each variant once`, async () => {
        const origin = languageOrigin(reply);
        const { qv } = await isolate({ origin });
        const langs = ['fr', 'de', 'de', 'es', 'fr', 'es'];
        const answers = await Promise.all(langs.map((lang) => qv.call('cache.get', asOrg(ORG, lang))));
        assert.deepEqual(answers.map((a) => JSON.parse(a.body).lang), langs, 'each call is served its own variant');
        assert.deepEqual(answers.map((a) => a.coalesced), [false, false, true, false, true, true]);
        assert.equal(origin.fetches, 3, 'fr, de and es once each');
        assert.equal(origin.most, 2, 'de and es side by side once fr\'s answer named its Vary');
      });
    }

    test('while a variant fetches its own and L1 holds no copy of the key, a new call of that variant waits for it, one of another variant behind no other', async () => {
      let release;
      const held = new Promise((resolve) => { release = resolve; });
      let deStarted;
      const deFetching = new Promise((resolve) => { deStarted = resolve; });
      const fetched = [];
      // Answers name Vary: Accept-Language and are not stored (a 404 without a lifetime); the
      // first fetch of de is held until the test releases it.
      const origin = fakeOrigin({ delayMs: 0, reply: async (url, init) => {
        const lang = new Headers(init?.headers).get('accept-language');
        fetched.push(lang);
        if (lang === 'de' && fetched.filter((l) => l === 'de').length === 1) {
          deStarted();
          await held;
        }
        return new Response(JSON.stringify({ lang }), { status: 404, headers: { vary: 'Accept-Language' } });
      } });
      const { qv } = await isolate({ origin });
      const as = (lang) => input({ origin: { url: 'http://origin.test/api/campaigns', headers: { 'accept-language': lang } } });
      const first = [qv.call('cache.get', as('fr')), qv.call('cache.get', as('de'))];
      await deFetching; // fr's answer named its Vary: de fetches its own
      assert.equal(JSON.parse((await first[0]).body).lang, 'fr');
      const late = qv.call('cache.get', as('de'));
      const other = await qv.call('cache.get', as('it'));
      assert.deepEqual([JSON.parse(other.body).lang, other.coalesced], ['it', false], 'it fetched its own, waiting behind no other variant');
      release();
      const answers = await Promise.all([first[1], late]);
      assert.deepEqual(answers.map((a) => [JSON.parse(a.body).lang, a.coalesced]), [['de', false], ['de', true]], 'the late de waited for the first');
      assert.deepEqual(fetched, ['fr', 'de', 'it'], 'de fetched once');
    });

    test('concurrent first misses of a varying key in two organisations: each is served its own organisation\'s variant', async () => {
      for (const reply of [{}, { status: 404, cacheControl: null }]) {
        const origin = languageOrigin(reply);
        const { qv } = await isolate({ origin });
        const asked = [['org_a', 'fr'], ['org_b', 'fr'], ['org_a', 'de'], ['org_b', 'de'], ['org_b', 'fr'], ['org_a', 'de']];
        for (let round = 0; round < 2; round++) {
          const answers = await Promise.all(asked.map(([org, lang]) => qv.call('cache.get', asOrg(org, lang))));
          assert.deepEqual(answers.map((a) => JSON.parse(a.body)), asked.map(([org, lang]) => ({ org, lang })), `${reply.status ?? 200}, round ${round}`);
        }
        assert.equal(origin.fetches, reply.status ? 8 : 4, 'one fetch per organisation and variant (per round when nothing is stored)');
      }
    });

    test('a 304 to a caller\'s own condition is not handed to a waiting call without one', async () => {
      const origin = fakeOrigin({ delayMs: 20, reply: (url, init, n) => (new Headers(init?.headers).has('if-none-match')
        ? new Response(null, { status: 304, headers: { etag: '"v1"' } })
        : new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=60', etag: '"v1"' } })) });
      const { qv } = await isolate({ origin });
      const conditional = qv.call('cache.get', input({ origin: { url: 'http://origin.test/api/campaigns', headers: { 'if-none-match': '"v1"' } } }));
      const plain = qv.call('cache.get', input());
      assert.equal((await conditional).status, 304);
      const answer = await plain;
      assert.deepEqual([answer.status, answer.body], [200, '{"version":2}']);
    });

    test('journal views of client-chosen organisations stay bounded; an invalidation still reaches a dropped one', async () => {
      const kv = new CountingKv();
      const origin = fakeOrigin();
      const clock = { t: START };
      const { qv } = await isolate({ kv, origin, clock });
      const other = await isolate({ kv, origin, clock });
      await qv.call('cache.get', input({ tags: ['campaigns'] }));
      let most = 0;
      for (let i = 0; i < 12_000; i++) {
        clock.t += 10; // each organisation is read once: after 5 s (10 pollMs) it is idle
        await qv.call('cache.invalidate', { organizationId: `org_${i}`, tags: ['x'] });
        if (i % 500 === 499) most = Math.max(most, (await qv.call('cache.stats', {})).journalViews);
      }
      assert.ok(most >= 2048 && most <= 4096, `journalViews reached ${most}`);
      await other.qv.call('cache.invalidate', { organizationId: ORG, tags: ['campaigns'] });
      clock.t += 1000;
      const after = await qv.call('cache.get', input({ tags: ['campaigns'] }));
      assert.deepEqual([after.xCache, after.body], ['MISS', '{"version":2}']);
    });

    test('hit-for-pass marks of client-chosen keys stay bounded; a fresh mark still passes', async () => {
      const origin = fakeOrigin({ delayMs: 0 });
      origin.headers = { 'cache-control': 'no-store' };
      const { qv, clock } = await isolate({ origin, config: { passMs: 60_000 } });
      let most = 0;
      for (let i = 0; i < 3000; i++) {
        clock.t += 1;
        await qv.call('cache.get', input({ vary: { query: `q=${i}` } }));
        if (i % 100 === 99) most = Math.max(most, (await qv.call('cache.stats', {})).trackedKeys);
      }
      assert.ok(most > 0 && most <= 1024, `trackedKeys reached ${most}`);
      const passesBefore = (await qv.call('cache.stats', {})).passes;
      await qv.call('cache.get', input({ vary: { query: 'q=2999' } }));
      assert.equal((await qv.call('cache.stats', {})).passes, passesBefore + 1, 'the newest mark survived');
    });

    test('a failing KV degrades to the origin; the answer still comes', async () => {
      const kv = new CountingKv();
      kv.failing = true;
      const { qv, origin } = await isolate({ kv });
      const answer = await qv.call('cache.get', input());
      assert.equal(answer.found, true);
      assert.equal(answer.xCache, 'MISS');
      assert.equal(origin.fetches, 1);
      assert.equal((await qv.call('cache.get', input())).xCache, 'HIT-L1', 'L1 still serves');
      const stats = await qv.call('cache.stats', {});
      assert.ok(stats.l2.errors >= 1);
    });

    test('an invalidation with a failing KV is an error and invalidates nothing', async () => {
      const kv = new CountingKv();
      const { qv } = await isolate({ kv });
      await qv.call('cache.get', input({ tags: ['campaigns'] }));
      kv.failing = true;
      const { status, body } = await qv.invoke('cache.invalidate', { organizationId: ORG, tags: ['campaigns'] });
      assert.equal(status, 'unavailable');
      assert.match(body.message, /kv: cannot read the invalidation journal .*nothing invalidated/);
    });

    test('a tag the origin attaches (Surrogate-Key) invalidates the entry; a change payload does too', async () => {
      const origin = fakeOrigin();
      origin.headers = { 'cache-control': 'max-age=60', 'surrogate-key': 'campaigns campaigns:list campaigns:c1' };
      const { qv } = await isolate({ origin });
      await qv.call('cache.get', input());
      const change = await qv.call('cache.change', { type: 'UPDATE', table: 'campaigns', record: { id: 'c1', organization_id: ORG }, old_record: null });
      assert.equal(change.l1Dropped, 1);
      const after = await qv.call('cache.get', input());
      assert.equal(after.xCache, 'MISS');
      assert.equal(after.body, '{"version":2}');
    });

    test('header values reach the module as their bytes: a UTF-8 tag (leads:é) is the one a change to row é invalidates; latin-1 comes back as it came', async () => {
      // What fetch() gives for the bytes an origin sent: one char per byte (C3 A9 is "é" in
      // UTF-8; E9 alone, "é" in latin-1).
      const origin = fakeOrigin();
      origin.headers = { 'cache-control': 'max-age=60', 'surrogate-key': 'leads:\u00c3\u00a9 leads:list', link: '</caf\u00e9>; rel="canonical"' };
      const { qv } = await isolate({ origin });
      const first = await qv.call('cache.get', input());
      assert.deepEqual(first.tags, ['leads:list', 'leads:é'], 'the tags are the UTF-8 text the origin sent, in byte order');
      assert.equal(first.headers.link, '</caf\udce9>; rel="canonical"', 'a byte that is not UTF-8: U+DC00 + the byte, not U+FFFD');
      assert.equal(headerValueOf(first.headers.link), origin.headers.link, 'and back to the bytes the origin sent');
      assert.equal((await qv.call('cache.get', input())).xCache, 'HIT-L1');
      const change = await qv.call('cache.change', { type: 'UPDATE', table: 'leads', record: { id: 'é', organization_id: ORG }, old_record: null });
      assert.deepEqual(change.tags, ['leads:é']);
      assert.equal(change.l1Dropped, 1);
      assert.equal((await qv.call('cache.get', input())).xCache, 'MISS');
    });

    test('an entry fetched before an invalidation it did not see is not kept afterwards', async (t) => {
      // The fetch starts, an invalidation lands in the KV meanwhile (written by another
      // isolate), then the fetch completes: the next read must not trust the entry.
      const kv = new CountingKv();
      let release;
      const gate = new Promise((resolve) => { release = resolve; });
      t.after(() => release()); // (after a failure too: the held fetch would wait out its deadline)
      const origin = fakeOrigin({
        reply: async (url, init, n) => {
          if (n === 1) await gate;
          return new Response(`{"version":${n}}`, { status: 200, headers: { 'cache-control': 'max-age=60', 'surrogate-key': 'campaigns:c1' } });
        },
      });
      const clock = { t: START };
      const a = await isolate({ kv, origin, clock });
      const b = await isolate({ kv, origin, clock });
      await a.qv.call('cache.get', { organizationId: ORG, key: 'other' }); // a has read nothing yet
      const pending = a.qv.call('cache.get', input());
      await sleep(20);
      clock.t = START + 100;
      await b.qv.call('cache.invalidate', { organizationId: ORG, tags: ['campaigns:c1'] });
      release();
      assert.equal((await pending).body, '{"version":1}');
      clock.t = START + 1_000; // past pollMs: a reads the journal before serving a hit
      const next = await a.qv.call('cache.get', input());
      assert.equal(next.xCache, 'MISS');
      assert.equal(next.body, '{"version":2}');
    });

    test('a journal lost and started over (a KV restart) whose new items caught up with the old numbers still invalidates L1', async () => {
      // a reads the journal at seq 3 and stamps a copy with it; the KV loses everything; three
      // changes land (seq 1-3 again, the second naming the copy's tag) before a reads again.
      const store = { kv: new CountingKv() };
      const kv = withOps(store.kv, Object.fromEntries(['get', 'set', 'cas', 'incr', 'del'].map((op) => [op, (...args) => store.kv[op](...args)])));
      let version = 1;
      const origin = fakeOrigin({ reply: async () => new Response(`{"version":${version}}`, { headers: { 'cache-control': 'max-age=300', 'surrogate-key': 'leads:l7' } }) });
      const clock = { t: START };
      const a = await isolate({ kv, origin, clock });
      const b = await isolate({ kv, origin, clock });
      for (const tag of ['other:1', 'other:2', 'other:3']) await b.qv.call('cache.invalidate', { organizationId: ORG, tags: [tag] });
      await a.qv.call('cache.get', input({ key: 'GET /warm' }));
      clock.t += 1_000;
      assert.equal((await a.qv.call('cache.get', input({ key: 'GET /warm' }))).xCache, 'HIT-L1'); // a reads the journal: seq 3
      assert.equal((await a.qv.call('cache.get', input())).body, '{"version":1}');
      store.kv = new CountingKv(); // the KV restarts empty
      version = 2;
      const seqs = [];
      for (const tag of ['other:4', 'leads:l7', 'other:5']) seqs.push((await b.qv.call('cache.invalidate', { organizationId: ORG, tags: [tag] })).seq);
      assert.deepEqual(seqs, [1, 2, 3]);
      clock.t += 1_000;
      const after = await a.qv.call('cache.get', input());
      assert.deepEqual([after.xCache, after.body], ['MISS', '{"version":2}']);
    });

    test('an L2 copy stamped from a journal since evicted is not trusted by an isolate that never read that journal', async () => {
      // a stamps a copy with the journal at seq 3 and writes it to L2; the KV evicts the
      // journal alone (maxmemory); three changes start a new one, the second naming the
      // copy's tag; c, which never read the old journal, finds the copy in L2.
      const kv = new CountingKv();
      let version = 1;
      const origin = fakeOrigin({ reply: async () => new Response(`{"version":${version}}`, { headers: { 'cache-control': 'max-age=300', 'surrogate-key': 'leads:l7' } }) });
      const clock = { t: START };
      const a = await isolate({ kv, origin, clock });
      for (const tag of ['other:1', 'other:2', 'other:3']) await a.qv.call('cache.invalidate', { organizationId: ORG, tags: [tag] });
      assert.equal((await a.qv.call('cache.get', input())).stored, true);
      const journalKey = kv.keys().find((key) => key.startsWith('qvc:j:') && key.endsWith(ORG));
      assert.match(new TextDecoder().decode(await kv.get(journalKey)), /^qvj2 \d+ 3 /);
      await kv.del(journalKey);
      version = 2;
      for (const tag of ['other:4', 'leads:l7', 'other:5']) await a.qv.call('cache.invalidate', { organizationId: ORG, tags: [tag] });
      const c = await isolate({ kv, origin, clock });
      const served = await c.qv.call('cache.get', input());
      assert.deepEqual([served.xCache, served.body], ['MISS', '{"version":2}']);
    });

    test('an L2 copy written after an invalidation this isolate has not read yet is served, not refetched', async () => {
      // Isolate b read the journals just before a wrote an invalidation of another tag and
      // then stored a copy stamped with it: b reads the journals again and serves the copy.
      const kv = new CountingKv();
      const origin = fakeOrigin();
      const clock = { t: START };
      const a = await isolate({ kv, origin, clock });
      const b = await isolate({ kv, origin, clock });
      const two = input({ key: 'GET /api/two' });
      await a.qv.call('cache.get', input());
      await b.qv.call('cache.get', input()); // HIT-L2: b reads the journals
      await a.qv.call('cache.invalidate', { organizationId: ORG, tags: ['unrelated'] });
      clock.t += 100; // within b's pollMs
      assert.equal((await a.qv.call('cache.get', two)).xCache, 'MISS');
      const fetches = origin.fetches;
      const served = await b.qv.call('cache.get', two);
      assert.deepEqual([served.xCache, origin.fetches - fetches], ['HIT-L2', 0]);
      assert.equal((await b.qv.call('cache.stats')).l2.invalidated, 0);
    });

    test('a request that starts more than pollMs after a change was answered and waits for a fetch begun before the change serves the new data, not that fetch\'s answer', async (t) => {
      // The bound of docs/cache.md for a call coalesced onto a fetch slower than pollMs: the
      // origin answers that fetch with what it read when asked, before the change.
      let version = 1;
      let release;
      const gate = new Promise((resolve) => { release = resolve; });
      let reached;
      const fetching = new Promise((resolve) => { reached = resolve; });
      t.after(() => release()); // (after a failure too)
      const origin = fakeOrigin({
        reply: async (url, init, n) => {
          const read = version;
          if (n === 1) { reached(); await gate; }
          return new Response(`{"version":${read}}`, { status: 200, headers: { 'cache-control': 'max-age=60', 'surrogate-key': 'campaigns:c1' } });
        },
      });
      const kv = new CountingKv();
      const clock = { t: START };
      const a = await isolate({ kv, origin, clock });
      const b = await isolate({ kv, origin, clock });
      const first = a.qv.call('cache.get', input()); // a miss in both layers: the origin, held
      await fetching;
      clock.t += 10;
      version = 2;
      await b.qv.call('cache.invalidate', { organizationId: ORG, tags: ['campaigns:c1'] });
      const answered = clock.t;
      clock.t = answered + 500 + 1; // pollMs (500) and 1 ms after the change was answered
      const joined = a.qv.call('cache.get', input()); // waits for the fetch in flight
      release();
      assert.equal((await first).body, '{"version":1}'); // (begun before the change)
      const served = await joined;
      assert.equal(served.body, '{"version":2}', `a request started ${clock.t - answered} ms after the change was answered served ${served.xCache} ${served.body}${served.coalesced ? ' (coalesced)' : ''}${served.reason ? ` (${served.reason})` : ''}, expected version 2`);
    });

    test('an L2 copy stamped beyond this isolate\'s journals is judged on a read sent after it was found, not on one already in flight: served, not refetched', async (t) => {
      // Isolate b finds copy v stamped beyond its journals and reads them again at once; that
      // read is in flight when a writes another invalidation and then copy y, stamped with it.
      // b finds y while v's read is still in flight: that read was sent before y was found,
      // so it may not hold y's stamp (it does not), and y waits for a read of its own.
      const store = new CountingKv();
      const hold = { armed: false, release: null, onEntry: null };
      hold.reached = new Promise((resolve) => { hold.reach = resolve; });
      const get = async (key) => {
        const result = await store.get(key);
        if (hold.onEntry && key.startsWith('qvc:e:')) hold.onEntry();
        if (hold.armed && key === `qvc:j:${ORG}`) {
          hold.armed = false;
          await new Promise((resolve) => { hold.release = resolve; hold.reach(); });
        }
        return result;
      };
      t.after(() => hold.release?.()); // (after a failure too)
      const origin = fakeOrigin();
      const clock = { t: START };
      const a = await isolate({ kv: store, origin, clock, kvTimeoutMs: 60_000 });
      const b = await isolate({ kv: withOps(store, { get }), origin, clock, kvTimeoutMs: 60_000 });
      const [w, v, y] = ['GET /api/w', 'GET /api/v', 'GET /api/y'].map((key) => input({ key }));
      await a.qv.call('cache.get', w);
      clock.t += 500; // pollMs
      assert.equal((await a.qv.call('cache.get', w)).xCache, 'HIT-L1'); // a reads the journals
      assert.equal((await b.qv.call('cache.get', w)).xCache, 'HIT-L2'); // and so does b
      await a.qv.call('cache.invalidate', { organizationId: ORG, tags: ['unrelated:1'] });
      assert.equal((await a.qv.call('cache.get', v)).xCache, 'MISS');
      hold.armed = true;
      const forV = b.qv.call('cache.get', v); // stamped beyond b's journals: read again, held
      await hold.reached;
      clock.t += 10;
      await a.qv.call('cache.invalidate', { organizationId: ORG, tags: ['unrelated:2'] });
      assert.equal((await a.qv.call('cache.get', y)).xCache, 'MISS');
      const fetches = origin.fetches;
      const found = new Promise((resolve) => { hold.onEntry = resolve; });
      const forY = b.qv.call('cache.get', y); // stamped beyond what v's read holds
      await found; // y's L2 read is answered
      await new Promise((resolve) => setImmediate(resolve)); // and taken in: y waits for v's read
      hold.release(); // which answers now, without y's stamp
      const served = await Promise.all([forV, forY]);
      assert.deepEqual(served.map((answer) => `${answer.xCache} ${answer.body}`), ['HIT-L2 {"version":2}', 'HIT-L2 {"version":3}'],
        `b's answers for v and y: ${served.map((answer) => `${answer.xCache} ${answer.body}${answer.reason ? ` (${answer.reason})` : ''}`).join('; ')}; origin fetches since y was stored: ${origin.fetches - fetches}`);
      assert.equal((await b.qv.call('cache.stats')).l2.invalidated, 0);
    });

    // The bound of docs/cache.md with a journal read (or this isolate's own journal write)
    // that reaches the KV before a change lands there and answers after the change was
    // answered: it holds the journal as it was when sent, so it counts from then. Counted
    // from its answer, a request that started more than pollMs after the change served the
    // invalidated copy.
    for (const [held, what] of [
      ['L1', 'a journal read in flight as the change lands (the copy in L1)'],
      ['L2', 'a journal read in flight as the change lands (the copy in L2)'],
      ['joined', 'a journal read in flight as the change lands, which the request waits for'],
      ['append', 'the isolate\'s own journal write in flight as the change lands (the copy in L2)'],
    ]) {
      test(`the invalidation bound with ${what}: a request that starts more than pollMs after the change was answered serves the new data`, async (t) => {
        const POLL_MS = 500; // the default pollMs
        const store = new CountingKv();
        // Isolate a's KV: once armed, its next `op` on the organisation's journal reaches the
        // KV at once and answers when the test releases it.
        const { hold, holding } = journalHold(t, store, `qvc:j:${ORG}`);
        let version = 1;
        const origin = fakeOrigin({ reply: async () => new Response(`{"version":${version}}`, { headers: { 'cache-control': 'max-age=300', 'surrogate-key': 'campaigns:c1' } }) });
        const clock = { t: START };
        // (KV timeouts as long as the test: a held answer must not time out on a loaded machine.)
        const a = await isolate({ kv: withOps(store, { get: holding('get'), cas: holding('cas') }), origin, clock, kvTimeoutMs: 60_000 });
        const b = await isolate({ kv: store, origin, clock, kvTimeoutMs: 60_000 });
        const inL1 = input(); // a's copy, in a's L1 (and L2)
        const inL2 = input({ key: 'GET /api/leads' }); // b's copy, in L2 only for a
        await a.qv.call('cache.get', inL1);
        await b.qv.call('cache.get', inL2);
        clock.t += POLL_MS;
        assert.equal((await a.qv.call('cache.get', inL1)).xCache, 'HIT-L1'); // a reads the journals
        clock.t += POLL_MS; // they are due again

        hold.arm(held === 'append' ? 'cas' : 'get');
        const pending = held === 'append'
          ? a.qv.call('cache.invalidate', { organizationId: ORG, tags: ['other'] })
          : a.qv.call('cache.get', inL1); // a hit: the journals are read first
        await hold.reached;
        const sent = clock.t;
        clock.t += 10;
        version = 2;
        await b.qv.call('cache.invalidate', { organizationId: ORG, tags: ['campaigns:c1'] });
        const answered = clock.t;
        if (held === 'append') { // meanwhile a reads the journals, the change in them
          clock.t += 10;
          const read = await a.qv.call('cache.get', inL1);
          assert.equal(read.body, '{"version":2}', `a, ${inL1.key}, read after the change: ${read.xCache} ${read.body}`);
        }
        let asked = answered + POLL_MS + 1;
        let request = null;
        if (held === 'joined') { // starts before the held answer comes, and waits for it
          clock.t = asked;
          request = a.qv.call('cache.get', inL1);
        }
        clock.t += 100;
        hold.release(); // the held answer comes, 100 ms later
        await pending;
        if (!request) {
          asked = clock.t = Math.max(clock.t, asked);
          request = a.qv.call('cache.get', held === 'L1' ? inL1 : inL2);
        }
        const served = await request;
        assert.equal(served.body, '{"version":2}',
          `a, ${held === 'L1' || held === 'joined' ? inL1.key : inL2.key}: a request started ${asked - answered} ms after the change was answered (${asked - sent} ms after the held operation was sent) served ${served.xCache} ${served.body}${served.reason ? ` (${served.reason})` : ''}, expected version 2`);
      });
    }

    // Two answers about one journal that come back in another order than they were sent: the
    // global journal, read for two organisations' calls at once, or written by this isolate
    // while a call reads it. The isolate keeps the newer journal: taking in the older one
    // last, it judged the copies stamped from the newer one untrusted and dropped them.
    for (const [held, what] of [
      ['read', 'a journal read answered after one sent later'],
      ['lost', 'a journal read answered after one sent later, the journal lost and started over between them'],
      ['write', 'the isolate\'s own journal write answered after a read sent later'],
    ]) {
      test(`${what}: the isolate keeps the newer journal, and the copies stamped from it`, async (t) => {
        const store = new CountingKv();
        // Isolate a's KV: once armed, its next `op` on the global journal reaches the KV at
        // once and answers when the test releases it.
        const { hold, holding } = journalHold(t, store, 'qvc:j:*');
        const clock = { t: START };
        const a = await isolate({ kv: withOps(store, { get: holding('get'), cas: holding('cas') }), clock, kvTimeoutMs: 60_000 });
        const b = await isolate({ kv: store, clock, kvTimeoutMs: 60_000 });
        const [w, y, z] = [[ORG, 'GET /api/w'], ['org_b', 'GET /api/y'], ['org_b', 'GET /api/z']]
          .map(([organizationId, key]) => input({ organizationId, key }));
        await b.qv.call('cache.invalidate', { tags: ['unrelated:1'] }); // the global journal at seq 1
        await b.qv.call('cache.get', w);
        await b.qv.call('cache.get', y);
        assert.equal((await a.qv.call('cache.get', w)).xCache, 'HIT-L2'); // a reads the journals
        clock.t += 500; // pollMs: they are due again
        hold.arm(held === 'write' ? 'cas' : 'get');
        const first = held === 'write'
          ? a.qv.call('cache.invalidate', { tags: ['unrelated:2'] }) // writes seq 2
          : a.qv.call('cache.get', w); // a hit: reads the journals, the global one at seq 1
        await hold.reached;
        clock.t += 10;
        if (held === 'lost') await store.del('qvc:j:*');
        await b.qv.call('cache.invalidate', { tags: ['unrelated:3'] }); // the next seq (lost: 1 of a new epoch)
        clock.t += 10;
        await a.qv.call('cache.get', y); // found in L2: a reads the journals again, org_b's and the global one
        const stored = await a.qv.call('cache.get', z); // stamped from what that read found
        assert.deepEqual([stored.xCache, stored.stored], ['MISS', true]);
        hold.release(); // the older answer comes last
        await first;
        const served = await a.qv.call('cache.get', z);
        assert.equal(served.xCache, 'HIT-L1',
          `a, org_b ${z.key}, after the older answer came: ${served.xCache} ${served.body}${served.reason ? ` (${served.reason})` : ''}`);
      });
    }

    test('a journal read that reaches the KV after one sent later, and a change between them: its newer journal is kept, though sent first', async (t) => {
      // Within one epoch the higher seq is the newer journal, whichever read was sent first:
      // the view takes it in and drops what its new item names.
      const store = new CountingKv();
      const hold = { armed: false, release: null };
      hold.reached = new Promise((resolve) => { hold.reach = resolve; });
      const get = async (key) => {
        if (hold.armed && key === 'qvc:j:*') { // reaches the KV once released
          hold.armed = false;
          await new Promise((resolve) => { hold.release = resolve; hold.reach(); });
        }
        return store.get(key);
      };
      t.after(() => hold.release?.()); // (after a failure too)
      let version = 1;
      const origin = fakeOrigin({ reply: async () => new Response(`{"version":${version}}`, { headers: { 'cache-control': 'max-age=300', 'surrogate-key': 'campaigns:c1' } }) });
      const clock = { t: START };
      const a = await isolate({ kv: withOps(store, { get }), origin, clock, kvTimeoutMs: 60_000 });
      const b = await isolate({ kv: store, origin, clock, kvTimeoutMs: 60_000 });
      const [w, y] = [[ORG, 'GET /api/w'], ['org_b', 'GET /api/y']].map(([organizationId, key]) => input({ organizationId, key }));
      await b.qv.call('cache.invalidate', { tags: ['unrelated:1'] }); // the global journal at seq 1
      await b.qv.call('cache.get', w);
      await b.qv.call('cache.get', y);
      assert.equal((await a.qv.call('cache.get', w)).xCache, 'HIT-L2'); // a reads the journals
      clock.t += 500; // pollMs: they are due again
      hold.armed = true;
      const first = a.qv.call('cache.get', w); // a hit: reads the journals, the global one held
      await hold.reached;
      clock.t += 10;
      await a.qv.call('cache.get', y); // found in L2: a reads the journals again, the global one at seq 1
      version = 2;
      await b.qv.call('cache.invalidate', { tags: ['campaigns:c1'] }); // seq 2
      hold.release(); // the read sent first reaches the KV now: seq 2
      const served = await first;
      assert.equal(served.body, '{"version":2}', `a, ${w.key}, once the read holding the change came: ${served.xCache} ${served.body}${served.reason ? ` (${served.reason})` : ''}`);
    });

    test('L1 holds at most its entry bound; W-TinyLFU keeps the frequent keys', async () => {
      // The L1's seed (of its key hashes and admission jitter) fixed: with a sketch this small
      // (20 entries), about one seed in 200 lets a cold key's count collide with a hot one's.
      const randomBytes = (buffer) => buffer.fill(7);
      const { qv } = await isolate({ config: { l1: { maxEntries: 20 } }, randomBytes });
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 5; i++) await qv.call('cache.set', { organizationId: ORG, key: `hot${i}`, body: 'x' });
      }
      for (let i = 0; i < 200; i++) await qv.call('cache.set', { organizationId: ORG, key: `cold${i}`, body: 'x' });
      const stats = await qv.call('cache.stats', {});
      assert.ok(stats.l1.entries <= 20, `entries ${stats.l1.entries}`);
      assert.ok(stats.l1.evictions >= 180);
      let hot = 0;
      for (let i = 0; i < 5; i++) if ((await qv.call('cache.get', { organizationId: ORG, key: `hot${i}` })).layer === 'L1') hot++;
      assert.equal(hot, 5, 'the frequent keys survived a scan of cold ones');
    });

    test('L1 holds at most its byte bound', async () => {
      const { qv } = await isolate({ config: { l1: { maxBytes: 8192, maxEntryBytes: 4096 } } });
      for (let i = 0; i < 20; i++) await qv.call('cache.set', { organizationId: ORG, key: `k${i}`, body: 'b'.repeat(1000) });
      const stats = await qv.call('cache.stats', {});
      assert.ok(stats.l1.bytes <= 8192, `bytes ${stats.l1.bytes}`);
      await qv.call('cache.set', { organizationId: ORG, key: 'huge', body: 'b'.repeat(5000) });
      assert.equal((await qv.call('cache.stats', {})).l1.rejected, 1);
    });

    describe('the L1 for values the host keeps (DirectL1)', () => {
      test('set, get, has, delete; TTL ends a value', async () => {
        const clock = { t: START };
        const qv = await instantiate(module, { now: () => clock.t, log: quiet });
        const l1 = qv.l1;
        assert.ok(l1, 'the bundle has the cache module');
        assert.equal(l1.set('a', 'value a', 1000), true);
        assert.equal(l1.get('a'), 'value a');
        assert.equal(l1.get('b'), undefined);
        assert.equal(l1.has('a'), true);
        clock.t += 1000;
        assert.equal(l1.has('a'), false, 'expired, as get finds it');
        assert.equal(l1.get('a'), undefined, 'expired');
        assert.equal(l1.set('a', { any: 'object' }, 0, 10), true);
        assert.deepEqual(l1.get('a'), { any: 'object' });
        assert.equal(l1.delete('a'), true);
        assert.equal(l1.get('a'), undefined);
        assert.equal(l1.delete('a'), false);
      });

      test('a set with a key not a string, or a TTL or size the module cannot hold as given, is refused naming it; nothing is stored', async () => {
        const qv = await instantiate(module, { log: quiet });
        const l1 = qv.l1;
        assert.throws(() => l1.set(42, 'v'), { name: 'TypeError', message: 'key: expected a string, got number' });
        for (const ttl of [-1, 1.5, 2 ** 32, NaN, '1000']) {
          assert.throws(() => l1.set('a', 'v', ttl), { name: 'RangeError', message: new RegExp(`^ttlMs: expected a whole number of ms from 0 to 4294967295, got ${String(ttl).replace('.', '\\.')}$`) }, String(ttl));
        }
        assert.throws(() => l1.set('a', 'v', 0, -5), { name: 'RangeError', message: /^size: / });
        assert.equal(l1.get('a'), undefined);
        assert.equal(l1.set('a', 'v', 4294967295), true, 'the longest TTL the module takes');
      });

      test('the host options kvTimeoutMs, fetchTimeoutMs and fetchMaxBytes are whole numbers in range, or a RangeError names them', async () => {
        for (const [name, value] of [['kvTimeoutMs', Infinity], ['kvTimeoutMs', 0], ['fetchTimeoutMs', 2 ** 31], ['fetchMaxBytes', 1.5], ['kvTimeoutMs', '250']]) {
          await assert.rejects(instantiate(module, { log: quiet, [name]: value }), { name: 'RangeError', message: new RegExp(`^${name}: expected a whole number from 1 to \\d+, got `) }, `${name} ${value}`);
        }
        await instantiate(module, { log: quiet, kvTimeoutMs: 2 ** 31 - 1, fetchMaxBytes: 1 });
      });

      test('never serves a value the module evicted, and counts hits for eviction', async () => {
        const qv = await instantiate(module, { log: quiet });
        await qv.call('cache.configure', { l1: { maxEntries: 50 } });
        const l1 = qv.l1;
        for (let i = 0; i < 2000; i++) {
          l1.set(`k${i}`, i);
          if (i % 3 === 0) l1.get(`k${i % 40}`); // a few keys stay hot
        }
        l1.flush();
        let served = 0;
        for (let i = 0; i < 2000; i++) {
          const value = l1.get(`k${i}`);
          if (value !== undefined) {
            served++;
            assert.equal(value, i);
          }
        }
        assert.ok(served <= 50, `${served} values served from an L1 of 50 entries`);
        const stats = await qv.call('cache.stats', {});
        assert.ok(stats.l1.entries <= 50);
        assert.ok(stats.l1.hits > 500, `the buffered hits reached the module: ${stats.l1.hits}`);
      });

      test('a module call that evicts hosted values is seen by the next get', async () => {
        const qv = await instantiate(module, { log: quiet });
        await qv.call('cache.configure', { l1: { maxEntries: 10 } });
        const l1 = qv.l1;
        for (let i = 0; i < 10; i++) l1.set(`k${i}`, i);
        for (let i = 0; i < 40; i++) await qv.call('cache.set', { organizationId: ORG, key: `r${i}`, body: 'x' });
        const stats = await qv.call('cache.stats', {});
        let served = 0;
        for (let i = 0; i < 10; i++) if (l1.get(`k${i}`) !== undefined) served++;
        assert.ok(stats.l1.entries <= 10, `bound held: ${stats.l1.entries}`);
        assert.ok(stats.l1.evictions >= 40, `the responses evicted hosted values: ${stats.l1.evictions} evictions`);
        assert.ok(served <= stats.l1.entries, `${served} hosted values served, ${stats.l1.entries} entries in L1`);
      });

      test('hits buffered in the shim reach the module with the next set, before its eviction', async () => {
        const qv = await instantiate(module, { log: quiet });
        await qv.call('cache.configure', { l1: { maxEntries: 100 } });
        const l1 = qv.l1;
        l1.set('hot', 'h');
        for (let i = 0; i < 10; i++) assert.equal(l1.get('hot'), 'h');
        assert.equal((await qv.call('cache.stats', {})).l1.hits, 10, 'a module call hands the buffer over first');
        for (let i = 0; i < 7; i++) l1.get('hot');
        l1.set('other', 'o'); // no flush: the put carries the seven hits
        qv.l1.flush(); // nothing left to hand over
        assert.equal((await qv.call('cache.stats', {})).l1.hits, 17);
      });

      test('a value set again under its key replaces the old one in place', async () => {
        const qv = await instantiate(module, { log: quiet });
        const l1 = qv.l1;
        assert.equal(l1.get('k'), undefined);
        assert.equal(l1.set('k', 'first'), true); // right after the miss: no second lookup
        assert.equal(l1.set('k', 'second'), true);
        assert.equal(l1.get('k'), 'second');
        assert.equal(l1.mirrored, 1);
        assert.equal((await qv.call('cache.stats', {})).l1.entries, 1);
      });

      test('a reconfiguration drops every hosted value', async () => {
        const qv = await instantiate(module, { log: quiet });
        qv.l1.set('a', 1);
        await qv.call('cache.configure', { l1: { maxEntries: 100 } });
        assert.equal(qv.l1.get('a'), undefined);
      });
    });
  });
}

describe('a burst of invalidations for one organisation (a webhook per row of a bulk write)', () => {
  test('60 at once in one isolate cost two journal writes: the changes that come while one is appended go in the next batch; each answer counts what it dropped', async () => {
    const kv = new CountingKv();
    const qv = await instantiate(await loadModule(), { kv, log: quiet });
    for (let i = 0; i < 60; i++) await qv.call('cache.set', { organizationId: ORG, key: `GET /rows/${i}`, body: 'x', tags: [`row:${i}`] });
    await qv.call('cache.set', { organizationId: ORG, key: 'GET /rows/0/notes', body: 'x', tags: ['row:0'] });
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => qv.call('cache.invalidate', { organizationId: ORG, tags: [`row:${i}`] })));
    assert.deepEqual(answers.map((a) => a.seq), Array.from({ length: 60 }, (_, i) => i + 1), 'each its own place, in the order sent');
    assert.deepEqual(answers.map((a) => a.l1Dropped), [2, ...Array(59).fill(1)]);
    assert.deepEqual({ get: kv.counts.get, cas: kv.counts.cas }, { get: 2, cas: 2 }, 'the first change alone, then the other 59 together');
    const stats = await qv.call('cache.stats');
    assert.equal(stats.invalidations.received, 60);
    assert.equal(stats.invalidations.journalWrites, 2);
    assert.equal(stats.l1.entries, 0);
  });

  test('60 at once in one isolate, with another isolate writing too, all land', async () => {
    const next = random(0xb0b);
    const kv = delayedOps(new MemoryKv(), next);
    const [one, two] = await Promise.all(FLAVOURS.map(async (flavour) => instantiate(await loadModule(flavour), { kv, log: quiet, kvTimeoutMs: 5000 })));
    const answers = await Promise.all([
      ...Array.from({ length: 60 }, (_, i) => one.invoke('cache.invalidate', { organizationId: ORG, tags: [`row:${i}`] })),
      ...Array.from({ length: 4 }, (_, i) => two.invoke('cache.invalidate', { organizationId: ORG, tags: [`other:${i}`] })),
    ]);
    assert.deepEqual(answers.filter((a) => a.status !== 'ok').map((a) => a.body.message), []);
    assert.equal(new Set(answers.map((a) => a.body.seq)).size, 64, 'each its own place in the journal');
    const journal = new TextDecoder().decode(await kv.get(`qvc:j:${ORG}`));
    const recorded = [...journal.matchAll(/^(\d+) .*\tt(\S+)$/gm)].map(([, seq, tag]) => `${seq} ${tag}`).sort();
    const answered = answers.map((a, i) => `${a.body.seq} ${i < 60 ? `row:${i}` : `other:${i - 60}`}`).sort();
    assert.deepEqual(recorded, answered, 'each change in the journal under the seq its answer gave');
  });

  test('a batch holds at most journalItems changes; the calls past it wait for the next, in the order sent', async () => {
    const kv = new CountingKv();
    const qv = await instantiate(await loadModule(), { kv, log: quiet });
    await qv.call('cache.configure', { invalidation: { journalItems: 4 } });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => qv.call('cache.invalidate', { organizationId: ORG, tags: [`row:${i}`] })));
    assert.deepEqual(answers.map((a) => a.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(kv.counts.cas, 6, 'one alone, then batches of 4, 4, 4, 4 and 3');
  });

  test('journalItems lowered while a batch waits: the batch still keeps every change it holds', async () => {
    const kv = new CountingKv();
    const qv = await instantiate(await loadModule(), { kv, log: quiet });
    const sent = Array.from({ length: 11 }, (_, i) => qv.call('cache.invalidate', { organizationId: ORG, tags: [`row:${i}`] }));
    await qv.call('cache.configure', { invalidation: { journalItems: 2 } }); // while row:1-10 wait for row:0
    const answers = await Promise.all(sent);
    assert.deepEqual(answers.map((a) => a.seq), Array.from({ length: 11 }, (_, i) => i + 1));
    const journal = new TextDecoder().decode(await kv.get(`qvc:j:${ORG}`));
    assert.deepEqual([...journal.matchAll(/\tt(\S+)$/gm)].map(([, tag]) => tag), Array.from({ length: 10 }, (_, i) => `row:${i + 1}`));
  });

  test('with the KV down, the queued calls fail together: one KV attempt per batch, not one per change', async () => {
    const kv = new CountingKv();
    kv.failing = true;
    const qv = await instantiate(await loadModule(), { kv, log: quiet });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => qv.invoke('cache.invalidate', { organizationId: ORG, tags: [`row:${i}`] })));
    assert.ok(answers.every((a) => a.status === 'unavailable'), JSON.stringify(answers.map((a) => a.body.message)));
    assert.equal(kv.counts.get + kv.counts.cas, 2, 'the first change alone, then the other 19 together');
    assert.match(answers[19].body.message, /^kv: cannot read the invalidation journal \(.*kv down.*\); nothing invalidated$/);
  });

  test('a batch queued behind an append the KV failed still tries the KV: one slow answer does not fail the queue', async () => {
    const memory = new MemoryKv();
    let reads = 0;
    const kv = withOps(memory, { get: (key) => (++reads === 1 ? failWith('no answer in time')() : memory.get(key)) });
    const qv = await instantiate(await loadModule(), { kv, log: quiet });
    const first = qv.invoke('cache.invalidate', { organizationId: ORG, tags: ['row:0'] });
    const queued = Array.from({ length: 5 }, (_, i) => qv.invoke('cache.invalidate', { organizationId: ORG, tags: [`row:${i + 1}`] }));
    assert.equal((await first).status, 'unavailable');
    assert.deepEqual((await Promise.all(queued)).map((a) => [a.status, a.body.seq]), [1, 2, 3, 4, 5].map((seq) => ['ok', seq]));
  });
});

describe('reads and invalidations racing over three isolates (a KV answering after random delays)', () => {
  test('once an invalidation is answered, every read that starts pollMs later sees the change; no organisation sees another\'s data', async (t) => {
    const next = random(0xcac4e);
    const POLL_MS = 500;
    let now = START;
    const kv = delayedOps(new MemoryKv({ now: () => now }), next);
    const delay = () => sleep(Math.floor(next() * 3));
    // The data: a version per organisation and item, raised by writes; the origin answers
    // the version of the moment it is asked, tagged with the item.
    const orgs = ['org_a', 'org_b'];
    const items = ['i0', 'i1', 'i2', 'i3'];
    const version = Object.fromEntries(orgs.flatMap((org) => items.map((item) => [`${org}/${item}`, 1])));
    const fetch = async (url) => {
      const [, org, item] = new URL(url).pathname.split('/');
      await delay();
      const body = JSON.stringify({ org, item, version: version[`${org}/${item}`] });
      await delay();
      return new Response(body, { status: 200, headers: { 'cache-control': 'public, max-age=300', 'surrogate-key': `item:${item}` } });
    };
    const isolate = async (i) => {
      const qv = await instantiate(await loadModule(FLAVOURS[i % FLAVOURS.length]), { kv, fetch, now: () => now, log: quiet, kvTimeoutMs: 5000 });
      await qv.call('cache.configure', { invalidation: { pollMs: POLL_MS } });
      return qv;
    };
    const isolates = await Promise.all([0, 1, 2].map(isolate));
    let hits = 0;
    const any = () => isolates[Math.floor(next() * isolates.length)];
    const pick = (list) => list[Math.floor(next() * list.length)];

    // Per organisation and item: the version each answered invalidation guarantees, from when.
    const guaranteed = new Map(); // `${org}/${item}` -> [{from, version}]
    const problems = [];
    let reads = 0;
    let fresh = 0;
    for (let round = 0; round < 150; round++) {
      now += Math.floor(next() * 300);
      if (round % 40 === 39) { // an isolate goes and a new one starts: an empty L1, no journal read yet
        const gone = Math.floor(next() * isolates.length);
        hits += (await isolates[gone].call('cache.stats')).l1.hits;
        isolates[gone] = await isolate(gone);
      }
      const started = now;
      const batch = [];
      if (next() < 0.3) { // a write, then its invalidation (by tag, or by key), as the webhook sends it
        const org = pick(orgs);
        const item = pick(items);
        const written = ++version[`${org}/${item}`];
        const byKey = next() < 0.3;
        batch.push(any().call('cache.invalidate', byKey
          ? { organizationId: org, keys: [{ key: `GET /${item}` }] }
          : { organizationId: org, tags: [`item:${item}`] })
          .then(() => {
            const list = guaranteed.get(`${org}/${item}`) ?? [];
            list.push({ from: now + POLL_MS + 1, version: written });
            guaranteed.set(`${org}/${item}`, list);
          }));
      }
      for (let n = 1 + Math.floor(next() * 6); n > 0; n--) {
        const org = pick(orgs);
        const item = pick(items);
        batch.push(any().call('cache.get', { organizationId: org, key: `GET /${item}`, origin: { url: `http://origin.test/${org}/${item}` } }).then((answer) => {
          reads++;
          const body = JSON.parse(answer.body);
          if (body.org !== org || body.item !== item) problems.push(`${org}/${item} answered ${answer.body}`);
          const owed = Math.max(0, ...(guaranteed.get(`${org}/${item}`) ?? []).filter((g) => g.from <= started).map((g) => g.version));
          if (body.version < owed) problems.push(`${org}/${item} at +${started - START} ms: version ${body.version} (${answer.xCache}), owed ${owed}`);
          if (body.version === version[`${org}/${item}`]) fresh++;
        }));
      }
      await Promise.all(batch);
    }
    assert.deepEqual(problems, []);
    assert.ok(reads > 300 && fresh < reads, `${reads} reads, ${fresh} of the newest version: the test saw stale serving allowed by the bound`);
    for (const qv of isolates) hits += (await qv.call('cache.stats')).l1.hits;
    assert.ok(hits > reads / 4, `${hits} L1 hits of ${reads} reads`);
    t.diagnostic(`${reads} reads over ${(now - START) / 1000} s, ${hits} L1 hits, ${fresh} of the newest version`);
  });
});

// The JS shim driving real module calls: many calls in flight on one instance with their
// KV operations completing in shuffled order, KV failures and timeouts, fetch
// operations against a local HTTP server, and configuration that fails atomically.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createTcpServer, connect } from 'node:net';
import { once } from 'node:events';
import * as timersPromises from 'node:timers/promises';
import { loadModule, instantiate, FLAVOURS, MemoryKv, HostOps, OP, QvInstance, MAX_INPUT_BYTES, MAX_METHOD_BYTES } from '../dist/js/node.mjs';
import { withOps, failWith, noTimeouts } from './kv-doubles.mjs';

const NOW = 1764115200000;
const now = () => NOW;
const quiet = () => {};

// A KV whose operations wait until the test releases them, in an order it chooses. Its
// instances wait for it as long as the test takes (SHUFFLED_KV_TIMEOUT_MS): the host's KV
// timeout would otherwise fail the operations still held when a loaded machine makes the
// releases slow.
const SHUFFLED_KV_TIMEOUT_MS = 600_000;
class ShuffledKv {
  #inner = new MemoryKv({ now });
  pending = [];
  queue(run) {
    return new Promise((resolve, reject) => this.pending.push({ run, resolve, reject }));
  }
  get(key) { return this.queue(() => this.#inner.get(key)); }
  set(key, value, ttl) { return this.queue(() => this.#inner.set(key, value, ttl)); }
  incr(key, delta, ttl) { return this.queue(() => this.#inner.incr(key, delta, ttl)); }
  del(key) { return this.queue(() => this.#inner.del(key)); }
  cas(key, expected, value, ttl) {
    this.casCalls = (this.casCalls ?? 0) + 1;
    return this.queue(() => this.#inner.cas(key, expected, value, ttl));
  }
  keys() { return this.#inner.keys(); }
  inner() { return this.#inner; }
  // Completes one pending operation chosen by random().
  async releaseOne(random) {
    const [op] = this.pending.splice(Math.floor(random() * this.pending.length), 1);
    try { op.resolve(await op.run()); } catch (error) { op.reject(error); }
  }
}

// A small deterministic generator (mulberry32) so a failure can be replayed.
function seeded(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function history(calls, days = 3) {
  return Array.from({ length: days }, (_, i) => ({
    date: `2026-11-0${i + 1}`, concurrentCalls: calls, apiRequestsPerSecond: 10, activeUsers: 10,
  }));
}

// Org i: a third scale up, the rest stay; some have a stored tier already.
function autoscaleInput(i) {
  return { organizationId: `org_${i}`, currentTier: 'Startup', history: history(i % 3 === 0 ? 45 : 20) };
}
const seededState = (i) => (i % 5 === 0 ? { [`qv:tiers:org:org_${i}`]: '{"tier":"Growth","changedOn":"2026-01-01"}' } : {});

const decoder = new TextDecoder();
const stored = async (kv, key) => decoder.decode(await kv.get(key));
async function dump(kv) {
  const entries = {};
  for (const key of kv.keys().sort()) entries[key] = await stored(kv, key);
  return entries;
}


for (const flavour of FLAVOURS) {
  describe(`shim on ${flavour}`, () => {
    let module;
    before(async () => { module = await loadModule(flavour); });

    test('150 calls in flight on one instance, KV operations completing in shuffled order', async () => {
      const calls = 150;
      // Expected: each call run alone, in sequence, on its own instance.
      const expected = [];
      const expectedKv = {};
      for (let i = 0; i < calls; i++) {
        const kv = new MemoryKv({ now });
        for (const [k, v] of Object.entries(seededState(i))) await kv.set(k, v);
        const qv = await instantiate(module, { kv, now, log: quiet });
        expected.push(await qv.invoke('tiers.autoscale', autoscaleInput(i)));
        Object.assign(expectedKv, await dump(kv));
      }

      const kv = new ShuffledKv();
      for (let i = 0; i < calls; i++) {
        for (const [k, v] of Object.entries(seededState(i))) await kv.inner().set(k, v);
      }
      const qv = await instantiate(module, { kv, now, log: quiet, kvTimeoutMs: SHUFFLED_KV_TIMEOUT_MS });
      const random = seeded(20261126);
      let finished = 0;
      const inFlight = Array.from({ length: calls }, (_, i) =>
        qv.invoke('tiers.autoscale', autoscaleInput(i)).finally(() => { finished++; }));
      let released = 0;
      let maxPending = 0;
      while (finished < calls) {
        maxPending = Math.max(maxPending, kv.pending.length);
        if (kv.pending.length) {
          await kv.releaseOne(random);
          released++;
        }
        await new Promise((resolve) => setImmediate(resolve)); // let resumed calls queue more
      }
      const actual = await Promise.all(inFlight);
      assert.ok(maxPending >= calls, `expected all ${calls} calls to wait at once, saw ${maxPending}`);
      assert.ok(released > calls, 'expected second batches (set + incr) for the calls that scale');
      for (let i = 0; i < calls; i++) assert.deepEqual(actual[i], expected[i], `call ${i}`);
      assert.deepEqual(await dump(kv.inner()), expectedKv);
    });

    // The module's memory stops at 2 GiB (Emscripten) or 4 GiB (WASI: all of wasm32's), and
    // fetchMaxBytes may be set above what is left of it.
    test('an answer too big for what is left of the module\'s memory fails its fetch, named, not the instance', async () => {
      const big = 64 << 20;
      const host = new QvInstance({
        now, log: quiet, fetchMaxBytes: 2 * big,
        fetch: async (url) => new Response(url.endsWith('/big') ? new Uint8Array(big) : '{"v":1}', { headers: { 'cache-control': 'max-age=60' } }),
      });
      const instance = await WebAssembly.instantiate(module, host.imports());
      host.attach(instance);
      const { qv_alloc: alloc, qv_free: free } = instance.exports;
      // Memory a module never gives back, as calls leave it over time, up to its limit; 16 MiB
      // given back leaves room for calls and none for 64 MiB (untouched: the pages cost address
      // space, not RAM).
      const held = [];
      for (let ptr; (ptr = alloc(16 << 20)) !== 0;) held.push(ptr);
      free(held.pop());
      const failed = await host.call('cache.get', { organizationId: 'o', key: 'GET /big', origin: { url: 'http://o.test/big' } });
      assert.deepEqual([failed.found, failed.status, failed.stored], [false, 502, false]);
      assert.equal(failed.reason, `origin failed: too_large: fetch GET http://o.test/big: the answer's ${big} bytes do not fit in the module's memory`);
      assert.equal(host.failed, false);
      const answer = await host.call('cache.get', { organizationId: 'o', key: 'GET /x', origin: { url: 'http://o.test/x' } });
      assert.equal(answer.body, '{"v":1}');
      // An input that does not fit fails the instance, naming its size.
      for (let ptr; (ptr = alloc(1 << 20)) !== 0;) held.push(ptr);
      await assert.rejects(host.invoke('tiers.evaluate', ' '.repeat(MAX_INPUT_BYTES)),
        { message: `qv: the module failed (qv: module out of memory: the input's ${MAX_INPUT_BYTES} bytes do not fit in the module's memory); the instance is discarded` });
    });

    test('calls of one isolate share one lease: a call waits for another (qv_woken_calls)', async () => {
      const kv = new ShuffledKv();
      const qv = await instantiate(module, { kv, now, log: quiet, kvTimeoutMs: SHUFFLED_KV_TIMEOUT_MS });
      const random = seeded(7);
      let finished = 0;
      const calls = Array.from({ length: 50 }, () =>
        qv.call('tiers.admit', { organizationId: 'org_shared', tier: 'Enterprise' }).finally(() => { finished++; }));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(kv.pending.length, 1, 'one lease in flight; the other 49 calls wait for it');
      while (finished < 50) {
        if (kv.pending.length) await kv.releaseOne(random);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const decisions = await Promise.all(calls);
      assert.ok(decisions.every((d) => d.allowed));
      assert.ok(kv.casCalls <= 3, `${kv.casCalls} compare-and-sets for 50 calls`);
      assert.equal(decisions.filter((d) => d.source === 'lease').length, 50 - kv.casCalls);
    });

    test('a KV that fails to read: autoscale decides on the input\'s tier, applies nothing and writes nothing', async () => {
      const kv = new MemoryKv({ now });
      const failing = withOps(kv, { get: failWith('connection refused') });
      const qv = await instantiate(module, { kv: failing, now, log: quiet });
      const { status, body } = await qv.invoke('tiers.autoscale', autoscaleInput(0));
      assert.equal(status, 'ok', body.message);
      assert.deepEqual([body.decision.currentTier, body.decision.recommendedTier, body.applied, body.source], ['Startup', 'Growth', false, 'input']);
      assert.equal(body.reason, 'kv unavailable, decided on the input\'s tier and not applied: kv.get qv:tiers:org:org_0: connection refused');
      assert.deepEqual(kv.keys(), []);
    });

    test('inputs nested deeper than the JSON scanner goes are refused, and the instance stays sound', async () => {
      const qv = await instantiate(module, { now, log: quiet });
      for (const [text, message] of [
        ['['.repeat(600), 'input: malformed JSON at line 1, column 513: nesting deeper than 512 levels'],
        ['{"a":'.repeat(600), 'input: malformed JSON at line 1, column 2561: nesting deeper than 512 levels'],
        ['['.repeat(450) + '{"a":}', 'input: malformed JSON at line 1, column 456: expected a value (object, array, string, number, true, false or null)'],
      ]) {
        const { status, body } = await qv.invoke('tiers.evaluate', text);
        assert.deepEqual([status, body.message], ['invalid_input', message]);
      }
      assert.equal((await qv.call('tiers.evaluate', autoscaleInput(0))).currentTier, 'Startup');
    });

    test('a refused input written over lines says where the field is, in every module; one line needs no position', async () => {
      const qv = await instantiate(module, { now, log: quiet });
      const cases = [
        ['tiers.evaluate', { organizationId: 'org_1', currentTier: 'Startup', history: [{ date: '2026-11-20', concurrentCalls: 'many', apiRequestsPerSecond: 1, activeUsers: 1 }] },
          'history[0].concurrentCalls (line 7, column 7): '],
        ['router.configure', { regions: [{ id: 'eu', origin: 'http://eu.example' }] }, 'regions[0].latitude (line 3, column 5): '], // absent: where its object is
        ['cache.configure', { l1: { maxEntries: 'x' } }, 'l1.maxEntries (line 3, column 5): '],
        ['cache.get', { organizationId: 'o', key: 'k', vary: { a: 'x', 'a.b': 'y'.repeat(2000) } }, 'vary["a.b"] (line 6, column 5): '],
      ];
      for (const [method, input, prefix] of cases) {
        const { status, body } = await qv.invoke(method, JSON.stringify(input, null, 2));
        assert.equal(status, 'invalid_input');
        assert.ok(body.message.startsWith(prefix), `${method}: ${body.message}`);
        const oneLine = await qv.invoke(method, JSON.stringify(input));
        assert.equal(oneLine.body.message, body.message.replace(/ \(line \d+, column \d+\)/, ''), `${method}, on one line`);
      }
      const absent = await qv.invoke('tiers.evaluate', JSON.stringify({ currentTier: 'Startup', history: [] }, null, 2));
      assert.equal(absent.body.message, 'organizationId: is required', 'a field absent from the root: the root\'s position would say nothing');
    });

    test('a KV that never answers times out instead of hanging the call', async () => {
      const silent = { get: () => new Promise(() => {}), set: async () => {}, incr: async () => 1, del: async () => 0, cas: () => new Promise(() => {}) };
      const qv = await instantiate(module, { kv: silent, now, log: quiet, kvTimeoutMs: 30 });
      const { status, body } = await qv.invoke('tiers.autoscale', autoscaleInput(0));
      assert.equal(status, 'ok', body.message);
      assert.deepEqual([body.applied, body.source], [false, 'input']);
      assert.match(body.reason, /^kv unavailable, decided on the input's tier and not applied: .*no answer within 30 ms/);
    });

    test('an answer that arrived while the event loop was busy past kvTimeoutMs is taken, not timed out', async () => {
      // The KV's answer comes over a socket (I/O, as a store's does); the event loop is then
      // kept busy past the timeout, so the timer and the answer are ready together.
      const server = createTcpServer().listen(0, '127.0.0.1');
      await once(server, 'listening');
      const client = connect(server.address().port, '127.0.0.1');
      const [peer] = await once(server, 'connection');
      try {
        const kv = new MemoryKv({ now });
        const busy = withOps(kv, {
          get: (key) => new Promise((resolve) => {
            client.once('data', () => resolve(kv.get(key)));
            peer.write('x');
            for (const until = Date.now() + 100; Date.now() < until;);
          }),
        });
        const qv = await instantiate(module, { kv: busy, now, log: quiet, kvTimeoutMs: 30 });
        const { status, body } = await qv.invoke('tiers.autoscale', autoscaleInput(0));
        assert.equal(status, 'ok', JSON.stringify(body));
      } finally {
        client.destroy();
        peer.destroy();
        server.close();
      }
    });

    test('a failed write: the decision is made again on the input\'s tier and reported as not applied', async () => {
      const kv = new MemoryKv({ now });
      const key = 'qv:tiers:org:org_0';
      const state = '{"tier":"tier-1","changedOn":"2026-10-01"}'; // out of cooldown: the stored state scales up
      await kv.set(key, state);
      const readOnly = withOps(kv, { set: failWith('READONLY replica'), cas: failWith('READONLY replica') });
      const qv = await instantiate(module, { kv: readOnly, now, log: quiet });
      const { status, body } = await qv.invoke('tiers.autoscale', { ...autoscaleInput(0), currentTier: 'Growth' });
      assert.equal(status, 'ok', body.message);
      assert.deepEqual([body.decision.currentTier, body.decision.reason, body.applied, body.source], ['Growth', 'no_change', false, 'input'], 'the input\'s tier decides');
      assert.equal(body.reason, 'kv unavailable, decided on the input\'s tier and not applied: kv.cas qv:tiers:org:org_0: READONLY replica');
      assert.deepEqual(await dump(kv), { [key]: state }, 'no change counted either');
    });

    test('two isolates deciding at once apply one change: the other decides again on it', async () => {
      const kv = new MemoryKv({ now });
      const isolates = await Promise.all([1, 2].map(() => instantiate(module, { kv, now, log: quiet })));
      const answers = await Promise.all(isolates.map((qv) => qv.call('tiers.autoscale', autoscaleInput(0))));
      assert.deepEqual(answers.map((a) => a.applied).sort(), [false, true]);
      assert.equal(answers.find((a) => a.applied).tierChanges, 1);
      assert.equal(answers.find((a) => !a.applied).decision.currentTier, answers.find((a) => a.applied).decision.recommendedTier);
      assert.equal(await stored(kv, 'qv:tiers:org:org_0:changes'), '1');
    });

    test('a stored tier that turns unreadable under the compare-and-set is left as it is: the decision is the input\'s, not applied', async () => {
      const kv = new MemoryKv({ now });
      const key = 'qv:tiers:org:org_0';
      const unreadable = '{"tier":"tier-9","changedOn":"2026-11-02"}'; // a tier of another catalogue
      // Another isolate writes between this one's read and its compare-and-set.
      const racing = withOps(kv, { cas: async (...args) => { await kv.set(key, unreadable); return kv.cas(...args); } });
      const qv = await instantiate(module, { kv: racing, now, log: quiet });
      const { status, body } = await qv.invoke('tiers.autoscale', autoscaleInput(0));
      assert.equal(status, 'ok', body.message);
      assert.deepEqual([body.decision.currentTier, body.decision.recommendedTier, body.applied, body.source], ['Startup', 'Growth', false, 'input']);
      assert.match(body.reason, /^kv value unreadable, decided on the input's tier and not applied: the tier stored for organisation 'org_0' \(tier: unknown tier 'tier-9' /);
      assert.deepEqual(await dump(kv), { [key]: unreadable });
    });

    test('a count that fails after the write still reports the change as applied', async () => {
      const kv = new MemoryKv({ now });
      const noIncr = withOps(kv, { incr: failWith('connection reset') });
      const qv = await instantiate(module, { kv: noIncr, now, log: quiet });
      const { status, body } = await qv.invoke('tiers.autoscale', autoscaleInput(0));
      assert.equal(status, 'ok');
      assert.deepEqual([body.applied, body.tierChanges], [true, null]);
      assert.equal(JSON.parse(await stored(kv, 'qv:tiers:org:org_0')).tier, 'tier-2');
    });

    test('a tier renamed in the catalogue keeps the organisations stored on it', async () => {
      const kv = new MemoryKv({ now });
      const qv = await instantiate(module, { kv, now, log: quiet });
      assert.equal((await qv.call('tiers.autoscale', autoscaleInput(0))).decision.recommendedTier, 'Growth');
      const catalogue = await qv.call('tiers.catalogue');
      catalogue.tiers[1].name = 'Scale';
      await qv.call('tiers.configure', catalogue);
      const { status, body } = await qv.invoke('tiers.autoscale', autoscaleInput(0));
      assert.equal(status, 'ok', body.message);
      assert.deepEqual([body.decision.currentTier, body.decision.reason, body.applied], ['Scale', 'no_change', false]);
    });

    test('an invalid configuration changes nothing', async () => {
      const qv = await instantiate(module, { now, log: quiet });
      const custom = { tiers: [{ id: 'solo', name: 'Solo', maxConcurrentCalls: 5 }] };
      await qv.call('tiers.configure', custom);
      const refused = [
        [[{ id: 'x', name: 'X', maxUsers: -3 }], /^tiers\[0\]\.maxUsers: must be greater than 0/],
        // Each tier valid alone, out of order together.
        [[{ id: 'x', name: 'X', maxUsers: 10 }, { id: 'y', name: 'Y', maxUsers: 5 }], /^tiers\[1\]\.maxUsers: 5 is below X's 10 \(tiers\[0\]\); tiers are ordered lowest first/],
      ];
      for (const [tiers, message] of refused) {
        const { status, body } = await qv.invoke('tiers.configure', { tiers });
        assert.equal(status, 'invalid_input');
        assert.match(body.message, message);
        const catalogue = await qv.call('tiers.catalogue');
        assert.deepEqual(catalogue.tiers.map((t) => t.name), ['Solo']);
      }
    });

    test('a module that fails fails every call in flight, the waiting ones too', async () => {
      const kv = new ShuffledKv();
      const host = new QvInstance({ kv, now, log: quiet });
      const instance = await WebAssembly.instantiate(module, host.imports());
      let trapping = 0;
      host.attach({ exports: { ...instance.exports, qv_call_resume: (call) => {
        if (call === trapping) throw new WebAssembly.RuntimeError('unreachable');
        return instance.exports.qv_call_resume(call);
      } } });
      host.l1.set('kept', 'a value');
      const admit = { organizationId: 'org_shared', tier: 'Enterprise' };
      // The first call leases (a KV operation); the other two wait for it in the module.
      const calls = [1, 2, 3].map(() => host.invoke('tiers.admit', admit).then(() => 'answered', (error) => error.message));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(kv.pending.length, 1);
      trapping = 1;
      await kv.releaseOne(() => 0);
      const outcomes = await Promise.all(calls);
      assert.ok(outcomes.every((o) => /the module failed \(unreachable\)/.test(o)), outcomes.join('; '));
      assert.equal(host.failed, true);
      // The direct L1 fails with it: it neither serves nor stores (nor calls the module).
      for (const use of [() => host.l1.get('kept'), () => host.l1.set('new', 'v'), () => host.l1.has('kept'), () => host.l1.delete('kept')]) {
        assert.throws(use, /the module instance failed earlier \(unreachable\); make a new instance/);
      }
      assert.equal(host.l1.mirrored, 0);
    });

    test('a module that traps freeing a call fails as it does anywhere else: the instance is discarded', async () => {
      const host = new QvInstance({ now, log: quiet });
      const instance = await WebAssembly.instantiate(module, host.imports());
      let trap = true;
      host.attach({ exports: { ...instance.exports, qv_call_free: (call) => {
        if (trap) throw new WebAssembly.RuntimeError('unreachable');
        return instance.exports.qv_call_free(call);
      } } });
      await assert.rejects(host.invoke('tiers.catalogue'), { name: 'QvError', status: 'internal', message: 'qv: the module failed (unreachable); the instance is discarded' });
      assert.equal(host.failed, true);
      trap = false;
      await assert.rejects(host.invoke('tiers.catalogue'), /the module instance failed earlier \(unreachable\); make a new instance/);
    });

    test('a kv.incr delta past 2^53 reaches the KV exactly (qv_op.delta is 64 bits)', async () => {
      const kv = new MemoryKv({ now });
      const host = new QvInstance({ kv, now, log: quiet });
      const instance = await WebAssembly.instantiate(module, host.imports());
      const { memory, qv_call_ops: callOps } = instance.exports;
      // The module counts changes by 1: make its kv.incr ask for 2^60 + 1 instead.
      host.attach({ exports: { ...instance.exports, qv_call_ops: (call, outOps, outCount) => {
        const status = callOps(call, outOps, outCount);
        const view = new DataView(memory.buffer);
        const base = view.getUint32(outOps, true);
        for (let i = 0; i < view.getUint32(outCount, true); i++) {
          if (view.getUint32(base + 40 * i, true) === OP.KV_INCR) view.setBigInt64(base + 40 * i + 8, 2n ** 60n + 1n, true);
        }
        return status;
      } } });
      await host.call('tiers.autoscale', autoscaleInput(0));
      const counter = kv.keys().find((key) => key.endsWith(':changes'));
      assert.ok(counter, 'the change was counted');
      assert.equal(await stored(kv, counter), String(2n ** 60n + 1n));
    });

    test('a KV answer of another type fails that operation, not the instance', async () => {
      const inner = new MemoryKv({ now });
      const kv = withOps(inner, { incr: async () => null }); // the shim looks its operations up each time
      const qv = await instantiate(module, { kv, now, log: quiet });
      const applied = await qv.invoke('tiers.autoscale', autoscaleInput(0));
      assert.deepEqual([applied.status, applied.body.applied, applied.body.tierChanges], ['ok', true, null]);
      // An ArrayBuffer (Cloudflare KV's 'arrayBuffer' form) is bytes; an object is not.
      kv.get = async (key) => { const v = await inner.get(key); return v && v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength); };
      assert.equal((await qv.call('tiers.autoscale', autoscaleInput(0))).decision.currentTier, 'Growth');
      kv.get = async () => ({ tier: 'Growth' });
      const failed = await qv.invoke('tiers.autoscale', autoscaleInput(0));
      assert.deepEqual([failed.status, failed.body.decision.currentTier, failed.body.applied, failed.body.source], ['ok', 'Startup', false, 'input']);
      assert.match(failed.body.reason, /^kv unavailable, decided on the input's tier and not applied: .*the KV's get answered a value of type Object, not bytes or a string/);
      assert.equal(qv.failed, false);
      assert.equal((await qv.invoke('tiers.catalogue')).status, 'ok');
    });

    test('a compare-and-set answer that is not {swapped: a boolean} fails that operation, named, not read by its truth', async () => {
      const kv = new MemoryKv({ now });
      const key = 'qv:tiers:org:org_0';
      const state = '{"tier":"tier-1","changedOn":"2026-10-01"}'; // out of cooldown: the stored state scales up
      await kv.set(key, state);
      for (const [answer, named] of [[{ swapped: 'false' }, 'swapped of type String'], [undefined, 'undefined'], [0, 'Number']]) {
        const qv = await instantiate(module, { kv: withOps(kv, { cas: async () => answer }), now, log: quiet });
        const { status, body } = await qv.invoke('tiers.autoscale', { ...autoscaleInput(0), currentTier: 'Growth' });
        assert.equal(status, 'ok', body.message);
        assert.deepEqual([body.applied, body.source], [false, 'input'], 'not read as set');
        assert.equal(body.reason, `kv unavailable, decided on the input's tier and not applied: kv.cas ${key}: the KV's cas answered ${named}, not {swapped: a boolean, current}`);
        assert.equal(qv.failed, false);
      }
      assert.deepEqual(await dump(kv), { [key]: state }, 'no change counted either');
    });

    test('kvCas takes bytes as bytes, and refuses a value or expected that is neither bytes nor a string, naming it', async () => {
      const kv = new MemoryKv({ now });
      const qv = await instantiate(module, { kv, now, log: quiet });
      assert.deepEqual(await qv.kvCas('k', null, new Uint8Array([1, 2, 3]), 0), { swapped: true });
      assert.deepEqual([...await kv.get('k')], [1, 2, 3], 'the bytes, not the text "1,2,3"');
      assert.deepEqual(await qv.kvCas('k', new Uint8Array([1, 2, 3]), 'next', 0), { swapped: true });
      assert.equal(await stored(kv, 'k'), 'next');
      await assert.rejects(qv.kvCas('k', 'next', 42, 0), { name: 'TypeError', message: 'kvCas value: expected a string or bytes (a Uint8Array), got number' });
      await assert.rejects(qv.kvCas('k', { v: 'next' }, 'x', 0), { name: 'TypeError', message: 'kvCas expected: expected a string or bytes (a Uint8Array), got object' });
      assert.equal(await stored(kv, 'k'), 'next');
      // A KV whose cas answers what no KV does: a problem naming it.
      const odd = await instantiate(module, { kv: withOps(kv, { cas: async () => ({ swapped: 1 }) }), now, log: quiet });
      assert.deepEqual(await odd.kvCas('k', 'next', 'x', 0), { problem: "kv.cas k: the KV's cas answered swapped of type Number, not {swapped: a boolean, current}" });
    });

    test('a method that is not a string, or longer than any, is refused before it is copied in, in the module\'s words', async () => {
      const host = new QvInstance({ now, log: quiet });
      const { exports } = await WebAssembly.instantiate(module, host.imports());
      host.attach({ exports });
      const grown = exports.memory.buffer.byteLength;
      const refused = (message) => ({ status: 'invalid_input', body: { error: 'invalid_input', message } });
      // 50 MB: neither copied in (the memory never shrinks) nor echoed whole.
      assert.deepEqual(await host.invoke('x'.repeat(5e7)), refused(`method: longer than any method name (at most 64 bytes), beginning '${'x'.repeat(32)}'`));
      assert.equal(exports.memory.buffer.byteLength, grown);
      // The first 32 bytes, cut before a character they would split: 'é' is 2 bytes.
      assert.deepEqual(await host.invoke('a' + 'é'.repeat(40)), refused(`method: longer than any method name (at most 64 bytes), beginning 'a${'é'.repeat(15)}'`));
      assert.deepEqual(await host.invoke({ name: 'tiers.features' }), refused('method: expected a string, got object'));
      assert.deepEqual(await host.invoke(null), refused('method: expected a string, got null'));
      await assert.rejects(host.call(42), { name: 'QvError', status: 'invalid_input', message: 'method: expected a string, got number' });
      // One of 64 bytes is a name the module looks up.
      const longest = await host.invoke('x'.repeat(MAX_METHOD_BYTES));
      assert.deepEqual([longest.status, longest.body.message], ['not_found', `method: unknown method '${'x'.repeat(64)}'`]);
      assert.equal(host.failed, false);
      // The module answers a longer one in the same words (to a host that does not check first,
      // as the native host passes its names on).
      const name = new TextEncoder().encode('a' + 'é'.repeat(40));
      const [at, out] = [exports.qv_alloc(name.length) >>> 0, exports.qv_alloc(8) >>> 0];
      new Uint8Array(exports.memory.buffer, at, name.length).set(name);
      assert.equal(exports.qv_call_start(at, name.length, 0, 0, out), 2); // QV_INVALID_INPUT
      const call = new DataView(exports.memory.buffer).getUint32(out, true);
      exports.qv_call_output(call, out, out + 4);
      const view = new DataView(exports.memory.buffer);
      const answer = JSON.parse(decoder.decode(new Uint8Array(exports.memory.buffer, view.getUint32(out, true), view.getUint32(out + 4, true))));
      exports.qv_call_free(call);
      assert.deepEqual(answer, refused(`method: longer than any method name (at most 64 bytes), beginning 'a${'é'.repeat(15)}'`).body);
    });

    test('an input above MAX_INPUT_BYTES is refused without being copied into the module', async () => {
      const qv = await instantiate(module, { now, log: quiet });
      const { status, body } = await qv.invoke('tiers.evaluate', 'x'.repeat(MAX_INPUT_BYTES + 1));
      assert.equal(status, 'too_large');
      assert.equal(body.message, `input: ${MAX_INPUT_BYTES + 1} bytes is above the limit of ${MAX_INPUT_BYTES} bytes`);
      // The module gives the same answer at its own boundary, one byte further down.
      const atLimit = await qv.invoke('tiers.evaluate', ' '.repeat(MAX_INPUT_BYTES));
      assert.equal(atLimit.status, 'invalid_input');
    });

    test('a string input holding a lone surrogate is refused, naming where, not read with U+FFFD in its place', async () => {
      const qv = await instantiate(module, { now, log: quiet });
      const text = (id) => `{"organizationId":"${id}","currentTier":"Startup","history":[]}`;
      for (const [id, unit, at] of [['org_\ud800', 'D800', 23], ['org_\udc00x', 'DC00', 23], ['org_\ud800\ud800\udc00', 'D800', 23]]) {
        const { status, body } = await qv.invoke('tiers.evaluate', text(id));
        assert.equal(status, 'invalid_input');
        assert.equal(body.message, `input: the text is not Unicode: a lone surrogate U+${unit} at index ${at} (UTF-8 cannot hold it)`);
      }
      // A whole pair is a character like any other: the module reads it (and names the field).
      const paired = await qv.invoke('tiers.evaluate', text('org_\ud83d\ude00'));
      assert.equal(paired.status, 'invalid_input');
      assert.match(paired.body.message, /^organizationId: /);
    });

    test('an input JSON cannot write (a BigInt, a cycle, a function) is refused as invalid_input naming input, not thrown', async () => {
      // invoke never rejects for a problem of the input: JSON.stringify's TypeError named nothing,
      // and a function reached the module as no text at all ('malformed JSON at line 1').
      const qv = await instantiate(module, { now, log: quiet });
      const cycle = { tier: 'Growth' };
      cycle.self = cycle;
      for (const [input, message] of [
        [{ tier: 'Growth', limit: 10n }, 'input: cannot be written as JSON (Do not know how to serialize a BigInt)'],
        [cycle, /^input: cannot be written as JSON \(Converting circular structure to JSON/],
        [() => ({ tier: 'Growth' }), 'input: expected a value JSON can write, got a function'],
      ]) {
        const { status, body } = await qv.invoke('tiers.features', input);
        assert.equal(status, 'invalid_input');
        assert.equal(body.error, 'invalid_input');
        if (typeof message === 'string') assert.equal(body.message, message);
        else assert.match(body.message, message);
      }
      await assert.rejects(qv.call('tiers.features', 10n), { name: 'QvError', status: 'invalid_input' });
    });

    test('a kv option that is not a KV is refused at instantiate, naming kv and what it lacks', async () => {
      // Each would fail every KV operation, the module deciding every call without its state.
      const expected = 'kv: expected a KV (with get, set, incr, del, cas functions)';
      await assert.rejects(instantiate(module, { kv: Promise.resolve(new MemoryKv()), log: quiet }),
        { name: 'TypeError', message: `${expected}, got a promise of one? (await it: RedisKv.connect() resolves to the KV)` });
      const { get, set } = new MemoryKv();
      await assert.rejects(instantiate(module, { kv: { get, set }, log: quiet }), { name: 'TypeError', message: `${expected}; it has no incr, del, cas` });
      await assert.rejects(instantiate(module, { kv: 'redis://127.0.0.1:6379', log: quiet }), { name: 'TypeError', message: `${expected}, got string` });
      assert.throws(() => new HostOps({}), { name: 'TypeError', message: `${expected}, got undefined` });
    });

    test('a fetch, now, randomBytes or log that is not a function, or timers without both, is refused at instantiate, naming it', async () => {
      // now, randomBytes and log would fail the instance at its first call; fetch every fetch
      // (the cache answering 502); timers every KV operation (admission deciding per isolate),
      // and node:timers/promises' setTimeout, which takes no callback, left a rejection
      // unhandled on each.
      for (const [name, value, type] of [['fetch', 'http://o.test/', 'string'], ['now', NOW, 'number'],
        ['randomBytes', new Uint8Array(8), 'object'], ['log', true, 'boolean']]) {
        await assert.rejects(instantiate(module, { log: quiet, [name]: value }),
          { name: 'TypeError', message: `${name}: expected a function, got ${type}` });
      }
      const expected = "timers: expected {setTimeout, clearTimeout} functions (the global ones, or a test's own)";
      await assert.rejects(instantiate(module, { log: quiet, timers: timersPromises }), { name: 'TypeError', message: `${expected}; it has no clearTimeout` });
      await assert.rejects(instantiate(module, { log: quiet, timers: {} }), { name: 'TypeError', message: `${expected}; it has no setTimeout, clearTimeout` });
      await assert.rejects(instantiate(module, { log: quiet, timers: setTimeout }), { name: 'TypeError', message: `${expected}, got function` });
      // A call's own fetch too; null is an option's default, as kv's.
      const qv = await instantiate(module, { now, log: quiet, fetch: null, timers: null });
      await assert.rejects(qv.invoke('tiers.features', { tier: 'Growth' }, { fetch: 'http://o.test/' }),
        { name: 'TypeError', message: 'fetch: expected a function, got string' });
      assert.equal((await qv.invoke('tiers.features', { tier: 'Growth' }, { fetch: null })).status, 'ok');
    });

    test('a clock that gives no number fails the instance, naming now, instead of the module deciding on NaN', async () => {
      // A clock missing its return: the module read NaN, and refused every admission (limited,
      // retryAfterMs 0) with no word of why.
      const qv = await instantiate(module, { now: () => { Date.now(); }, log: quiet });
      await assert.rejects(qv.invoke('tiers.admit', { organizationId: 'org_1', tier: 'Startup' }),
        { name: 'QvError', message: 'qv: the module failed (now: the host clock gave undefined, not a finite number of ms since the epoch); the instance is discarded' });
      assert.equal(qv.failed, true);
      const nan = await instantiate(module, { now: () => NaN, log: quiet });
      await assert.rejects(nan.invoke('tiers.admit', { organizationId: 'org_1', tier: 'Startup' }), /now: the host clock gave NaN, not a finite number/);
      // What the import's f64 reads as a number still is one: a Date is its ms.
      const dated = await instantiate(module, { now: () => new Date(NOW), log: quiet });
      assert.equal((await dated.call('tiers.admit', { organizationId: 'org_1', tier: 'Startup' })).allowed, true);
    });

    test('an input of bytes (a request body\'s ArrayBuffer, a Uint8Array) is the input as it is, not its JSON', async () => {
      const qv = await instantiate(module, { now, log: quiet });
      const input = { organizationId: 'org_0', currentTier: 'Startup', history: history(40) };
      const expected = await qv.invoke('tiers.evaluate', input);
      assert.equal(expected.status, 'ok');
      const bytes = new TextEncoder().encode(JSON.stringify(input));
      assert.deepEqual(await qv.invoke('tiers.evaluate', bytes), expected);
      assert.deepEqual(await qv.invoke('tiers.evaluate', bytes.buffer), expected);
      const framed = new Uint8Array(bytes.length + 2);
      framed.set(bytes, 1);
      assert.deepEqual(await qv.invoke('tiers.evaluate', new DataView(framed.buffer, 1, bytes.length)), expected);
    });

    test('instances are isolated from each other', async () => {
      const a = await instantiate(module, { now, log: quiet });
      const b = await instantiate(module, { now, log: quiet });
      await a.call('tiers.configure', { tiers: [{ id: 'solo', name: 'Solo' }] });
      assert.deepEqual((await b.call('tiers.catalogue')).tiers.map((t) => t.name), ['Startup', 'Growth', 'Enterprise']);
    });
  });
}

// Exports that speak the ABI with no module behind them, for a batch no bundle method asks
// for today: call 1 ('waits') asks for a wait and a kv.get of 'k' in one batch; starting
// any other method traps.
function waitAndReadExports() {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const view = new DataView(memory.buffer);
  let top = 64;
  const alloc = (len) => { const ptr = top; top += (len + 7) & ~7; return ptr; };
  const key = alloc(1);
  view.setUint8(key, 'k'.charCodeAt(0));
  const ops = alloc(80); // two 40-byte qv_op records, zeroed
  view.setUint32(ops, OP.WAIT, true);
  view.setUint32(ops + 40, OP.KV_GET, true);
  view.setUint32(ops + 56, key, true);
  view.setUint32(ops + 60, 1, true);
  return {
    memory, qv_abi_version: () => 2, qv_alloc: alloc, qv_free: () => {},
    qv_call_start: (methodPtr, methodLength, input, inputLength, outCall) => {
      if (decoder.decode(new Uint8Array(memory.buffer, methodPtr, methodLength)) !== 'waits') throw new WebAssembly.RuntimeError('unreachable');
      view.setUint32(outCall, 1, true);
      return 1; // pending
    },
    qv_call_ops: (call, outOps, outCount) => { view.setUint32(outOps, ops, true); view.setUint32(outCount, 2, true); return 0; },
    qv_call_complete_op: () => 0, qv_call_resume: () => 1, qv_call_output: () => 5, qv_call_free: () => 0,
    qv_woken_calls: (outCalls, outCount) => { view.setUint32(outCalls, 0, true); view.setUint32(outCount, 0, true); return 0; },
  };
}

test('a call waiting on a wait and a slow KV operation, when another call traps, fails once the operation ends; no rejection goes unhandled', async () => {
  const unhandled = [];
  const record = (reason) => unhandled.push(reason);
  process.on('unhandledRejection', record);
  try {
    let answer;
    const kv = withOps(new MemoryKv(), { get: () => new Promise((resolve) => { answer = resolve; }) });
    const host = new QvInstance({ kv, now, log: quiet, timers: noTimeouts });
    host.attach({ exports: waitAndReadExports() });
    let outcome = 'still waiting';
    const waiting = host.invoke('waits').then(() => 'answered', (error) => error.message).then((message) => { outcome = message; });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(typeof answer, 'function', 'the kv.get was asked for');
    await assert.rejects(host.invoke('traps'), /the module failed \(unreachable\)/);
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(outcome, 'still waiting', 'the kv.get is not answered yet');
    assert.deepEqual(unhandled, []);
    answer(null);
    await waiting;
    assert.match(outcome, /the module failed \(unreachable\); the instance is discarded/);
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', record);
  }
});

test('a QvInstance called before a module is attached says so, and is not failed by it', async () => {
  // It read as a failed module ('Cannot read properties of null'), discarded for good.
  const host = new QvInstance({ now, log: quiet });
  const unattached = /^Error: qv: no module attached: attach\(\) the instance WebAssembly\.instantiate made with imports\(\) first/;
  await assert.rejects(host.invoke('tiers.features', { tier: 'Growth' }), unattached);
  assert.equal(host.failed, false);
  host.attach(await WebAssembly.instantiate(await loadModule('wasi'), host.imports()));
  assert.equal((await host.invoke('tiers.features', { tier: 'Growth' })).status, 'ok');
});

// The WASI bundle's memory may grow to 4 GiB (wasm32's whole range; the Emscripten bundle's
// stops at 2 GiB): from 2 GiB up a pointer passed as an i32 reads negative in JavaScript.
test('a WASI instance whose memory grew past 2 GiB still answers: pointers are read unsigned', async () => {
  const host = new QvInstance({
    now, log: quiet,
    fetch: async () => new Response('{"v":1}', { headers: { 'cache-control': 'max-age=60' } }),
  });
  const instance = await WebAssembly.instantiate(await loadModule('wasi'), host.imports());
  host.attach(instance);
  const { memory, qv_alloc: alloc } = instance.exports;
  // Memory a module never gives back, as calls leave it over time (untouched: the pages cost
  // address space, not RAM).
  while (memory.buffer.byteLength <= 2 ** 31) assert.notEqual(alloc(256 << 20), 0, 'the module grew its memory');
  assert.ok(alloc(16) >>> 0 >= 2 ** 31, 'new buffers lie above 2 GiB');
  assert.deepEqual(await host.invoke('tiers.features', { tier: 'Startup' }), {
    status: 'ok', body: { tier: 'Startup', features: ['voiceAI', 'basicAnalytics', 'knowledgeBase', 'asanaIntegration', 'realTimeDashboard'] },
  });
  const answer = await host.call('cache.get', { organizationId: 'o', key: 'GET /x', origin: { url: 'http://o.test/x' } });
  assert.equal(answer.body, '{"v":1}');
  assert.equal(host.failed, false);
});

describe('fetch operations', () => {
  let server;
  let base;
  before(async () => {
    server = createServer((request, response) => {
      if (request.url === '/slow') return; // never answers
      if (request.url.startsWith('/bytes/')) { // n bytes in 1 KiB chunks, declared or not
        const [, , n, declared] = request.url.split('/');
        if (declared) response.setHeader('content-length', n);
        for (let left = Number(n); left > 0; left -= 1024) response.write('x'.repeat(Math.min(left, 1024)));
        return response.end();
      }
      if (request.url === '/to-credentials') { // a redirect to this server, with credentials
        response.writeHead(302, { location: `http://alice:s3cret@${request.headers.host}/echo` });
        return response.end();
      }
      if (request.url.startsWith('/not-modified/')) { // a 304 naming the size of the body it is not
        response.writeHead(304, { 'content-length': request.url.split('/')[2], etag: '"v1"' });
        return response.end();
      }
      let body = '';
      request.on('data', (chunk) => { body += chunk; });
      request.on('end', () => {
        response.setHeader('X-Echo-Method', request.method);
        response.setHeader('X-Echo-Header', request.headers['x-test'] ?? '');
        response.statusCode = request.url === '/missing' ? 404 : 200;
        // A Buffer: Node writes the header values as latin-1 then, one byte per char as they
        // came in (before a string body it writes them in the body's encoding, UTF-8).
        response.end(Buffer.from(`body=${body}`));
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => { server.closeAllConnections(); server.close(); });

  const ops = new HostOps({ kv: new MemoryKv() });
  const encoder = new TextEncoder();
  const fetchOp = (path, meta, body = '', durationMs = 2000) =>
    ({ kind: OP.FETCH, key: `${base}${path}`, value: encoder.encode(body), meta: encoder.encode(meta), durationMs, delta: 0 });

  test('method, headers and body go out; status, body and lower-case headers come back', async () => {
    const result = await ops.perform(fetchOp('/echo', 'POST\nX-Test: yes\ncontent-type: text/plain\n', 'hello'));
    assert.equal(result.status, 0);
    assert.equal(result.number, 200);
    assert.equal(new TextDecoder().decode(result.data), 'body=hello');
    assert.match(new TextDecoder().decode(result.meta), /^x-echo-method: POST$/m);
    assert.match(new TextDecoder().decode(result.meta), /^x-echo-header: yes$/m);
  });

  test('header values go out and come back as their bytes, UTF-8 or latin-1 (as libcurl sends and gives them)', async () => {
    // x-test: "é" in UTF-8, "€" in UTF-8, "é" in latin-1: sent as these bytes, echoed back as them.
    const value = [0xc3, 0xa9, 0x20, 0xe2, 0x82, 0xac, 0x20, 0xe9];
    const meta = Uint8Array.from([...encoder.encode('GET\nX-Test: '), ...value, 0x0a]);
    const result = await ops.perform({ ...fetchOp('/echo', ''), meta });
    assert.equal(result.status, 0, String(result.data));
    const line = Buffer.from(result.meta).toString('latin1').split('\n').find((l) => l.startsWith('x-echo-header: '));
    assert.deepEqual([...Buffer.from(line.slice('x-echo-header: '.length), 'latin1')], value);
  });

  test('an HTTP error status is a result, not a failure', async () => {
    const result = await ops.perform(fetchOp('/missing', 'GET\n'));
    assert.equal(result.status, 0);
    assert.equal(result.number, 404);
  });

  test('an origin that does not answer times out at the op timeout', async () => {
    const result = await ops.perform(fetchOp('/slow', 'GET\n', '', 50));
    assert.equal(result.status, 7);
    assert.match(String(result.data), /no answer within 50 ms/);
  });

  test('fetchTimeoutMs bounds the op timeout and never raises it (a router probe ends within its own timeout)', async () => {
    const deaf = () => new Promise(() => {});
    // Above the router's stuck-probe bound for a 50 ms probe (twice it plus 1 s): the probe
    // still ends at 50 ms, not at the host's bound.
    const generous = new HostOps({ kv: new MemoryKv(), fetchTimeoutMs: 1500 });
    const probe = await generous.perform(fetchOp('/', 'GET\n', '', 50), deaf);
    assert.equal(probe.status, 7);
    assert.match(String(probe.data), /no answer within 50 ms$/);
    // Below the op's own timeout, or with none given (10 s), the host's bound holds.
    const strict = new HostOps({ kv: new MemoryKv(), fetchTimeoutMs: 30 });
    for (const durationMs of [2000, 0]) {
      const result = await strict.perform(fetchOp('/', 'GET\n', '', durationMs), deaf);
      assert.equal(result.status, 7);
      assert.match(String(result.data), /no answer within 30 ms$/, `op timeout ${durationMs}`);
    }
  });

  test('a body over fetchMaxBytes is not read: too_large, declared or streamed', async () => {
    const capped = new HostOps({ kv: new MemoryKv(), fetchMaxBytes: 4096 });
    for (const path of ['/bytes/4097/declared', '/bytes/1048576', '/bytes/1048576/declared']) {
      const result = await capped.perform(fetchOp(path, 'GET\n'));
      assert.equal(result.status, 8, path);
      assert.match(String(result.data), /the answer's body is over 4096 bytes \(fetchMaxBytes\)/);
    }
    const whole = await capped.perform(fetchOp('/bytes/4096', 'GET\n'));
    assert.equal(whole.status, 0);
    assert.equal(new TextDecoder().decode(whole.data), 'x'.repeat(4096));
    assert.equal((await ops.perform(fetchOp('/bytes/1048576', 'GET\n'))).data.byteLength, 1048576, 'the default is larger');
  });

  test('an answer without a body is not too large for the size its Content-Length names (HEAD, 304)', async () => {
    const capped = new HostOps({ kv: new MemoryKv(), fetchMaxBytes: 4096 });
    const head = await capped.perform(fetchOp('/bytes/1048576/declared', 'HEAD\n'));
    assert.deepEqual([head.status, head.number, head.data.byteLength], [0, 200, 0]);
    assert.match(new TextDecoder().decode(head.meta), /^content-length: 1048576$/m);
    const notModified = await capped.perform(fetchOp('/not-modified/1048576', 'GET\nIf-None-Match: "v1"\n'));
    assert.deepEqual([notModified.status, notModified.number, notModified.data.byteLength], [0, 304, 0]);
  });

  test('the op timeout holds for a fetch, or a body, that ignores the abort signal', async () => {
    const deaf = () => new Promise(() => {});
    const stalled = async () => new Response(new ReadableStream({ pull: () => new Promise(() => {}) }));
    for (const fetch of [deaf, stalled]) {
      const result = await ops.perform(fetchOp('/', 'GET\n', '', 50), fetch);
      assert.equal(result.status, 7);
      assert.match(String(result.data), /no answer within 50 ms/);
    }
  });

  test('operations time out by the timers given: a KV operation and a fetch wait, unanswered, until theirs fire', async () => {
    const pending = new Map(); // id -> {fire, ms}
    let ids = 0;
    const timers = { setTimeout: (fire, ms) => { pending.set(++ids, { fire, ms }); return ids; }, clearTimeout: (id) => { pending.delete(id); } };
    const silent = { get: () => new Promise(() => {}), set: async () => {}, incr: async () => 1, del: async () => 0, cas: () => new Promise(() => {}) };
    const held = new HostOps({ kv: silent, kvTimeoutMs: 30, timers });
    const outcomes = [];
    const get = held.perform({ kind: OP.KV_GET, key: 'k' }).then((result) => outcomes.push(['get', result]));
    const fetched = held.perform(fetchOp('/', 'GET\n', '', 50), () => new Promise(() => {})).then((result) => outcomes.push(['fetch', result]));
    for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual([...pending.values()].map((timer) => timer.ms).sort((a, b) => a - b), [30, 50]);
    assert.deepEqual(outcomes, [], 'nothing times out before its timer fires');
    for (const [id, timer] of [...pending]) { pending.delete(id); timer.fire(); }
    for (const [id, timer] of [...pending]) { pending.delete(id); timer.fire(); } // the KV's second look, after I/O
    await Promise.all([get, fetched]);
    assert.deepEqual(outcomes.map(([what, result]) => [what, result.status, String(result.data)]).sort(), [
      ['fetch', 7, `fetch GET ${base}/: no answer within 50 ms`],
      ['get', 7, 'kv.get k: no answer within 30 ms'],
    ]);
    assert.equal(pending.size, 0, 'every timer fired or cleared');
  });

  test('an operation of a kind the host does not know is bad_state, in the native host\'s words', async () => {
    const result = await new HostOps({ kv: new MemoryKv() }).perform({ kind: 99, key: '', value: new Uint8Array(), meta: new Uint8Array(), durationMs: 0, delta: 0 });
    assert.deepEqual(result, { status: 5, data: 'op: unknown operation kind 99' }); // perform_op's
  });

  test('a sleep operation waits on the timers given, for its duration, and ends when its timer fires', async () => {
    const pending = [];
    const timers = { setTimeout: (fire, ms) => { pending.push({ fire, ms }); return pending.length; }, clearTimeout: () => {} };
    let slept = false;
    const sleep = new HostOps({ kv: new MemoryKv(), timers }).perform({ kind: OP.SLEEP, durationMs: 1500 }).then((result) => { slept = result; });
    for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(pending.map((timer) => timer.ms), [1500]);
    assert.equal(slept, false, 'still asleep until its timer fires');
    pending[0].fire();
    await sleep;
    assert.deepEqual(slept, { status: 0 });
  });

  test('a URL with credentials is refused, as natively, and named without them; a redirect to one fails in the native host\'s words', async () => {
    const host = new URL(base).host;
    let fetched = 0;
    const counting = (...args) => { fetched++; return globalThis.fetch(...args); };
    for (const key of [
      `http://alice:s3cret@${host}/path?q=1`,
      `http://alice@${host}/path?q=1`,
      `http://:s3cret@${host}/path?q=1`,
      `http://@${host}/path?q=1`, // (empty, as natively: fetch()'s URL parser drops it, libcurl would send it)
      `http://:@${host}/path?q=1`,
      `http:alice:s3cret@${host}/path?q=1`, // (no "//": the URL parser still reads them)
    ]) {
      const result = await ops.perform({ ...fetchOp('/', 'GET\n'), key }, counting);
      assert.equal(result.status, 6, key);
      assert.match(String(result.data), /: the URL holds credentials \(user:password@ before the host\), which fetch\(\) refuses/, key);
      assert.ok(String(result.data).startsWith(`fetch GET ${base}/path?q=1: `), String(result.data));
      assert.doesNotMatch(String(result.data), /alice|s3cret/, key);
    }
    // One fetch() cannot parse is refused too: its words would quote the URL whole.
    const unparsed = await ops.perform({ ...fetchOp('/', 'GET\n'), key: 'http://alice:s3cret@[bad/x' }, counting);
    assert.equal(unparsed.status, 6);
    assert.equal(String(unparsed.data), 'fetch GET http://[bad/x: the URL holds credentials (user:password@ before the host), which fetch() refuses: send them in a header');
    assert.equal(fetched, 0, 'nothing was fetched');

    // In the native host's words (native-tests/fetch_test.cpp), where fetch() gives a bare
    // network error ("fetch failed", its cause in undici's words).
    const redirected = await ops.perform(fetchOp('/to-credentials', 'GET\n'));
    assert.equal(redirected.status, 6);
    assert.equal(String(redirected.data), `fetch GET ${base}/to-credentials: a redirect to a URL with credentials (user:password@), which fetch() refuses`);
  });

  test('every message names the fetch as the native host names it: fetch METHOD URL', async () => {
    const small = new HostOps({ kv: new MemoryKv(), fetchMaxBytes: 100 });
    const tooLarge = await small.perform(fetchOp('/bytes/200', 'GET\n'));
    assert.equal(String(tooLarge.data), `fetch GET ${base}/bytes/200: the answer's body is over 100 bytes (fetchMaxBytes)`);
    const badHeader = await ops.perform(fetchOp('/echo', 'POST\nbad name: x\n', 'hello'));
    assert.equal(badHeader.status, 6);
    assert.ok(String(badHeader.data).startsWith(`fetch POST ${base}/echo: `), String(badHeader.data));
  });

  test('a request that cannot be made is refused before fetch(), in the native host\'s words, naming the field', async () => {
    let fetched = 0;
    const counting = (...args) => { fetched++; return globalThis.fetch(...args); };
    // As native-tests/fetch_test.cpp pins them: "fetch METHOD URL", or "fetch URL" when the
    // method is what is wrong, then the field and the problem.
    for (const [meta, message] of [
      ['', `fetch ${base}/echo: method '' is not an HTTP token`],
      ['\nAccept: text/plain\n', `fetch ${base}/echo: method '' is not an HTTP token`],
      ['GE T\n', `fetch ${base}/echo: method 'GE T' is not an HTTP token`],
      ['GET\n\nno colon here\n', `fetch GET ${base}/echo: header line 2 has no ':' (expected 'name: value')`],
      ['GET\nBad Name: x\n', `fetch GET ${base}/echo: header name 'Bad Name' is not an HTTP token`],
      ['GET\nX-Padded : x\n', `fetch GET ${base}/echo: header name 'X-Padded ' is not an HTTP token`],
      ['GET\nX-Return: a\rb\n', `fetch GET ${base}/echo: header 'X-Return' holds a line break or NUL`],
    ]) {
      const result = await ops.perform(fetchOp('/echo', meta), counting);
      assert.deepEqual([result.status, String(result.data)], [6, message], JSON.stringify(meta));
    }
    assert.equal(fetched, 0, 'nothing was fetched');
  });

  test('an unreachable origin is unavailable, and says why', async () => {
    const result = await ops.perform({ ...fetchOp('/', 'GET\n'), key: 'http://127.0.0.1:1/' });
    assert.equal(result.status, 6);
    assert.match(String(result.data), /^fetch GET http:\/\/127.0.0.1:1\/: fetch failed \(.+\)/);
  });
});

describe('MemoryKv', () => {
  test('incr takes canonical 64-bit integers only, and counts exactly past 2^53, as Redis', async () => {
    const kv = new MemoryKv();
    for (const bad of ['007', '-0', '1.0', ' 1', '9223372036854775808']) {
      await kv.set('n', bad);
      await assert.rejects(kv.incr('n', 1), /not an integer or out of range/, bad);
    }
    await kv.set('n', '9007199254740993');
    assert.equal(await kv.incr('n', 1), 9007199254740994n);
    await kv.set('n', '9223372036854775807');
    await assert.rejects(kv.incr('n', 1), /would overflow/);
    assert.equal(await stored(kv, 'n'), '9223372036854775807', 'unchanged');
    await kv.set('n', '-5');
    assert.equal(await kv.incr('n', 2), -3);
  });

  test('incr gives the TTL to a key it makes and leaves an existing key\'s expiry as it is, as RedisKv', async () => {
    let t = 0;
    const kv = new MemoryKv({ now: () => t });
    assert.equal(await kv.incr('n', 1, 1000), 1);
    t = 600;
    assert.equal(await kv.incr('n', 1, 1000), 2);
    t = 1200;
    assert.equal(await kv.get('n'), null, 'gone 1000 ms after the incr that made it, not after the last one');
    assert.equal(await kv.incr('n', 1, 1000), 1);
    await kv.set('kept', '5');
    assert.equal(await kv.incr('kept', 1, 1000), 6);
    t = 10_000;
    assert.equal(await stored(kv, 'kept'), '6', 'a key without a TTL gets none from an incr');
  });

  test('get and a failed cas answer copies: a caller that changes the bytes changes nothing stored', async () => {
    const kv = new MemoryKv();
    await kv.set('k', 'kept');
    (await kv.get('k')).fill(0x78);
    assert.equal(await stored(kv, 'k'), 'kept');
    const { swapped, current } = await kv.cas('k', 'other', 'new');
    assert.equal(swapped, false);
    current.fill(0x78);
    assert.equal(await stored(kv, 'k'), 'kept');
  });

  test('expired keys that are never read again leave as writes go on', async () => {
    let t = 0;
    const kv = new MemoryKv({ now: () => t });
    for (let i = 0; i < 10_000; i++) await kv.set(`short:${i}`, 'x', 1000);
    await kv.set('kept', 'y');
    assert.equal(kv.size, 10_001);
    t = 2000;
    for (let i = 0; i < 3000; i++) await kv.incr('counter');
    assert.equal(kv.size, 2, 'only the live keys are left');
    assert.deepEqual(kv.keys().sort(), ['counter', 'kept']);
    assert.equal(await stored(kv, 'kept'), 'y');
    assert.equal(await stored(kv, 'counter'), '3000');
  });

  test('past maxBytes a write evicts the least recently used cache copies, and nothing else', async () => {
    const kv = new MemoryKv({ maxBytes: 20_000 });
    await kv.set('qv:calls:org_a', 'c'.repeat(5000)); // admission state: never evicted
    const copy = (i) => `qvc:e:org_a:GET /api/search?q=${i}`;
    for (let i = 0; i < 10; i++) await kv.set(copy(i), 'x'.repeat(1000));
    await kv.get(copy(0)); // read: now the most recently used
    for (let i = 10; i < 16; i++) await kv.set(copy(i), 'x'.repeat(1000));
    // 13 copies of about 1.1 kB fit beside the call set: the three least recently used went.
    assert.equal(kv.evicted, 3);
    assert.deepEqual(await Promise.all([0, 1, 3, 4].map(async (i) => (await kv.get(copy(i))) !== null)), [true, false, false, true]);
    for (let i = 16; i < 100; i++) await kv.set(copy(i), 'x'.repeat(1000));
    assert.ok(kv.bytes <= 20_000, `${kv.bytes} bytes held`);
    assert.equal(await stored(kv, 'qv:calls:org_a'), 'c'.repeat(5000));
    assert.notEqual(await kv.get(copy(99)), null, 'the newest copy');
    // Only what may not be evicted: it is kept whatever the bound.
    const strict = new MemoryKv({ maxBytes: 1000 });
    for (let i = 0; i < 10; i++) await strict.set(`qv:rl:org_${i}`, 'x'.repeat(500));
    assert.deepEqual([strict.keys().length, strict.evicted], [10, 0]);
    // The copy a write makes is never its own victim: one above the bound on its own stays,
    // the older copies going first.
    const small = new MemoryKv({ maxBytes: 1000 });
    await small.set(copy(0), 'x'.repeat(300));
    await small.set(copy(1), 'x'.repeat(2000));
    assert.deepEqual([await small.get(copy(0)), (await small.get(copy(1)))?.length, small.evicted], [null, 2000, 1]);
  });

  test('a maxBytes that bounds nothing is refused, naming it', () => {
    // Number(process.env.UNSET) is NaN, past which no write would ever evict.
    for (const [maxBytes, shown] of [[NaN, 'NaN'], [0, '0'], [-1, '-1'], [1.5, '1.5'], ['1000', "'1000'"]]) {
      assert.throws(() => new MemoryKv({ maxBytes }),
        { name: 'RangeError', message: `maxBytes: expected a whole number from 1 to ${Number.MAX_SAFE_INTEGER}, got ${shown}` });
    }
    assert.equal(new MemoryKv({ maxBytes: undefined }).bytes, 0);
  });

  test('a now that is not a function is refused, naming it', async () => {
    // Read by every operation: each failed (a TypeError the host makes 'unavailable').
    assert.throws(() => new MemoryKv({ now: NOW }), { name: 'TypeError', message: 'now: expected a function, got number' });
    const kv = new MemoryKv({ now: null });
    await kv.set('k', 'v', 1000);
    assert.equal(decoder.decode(await kv.get('k')), 'v');
  });
});

// Admission control across isolates: several module instances (each one isolate) sharing
// one KV. On a simulated clock with an in-memory KV the bounds of docs/admission.md are
// checked exactly, and 150 call lifecycles racing over three isolates are held to what their
// own histories allow; over a real Redis, the race of concurrent call starts, the rate
// limit's upper bound, and an outage in the middle of a run.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { instantiateFlavour } from '../dist/js/node.mjs';
import { simulateAdmission } from './admission-sim.mjs';
import { RedisKv } from '../dist/js/kv-redis.mjs';
import { MemoryKv } from '../dist/js/kv-memory.mjs';
import { RedisServer } from './redis-server.mjs';
import { createEdgeRuntime, loadEdgeConfig } from '../edge/runtime.mjs';
import { rateLimitHeaders } from '../edge/handler.mjs';
import { CountingKv, withOps, delayedOps, kvWaits } from './kv-doubles.mjs';
import { random } from '../bench/cache-streams.mjs';

const quiet = () => {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (bytes) => bytes && new TextDecoder().decode(bytes); // a KV value, read
const STARTUP = { rate: 100, burst: 100, lease: 10, calls: 50 };

describe('rate limit on a simulated clock (4 isolates, one in-memory KV)', () => {
  test('3x the limit offered: admitted within the stated bound and within 5% of the limit', async () => {
    const seconds = 10;
    const { admitted, offered } = await simulateAdmission({ seconds, perSecond: 300 });
    const allowance = STARTUP.burst + STARTUP.rate * seconds; // what GCRA itself allows
    assert.equal(offered, 3000);
    assert.ok(admitted <= allowance + 4 * STARTUP.lease, `admitted ${admitted} > ${allowance} + 4 leases`);
    assert.ok(admitted >= STARTUP.rate * seconds * 0.95, `admitted ${admitted} is more than 5% under the limit`);
  });

  test('below the limit: everything is admitted with at most 0.1 KV operations per request', async () => {
    const { admitted, offered, kvOps } = await simulateAdmission({ seconds: 10, perSecond: 600, tier: 'Growth' });
    assert.equal(admitted, offered);
    assert.ok(kvOps / admitted <= 0.1, `${kvOps} KV operations for ${admitted} requests`);
  });
});

describe('rate limit with clocks that disagree (4 isolates 50 ms apart, simulated)', () => {
  // The most admitted in any span of `ms` of the admissions' true times.
  const mostInSpan = (times, ms) => {
    let most = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i] - times[j] >= ms) j++;
      most = Math.max(most, i - j + 1);
    }
    return most;
  };
  const offsets = [-25, -8, 8, 25];
  const skew = (STARTUP.rate * (Math.max(...offsets) - Math.min(...offsets))) / 1000; // R·δ tokens
  for (const [pattern, perSecond, floor] of [
    ['3x the limit, steadily', 300, STARTUP.rate * 10 * 0.95 - skew],
    // 5x the limit for a second, then a second of nothing: the bucket fills up five times.
    ['bursts of 5x the limit, every other second', (second) => (second % 2 === 0 ? 500 : 0), 5 * (STARTUP.burst + STARTUP.rate) * 0.95 - 5 * skew],
  ]) {
    test(`${pattern}: never over the one-clock bound by more than R·δ in any span, and at most R·δ under per refill`, async () => {
      const { admittedAt } = await simulateAdmission({ seconds: 10, perSecond, clockOffsetsMs: offsets });
      for (const seconds of [1, 10]) {
        const bound = STARTUP.burst + STARTUP.rate * seconds + 4 * STARTUP.lease + skew;
        const most = mostInSpan(admittedAt, 1000 * seconds);
        assert.ok(most <= bound, `${most} admitted within ${seconds} s > ${bound}`);
      }
      assert.ok(admittedAt.length >= floor, `admitted ${admittedAt.length} < ${floor}`);
    });
  }
});

describe('calls across a KV outage (a KV that keeps its data but cannot be reached)', () => {
  test('a call ended during the outage frees its slot in KV with the first write after it', async () => {
    let t = 1764115200000;
    const memory = new MemoryKv({ now: () => t });
    let down = false;
    const kv = new Proxy(memory, {
      get(target, name) {
        const value = target[name];
        if (typeof value !== 'function') return value;
        return (...args) => (down ? Promise.reject(new Error('connection refused')) : value.apply(target, args));
      },
    });
    const qv = await instantiateFlavour('wasi', { kv, now: () => t, log: quiet });
    const who = { organizationId: 'org_ended', tier: 'Startup' };
    assert.equal((await qv.call('tiers.call_start', { ...who, callId: 'a' })).source, 'kv');
    down = true;
    assert.equal((await qv.call('tiers.call_end', { ...who, callId: 'a' })).source, 'local');
    down = false;
    t += 2000; // past kvRetryMs, well inside the ended call's lease
    const next = await qv.call('tiers.call_start', { ...who, callId: 'b' });
    assert.deepEqual([next.source, next.active], ['kv', 1]);
    assert.deepEqual(Object.keys(JSON.parse(new TextDecoder().decode(await memory.get('qv:calls:org_ended')))), ['b']);
  });
});

// An isolate at a fixed time over a KV that fails when told to (kv.failing), with these
// admission settings over the catalogue's.
async function isolateWithAdmission(admission) {
  const now = () => 1764115200000;
  const kv = new CountingKv({ now });
  const qv = await instantiateFlavour('emscripten', { kv, now, log: quiet });
  const catalogue = await qv.call('tiers.catalogue', {});
  await qv.call('tiers.configure', { ...catalogue, admission: { ...catalogue.admission, ...admission } });
  return { kv, qv };
}

describe('a cost above the isolate\'s share of the burst while the KV is down', () => {
  test('is told to retry when the KV is tried again, not after a refill that could never take it', async () => {
    const { kv, qv } = await isolateWithAdmission({ failOpenShare: 0.5, kvRetryMs: 3000 });
    kv.failing = true;
    // Startup's local bucket holds 50: a cost of 60 never passes in it.
    const refused = await qv.call('tiers.admit', { organizationId: 'org_share', tier: 'Startup', cost: 60 });
    assert.deepEqual([refused.allowed, refused.source, refused.limit, refused.retryAfterMs], [false, 'local', 50, 3000]);
  });
});

describe('admission that fails closed (failOpen: false) while the KV is down', () => {
  test('a refusal says the limit holds no tokens until the KV is tried again', async () => {
    const { kv, qv } = await isolateWithAdmission({ failOpen: false, kvRetryMs: 5000 });
    kv.failing = true;
    const refused = await qv.call('tiers.admit', { organizationId: 'org_closed', tier: 'Startup' });
    assert.deepEqual([refused.allowed, refused.source, refused.remaining, refused.retryAfterMs], [false, 'refused', 0, 5000]);
    // RateLimit's t: not a full bucket now (t=0 beside r=0), but not before the retry.
    assert.equal(refused.resetAfterMs, 5000);
    assert.equal(rateLimitHeaders(refused).ratelimit, '"tier";r=0;t=5');
  });

  test('call starts and heartbeats are refused, saying it fails closed (no per-isolate limit applies)', async () => {
    const { kv, qv } = await isolateWithAdmission({ failOpen: false });
    const who = { organizationId: 'org_closed_calls', tier: 'Startup' };
    assert.equal((await qv.call('tiers.call_start', { ...who, callId: 'a' })).admitted, true);
    kv.failing = true;
    const start = await qv.call('tiers.call_start', { ...who, callId: 'b' });
    const beat = await qv.call('tiers.call_heartbeat', { ...who, callId: 'a' });
    assert.deepEqual([start.admitted, start.source, beat.renewed, beat.source], [false, 'refused', false, 'refused']);
    for (const answer of [start, beat]) assert.match(answer.reason, /^kv unavailable, admission fails closed: /);
  });
});

describe('heartbeats with most of their lease left', () => {
  test('keep the lease and write nothing, after reading the set: a call ended in another isolate is a 404', async () => {
    let t = 1764115200000;
    const kv = new CountingKv({ now: () => t });
    const [qv, other] = await Promise.all(['wasi', 'emscripten'].map((flavour) => instantiateFlavour(flavour, { kv, now: () => t, log: quiet })));
    const who = { organizationId: 'org_beats', tier: 'Startup' };
    const started = await qv.call('tiers.call_start', { ...who, callId: 'a' });
    await qv.call('tiers.call_start', { ...who, callId: 'b' });
    t += 20_000; // a third of the 60 s lease
    const writes = kv.counts.cas;
    const beat = await qv.call('tiers.call_heartbeat', { ...who, callId: 'a' });
    assert.deepEqual([beat.renewed, beat.leaseExpiresAt, beat.active], [true, started.leaseExpiresAt, 2]);
    assert.equal(kv.counts.cas, writes, 'nothing written');
    // Ended elsewhere: this isolate's copy of the set still holds it, the KV does not.
    await other.call('tiers.call_end', { ...who, callId: 'b' });
    const reads = kv.counts.get;
    assert.equal((await qv.invoke('tiers.call_heartbeat', { ...who, callId: 'b' })).status, 'not_found');
    assert.equal(kv.counts.get, reads + 1, 'decided on the set read from the KV');
    t += 20_000; // two thirds: less than half left, so the lease is renewed
    const before = kv.counts.cas;
    const renewed = await qv.call('tiers.call_heartbeat', { ...who, callId: 'a' });
    assert.deepEqual([renewed.renewed, renewed.leaseExpiresAt], [true, t + 60_000]);
    assert.equal(kv.counts.cas, before + 1);
  });
});

describe('heartbeats during a KV outage', () => {
  test('heartbeats for calls never started count against the isolate\'s share; one admitted through KV is kept', async () => {
    let t = 1764115200000;
    const kv = new CountingKv({ now: () => t });
    const qv = await instantiateFlavour('emscripten', { kv, now: () => t, log: quiet });
    const who = { organizationId: 'org_ghosts', tier: 'Startup' };
    assert.equal((await qv.call('tiers.call_start', { ...who, callId: 'live' })).source, 'kv');
    kv.failing = true;
    let renewed = 0;
    for (let i = 0; i < 200; i++) {
      if ((await qv.call('tiers.call_heartbeat', { ...who, callId: `ghost-${i}` })).renewed) renewed++;
    }
    assert.equal(renewed, STARTUP.calls);
    const live = await qv.call('tiers.call_heartbeat', { ...who, callId: 'live' });
    assert.deepEqual([live.renewed, live.source], [true, 'local']);
    kv.failing = false;
    t += 2000;
    const after = await qv.call('tiers.call_end', { ...who, callId: 'ghost-0' });
    assert.equal(after.source, 'kv');
    assert.ok(after.active <= STARTUP.calls + 1, `${after.active} active`);
  });
});

describe('an organisation whose stored value this isolate cannot read (garbage, or another version\'s format), over a KV that works', () => {
  test('its calls are decided in the isolate, the value is left as it is, and they join the shared set once it reads again', async () => {
    let t = 1764115200000;
    const kv = new CountingKv({ now: () => t });
    const [qv, other] = await Promise.all(['emscripten', 'wasi'].map((flavour) => instantiateFlavour(flavour, { kv, now: () => t, log: quiet })));
    const who = { organizationId: 'org_unreadable', tier: 'Startup' };
    const key = 'qv:calls:org_unreadable';
    for (const callId of ['before', 'ended']) assert.equal((await qv.call('tiers.call_start', { ...who, callId })).source, 'kv');
    // As another version might write it: every isolate's calls, in a shape this one cannot read.
    const unreadable = JSON.stringify({ calls: { before: t + 60_000, ended: t + 60_000, theirs: t + 60_000 } });
    await kv.set(key, unreadable);
    t += 40_000; // less than half of the leases left: a heartbeat writes
    const during = await qv.call('tiers.call_start', { ...who, callId: 'during' });
    assert.deepEqual([during.admitted, during.source], [true, 'local']);
    assert.equal(during.reason, 'kv value unreadable, per-isolate limit: the calls stored for organisation \'org_unreadable\' (calls: expected a number, got an object)');
    const ops = { ...kv.counts };
    const beat = await qv.call('tiers.call_heartbeat', { ...who, callId: 'before' });
    assert.deepEqual([beat.renewed, beat.source, beat.leaseExpiresAt], [true, 'local', t + 60_000]);
    const end = await qv.call('tiers.call_end', { ...who, callId: 'ended' });
    assert.deepEqual([end.ended, end.source], [true, 'local']);
    assert.deepEqual(kv.counts, ops, 'decided in the isolate until kvRetryMs has passed, without reading the value again');
    const elsewhere = await other.call('tiers.call_start', { ...who, callId: 'elsewhere' });
    assert.deepEqual([elsewhere.admitted, elsewhere.source], [true, 'local']);
    assert.equal(text(await kv.get(key)), unreadable, 'never written over: it holds other isolates\' calls');

    // Readable again: written in this version's format (its writer rolled back, say).
    await kv.set(key, JSON.stringify({ before: t + 20_000, ended: t + 20_000, theirs: t + 20_000 }));
    t += 1000; // kvRetryMs: the isolates read it again
    const next = await qv.call('tiers.call_heartbeat', { ...who, callId: 'during' });
    assert.deepEqual([next.renewed, next.source, next.active], [true, 'kv', 3]);
    // Its calls joined the shared set (the renewed lease with them), the ended one left it.
    const stored = JSON.parse(text(await kv.get(key)));
    assert.deepEqual(stored, { before: t - 1000 + 60_000, during: t - 1000 + 60_000, theirs: t - 1000 + 20_000 });
    const joined = await other.call('tiers.call_heartbeat', { ...who, callId: 'elsewhere' });
    assert.deepEqual([joined.renewed, joined.source, joined.active], [true, 'kv', 4]);
    assert.deepEqual(Object.keys(JSON.parse(text(await kv.get(key)))), ['before', 'during', 'elsewhere', 'theirs']);
  });

  test('its rate limit is decided on the isolate\'s own bucket, the value is left as it is, and the shared bucket is used again once the value\'s TTL ends it', async () => {
    let t = 1764115200000;
    const kv = new CountingKv({ now: () => t });
    const qv = await instantiateFlavour('emscripten', { kv, now: () => t, log: quiet });
    const who = { organizationId: 'org_unreadable_rate', tier: 'Startup' };
    const key = 'qv:rl:org_unreadable_rate';
    const unreadable = JSON.stringify({ tat: t + 500, version: 2 });
    await kv.set(key, unreadable, 3000);
    const first = await qv.call('tiers.admit', who);
    assert.deepEqual([first.allowed, first.source, first.remaining], [true, 'local', STARTUP.burst - 1]);
    assert.equal(first.reason, 'kv value unreadable, per-isolate limit: the rate limit stored for organisation \'org_unreadable_rate\' (not a number)');
    const ops = { ...kv.counts };
    for (let i = 1; i < STARTUP.burst; i++) assert.equal((await qv.call('tiers.admit', who)).source, 'local');
    const refused = await qv.call('tiers.admit', who);
    assert.deepEqual([refused.allowed, refused.source], [false, 'local']);
    assert.deepEqual(kv.counts, ops, 'decided in the isolate until kvRetryMs has passed, without the KV');
    t += 1000; // kvRetryMs: tried again, still unreadable
    assert.equal((await qv.call('tiers.admit', who)).source, 'local');
    assert.equal(text(await kv.get(key)), unreadable, 'never written over');
    t += 2500; // past the value's TTL (and kvRetryMs again)
    const back = await qv.call('tiers.admit', who);
    assert.deepEqual([back.allowed, back.source, back.reason], [true, 'kv', undefined]);
    assert.ok(Number(text(await kv.get(key))) > t, 'the shared bucket holds the lease');
  });
});

describe('an isolate that sees ever new organisations', () => {
  test('forgets the idle ones: it holds at most twice the active, and their limits still hold', async () => {
    let t = 1764115200000;
    const kv = new MemoryKv({ now: () => t });
    const qv = await instantiateFlavour('emscripten', { kv, now: () => t, log: quiet });
    const full = { organizationId: 'org_full', tier: 'Startup' };
    const calls = Array.from({ length: STARTUP.calls }, (_, i) => `c${i}`);
    for (const callId of calls) assert.equal((await qv.call('tiers.call_start', { ...full, callId })).admitted, true);
    const perRound = 5000; // new organisations every 30 s, each idle after its round
    for (let round = 0; round < 5; round++, t += 30_000) {
      for (let i = 0; i < perRound; i++) {
        const organizationId = `org_${round}_${i}`;
        assert.equal((await qv.call('tiers.admit', { organizationId, tier: 'Startup' })).allowed, true);
        await qv.call('tiers.call_start', { organizationId, tier: 'Startup', callId: 'c' });
        await qv.call('tiers.call_end', { organizationId, callId: 'c' });
      }
      for (const callId of calls) assert.equal((await qv.call('tiers.call_heartbeat', { ...full, callId })).renewed, true);
      const { organizations } = await qv.call('tiers.admission_stats');
      assert.ok(organizations.rateLimits <= 2 * perRound, `round ${round}: ${organizations.rateLimits} rate entries`);
      assert.ok(organizations.calls <= 2 * perRound + 1, `round ${round}: ${organizations.calls} call entries`);
    }
    const { forgotten } = await qv.call('tiers.admission_stats');
    assert.ok(forgotten.rateLimits >= 3 * perRound && forgotten.calls >= 3 * perRound, JSON.stringify(forgotten));
    // org_full was forgotten too (its calls live in KV, none local): its limit still holds.
    const refused = await qv.call('tiers.call_start', { ...full, callId: 'one-more' });
    assert.deepEqual([refused.admitted, refused.active], [false, STARTUP.calls]);
  });
});

describe('concurrent call changes in one isolate', () => {
  test('are written together: 1,000 starts cost a few compare-and-sets, and the limit holds exactly', async () => {
    const kv = new CountingKv();
    const qv = await instantiateFlavour('emscripten', { kv, log: quiet });
    const who = { organizationId: 'org_burst', tier: 'Startup' };
    const starts = await Promise.all(Array.from({ length: 1000 }, (_, i) => qv.call('tiers.call_start', { ...who, callId: `c${i}` })));
    const admitted = starts.filter((s) => s.admitted);
    assert.equal(admitted.length, STARTUP.calls);
    assert.deepEqual(admitted.map((s) => s.active).sort((a, b) => a - b), Array.from({ length: STARTUP.calls }, (_, i) => i + 1),
      'each admitted call sees the set as of its own change');
    assert.ok(kv.counts.cas <= 3, `${kv.counts.cas} compare-and-sets`);
    const ends = await Promise.all(admitted.map((s) => qv.call('tiers.call_end', { organizationId: who.organizationId, callId: s.callId })));
    assert.ok(ends.every((e) => e.wasActive));
    assert.equal((await qv.call('tiers.call_start', { ...who, callId: 'after' })).active, 1);
    assert.ok(kv.counts.cas <= 6, `${kv.counts.cas} compare-and-sets`);
  });
});

describe('the RateLimit figures of a leasing isolate', () => {
  test('remaining and the time until the bucket is full agree, whether a token came from the lease or the KV', async () => {
    let t = 1764115200000;
    const qv = await instantiateFlavour('emscripten', { kv: new MemoryKv({ now: () => t }), now: () => t, log: quiet });
    const sources = new Set();
    for (let i = 0; i < 40; i++, t += 3) {
      const answer = await qv.call('tiers.admit', { organizationId: 'org_lease', tier: 'Startup' });
      sources.add(answer.source);
      // Startup: 100 per second, so a token comes back every 10 ms.
      assert.ok(Math.abs(answer.resetAfterMs - (answer.limit - answer.remaining) * 10) < 10, JSON.stringify(answer));
    }
    assert.deepEqual([...sources].sort(), ['kv', 'lease']);
  });
});

describe('an organisation whose tier changes', () => {
  test('a lease taken under the higher tier is not spent under the lower one', async () => {
    let t = 1764115200000;
    const qv = await instantiateFlavour('emscripten', { kv: new MemoryKv({ now: () => t }), now: () => t, log: quiet });
    // Enterprise at 5 requests per ms for 3 s: its leases grow to a second's 10% (1,000).
    for (let i = 0; i < 15000; i++) {
      await qv.call('tiers.admit', { organizationId: 'org_switch', tier: 'Enterprise' });
      if (i % 5 === 4) t++;
    }
    let fresh;
    do fresh = await qv.call('tiers.admit', { organizationId: 'org_switch', tier: 'Enterprise' }); while (fresh.source !== 'kv');
    // Downgraded to Startup: 2,000 requests over the next 200 ms.
    let admitted = 0;
    for (let i = 0; i < 2000; i++) {
      if ((await qv.call('tiers.admit', { organizationId: 'org_switch', tier: 'Startup' })).allowed) admitted++;
      if (i % 10 === 9) t++;
    }
    // One isolate: at most B + R*t + L of Startup.
    assert.ok(admitted <= STARTUP.burst + STARTUP.rate * 0.2 + STARTUP.lease, `${admitted} admitted`);
  });

  test('a lease in flight under the higher tier when a request of the lower one arrives is not spent under the lower one', async () => {
    let t = 1764115200000;
    const memory = new MemoryKv({ now: () => t });
    let release = () => {};
    let held = false;
    // Holds the next compare-and-set until release(): the lease stays in flight.
    const kv = withOps(memory, {
      cas: async (...args) => {
        if (held) await new Promise((resolve) => { release = resolve; });
        return memory.cas(...args);
      },
    });
    const qv = await instantiateFlavour('emscripten', { kv, now: () => t, log: quiet });
    const who = { organizationId: 'org_inflight' };
    assert.equal((await qv.call('tiers.admit', { ...who, tier: 'Enterprise' })).source, 'kv');
    t++; // a request a ms: the next lease is Enterprise's largest (1,000)
    held = true;
    const enterprise = qv.call('tiers.admit', { ...who, tier: 'Enterprise' });
    await sleep(10); // its compare-and-set is held
    held = false;
    const startup = qv.call('tiers.admit', { ...who, tier: 'Startup' }); // waits for that lease
    await sleep(10);
    release();
    assert.equal((await enterprise).allowed, true);
    let admitted = (await startup).allowed ? 1 : 0;
    for (let i = 0; i < 1000; i++) if ((await qv.call('tiers.admit', { ...who, tier: 'Startup' })).allowed) admitted++;
    // At one instant one isolate admits at most Startup's burst and a Startup lease.
    assert.ok(admitted <= STARTUP.burst + STARTUP.lease, `${admitted} admitted`);
  });
});

describe('a refusal remembered', () => {
  test('a large request refused does not refuse the small ones the bucket still holds', async () => {
    const qv = await instantiateFlavour('emscripten', { now: () => 1764115200000, log: quiet });
    const who = { organizationId: 'org_cost', tier: 'Startup' };
    for (let i = 0; i < 60; i++) assert.equal((await qv.call('tiers.admit', who)).allowed, true);
    const large = await qv.call('tiers.admit', { ...who, cost: 100 });
    assert.equal(large.allowed, false);
    const small = await qv.call('tiers.admit', { ...who, cost: 1 });
    assert.equal(small.allowed, true, JSON.stringify(small));
    assert.notEqual(small.source, 'cached');
  });

  test('the isolate\'s own lease still pays for the small requests after a large one was refused', async () => {
    let t = 1764115200000;
    const kv = new MemoryKv({ now: () => t });
    await kv.set('qv:rl:org_leased', String(t + 970), 5000); // Startup: 3 tokens left
    const qv = await instantiateFlavour('emscripten', { kv, now: () => t, log: quiet });
    const who = { organizationId: 'org_leased', tier: 'Startup' };
    assert.equal((await qv.call('tiers.admit', who)).allowed, true);
    t++; // a request a ms: the next lease takes the 2 tokens left, 1 of them unspent
    assert.equal((await qv.call('tiers.admit', who)).allowed, true);
    const large = await qv.call('tiers.admit', { ...who, cost: 2 });
    assert.deepEqual([large.allowed, large.source], [false, 'kv']);
    const small = await qv.call('tiers.admit', who);
    assert.deepEqual([small.allowed, small.source], [true, 'lease'], JSON.stringify(small));
  });
});

describe('requests of mixed costs on a leasing isolate', () => {
  // Startup (a token every 10 ms) with `left` tokens in the shared bucket; the isolate's first
  // request leases one token, its second, a ms later, a lease of 10: 9 unspent.
  async function leasing(left) {
    let t = 1764115200000;
    const kv = new MemoryKv({ now: () => t });
    await kv.set('qv:rl:org_mixed', String(t + 1000 - 10 * left), 5000);
    const qv = await instantiateFlavour('emscripten', { kv, now: () => t, log: quiet });
    const who = { organizationId: 'org_mixed', tier: 'Startup' };
    assert.equal((await qv.call('tiers.admit', who)).allowed, true);
    t++;
    const second = await qv.call('tiers.admit', who);
    assert.deepEqual([second.allowed, second.remaining], [true, left - 2]);
    return { qv, who };
  }

  test('a request costing more than the lease left is paid by the lease and the shared bucket together', async () => {
    const { qv, who } = await leasing(15); // 9 leased, 4 in the shared bucket
    const paid = await qv.call('tiers.admit', { ...who, cost: 12 });
    assert.deepEqual([paid.allowed, paid.source, paid.remaining], [true, 'kv', 1]);
    const last = await qv.call('tiers.admit', who);
    assert.deepEqual([last.allowed, last.source, last.remaining], [true, 'lease', 0]);
    assert.equal((await qv.call('tiers.admit', who)).allowed, false);
  });

  test('a refusal counts the lease left in remaining and the time until the bucket is full, as an admission does', async () => {
    const { qv, who } = await leasing(11); // 9 leased, the shared bucket empty
    const refused = await qv.call('tiers.admit', { ...who, cost: 20 });
    const remembered = await qv.call('tiers.admit', { ...who, cost: 20 });
    assert.deepEqual([refused.source, remembered.source], ['kv', 'cached']);
    for (const answer of [refused, remembered]) {
      assert.deepEqual([answer.allowed, answer.remaining], [false, 9], JSON.stringify(answer));
      // A token comes back every 10 ms: 91 of them to fill the bucket, the lease counted.
      assert.ok(Math.abs(answer.resetAfterMs - 910) < 10, JSON.stringify(answer));
    }
    const small = await qv.call('tiers.admit', who);
    assert.deepEqual([small.allowed, small.source, small.remaining], [true, 'lease', 8]);
  });
});

describe('call lifecycles racing over three isolates (a KV answering after random delays)', { timeout: 60_000 }, () => {
  test('the set never exceeds the limit, every answer agrees with its call\'s history, and the set ends as the calls left it', async () => {
    const next = random(0x51ed);
    const memory = new MemoryKv();
    let largest = 0;
    // Each operation reaches the KV and answers after 0-2 ms; every stored set is measured.
    const kv = delayedOps(withOps(memory, {
      cas: async (key, ...rest) => {
        const result = await memory.cas(key, ...rest);
        if (result.swapped) largest = Math.max(largest, Object.keys(JSON.parse(new TextDecoder().decode(await memory.get(key)))).length);
        return result;
      },
    }), next);
    const isolates = await Promise.all([0, 1, 2].map((i) => instantiateFlavour(i % 2 ? 'wasi' : 'emscripten', { kv, log: quiet, ...kvWaits })));
    const who = { organizationId: 'org_lifecycles', tier: 'Startup' };
    const any = () => isolates[Math.floor(next() * isolates.length)];

    // What the calls' own histories allow: a refusal only while the admitted calls not yet
    // ended, with the starts in flight, could fill the limit at some moment of its flight.
    let active = 0;
    const starting = new Set(); // {peak} of each start in flight
    const observe = () => { for (const start of starting) start.peak = Math.max(start.peak, active + starting.size - 1); };
    const problems = [];
    const left = [];

    async function lifecycle(callId) {
      for (let attempt = 0; attempt < 6; attempt++) {
        const start = { peak: 0 };
        starting.add(start);
        observe();
        const { status, body } = await any().invoke('tiers.call_start', { ...who, callId });
        starting.delete(start);
        if (status !== 'ok' || body.source !== 'kv') problems.push(`${callId} start: ${status} ${JSON.stringify(body)}`);
        if (body.admitted) {
          active++;
          observe();
          break;
        }
        if (start.peak < STARTUP.calls) problems.push(`${callId} refused while at most ${start.peak} others could be active`);
        if (!(body.active >= STARTUP.calls)) problems.push(`${callId} refused on a set of ${body.active}`);
        await sleep(5 + Math.floor(next() * 20));
        if (attempt === 5) return;
      }
      for (let beat = Math.floor(next() * 4); beat > 0; beat--) {
        await sleep(Math.floor(next() * 10));
        const { status, body } = await any().invoke('tiers.call_heartbeat', { ...who, callId });
        if (status !== 'ok' || !body.renewed) problems.push(`${callId} heartbeat: ${status} ${JSON.stringify(body)}`);
      }
      if (next() < 0.15) {
        left.push(callId);
        return;
      }
      const { status, body } = await any().invoke('tiers.call_end', { organizationId: who.organizationId, callId });
      active--;
      observe();
      if (status !== 'ok' || !body.wasActive) problems.push(`${callId} end: ${status} ${JSON.stringify(body)}`);
    }

    await Promise.all(Array.from({ length: 150 }, (_, i) => lifecycle(`call-${i}`)));
    assert.deepEqual(problems, []);
    assert.ok(largest <= STARTUP.calls, `a stored set held ${largest} calls`);
    assert.ok(largest === STARTUP.calls, `the limit was reached (largest set ${largest})`);
    const stored = Object.keys(JSON.parse(new TextDecoder().decode(await memory.get(`qv:calls:${who.organizationId}`))));
    assert.deepEqual(stored.sort(), [...left].sort(), 'the set holds exactly the calls never ended');
  });
});

describe('admission over a real Redis', { skip: !process.env.QV_REDIS_URL && 'no QV_REDIS_URL (redis.test.mjs fails for it)', timeout: 60_000 }, () => {
  let kvs = [];
  let instances = [];
  const prefix = `qv-admission-${process.pid}-${Date.now()}:`;
  before(async () => {
    kvs = await Promise.all([0, 1, 2, 3].map(() => RedisKv.connect(process.env.QV_REDIS_URL, { prefix })));
    // No KV timeouts: one would switch an isolate to local limits when a loaded machine
    // answered late.
    instances = await Promise.all(kvs.map((kv, i) => instantiateFlavour(i % 2 ? 'wasi' : 'emscripten', { kv, log: quiet, ...kvWaits })));
  });
  after(() => Promise.all(kvs.map((kv) => kv.close())));

  test('twice the limit of concurrent call starts over 4 isolates: exactly the limit is admitted', async () => {
    const starts = Array.from({ length: 2 * STARTUP.calls }, (_, i) =>
      instances[i % 4].call('tiers.call_start', { organizationId: 'org_race', tier: 'Startup', callId: `call-${i}` }));
    const answers = await Promise.all(starts);
    assert.equal(answers.filter((a) => a.admitted).length, STARTUP.calls);
    assert.ok(answers.every((a) => a.source === 'kv'));
    const stored = JSON.parse(new TextDecoder().decode(await kvs[0].get('qv:calls:org_race')));
    assert.equal(Object.keys(stored).length, STARTUP.calls);
    // Ending one frees exactly one slot, whichever isolate asks.
    const admittedId = answers.find((a) => a.admitted).callId;
    assert.equal((await instances[1].call('tiers.call_end', { organizationId: 'org_race', callId: admittedId })).wasActive, true);
    const refusedId = answers.find((a) => !a.admitted).callId;
    assert.equal((await instances[2].call('tiers.call_start', { organizationId: 'org_race', tier: 'Startup', callId: refusedId })).admitted, true);
    assert.equal((await instances[3].call('tiers.call_start', { organizationId: 'org_race', tier: 'Startup', callId: 'one-more' })).admitted, false);
  });

  test('4 isolates flooding one organisation never admit more than GCRA allows', async () => {
    const started = Date.now();
    let admitted = 0;
    await Promise.all(instances.map(async (qv) => {
      for (let i = 0; i < 150; i++) {
        if ((await qv.call('tiers.admit', { organizationId: 'org_flood', tier: 'Startup' })).allowed) admitted++;
      }
    }));
    const seconds = (Date.now() - started) / 1000;
    const bound = STARTUP.burst + STARTUP.rate * seconds + 4 * STARTUP.lease;
    assert.ok(admitted <= bound, `admitted ${admitted} in ${seconds} s, bound ${bound}`);
    assert.ok(admitted >= STARTUP.burst, `admitted ${admitted}: less than one burst`);
  });

  test('a value this version cannot read is left as it is: calls and requests are decided in the isolates until it is gone', async () => {
    const who = { organizationId: 'org_newer', tier: 'Startup' };
    const values = { 'qv:calls:org_newer': '{"version":2,"calls":{}}', 'qv:rl:org_newer': '{"version":2,"tat":0}' };
    for (const [key, value] of Object.entries(values)) await kvs[0].set(key, value);
    const start = await instances[0].call('tiers.call_start', { ...who, callId: 'a' });
    const beat = await instances[1].call('tiers.call_heartbeat', { ...who, callId: 'a' });
    const admit = await instances[2].call('tiers.admit', who);
    assert.deepEqual([start.admitted, beat.renewed, admit.allowed], [true, true, true]);
    for (const answer of [start, beat, admit]) {
      assert.equal(answer.source, 'local');
      assert.match(answer.reason, /^kv value unreadable, per-isolate limit: the (calls|rate limit) stored for organisation 'org_newer' \(/);
    }
    for (const [key, value] of Object.entries(values)) assert.equal(text(await kvs[0].get(key)), value, key);
    await Promise.all(Object.keys(values).map((key) => kvs[0].del(key)));
    await sleep(1100); // past kvRetryMs: the isolates read the KV again
    const after = await instances[0].call('tiers.call_start', { ...who, callId: 'b' });
    assert.deepEqual([after.admitted, after.source, after.active], [true, 'kv', 2]);
    assert.deepEqual(Object.keys(JSON.parse(text(await kvs[0].get('qv:calls:org_newer')))), ['a', 'b']);
    assert.equal((await instances[2].call('tiers.admit', who)).source, 'kv');
  });
});

describe('Redis stopped in the middle of a run', { timeout: 120_000 }, () => {
  let server;
  let kvs = [];
  before(async () => { server = await RedisServer.start(); });
  after(async () => { await Promise.all(kvs.map((kv) => kv.close())); await server?.stop(); });

  test('requests keep being answered; limits are global again after recovery', { timeout: 60_000 }, async () => {
    kvs = await Promise.all([0, 1, 2].map(() => RedisKv.connect(server.url, { connectTimeoutMs: 200 })));
    const isolates = await Promise.all(kvs.map((kv) => instantiateFlavour('emscripten', { kv, log: quiet, ...kvWaits })));
    const admit = async (qv) => {
      const { status, body } = await qv.invoke('tiers.admit', { organizationId: 'org_fault', tier: 'Startup' });
      assert.equal(status, 'ok', `an admission failed: ${JSON.stringify(body)}`);
      return body;
    };
    const round = () => Promise.all(isolates.map(admit));

    assert.ok((await round()).every((d) => d.source === 'kv'));
    await server.stop();
    try {
      const during = [];
      for (let i = 0; i < 15; i++) during.push(...await round());
      assert.ok(during.every((d) => d.allowed && d.source === 'local' || d.source === 'lease'),
        `during the outage: ${JSON.stringify(during.map((d) => d.source))}`);
      assert.ok(during.some((d) => d.source === 'local'));
    } finally {
      await server.start(); // (after a failure too: the next test connects to it, waiting until it answers)
    }
    await sleep(1100); // the isolates retry KV once kvRetryMs (1 s) has passed
    let sources = [];
    for (let i = 0; i < 30 && !sources.includes('kv'); i++) {
      sources = (await round()).map((d) => d.source);
      await sleep(50);
    }
    assert.ok(sources.includes('kv'), `after recovery: ${sources}`);
    const stored = await kvs[0].get('qv:rl:org_fault');
    assert.ok(stored, 'the shared bucket is written again after recovery');
  });

  test('a call admitted during the outage lives on after recovery, in the shared set', async () => {
    const connect = async (flavour) => {
      const kv = await RedisKv.connect(server.url, { connectTimeoutMs: 200 });
      kvs.push(kv);
      return instantiateFlavour(flavour, { kv, log: quiet, ...kvWaits });
    };
    const [qv, other] = [await connect('wasi'), await connect('emscripten')];
    const who = { organizationId: 'org_outage', tier: 'Startup' };
    const calls = async () => Object.keys(JSON.parse(new TextDecoder().decode(await kvs[0].get('qv:calls:org_outage'))));
    await server.stop();
    const during = await qv.call('tiers.call_start', { ...who, callId: 'during' });
    assert.deepEqual([during.admitted, during.source], [true, 'local']);
    await server.start(); // empty: it keeps nothing across a restart
    await sleep(1100); // past kvRetryMs
    // Each isolate's client reconnects on its own; until then an isolate answers locally.
    const untilKv = async (call) => {
      let answer;
      for (let i = 0; i < 60 && answer?.source !== 'kv'; i++) {
        answer = await call();
        if (answer.source !== 'kv') await sleep(50);
      }
      return answer;
    };
    assert.equal((await untilKv(() => other.call('tiers.call_start', { ...who, callId: 'elsewhere' }))).source, 'kv');
    const beat = await untilKv(() => qv.call('tiers.call_heartbeat', { ...who, callId: 'during' }));
    assert.deepEqual([beat.renewed, beat.source, beat.active], [true, 'kv', 2]);
    assert.deepEqual(await calls(), ['during', 'elsewhere']);
    const end = await other.call('tiers.call_end', { ...who, callId: 'during' });
    assert.deepEqual([end.wasActive, end.source], [true, 'kv']);
    assert.deepEqual(await calls(), ['elsewhere']);
  });
});

describe('admission over HTTP (edge function on edge-runtime)', () => {
  let runtime;
  const call = (path, key, init = {}) =>
    runtime.dispatchFetch(`http://edge.test${path}`, { ...init, headers: key ? { 'x-api-key': key, ...init.headers } : init.headers });
  // A frozen clock: the bucket never refills during a test, whatever the machine's speed.
  const frozen = () => createEdgeRuntime({ globals: { QV_NOW: () => 1764115200000 } });
  before(async () => { runtime = await frozen(); });

  test('no key or an unknown key is a 401, and no key is echoed back', async () => {
    const missing = await call('/api/me');
    assert.equal(missing.status, 401);
    assert.match((await missing.json()).message, /^x-api-key: missing API key/);
    const unknown = await call('/api/me', 'qv_demo_guess');
    assert.equal(unknown.status, 401);
    const body = await unknown.text();
    assert.match(body, /unknown API key/);
    assert.ok(!body.includes('qv_demo_guess'));
  });

  test('an unknown key is a 401 naming the header that carried it', async () => {
    const named = async (headers) => (await (await call('/api/me', null, { headers })).json()).message;
    assert.equal(await named({ 'x-api-key': 'qv_demo_guess' }), 'x-api-key: unknown API key');
    assert.equal(await named({ authorization: 'Bearer qv_demo_guess' }), 'Authorization: unknown API key');
    assert.equal(await named({ 'x-api-key': 'qv_demo_guess', authorization: 'Bearer qv_demo_guess' }), 'x-api-key: unknown API key');
  });

  test('two keys in one request, a header given twice and a malformed Authorization are 401s naming the header; no key is echoed', async () => {
    const refused = [
      [[['x-api-key', 'qv_demo_startup'], ['authorization', 'Bearer qv_demo_enterprise']], 'x-api-key and Authorization: Bearer carry different keys (send one)'],
      [[['x-api-key', 'qv_demo_startup'], ['x-api-key', 'qv_demo_enterprise']], 'x-api-key: given twice (send one key)'],
      [[['x-api-key', 'qv_demo_startup'], ['x-api-key', 'qv_demo_startup']], 'x-api-key: given twice (send one key)'],
      [[['authorization', 'Bearer qv_demo_startup'], ['authorization', 'Bearer qv_demo_enterprise']], 'Authorization: more than one credential (send one Bearer key)'],
      [[['authorization', 'qv_demo_enterprise']], "Authorization: expected 'Bearer <API key>' (another scheme, or none)"],
      [[['x-api-key', 'qv_demo_startup'], ['authorization', 'Basic cXY6ZGVtbw==']], "Authorization: expected 'Bearer <API key>' (another scheme, or none)"],
      [[['authorization', 'Bearer ']], 'Authorization: Bearer without a key'],
      [[['x-api-key', ' ']], 'x-api-key: empty'],
    ];
    for (const [headers, message] of refused) {
      const response = await call('/api/me', null, { headers: new Headers(headers) });
      assert.equal(response.status, 401, message);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer');
      const body = await response.text();
      assert.deepEqual(JSON.parse(body), { error: 'unauthorized', message });
      assert.ok(!/qv_demo|cXY6/.test(body), body);
    }
    const both = await call('/api/me', 'qv_demo_growth', { headers: { authorization: 'bearer  qv_demo_growth' } });
    assert.equal((await both.json()).organizationId, 'org_growth', 'the same key in both headers');
  });

  test('RateLimit-Policy announces a quota per whole-second window no client keeping to it can exceed the rate with', () => {
    const policy = (rate, burst) => rateLimitHeaders({ rate, burst, limit: Math.floor(burst), remaining: 0, resetAfterMs: 0 })['ratelimit-policy'];
    assert.equal(policy(100, 100), '"tier";q=100;w=1');
    assert.equal(policy(100, 140), '"tier";q=140;w=2');
    assert.equal(policy(100, 250), '"tier";q=250;w=3');
    assert.equal(policy(1000, 100), '"tier";q=100;w=1');
    assert.deepEqual(rateLimitHeaders({ rate: null }), {}, 'unlimited: no fields');
  });

  test('a key maps to its organisation and tier', async () => {
    const response = await call('/api/me', 'qv_demo_growth');
    assert.equal(response.status, 200);
    const me = await response.json();
    assert.equal(me.organizationId, 'org_growth');
    assert.equal(me.tier, 'Growth');
    assert.match(response.headers.get('ratelimit-policy'), /^"tier";q=1000;w=1$/);
  });

  test('an admitted request whose body is refused (empty, not UTF-8, encoded, too large) still carries the RateLimit fields', async () => {
    const refused = [
      ['/api/tiers/evaluate', {}, 400],
      ['/api/tiers/evaluate', { body: new Uint8Array([0xff, 0xfe]) }, 400],
      ['/api/tiers/evaluate', { body: '{}', headers: { 'content-encoding': 'gzip' } }, 415],
      ['/api/tiers/evaluate', { body: 'x'.repeat((1 << 20) + 1) }, 413],
      ['/api/calls/start', { body: '{}', headers: { 'content-encoding': 'br' } }, 415],
      ['/api/calls/start', { body: 'x'.repeat((1 << 20) + 1) }, 413],
    ];
    for (const [path, init, status] of refused) {
      const response = await call(path, 'qv_demo_growth', { method: 'POST', ...init });
      assert.equal(response.status, status, `${path} ${JSON.stringify(init.headers ?? {})}`);
      assert.equal(response.headers.get('ratelimit-policy'), '"tier";q=1000;w=1', `${path} ${status}`);
      assert.match(response.headers.get('ratelimit') ?? '', /^"tier";r=\d+;t=\d+$/, `${path} ${status}`);
    }
  });

  test('over the limit: 429 with Retry-After and RateLimit fields', async () => {
    const responses = [];
    for (let i = 0; i < 160; i++) responses.push(await call('/api/me', 'qv_demo_startup'));
    const limited = responses.filter((r) => r.status === 429);
    // On a frozen clock exactly the burst passes (this isolate's Startup bucket is unused).
    assert.equal(responses.filter((r) => r.status === 200).length, STARTUP.burst);
    assert.equal(limited.length, 160 - STARTUP.burst);
    const first = limited[0];
    assert.ok(Number(first.headers.get('retry-after')) >= 1);
    assert.match(first.headers.get('ratelimit'), /^"tier";r=0;t=\d+$/);
    const body = await first.json();
    assert.equal(body.error, 'rate_limited');
    assert.match(body.message, /org_startup is above its API rate limit of 100 requests per second/);
  });

  test('a feature the tier lacks is a 403 naming the tier above it to upgrade to', async () => {
    const startup = await call('/api/leads/bulk', 'qv_demo_growth', { method: 'POST' });
    assert.equal(startup.status, 404, 'Growth has bulk operations: past the gate (no such route yet)');
    const growth = await call('/api/models', 'qv_demo_growth');
    assert.equal(growth.status, 403);
    assert.equal((await growth.json()).message, 'customModels is not in the Growth tier; it is available from the Enterprise tier');
    assert.equal((await call('/api/models', 'qv_demo_enterprise')).status, 404);
  });

  test('a feature only tiers below the caller\'s have is a 403 that names them, not an upgrade to them', async () => {
    // In the spec's catalogue basicAnalytics is Startup's alone, and knowledgeBase is
    // Startup's and Growth's (Enterprise has advancedKnowledgeBase instead).
    const config = { ...await loadEdgeConfig(), featureRoutes: [
      { pattern: '^/api/analytics/basic(/|$)', feature: 'basicAnalytics' }, { pattern: '^/api/knowledge/basic(/|$)', feature: 'knowledgeBase' }] };
    const gated = await createEdgeRuntime({ config, globals: { QV_NOW: () => 1764115200000 } });
    const get = (path, key) => gated.dispatchFetch(`http://edge.test${path}`, { headers: { 'x-api-key': key } });
    const refused = [
      ['/api/analytics/basic', 'qv_demo_growth', 'basicAnalytics is not in the Growth tier, and no higher tier has it (only the Startup tier does)'],
      ['/api/analytics/basic', 'qv_demo_enterprise', 'basicAnalytics is not in the Enterprise tier, and no higher tier has it (only the Startup tier does)'],
      ['/api/knowledge/basic', 'qv_demo_enterprise', 'knowledgeBase is not in the Enterprise tier, and no higher tier has it (only the Startup and Growth tiers do)'],
    ];
    for (const [path, key, message] of refused) {
      const response = await get(path, key);
      assert.equal(response.status, 403, `${path} ${key}`);
      assert.equal((await response.json()).message, message);
    }
    for (const [path, key] of [['/api/analytics/basic', 'qv_demo_startup'], ['/api/knowledge/basic', 'qv_demo_growth']]) {
      assert.equal((await get(path, key)).status, 404, `${path} ${key}: the tier has it, past the gate (no such route)`);
    }
  });

  test('a path an origin could read as a gated one is refused or gated, never let past', async () => {
    runtime = await frozen(); // a fresh isolate: the rate-limit test spent Startup's burst
    const refused = {
      '/api//models': "'/api//models' has an empty segment ('//')",
      '/api/%6dodels': "'/api/%6dodels' encodes 'm' as '%6d'; send it as is",
      '/api/leads%2Fbulk': "'/api/leads%2Fbulk' has an encoded '/' ('%2F')",
      '/api/leads%5cbulk': "'/api/leads%5cbulk' has an encoded '\\' ('%5c')",
      '/api/models%00': "'/api/models%00' has an encoded control character ('%00')",
      '/api/models%09': "'/api/models%09' has an encoded control character ('%09')",
      '/api/models%23': "'/api/models%23' has an encoded '#' ('%23')",
      '/api/models%3F': "'/api/models%3F' has an encoded '?' ('%3F')",
      '/api/%256dodels': "'/api/%256dodels' has an encoded '%' ('%25')",
      '/api/models%': "'/api/models%' has a '%' that starts no escape ('%')",
      '/api/models%ff': "'/api/models%ff' has '%ff', which is not UTF-8",
      '/api/leads%C0%AFbulk': "'/api/leads%C0%AFbulk' has '%C0%AF', which is not UTF-8",
      '/api/models%E2%80%8B': "'/api/models%E2%80%8B' has U+200B ('%E2%80%8B'), an invisible, control or unassigned character",
      '/api/models%20': "'/api/models%20' has a segment that ends in a space ('models ')",
      '/api/%20models': "'/api/%20models' has a segment that starts in a space (' models')",
      '/api/campaigns/1/ab-tests.': "'/api/campaigns/1/ab-tests.' has a segment that ends in '.' ('ab-tests.')",
      '/api/leads./bulk': "'/api/leads./bulk' has a segment that ends in '.' ('leads.')",
      // Characters some reading of the path turns into its syntax: a full-width '／', '？',
      // '%' or '＼', the Greek question mark (';' in NFC), '‥' ('..'), a '..' with an accent.
      '/api/x/..%EF%BC%8Fmodels': "'/api/x/..%EF%BC%8Fmodels' has a character an origin may read as '/' (reading it '/api/x/../models')",
      '/api/x%EF%BC%BC..%EF%BC%BCmodels': "'/api/x%EF%BC%BC..%EF%BC%BCmodels' has a character an origin may read as '\\' (reading it '/api/x\\..\\models')",
      '/api/models%EF%BC%9Fx': "'/api/models%EF%BC%9Fx' has a character an origin may read as '?' (reading it '/api/models?x')",
      '/api/leads/bulk%CD%BE': "'/api/leads/bulk%CD%BE' has a character an origin may read as ';' (reading it '/api/leads/bulk;')",
      '/api/%EF%BC%856dodels': "'/api/%EF%BC%856dodels' has a character an origin may read as '%' (reading it '/api/%6dodels')",
      '/api/x/%E2%80%A5/models': "'/api/x/%E2%80%A5/models' has a segment an origin may read as ending in '.' (reading it '/api/x/../models')",
      '/api/x/..%CC%81/models': "'/api/x/..%CC%81/models' has a segment an origin may read as ending in '.' (reading it '/api/x/../models')",
    };
    for (const [path, message] of Object.entries(refused)) {
      const response = await call(path, 'qv_demo_startup', { method: 'POST' });
      assert.equal(response.status, 400, path);
      assert.deepEqual(await response.json(), { error: 'invalid_input', message: `path: ${message}` });
    }
    // What an origin may read as a gated path is gated: in another case, NFKC ('ｍ' as 'm',
    // the Kelvin sign as 'K'), or with its accents dropped.
    // And the demo config's patterns take a format extension as the same route.
    for (const path of ['/api/Models', '/api/LEADS/Bulk', '/api/%EF%BD%8Dodels', '/api/leads/bul%E2%84%AA', '/api/mo%CC%81dels', '/api/x\\..\\models',
      '/api/models.json', '/api/leads/bulk.csv']) {
      assert.equal((await call(path, 'qv_demo_startup', { method: 'POST' })).status, 403, path);
    }
    // Escapes that clients write for ordinary characters pass, as do words in any script.
    for (const path of ['/api/leads/by-email/ada%40example.com', '/api/leads/a%2Bb%2C%3A%27c', '/api/knowledge/articles/Pricing%20and%20plans',
      '/api/x/Wei%C3%9F', '/api/x/%C4%B0stanbul', '/api/x/Jose%CC%81', '/api/agents/v1.2/']) {
      assert.equal((await call(path, 'qv_demo_enterprise')).status, 404, path); // past the checks: no such route here
    }
    const notAnId = await call('/api/calls/caf%C3%A9/end', 'qv_demo_enterprise', { method: 'POST' });
    assert.equal((await notAnId.json()).message, "callId: may hold only letters, digits, '-', '_' and '.'");
    // A gate on a non-ASCII path matches it escaped; one with 'ss' matches 'ß' and 'ẞ' too.
    const config = { ...await loadEdgeConfig(), featureRoutes: [
      { pattern: '^/api/café(/|$)', feature: 'customModels' }, { pattern: '^/api/class(/|$)', feature: 'customModels' }] };
    const gated = await createEdgeRuntime({ config, globals: { QV_NOW: () => 1764115200000 } });
    for (const path of ['/api/caf%C3%A9', '/api/cafe%CC%81', '/api/cla%C3%9F', '/api/cla%E1%BA%9E']) {
      const response = await gated.dispatchFetch(`http://edge.test${path}`, { headers: { 'x-api-key': 'qv_demo_growth' } });
      assert.equal(response.status, 403, path);
    }
  });

  test('a call body that is malformed JSON, has a key given twice, a callId not a string, or one the path contradicts is a 400 naming it, and changes nothing', async () => {
    const key = 'qv_demo_enterprise';
    const post = (path, body) => call(path, key, { method: 'POST', body });
    const refused = [
      // Where, as the modules name it in the bodies they read (not the JSON parser's own words).
      ['/api/calls/start', '{"callId": ', 'input: malformed JSON at line 1, column 12: expected a value, got the end of the text'],
      ['/api/calls/dup-a/heartbeat', '{\n  "callId": dup-a\n}', 'input: malformed JSON at line 2, column 13: expected a value (object, array, string, number, true, false or null)'],
      ['/api/calls/dup-a/end', '{"callId":"dup-a",}', 'input: malformed JSON at line 1, column 19: expected a key in double quotes'],
      ['/api/calls/start', '{"callId":"dup-a","callId":"dup-b"}', 'callId: given twice'],
      ['/api/calls/start', '{"callId":"dup-a","call\\u0049d":"dup-b"}', 'callId: given twice'],
      // A body that is no object, said as the modules say it (tiers.evaluate's 'got an array').
      ['/api/calls/start', '"dup-a"', 'input: expected an object, got a string'],
      ['/api/calls/dup-a/end', '["dup-a"]', 'input: expected an object, got an array'],
      ['/api/calls/dup-a/heartbeat', 'null', 'input: expected an object, got null'],
      ['/api/calls/start', '{"callId":null}', 'callId: expected a string, got null'],
      ['/api/calls/start', '{"callId":["dup-a"]}', 'callId: expected a string, got an array'],
      ['/api/calls/dup-a/end', '{"callId":"dup-b"}', 'callId: "dup-b" in the body, "dup-a" in the path (give it once, or the same)'],
      ['/api/calls/dup-a/heartbeat', '{"callId":"dup-a","callId":"dup-a"}', 'callId: given twice'],
    ];
    for (const [path, body, message] of refused) {
      const response = await post(path, body);
      assert.equal(response.status, 400, body);
      assert.deepEqual(await response.json(), { error: 'invalid_input', message }, body);
    }
    for (const id of ['dup-a', 'dup-b']) assert.equal((await (await post(`/api/calls/${id}/end`)).json()).wasActive, false, id);
    assert.equal((await post('/api/calls/start', '{"callId":"dup-a","nested":{"x":1,"x":2}}')).status, 400);
    // The path's id given again in the body is the same call.
    assert.equal((await post('/api/calls/start', '{"callId":"dup-a"}')).status, 201);
    assert.equal((await (await post('/api/calls/dup-a/end', '{"callId":"dup-a"}')).json()).wasActive, true);
  });

  test('a call is not started under an id no path can carry (one ending in \'.\'): its heartbeat and end could never reach it', async () => {
    const post = (path, body) => call(path, 'qv_demo_enterprise', { method: 'POST', body });
    for (const id of ['dot.', '..', '.']) {
      const response = await post('/api/calls/start', JSON.stringify({ callId: id }));
      assert.equal(response.status, 400, id);
      assert.deepEqual(await response.json(), { error: 'invalid_input', message: `callId: ${JSON.stringify(id)} ends in '.', which a path cannot carry (its heartbeat and end could not reach it)` });
    }
    assert.equal((await (await post('/api/calls/start', '{"callId":"dot.ted"}')).json()).admitted, true);
    assert.equal((await (await post('/api/calls/dot.ted/end')).json()).wasActive, true);
  });

  test('a call route over an unreadable call set answers from the isolate, and the value is left as it is', async () => {
    const kv = new MemoryKv();
    await kv.set('qv:calls:org_startup', 'not a call set');
    const broken = await createEdgeRuntime({ kv, globals: { QV_NOW: () => 1764115200000 } });
    for (const [path, status] of [['/api/calls/start', 201], ['/api/calls/c1/heartbeat', 200], ['/api/calls/c1/end', 200]]) {
      const response = await broken.dispatchFetch(`http://edge.test${path}`, { method: 'POST', headers: { 'x-api-key': 'qv_demo_startup' }, body: '{"callId":"c1"}' });
      assert.equal(response.status, status, path);
      const answer = await response.json();
      assert.equal(answer.source, 'local', path);
      assert.match(answer.reason, /^kv value unreadable, per-isolate limit: the calls stored for organisation 'org_startup' /, path);
    }
    assert.equal(text(await kv.get('qv:calls:org_startup')), 'not a call set');
  });

  test('calls: start, idempotent restart, heartbeat, end, and 429 at the limit', async () => {
    runtime = await frozen(); // a fresh isolate: the rate-limit test spent Startup's burst
    const startup = [];
    for (let i = 0; i < STARTUP.calls; i++) {
      startup.push((await call('/api/calls/start', 'qv_demo_startup', { method: 'POST', body: JSON.stringify({ callId: `s${i}` }) })).status);
    }
    assert.deepEqual([...new Set(startup)], [201]);
    const over = await call('/api/calls/start', 'qv_demo_startup', { method: 'POST', body: '{}' });
    assert.equal(over.status, 429);
    assert.ok(Number(over.headers.get('retry-after')) >= 1);
    assert.match((await over.json()).message, /concurrent calls at the limit of the tier \(50\)/);

    const key = 'qv_demo_enterprise';
    const start = await call('/api/calls/start', key, { method: 'POST', body: JSON.stringify({ callId: 'call-1' }) });
    assert.equal(start.status, 201);
    assert.equal((await start.json()).admitted, true);
    const again = await call('/api/calls/start', key, { method: 'POST', body: JSON.stringify({ callId: 'call-1' }) });
    assert.equal(again.status, 200);
    assert.equal((await again.json()).alreadyActive, true);
    assert.equal((await call('/api/calls/call-1/heartbeat', key, { method: 'POST' })).status, 200);
    const end = await call('/api/calls/call-1/end', key, { method: 'POST' });
    assert.equal((await end.json()).wasActive, true);
    assert.equal((await call('/api/calls/call-1/heartbeat', key, { method: 'POST' })).status, 404);
    assert.equal((await call('/api/calls/call-1/end', key, { method: 'POST' })).status, 200);
    const badId = await call('/api/calls/start', key, { method: 'POST', body: JSON.stringify({ callId: 'a b' }) });
    assert.equal(badId.status, 400);
    const typo = await call('/api/calls/start', key, { method: 'POST', body: JSON.stringify({ callid: 'call-2' }) });
    assert.equal(typo.status, 400);
    assert.equal((await typo.json()).message, 'callid: unknown field (expected one of: callId)');
  });
});

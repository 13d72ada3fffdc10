// Cross-isolate invalidation over a real Redis: several module instances (each one
// isolate, both flavours) share one KV. An invalidation made in one isolate reaches every
// other within the stated bound, pollMs (default 500 ms) plus a KV round trip: a request
// that starts more than pollMs after the change was answered reads the journals (that round
// trip) and serves the new data. The bound is checked on when the requests start, on the
// module's clock (the host's Date.now), so a loaded machine's slow round trips cannot fail
// it; the ms until each isolate served the change are reported. L1 hits in between cost no
// KV read per hit (at most one journal read per pollMs).
// Isolates that refresh one stale key together send one fetch to the origin, and so do
// isolates that miss one key together when misses collapse (collapseMs). A signed
// invalidation webhook sent to several edge isolates at once is taken by one.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { instantiateFlavour, loadModule } from '../dist/js/node.mjs';
import { createEdgeHandler } from '../edge/handler.mjs';
import { loadEdgeConfig } from '../edge/runtime.mjs';
import { signRequest, SIGNATURE_HEADER, SIGNATURE_CLAIM_PREFIX } from '../edge/cache-routes.mjs';
import { RedisKv } from '../dist/js/kv-redis.mjs';
import { withOps } from './kv-doubles.mjs';

const quiet = () => {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const POLL_MS = 500; // the isolates' pollMs: the default
const V1 = '{"version":1}';
const V2 = '{"version":2}';
// An answer as a failure message shows it: layer, reason and body.
const shown = (answer) => `${answer.xCache}${answer.reason ? ` (${answer.reason})` : ''} ${answer.body}`;

// Counts the KV reads one isolate makes.
function counted(kv) {
  const counts = { get: 0 };
  return { counts, kv: withOps(kv, { get: (key) => { counts.get++; return kv.get(key); } }) };
}

describe('invalidation across isolates over a real Redis', { skip: !process.env.QV_REDIS_URL && 'no QV_REDIS_URL (redis.test.mjs fails for it)' }, () => {
  const prefix = `qv-cache-${process.pid}-${Date.now()}:`;
  let connections = [];
  let isolates = [];
  let version = 1;
  const fetch = async () => new Response(JSON.stringify({ version }), {
    status: 200, headers: { 'cache-control': 'public, max-age=300', 'surrogate-key': 'campaigns campaigns:c1' },
  });
  const input = { organizationId: 'org_x', key: 'GET /api/campaigns', origin: { url: 'http://origin.test/api/campaigns' } };

  before(async () => {
    connections = await Promise.all([0, 1, 2, 3].map(() => RedisKv.connect(process.env.QV_REDIS_URL, { prefix })));
    isolates = await Promise.all(connections.map(async (connection, i) => {
      const { kv, counts } = counted(connection);
      // A KV timeout would skip L2 and the journals: 1 s, for a loaded test machine.
      const qv = await instantiateFlavour(i % 2 ? 'wasi' : 'emscripten', { kv, fetch, log: quiet, kvTimeoutMs: 1000 });
      return { qv, counts };
    }));
  });
  after(() => Promise.all(connections.map((kv) => kv.close())));

  test(`a change in one isolate reaches the others within pollMs (${POLL_MS} ms) and a KV round trip, without a KV read per hit`, async (t) => {
    // Every isolate holds the entry in L1.
    for (const [i, { qv }] of isolates.entries()) {
      const answer = await qv.call('cache.get', input);
      assert.equal(answer.body, V1, `isolate ${i}, ${input.key}: expected version 1 before any change, got ${shown(answer)}`);
    }
    for (const [i, { qv }] of isolates.entries()) {
      const answer = await qv.call('cache.get', input);
      assert.equal(answer.xCache, 'HIT-L1', `isolate ${i}, ${input.key}: expected its L1 copy, got ${shown(answer)}`);
    }

    // Many hits over at least 1.2 s: at most one journal read (two gets: the organisation's
    // journal and everyone's) per isolate per pollMs, whatever the number of hits.
    const before = isolates.map(({ counts }) => counts.get);
    const started = Date.now();
    let hits = 0;
    while (Date.now() - started < 1200 || hits < 400) {
      for (const { qv } of isolates) if ((await qv.call('cache.get', input)).xCache === 'HIT-L1') hits++;
    }
    const elapsed = Date.now() - started;
    const most = 2 * (Math.floor(elapsed / POLL_MS) + 1);
    const reads = isolates.map(({ counts }, i) => counts.get - before[i]);
    for (const [i, n] of reads.entries()) {
      assert.ok(n <= most, `isolate ${i}: ${n} KV reads during ${hits} L1 hits of ${input.key} in ${elapsed} ms over the 4 isolates, expected at most ${most} (two per journal read, one read per ${POLL_MS} ms)`);
    }
    t.diagnostic(`${hits} L1 hits in ${elapsed} ms over 4 isolates; KV reads per isolate: ${reads}`);

    // The data changes at the origin and isolate 0 is told (as the webhook would).
    version = 2;
    const answer = await isolates[0].qv.call('cache.change', {
      type: 'UPDATE', table: 'campaigns', record: { id: 'c1', organization_id: 'org_x' }, old_record: null,
    });
    const changed = Date.now(); // the change is in the journal
    assert.equal(answer.tags?.[0], 'campaigns:c1', `cache.change in isolate 0: expected tag campaigns:c1 first, got ${JSON.stringify(answer)}`);
    const told = await isolates[0].qv.call('cache.get', input);
    assert.equal(told.body, V2, `isolate 0 (told), ${input.key}: expected version 2 at once, got ${shown(told)}`);

    // Every other isolate, asked every 10 ms, may serve version 1 until pollMs has passed
    // since the change; a request that starts later must serve version 2. (Their last
    // journal reads ended before the change: the hits above were all answered.)
    const outcomes = await Promise.all(isolates.slice(1).map(async ({ qv }, j) => {
      for (;;) {
        const asked = Date.now() - changed;
        const got = await qv.call('cache.get', input);
        if (got.body === V2) return { isolate: j + 1, asked, servedMs: Date.now() - changed };
        if (asked > POLL_MS) return { isolate: j + 1, asked, stale: got };
        await sleep(10);
      }
    }));
    const late = outcomes.filter((outcome) => outcome.stale).map(({ isolate, asked, stale }) =>
      `isolate ${isolate}, ${input.key}: a request started ${asked} ms after the change (past pollMs, ${POLL_MS} ms) served ${shown(stale)}, expected version 2`);
    assert.equal(late.length, 0, late.join('; '));
    t.diagnostic(`ms until each other isolate served the change: ${outcomes.map((outcome) => outcome.servedMs)}`);
  });

  test('an invalidation by key in one isolate removes the L2 copy for all', async () => {
    const key = { organizationId: 'org_y', key: 'GET /api/leads', origin: { url: 'http://origin.test/api/leads' } };
    const first = await isolates[1].qv.call('cache.get', key);
    assert.equal(first.xCache, 'MISS', `isolate 1, org_y ${key.key}: expected a miss that stores the copy, got ${shown(first)}`);
    const second = await isolates[2].qv.call('cache.get', key);
    assert.equal(second.xCache, 'HIT-L2', `isolate 2, org_y ${key.key}: expected isolate 1's copy from L2, got ${shown(second)}`);
    const result = await isolates[3].qv.call('cache.invalidate', { organizationId: 'org_y', keys: [{ key: 'GET /api/leads' }] });
    assert.equal(result.l2Deleted, 1, `cache.invalidate in isolate 3, org_y ${key.key}: expected the L2 copy deleted, got ${JSON.stringify(result)}`);
    const left = await connections[0].get('qvc:e:org_y:GET%20%2Fapi%2Fleads');
    assert.equal(left, null, `Redis, org_y ${key.key}: expected no L2 copy after the invalidation, found ${left?.length} bytes`);
  });

  // An origin (the `fetch` of a call's options) answering {fetch: n} after delayMs, with the
  // Cache-Control cacheControl(n); `fetches` counts.
  function countingOrigin(cacheControl, delayMs) {
    const origin = {
      fetches: 0,
      fetch: async () => {
        const n = ++origin.fetches;
        await sleep(delayMs);
        return new Response(JSON.stringify({ fetch: n }), { status: 200, headers: { 'cache-control': cacheControl(n) } });
      },
    };
    return origin;
  }

  test('of the isolates that refresh one stale key at once, one reaches the origin (the refresh lease)', async () => {
    // The first copy is fresh for 1 s; the refreshed one for a minute, so that the checks
    // after the refreshes find it fresh however slowly a loaded machine runs them.
    const origin = countingOrigin((n) => (n === 1 ? 'max-age=1, stale-while-revalidate=60' : 'max-age=60'), 20);
    const leads = { ...input, key: 'GET /api/leads', origin: { url: 'http://origin.test/api/leads' } };
    for (const [i, { qv }] of isolates.entries()) {
      const answer = await qv.call('cache.get', leads, origin);
      assert.equal(origin.fetches, 1, `isolate ${i}, ${leads.key}: expected isolate 0's fetch alone, the others reading its copy from L2; got ${shown(answer)} (origin fetches ${origin.fetches})`);
    }
    await sleep(1100); // every copy is stale now, in L1 and L2
    const refreshes = await Promise.all(isolates.map(({ qv }) => qv.call('cache.refresh', leads, origin)));
    assert.equal(origin.fetches, 2, `${leads.key}: expected one origin fetch for the 4 isolates' refreshes, got ${origin.fetches - 1}; the refreshes answered ${JSON.stringify(refreshes)}`);
    for (const [i, { qv }] of isolates.entries()) {
      const answer = await qv.call('cache.get', leads, origin);
      const refresh = answer.revalidate ? await qv.call('cache.refresh', leads, origin) : null;
      const after = await qv.call('cache.get', leads, origin);
      assert.equal(after.body, '{"fetch":2}', `isolate ${i}, ${leads.key}: expected the refreshed copy, got ${shown(after)} (before it ${shown(answer)}, then refresh ${JSON.stringify(refresh)}; origin fetches ${origin.fetches})`);
    }
    assert.equal(origin.fetches, 2, 'the isolates that waited took the new copy from L2');
  });

  test('misses of one key in every isolate at once reach the origin once (collapseMs)', async () => {
    // The origin answers at once: however the isolates' lease and L2 reads interleave with
    // the store of the fetch's copy, one isolate fetches and the others take its copy (a lease
    // found held is polled, the lease read before L2; a lease taken after its holder gave it
    // back finds the copy in a second L2 read). The one timing left is collapseMs, the
    // lease's TTL: the holder must store its copy within it (5 s).
    for (const { qv } of isolates) await qv.call('cache.configure', { collapseMs: 5000, collapsePollMs: 10 });
    const origin = countingOrigin(() => 'max-age=60', 0);
    const calls = { ...input, key: 'GET /api/calls', origin: { url: 'http://origin.test/api/calls' } };
    const answers = await Promise.all(isolates.map(({ qv }) => qv.call('cache.get', calls, origin)));
    const each = answers.map((answer, i) => `isolate ${i}: ${shown(answer)}`).join('; ');
    assert.equal(origin.fetches, 1, `${calls.key}: expected one origin fetch for the 4 isolates' misses, got ${origin.fetches}; ${each}`);
    assert.ok(answers.every((a) => a.body === '{"fetch":1}'), `${calls.key}: expected every isolate to serve fetch 1; ${each}`);
    const collapsed = answers.filter((a) => a.reason === 'collapsed: another isolate fetched it').length;
    assert.equal(collapsed, isolates.length - 1, `${calls.key}: expected ${isolates.length - 1} isolates to take the fetch's copy (collapsed), got ${collapsed}; ${each}`);
    for (const { qv } of isolates) await qv.call('cache.configure', {});
  });

  test('concurrent invalidations from every isolate all land in the journal', async () => {
    await Promise.all(isolates.map(({ qv }, i) => qv.call('cache.invalidate', { organizationId: 'org_z', tags: [`t${i}`] })));
    const stored = await connections[0].get('qvc:j:org_z');
    assert.notEqual(stored, null, 'journal of org_z: expected it in Redis, found none');
    const journal = new TextDecoder().decode(stored);
    for (let i = 0; i < isolates.length; i++) {
      assert.match(journal, new RegExp(`\\tt(t${i})(\\t|\\n)`), `journal of org_z: expected isolate ${i}'s tag t${i}, got ${JSON.stringify(journal)}`);
    }
    // One epoch, four items.
    assert.match(journal, /^qvj2 \d+ 4 /, `journal of org_z: expected 4 items, got ${JSON.stringify(journal)}`);
  });
});

describe('the invalidation webhook across edge isolates over a real Redis', { skip: !process.env.QV_REDIS_URL && 'no QV_REDIS_URL (redis.test.mjs fails for it)' }, () => {
  const prefix = `qv-webhook-${process.pid}-${Date.now()}:`;
  const secret = 'test-secret';
  let connections = [];
  let edges = [];
  before(async () => {
    connections = await Promise.all([0, 1, 2].map(() => RedisKv.connect(process.env.QV_REDIS_URL, { prefix })));
    const [wasmModule, config] = await Promise.all([loadModule(), loadEdgeConfig()]);
    edges = connections.map((kv) => createEdgeHandler({ wasmModule, config, cacheSecret: secret, kv, kvTimeoutMs: 1000, log: quiet }));
  });
  after(() => Promise.all(connections.map((kv) => kv.close())));

  test('a signed request sent to three isolates at once is applied by exactly one; a copy is refused or asked to retry', async () => {
    const payload = JSON.stringify({ type: 'UPDATE', table: 'campaigns', record: { id: 'c9', organization_id: 'org_x' }, old_record: null });
    const signature = await signRequest(secret, payload);
    const send = (edge) => edge(new Request('http://edge.test/api/cache/invalidate', { method: 'POST', body: payload, headers: { [SIGNATURE_HEADER]: signature } }))
      .then(async (response) => `${response.status} ${(await response.json()).message ?? 'applied'}`);
    const answers = await Promise.all(edges.map(send));
    const each = answers.map((answer, i) => `edge ${i}: ${answer}`).join('\n');
    assert.equal(answers.filter((a) => a === '200 applied').length, 1, `expected exactly one edge to apply the request:\n${each}`);
    assert.ok(answers.every((a) => /^(200 applied|401 .*already taken|503 .*being applied: retry)/.test(a)), `expected the others to refuse it or ask for a retry:\n${each}`);
    const claim = await connections[0].get(`${SIGNATURE_CLAIM_PREFIX}${signature.slice(-64)}`);
    assert.equal(claim && new TextDecoder().decode(claim), 'done', 'the signature\'s claim in Redis, once applied');
    for (const [i, edge] of edges.entries()) {
      const again = await send(edge);
      assert.match(again, /^401 .*already taken/, `edge ${i}, the request sent again once applied: expected 401 already taken, got ${again}`);
    }
  });
});

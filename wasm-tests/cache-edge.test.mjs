// The edge function's cached routes over HTTP, on Vercel's edge-runtime with code
// generation off, in front of the router and the demo regional origins (one data set, four
// regions): x-cache and server-timing, x-region when the origin was reached, one origin
// fetch per key, keys independent of the region, organisations kept apart, writes past the
// cache, conditional requests (clients' and the cache's own revalidation), the signed
// invalidation webhook, stats, warming.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runServer } from 'edge-runtime';
import { createEdgeRuntime, loadEdgeConfig, serveEdgeRuntime } from '../edge/runtime.mjs';
import { startRegionalOrigins, routerConfigFor, DEMO_REGIONS } from '../edge/regional-origins.mjs';
import { signRequest, parseCriticalKeys, SIGNATURE_HEADER, SIGNATURE_CLAIM_PREFIX } from '../edge/cache-routes.mjs';
import { firstEntityTag, notModified, parseHttpDate } from '../edge/conditional.mjs';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { createEdgeHandler } from '../edge/handler.mjs';
import { loadModule } from '../dist/js/node.mjs';
import { CountingKv, withOps, failWith } from './kv-doubles.mjs';

const SECRET = 'test-secret';
const ORIGIN_SECRET = 'test-origin-secret'; // the demo origins serve only requests with it
const LONDON = { 'x-vercel-ip-latitude': '51.51', 'x-vercel-ip-longitude': '-0.13', 'x-vercel-ip-country': 'GB' };

// The demo edge config, its router pointed at these origins.
async function edgeConfig(origins, cache = {}) {
  const config = await loadEdgeConfig();
  return { ...config, router: routerConfigFor(origins.urls), cache: { ...config.cache, ...cache } };
}

// Every region fails (mode "fail", 503) or recovers.
const failAll = (origins, mode) => Promise.all(DEMO_REGIONS.map((region) => origins.set(region, { mode })));

describe('conditional requests (RFC 9110 §13)', () => {
  const ask = (headers) => new Headers(headers);
  const held = { etag: '"a,b"', lastModified: 'Wed, 26 Nov 2025 10:00:00 GMT' };
  test('If-None-Match compares entity tags weakly; a comma inside a tag is part of it', () => {
    assert.equal(notModified(ask({ 'if-none-match': '"a,b"' }), held), true);
    assert.equal(notModified(ask({ 'if-none-match': 'W/"a,b"' }), held), true);
    assert.equal(notModified(ask({ 'if-none-match': '"a", "b"' }), held), false);
    assert.equal(notModified(ask({ 'if-none-match': '"x", W/"a,b"' }), held), true);
    assert.equal(notModified(ask({ 'if-none-match': '*' }), {}), true);
    assert.equal(notModified(ask({ 'if-none-match': '"a,b"' }), { lastModified: held.lastModified }), false, 'no ETag: no match');
  });
  test('an ETag given more than once (joined by fetch()) counts its first value, as the cache module does', () => {
    const twice = { etag: 'W/"a,1", "b"' };
    assert.equal(firstEntityTag(twice.etag), 'W/"a,1"');
    assert.equal(firstEntityTag(', "x" , "y"'), '"x"');
    assert.equal(firstEntityTag('x, "y"'), 'x', 'a first member that is no entity tag ends at its comma');
    for (const held of ['W/"a,1"', '"a,1"', '"x", W/"a,1"']) assert.equal(notModified(ask({ 'if-none-match': held }), twice), true, held);
    for (const held of ['"b"', 'W/"b"']) assert.equal(notModified(ask({ 'if-none-match': held }), twice), false, held);
  });
  test('If-Modified-Since counts only without If-None-Match, and only as a valid date', () => {
    assert.equal(notModified(ask({ 'if-modified-since': 'Wed, 26 Nov 2025 10:00:00 GMT' }), held), true);
    assert.equal(notModified(ask({ 'if-modified-since': 'Wed, 26 Nov 2025 09:59:59 GMT' }), held), false);
    assert.equal(notModified(ask({ 'if-modified-since': 'yesterday' }), held), false);
    assert.equal(notModified(ask({ 'if-none-match': '"other"', 'if-modified-since': 'Thu, 27 Nov 2025 00:00:00 GMT' }), held), false);
    assert.equal(notModified(ask({}), held), false);
  });
  test('HTTP-dates are GMT in all three forms, whatever the host\'s time zone; anything else is no date', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';  // five hours behind GMT in November
    try {
      const sunday = { lastModified: 'Sun, 06 Nov 1994 08:49:37 GMT' };
      for (const same of ['Sun, 06 Nov 1994 08:49:37 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994']) {
        assert.equal(notModified(ask({ 'if-modified-since': same }), sunday), true, same);
      }
      for (const before of ['Sun, 06 Nov 1994 08:49:36 GMT', 'Sunday, 06-Nov-94 08:49:36 GMT', 'Sun Nov  6 08:49:36 1994']) {
        assert.equal(notModified(ask({ 'if-modified-since': before }), sunday), false, before);
      }
      // The origin's Last-Modified in asctime form is GMT too.
      assert.equal(notModified(ask({ 'if-modified-since': 'Sun, 06 Nov 1994 08:49:37 GMT' }), { lastModified: 'Sun Nov  6 08:49:38 1994' }), false);
      // No HTTP-date, or more than one: If-Modified-Since is ignored (RFC 9110 §13.1.3).
      for (const invalid of ['Sun, 06 Nov 1994 13:49:37 EST', 'Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT', '1994-11-06T08:49:37Z']) {
        assert.equal(notModified(ask({ 'if-modified-since': invalid }), sunday), false, invalid);
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
  test('HTTP-dates are read as the cache module reads them (parse_http_date)', () => {
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), 784111777000);
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), 784111777000);
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), 784111777000);
    assert.equal(parseHttpDate(' Sun Nov 16 08:49:37 1994\t'), 784111777000 + 10 * 86_400_000);
    assert.equal(parseHttpDate('Thu, 01 Jan 1970 00:00:00 GMT'), 0);
    assert.equal(parseHttpDate('Thu, 29 Feb 2024 12:00:00 GMT'), 1709208000000, 'a leap day');
    assert.equal(parseHttpDate('Thu, 01 Jan 2070 00:00:00 GMT'), 3155760000000);
    assert.equal(parseHttpDate('Wednesday, 01-Jan-69 00:00:00 GMT'), 3124224000000, 'two-digit years are 1970-2069');
    assert.equal(parseHttpDate('Fri, 31 Dec 1999 23:59:60 GMT'), 946684799000, 'a leap second');
    assert.equal(parseHttpDate('Mon, 01 Jan 0050 00:00:00 GMT'), -60589296000000, 'a year below 100 is that year');
    for (const bad of ['0', '', 'Sat, 29 Feb 2025 00:00:00 GMT', 'Sun, 31 Apr 2025 00:00:00 GMT', 'Sun, 00 Nov 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 08:49:37 UTC', 'Sun, 06 Nov 1994 24:00:00 GMT', 'Sun, 06 Nov 1994 08:49:37 GMT junk',
      'Sun, 6 Nov 1994 08:49:37 GMT', 'Sunday, 06 Nov 1994 08:49:37 GMT', 'Sun, 06 Foo 1994 08:49:37 GMT', '1764115200']) {
      assert.ok(Number.isNaN(parseHttpDate(bad)), bad);
    }
  });
});

describe('cached routes on edge-runtime', () => {
  let origins;
  let server;
  before(async () => {
    origins = await startRegionalOrigins({ secret: ORIGIN_SECRET, dataDelayMs: 5 });
    const runtime = await createEdgeRuntime({ cacheSecret: SECRET, originSecret: ORIGIN_SECRET, config: await edgeConfig(origins, { critical: [] }) });
    server = await runServer({ runtime, port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await server?.close();
    await origins?.close();
  });

  const get = (path, key = 'qv_demo_growth', headers = {}) => fetch(new URL(path, server.url), { headers: { 'x-api-key': key, ...headers } });
  const invalidate = async (body, signature) => fetch(new URL('/api/cache/invalidate', server.url), {
    method: 'POST', body, headers: signature === undefined ? {} : { [SIGNATURE_HEADER]: signature },
  });

  test('a first request misses and reaches the origin through the router (x-region), the next hits L1', async () => {
    const first = await get('/api/campaigns', 'qv_demo_growth', LONDON);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-cache'), 'MISS');
    assert.equal(first.headers.get('x-region'), 'eu-west-1', 'the region nearest the client: nothing measured yet');
    // (a layer that took under the clock's millisecond is left out)
    assert.match(first.headers.get('server-timing'), /^total;dur=[\d.]+(, l2;dur=[\d.]+)?, origin;dur=[\d.]+/);
    assert.match(first.headers.get('ratelimit-policy'), /^"tier";q=/, 'admission ran first');
    assert.equal(first.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(first.headers.get('surrogate-key'), null, 'surrogate keys stay inside');
    assert.equal(first.headers.get('x-served-by-region'), null, 'origin headers the cache does not keep stay inside');
    const body = await first.json();
    assert.ok(body.campaigns.every((c) => c.organization_id === 'org_growth'));
    const second = await get('/api/campaigns');
    assert.equal(second.headers.get('x-cache'), 'HIT-L1');
    assert.equal(second.headers.get('x-region'), null, 'no origin was reached');
    assert.match(second.headers.get('server-timing'), /^total;dur=/);
    assert.match(second.headers.get('age'), /^\d+$/);
    assert.deepEqual(await second.json(), body);
  });

  test('the key does not depend on the region: a client elsewhere hits the entry another region filled', async () => {
    const first = await get('/api/knowledge/search?q=voicemail', 'qv_demo_growth', LONDON);
    assert.equal(first.headers.get('x-cache'), 'MISS');
    const region = first.headers.get('x-region');
    assert.ok(region);
    const body = await first.json();
    const singapore = { 'x-vercel-ip-latitude': '1.29', 'x-vercel-ip-longitude': '103.85', 'x-vercel-ip-country': 'SG' };
    assert.notEqual((await (await get('/api/route', 'qv_demo_growth', singapore)).json()).optimalRegion, region);
    const other = await get('/api/knowledge/search?q=voicemail', 'qv_demo_growth', singapore);
    assert.equal(other.headers.get('x-cache'), 'HIT-L1');
    assert.deepEqual(await other.json(), body);
  });

  test('a miss on a failing region is retried on the fallback; the answer is cached as usual', async () => {
    const route = await (await get('/api/route', 'qv_demo_growth', LONDON)).json();
    await origins.set(route.optimalRegion, { mode: 'fail' });
    try {
      const response = await get('/api/analytics/overview', 'qv_demo_startup', LONDON);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-cache'), 'MISS');
      assert.equal(response.headers.get('x-region'), route.fallbackRegions[0]);
      assert.equal(response.headers.get('x-region-failover'), route.optimalRegion);
      await response.arrayBuffer();
      const hit = await get('/api/analytics/overview', 'qv_demo_startup', LONDON);
      assert.equal(hit.headers.get('x-cache'), 'HIT-L1');
      await hit.arrayBuffer();
    } finally {
      await origins.reset();
    }
  });

  test('writes to a cached path and routes not cached go past the cache, to the proxy, after admission', async () => {
    const post = await fetch(new URL('/api/leads', server.url), {
      method: 'POST', body: '{"name":"a"}', headers: { 'x-api-key': 'qv_demo_growth', 'idempotency-key': 'k-1', ...LONDON },
    });
    assert.equal(post.status, 200);
    assert.equal(post.headers.get('x-cache'), null);
    assert.match(post.headers.get('x-region'), /^(us-east-1|eu-west-1|ap-southeast-1|sa-east-1)$/);
    assert.match(post.headers.get('ratelimit-policy'), /^"tier";q=/);
    const echo = await post.json();
    assert.equal(echo.method, 'POST');
    assert.equal(echo.organizationId, 'org_growth');
    const other = await get('/api/agents?page=1');
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('x-cache'), null);
    assert.equal((await other.json()).path, '/api/agents');
    const unauthorised = await fetch(new URL('/api/leads', server.url), { method: 'POST', body: '{}' });
    assert.equal(unauthorised.status, 401);
    await unauthorised.arrayBuffer();
  });

  test('every cached route answers, each key fetched from the origin once', async () => {
    const paths = ['/api/leads?page=2', '/api/dashboard/metrics', '/api/analytics/overview', '/api/knowledge/search?q=pricing'];
    const before = origins.stats().total;
    for (const path of paths) {
      const responses = await Promise.all([1, 2, 3, 4, 5].map(() => get(path, 'qv_demo_enterprise')));
      assert.ok(responses.every((r) => r.status === 200), `${path}: ${responses.map((r) => r.status)}`);
      // The calls that waited for the one fetch say which region served it too.
      const misses = responses.filter((r) => r.headers.get('x-cache') === 'MISS');
      assert.ok(misses.length >= 1 && misses.every((r) => r.headers.get('x-region')), `${path}: x-region on every miss`);
      await Promise.all(responses.map((r) => r.arrayBuffer()));
    }
    assert.equal(origins.stats().total - before, paths.length, 'concurrent requests for a key share one origin fetch');
    const hit = await get('/api/leads?page=2', 'qv_demo_enterprise');
    assert.equal(hit.headers.get('x-cache'), 'HIT-L1');
    await hit.arrayBuffer();
  });

  test('query parameters in another order are the same entry; another query is another', async () => {
    const a = await get('/api/leads?page=1&campaignId=org_startup_c1', 'qv_demo_startup');
    await a.arrayBuffer();
    const b = await get('/api/leads?campaignId=org_startup_c1&page=1', 'qv_demo_startup');
    assert.equal(b.headers.get('x-cache'), 'HIT-L1');
    await b.arrayBuffer();
    const c = await get('/api/leads?page=2&campaignId=org_startup_c1', 'qv_demo_startup');
    assert.equal(c.headers.get('x-cache'), 'MISS');
    await c.arrayBuffer();
    const longest = await get(`/api/leads?q=${'x'.repeat(1022)}`, 'qv_demo_startup'); // 1024 bytes, the limit
    assert.equal(longest.headers.get('x-cache'), 'MISS');
    await longest.arrayBuffer();
    const long = await get(`/api/leads?q=${'x'.repeat(1100)}`, 'qv_demo_startup');
    assert.equal(long.status, 400);
    assert.equal((await long.json()).message, 'query string: 1102 bytes (normalised) is above the limit of 1024');
  });

  test('one organisation never sees another\'s cached data', async () => {
    for (const key of ['qv_demo_startup', 'qv_demo_growth', 'qv_demo_enterprise']) {
      const org = key.replace('qv_demo_', 'org_');
      for (let i = 0; i < 2; i++) {
        const response = await get('/api/dashboard/metrics', key);
        const body = await response.json();
        assert.ok(body.campaigns.every((c) => c.campaignId.startsWith(`${org}_`)), `${key}: ${JSON.stringify(body).slice(0, 120)}`);
      }
    }
  });

  test('an error from the origin passes through uncached', async () => {
    const response = await get('/api/knowledge/search');
    assert.equal(response.status, 400);
    assert.match((await response.json()).message, /q: a search text is required/);
  });

  test('an unsigned, wrongly signed or replayed invalidation is a 401 and invalidates nothing', async () => {
    const warm = await get('/api/campaigns', 'qv_demo_startup');
    await warm.arrayBuffer();
    const payload = JSON.stringify({ type: 'UPDATE', table: 'campaigns', record: { id: 'org_startup_c1', organization_id: 'org_startup' }, old_record: null });
    const now = Math.floor(Date.now() / 1000);
    const signed = await signRequest(SECRET, payload, now);
    const refusals = [
      [undefined, /missing or malformed \(expected t=<unix seconds>,sha256=/],
      ['nonsense', /missing or malformed/],
      [signed.replace(/^t=\d+,/, ''), /missing or malformed/], // the body alone signed: no timestamp
      [await signRequest('other-secret', payload, now), /wrong signature/],
      [signed.replace(`t=${now}`, `t=${now - 1}`), /wrong signature/], // the timestamp is signed too
      // A replay; the edge's clock is this second or a fraction into the next.
      [await signRequest(SECRET, payload, now - 301), /timestamp \d+ is 30[12] s old \(at most 300 s either way\)/],
      [await signRequest(SECRET, payload, now + 400), /is (399|400) s ahead/],
    ];
    for (const [signature, message] of refusals) {
      const response = await invalidate(payload, signature);
      assert.equal(response.status, 401, `signature ${signature}`);
      const text = (await response.json()).message;
      assert.ok(text.startsWith('x-qv-signature: '), text);
      assert.match(text, message, signature);
    }
    // A signature over another body does not carry over.
    const response = await invalidate(payload.replace('c1', 'c2'), signed);
    assert.equal(response.status, 401);
    await response.arrayBuffer();
    const still = await get('/api/campaigns', 'qv_demo_startup');
    assert.equal(still.headers.get('x-cache'), 'HIT-L1');
    await still.arrayBuffer();
  });

  test('a signed change payload invalidates what it touches, in both Supabase forms', async () => {
    for (const path of ['/api/campaigns', '/api/dashboard/metrics', '/api/knowledge/search?q=pricing']) {
      await (await get(path, 'qv_demo_startup')).arrayBuffer();
    }
    const payload = JSON.stringify({ schema: 'public', table: 'leads', eventType: 'INSERT', new: { id: 'l900', organization_id: 'org_startup', campaign_id: 'org_startup_c1' }, old: {} });
    const response = await invalidate(payload, await signRequest(SECRET, payload));
    assert.equal(response.status, 200);
    const answer = await response.json();
    assert.equal(answer.strategy, 'related');
    assert.deepEqual(answer.tags, ['leads:l900', 'leads:list', 'campaigns:org_startup_c1:leads', 'campaigns:org_startup_c1:analytics']);
    const metrics = await get('/api/dashboard/metrics', 'qv_demo_startup');
    assert.equal(metrics.headers.get('x-cache'), 'MISS', 'the dashboard shows campaign aggregates: invalidated');
    await metrics.arrayBuffer();
    const campaigns = await get('/api/campaigns', 'qv_demo_startup');
    assert.equal(campaigns.headers.get('x-cache'), 'HIT-L1', 'the campaign list holds no lead: kept');
    await campaigns.arrayBuffer();

    const webhook = JSON.stringify({ type: 'UPDATE', table: 'campaigns', schema: 'public', record: { id: 'org_startup_c1', organization_id: 'org_startup' }, old_record: null });
    const signed = await invalidate(webhook, await signRequest(SECRET, webhook));
    assert.equal(signed.status, 200);
    await signed.arrayBuffer();
    const after = await get('/api/campaigns', 'qv_demo_startup');
    assert.equal(after.headers.get('x-cache'), 'MISS');
    await after.arrayBuffer();
  });

  test('a lead\'s UPDATE (single: leads:<id>) reaches the dashboard and the analytics, which count leads by status, and not the campaign list', async () => {
    const paths = ['/api/campaigns', '/api/dashboard/metrics', '/api/analytics/overview'];
    for (const path of paths) await (await get(path, 'qv_demo_startup')).arrayBuffer();
    const payload = JSON.stringify({ type: 'UPDATE', table: 'leads', record: { id: 'org_startup_l7', organization_id: 'org_startup', campaign_id: 'org_startup_c1', status: 'converted' }, old_record: null });
    const response = await invalidate(payload, await signRequest(SECRET, payload));
    assert.equal(response.status, 200);
    assert.deepEqual((await response.json()).tags, ['leads:org_startup_l7']);
    const states = [];
    for (const path of paths) {
      const answer = await get(path, 'qv_demo_startup');
      states.push(answer.headers.get('x-cache'));
      await answer.arrayBuffer();
    }
    assert.deepEqual(states, ['HIT-L1', 'MISS', 'MISS']);
  });

  test('a signed invalidation is taken once: the same request again is a 401 and invalidates nothing', async () => {
    const payload = JSON.stringify({ type: 'UPDATE', table: 'campaigns', record: { id: 'org_growth_c1', organization_id: 'org_growth' }, old_record: null });
    const signature = await signRequest(SECRET, payload);
    const first = await invalidate(payload, signature);
    assert.equal(first.status, 200);
    await first.arrayBuffer();
    await (await get('/api/campaigns')).arrayBuffer(); // cached again
    const replay = await invalidate(payload, signature);
    assert.equal(replay.status, 401);
    assert.match((await replay.json()).message, /^x-qv-signature: already taken: a signed request is taken once/);
    const still = await get('/api/campaigns');
    assert.equal(still.headers.get('x-cache'), 'HIT-L1');
    await still.arrayBuffer();
  });

  test('a signed payload that is not a change is a 400 naming the problem', async () => {
    const payload = JSON.stringify({ eventType: 'TRUNCATE', table: 'leads', new: {}, old: {} });
    const response = await invalidate(payload, await signRequest(SECRET, payload));
    assert.equal(response.status, 400);
    assert.match((await response.json()).message, /eventType: expected one of INSERT, UPDATE, DELETE, got 'TRUNCATE'/);
  });

  test('GET /api/cache/stats reports the layers to an operator key, and to no tenant', async () => {
    for (const key of ['qv_demo_startup', 'qv_demo_enterprise']) {
      const refused = await get('/api/cache/stats', key);
      assert.equal(refused.status, 403, key);
      assert.match((await refused.json()).message, /^x-api-key: .*need an operator key/);
    }
    // The refusal names the header that carried the key.
    const bearer = await fetch(new URL('/api/cache/stats', server.url), { headers: { authorization: 'Bearer qv_demo_startup' } });
    assert.equal(bearer.status, 403);
    assert.match((await bearer.json()).message, /^Authorization: .*need an operator key/);
    const response = await get('/api/cache/stats', 'qv_demo_operator');
    assert.equal(response.status, 200);
    const stats = await response.json();
    for (const field of ['hits', 'misses', 'stale', 'entries', 'bytes', 'evictions']) assert.equal(typeof stats.l1[field], 'number', field);
    for (const field of ['hits', 'misses', 'stale', 'errors']) assert.equal(typeof stats.l2[field], 'number', field);
    assert.ok(stats.origin.fetches >= 1);
    assert.ok(stats.invalidations.received >= 2);
    assert.equal(typeof stats.coalescedWaits, 'number');
  });

  test('a streamed body over 1 MiB is a 413 at once, with or without a key', async () => {
    for (const path of ['/api/tiers/evaluate', '/api/cache/invalidate']) {
      let sent = 0;
      const body = new ReadableStream({
        pull(controller) {
          if (sent >= 1_200_000) return controller.close();
          sent += 65536;
          controller.enqueue(new Uint8Array(65536));
        },
      });
      const response = await fetch(new URL(path, server.url), {
        method: 'POST', body, duplex: 'half', headers: { 'x-api-key': 'qv_demo_growth' }, signal: AbortSignal.timeout(10_000),
      });
      assert.equal(response.status, 413, path);
      assert.equal((await response.json()).message, 'body: above the limit of 1048576 bytes');
    }
  });

  test('an origin serves only the edge: naming an organisation without the origin secret is a 401 naming the header, with nothing served', async () => {
    const origin = origins.urls['us-east-1'];
    const before = origins.stats().total;
    for (const [path, secret, problem] of [
      ['/api/campaigns', undefined, 'missing'],
      ['/api/campaigns', 'guess', 'not the origin secret'],
      ['/api/campaigns', `${ORIGIN_SECRET}x`, 'not the origin secret'],
      ['/api/leads?page=1', ORIGIN_SECRET.toUpperCase(), 'not the origin secret'],
      ['/api/agents', undefined, 'missing'], // (the echo of other /api paths too)
    ]) {
      const headers = { 'x-qv-organization-id': 'org_enterprise', ...(secret === undefined ? {} : { 'x-qv-origin-secret': secret }) };
      const response = await fetch(`${origin}${path}`, { headers });
      assert.equal(response.status, 401, `${path} with ${secret}`);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const body = await response.json();
      assert.deepEqual(Object.keys(body), ['error', 'message']);
      assert.equal(body.error, 'unauthorized');
      assert.ok(body.message.startsWith(`x-qv-origin-secret: ${problem};`), body.message);
      assert.ok(!JSON.stringify(body).includes(ORIGIN_SECRET), 'the refusal says nothing of the secret');
    }
    assert.equal(origins.stats().total, before, 'nothing was served');
    // The health check's path says nothing of any organisation and stays open.
    assert.deepEqual(await (await fetch(`${origin}/health`)).json(), { region: 'us-east-1', status: 'ok' });
    // With the secret, as the edge sends it, the origin serves.
    const served = await fetch(`${origin}/api/campaigns`, { headers: { 'x-qv-organization-id': 'org_enterprise', 'x-qv-origin-secret': ORIGIN_SECRET } });
    assert.equal(served.status, 200);
    assert.ok((await served.json()).campaigns.every((c) => c.organization_id === 'org_enterprise'));
    // A client cannot pass the secret through the edge: its x-qv-* headers are dropped.
    const through = await get('/api/campaigns?probe=client-secret', 'qv_demo_growth', { 'x-qv-origin-secret': 'guess', 'x-qv-organization-id': 'org_enterprise' });
    assert.equal(through.status, 200);
    assert.ok((await through.json()).campaigns.every((c) => c.organization_id === 'org_growth'));
  });

  test('the demo origins start only with an origin secret to require', async () => {
    for (const secret of [undefined, '', 7]) {
      await assert.rejects(startRegionalOrigins({ secret }), {
        name: 'TypeError', message: 'secret: expected the origin secret the edge sends (QV_ORIGIN_SECRET), a non-empty string',
      });
    }
  });

  test('the cached routes still need an API key', async () => {
    const response = await fetch(new URL('/api/campaigns', server.url));
    assert.equal(response.status, 401);
    await response.arrayBuffer();
  });

  test('a failing origin within stale-while-revalidate gets the stale copy, revalidated in the background', async () => {
    // A short-lived entry: configure through a fresh runtime with an L2 TTL of 50 ms.
    const runtime = await createEdgeRuntime({
      cacheSecret: SECRET, originSecret: ORIGIN_SECRET, config: await edgeConfig(origins, { config: { l2: { ttlMs: 50 } }, critical: [] }),
    });
    const local = await runServer({ runtime, port: 0, host: '127.0.0.1' });
    try {
      const url = new URL('/api/analytics/overview', local.url);
      const first = await fetch(url, { headers: { 'x-api-key': 'qv_demo_growth' } });
      const body = await first.text();
      await new Promise((resolve) => setTimeout(resolve, 80));
      await failAll(origins, 'fail');
      const stale = await fetch(url, { headers: { 'x-api-key': 'qv_demo_growth' } });
      assert.equal(stale.status, 200);
      assert.equal(stale.headers.get('x-cache'), 'STALE');
      assert.equal(await stale.text(), body);
    } finally {
      await origins.reset();
      await local.close();
    }
  });

  test('a client holding the answer (If-None-Match with its ETag) gets 304 without a body', async () => {
    const first = await get('/api/leads?page=2', 'qv_demo_startup');
    const body = await first.text();
    const etag = first.headers.get('etag');
    assert.match(etag ?? '', /^"[\w-]+"$/, 'the origin\'s ETag is passed on');
    for (const held of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await get('/api/leads?page=2', 'qv_demo_startup', { 'if-none-match': held });
      assert.equal(again.status, 304, held);
      assert.equal(await again.text(), '');
      assert.equal(again.headers.get('etag'), etag);
      assert.equal(again.headers.get('x-cache'), 'HIT-L1');
      assert.match(again.headers.get('cache-control'), /max-age=60/);
    }
    const changed = await get('/api/leads?page=2', 'qv_demo_startup', { 'if-none-match': '"something-else"' });
    assert.equal(changed.status, 200);
    assert.equal(await changed.text(), body);
  });

  test('a stale copy is revalidated with the origin by its ETag: a 304 refreshes it without the body', async () => {
    let now = Date.now();
    const runtime = await createEdgeRuntime({
      cacheSecret: SECRET, originSecret: ORIGIN_SECRET, config: await edgeConfig(origins, { critical: [] }), globals: { QV_NOW: () => now },
    });
    const local = await runServer({ runtime, port: 0, host: '127.0.0.1' });
    const get = (path, key = 'qv_demo_enterprise') => fetch(new URL(path, local.url), { headers: { 'x-api-key': key } });
    try {
      const first = await get('/api/analytics/overview');
      const body = await first.text();
      assert.equal(first.headers.get('x-cache'), 'MISS');
      now += 100_000; // past max-age + stale-while-revalidate (90 s), within stale-if-error
      const revalidated = await get('/api/analytics/overview');
      assert.equal(revalidated.status, 200);
      assert.equal(revalidated.headers.get('x-cache'), 'MISS');
      assert.equal(await revalidated.text(), body);
      assert.equal(revalidated.headers.get('etag'), first.headers.get('etag'));
      const stats = await (await get('/api/cache/stats', 'qv_demo_operator')).json();
      assert.equal(stats.origin.notModified, 1);
      const hit = await get('/api/analytics/overview');
      assert.equal(hit.headers.get('x-cache'), 'HIT-L1', 'fresh again for max-age');
      assert.equal(await hit.text(), body);
    } finally {
      await local.close();
    }
  });

  test('past stale-while-revalidate a failing origin gets the stale copy only within stale-if-error', async () => {
    // The demo origin answers max-age=60, stale-while-revalidate=30, stale-if-error=300; the
    // edge runs on a clock the test moves.
    let now = Date.now();
    const runtime = await createEdgeRuntime({
      cacheSecret: SECRET, originSecret: ORIGIN_SECRET, config: await edgeConfig(origins, { critical: [] }), globals: { QV_NOW: () => now },
    });
    const local = await runServer({ runtime, port: 0, host: '127.0.0.1' });
    const get = () => fetch(new URL('/api/dashboard/metrics', local.url), { headers: { 'x-api-key': 'qv_demo_enterprise' } });
    try {
      const first = await get();
      const body = await first.text();
      assert.equal(first.headers.get('x-cache'), 'MISS');
      await failAll(origins, 'fail');
      now += 100_000; // past max-age + stale-while-revalidate (90 s), within stale-if-error
      const covered = await get();
      assert.equal(covered.status, 200);
      assert.equal(covered.headers.get('x-cache'), 'STALE');
      assert.equal(await covered.text(), body);
      now += 300_000; // past stale-if-error too: the failure shows
      const failed = await get();
      assert.notEqual(failed.headers.get('x-cache'), 'STALE');
      assert.ok(failed.status >= 500, `status ${failed.status}`);
      await failed.arrayBuffer();
    } finally {
      await origins.reset();
      await local.close();
    }
  });
});

describe('warming at start', () => {
  test('the configured critical keys are in L1 before the first request', async () => {
    const origins = await startRegionalOrigins({ secret: ORIGIN_SECRET, dataDelayMs: 1 });
    let server;
    try {
      const config = await edgeConfig(origins);
      const runtime = await createEdgeRuntime({ cacheSecret: SECRET, originSecret: ORIGIN_SECRET, config });
      const warmed = await runtime.context.qvCacheWarmed();
      assert.equal(warmed.warmed, config.cache.critical.length);
      assert.deepEqual([...warmed.failed], []);
      const fetchedAtStart = origins.stats().total;
      server = await runServer({ runtime, port: 0, host: '127.0.0.1' });
      const response = await fetch(new URL('/api/campaigns', server.url), { headers: { 'x-api-key': 'qv_demo_enterprise' } });
      assert.equal(response.headers.get('x-cache'), 'HIT-L1');
      await response.arrayBuffer();
      assert.equal(origins.stats().total, fetchedAtStart);
    } finally {
      await server?.close();
      await origins.close();
    }
  });
  test('config.cache.critical names cached routes of organisations with an API key, one warm-up per tier of their keys; anything else is refused, naming the field', () => {
    const keys = [
      { organizationId: 'org_a', tier: 'Startup' }, { organizationId: 'org_b', tier: 'Growth' }, { organizationId: 'org_b', tier: 'Enterprise' },
    ];
    assert.deepEqual(parseCriticalKeys(undefined, keys), []);
    assert.deepEqual(parseCriticalKeys([{ organizationId: 'org_a', path: '/api/leads', query: 'page=2' }, { organizationId: 'org_b', path: '/api/campaigns' }], keys), [
      { organizationId: 'org_a', tier: 'Startup', path: '/api/leads', query: 'page=2' },
      { organizationId: 'org_b', tier: 'Growth', path: '/api/campaigns', query: undefined },
      { organizationId: 'org_b', tier: 'Enterprise', path: '/api/campaigns', query: undefined },
    ]);
    const refused = [
      [{}, /^Error: config\.cache\.critical: expected an array/],
      [[null], /^Error: config\.cache\.critical\[0\]: expected an object/],
      [[{ organizationId: 'org_a', path: '/api/leads', tier: 'Startup' }], /^Error: config\.cache\.critical\[0\]\.tier: unknown field \(expected one of: organizationId, path, query\)$/],
      [[{ organizationId: 'org_a', path: '/api/leads' }, { organizationId: 'org_c', path: '/api/leads' }], /^Error: config\.cache\.critical\[1\]\.organizationId: no key in config\.apiKeys is for 'org_c', so no request could read what is warmed$/],
      [[{ organizationId: 7, path: '/api/leads' }], /^Error: config\.cache\.critical\[0\]\.organizationId: expected a string$/],
      [[{ organizationId: 'org_a', path: 'api/leads' }], /^Error: config\.cache\.critical\[0\]\.path: expected a cached route \(\/api\/campaigns, .*\), got "api\/leads"$/],
      [[{ organizationId: 'org_a', path: '/api/leads', query: '?page=2' }], /^Error: config\.cache\.critical\[0\]\.query: expected the query as a string without its '\?', got "\?page=2"$/],
    ];
    for (const [critical, message] of refused) assert.throws(() => parseCriticalKeys(critical, keys), message, JSON.stringify(critical));
  });
});

describe('background work and the request that started it', () => {
  test('a revalidation is kept alive by its own request\'s event, whatever request comes next', async () => {
    const origins = await startRegionalOrigins({ secret: ORIGIN_SECRET, dataDelayMs: 20 });
    let t = Date.now();
    const handle = createEdgeHandler({
      wasmModule: await loadModule(), config: await edgeConfig(origins, { critical: [] }), cacheSecret: SECRET, originSecret: ORIGIN_SECRET,
      now: () => t, log: () => {},
    });
    const event = () => { const kept = []; return { kept, waitUntil: (promise) => kept.push(promise) }; };
    const get = (path, at) => handle(new Request(`http://edge.test${path}`, { headers: { 'x-api-key': 'qv_demo_growth' } }), at);
    try {
      assert.equal((await get('/api/campaigns', event())).headers.get('x-cache'), 'MISS');
      t += 61_000; // past max-age=60, inside stale-while-revalidate=30
      const [a, b] = [event(), event()];
      const [stale] = await Promise.all([get('/api/campaigns', a), get('/api/leads', b)]);
      assert.equal(stale.headers.get('x-cache'), 'STALE');
      assert.ok(a.kept.length >= 1, 'the revalidation is registered on the request that started it');
      await Promise.all(a.kept); // all a runtime waits for before it may freeze the isolate
      assert.equal((await get('/api/campaigns', event())).headers.get('x-cache'), 'HIT-L1', 'revalidated');
    } finally {
      await origins.close();
    }
  });
});

// The origin's answers to a query naming one of these: [status, headers, body].
const CANNED = {
  'no-content': [204, { 'cache-control': 'public, max-age=60, s-maxage=300' }],
  moved: [301, { location: '/api/leads/all', 'cache-control': 'max-age=60', link: '</api/leads/all>; rel="canonical"' }],
  busy: [503, { 'retry-after': '7', 'content-type': 'application/json' }, '{"error":"busy"}'],
  binary: [200, { 'content-type': 'application/octet-stream' }, Buffer.from([0xff, 0x00, 0x80, 0xc3, 0xa9, 0xe9, 0x0a])],
  challenge: [401, { 'www-authenticate': 'Bearer realm="leads"', 'content-type': 'application/json' }, '{"error":"unauthorized"}'],
  // Cache-Control values whose quoted strings hold commas (and, escaped, a quote).
  'quoted-private': [200, { 'cache-control': 'public, s-maxage=300, x-note="a,private,b", max-age=60' }, '{"ok":true}'],
  'quoted-escape': [200, { 'cache-control': 'x-note="say \\"hi, s-maxage=9\\"", public, max-age=60' }, '{"ok":true}'],
  'qualified-private': [200, { 'cache-control': 'private="set-cookie,x-a", max-age=60' }, '{"ok":true}'],
  'open-quote': [200, { 'cache-control': 'public, max-age=60, x-note="open, s-maxage=300' }, '{"ok":true}'],
  // Expires without Cache-Control: '0' has already passed (RFC 9111 §5.3), the other is a date.
  expired: [200, { expires: '0', 'last-modified': 'Wed, 26 Nov 2025 10:00:00 GMT' }, '{"ok":true}'],
  expiring: [200, { expires: 'Wed, 01 Jan 2100 00:00:00 GMT', 'last-modified': 'Wed, 26 Nov 2025 10:00:00 GMT' }, '{"ok":true}'],
  // ETag on two lines: fetch() joins them ('W/"a,1", "b"'); the first is the answer's.
  'two-etags': [200, { 'cache-control': 'max-age=60', etag: ['W/"a,1"', '"b"'] }, '{"ok":true}'],
  // Last-Modified on two lines: joined, 'Wed, 26 Nov 2025 10:00:00 GMT, Thu, 27 Nov 2025 10:00:00 GMT'.
  'two-dates': [200, { 'cache-control': 'max-age=60', 'last-modified': ['Wed, 26 Nov 2025 10:00:00 GMT', 'Thu, 27 Nov 2025 10:00:00 GMT'] }, '{"ok":true}'],
  'server-error': [500, { 'content-type': 'application/json' }, '{"error":"internal"}'],
  // An answer that varies with a request header the cache's fills never send.
  varied: [200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, '{"ok":true}'],
  // An answer the cache may not keep.
  uncacheable: [200, { 'cache-control': 'no-store', 'content-type': 'application/json' }, '{"ok":true}'],
};

describe('the proxy\'s HTTP hygiene (an origin that records what it gets)', () => {
  let origin;
  let seen = [];
  let stall = false;
  before(async () => {
    origin = createServer((request, response) => {
      seen.push(request.headers);
      const headers = {
        'content-type': 'application/json', 'cache-control': 'public, max-age=60, s-maxage=300',
        connection: 'x-origin-hop', 'x-origin-hop': 'secret', trailer: 'x-sum',
      };
      const query = new URL(request.url, 'http://origin').searchParams;
      const canned = Object.keys(CANNED).find((name) => query.has(name));
      if (canned) {
        const [status, cannedHeaders, body] = CANNED[canned];
        response.writeHead(status, cannedHeaders);
        return response.end(body);
      }
      response.writeHead(200, headers);
      if (stall) return response.write('{"partial":'); // headers, then nothing more
      response.end('{"ok":true}');
    });
    await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
  });
  after(() => { origin.closeAllConnections(); origin.close(); });

  // The demo config in front of this origin; apiKeys: more keys, critical: keys to warm,
  // cache: the cache module's settings (by default, origins answer within 300 ms); shim: the
  // shim's options (instantiate's).
  async function handler({ apiKeys = [], critical = [], cache = { origin: { timeoutMs: 300 } }, shim = {} } = {}) {
    const url = `http://127.0.0.1:${origin.address().port}`;
    const config = await edgeConfig({ urls: Object.fromEntries(DEMO_REGIONS.map((region) => [region, url])) },
      { critical, config: cache });
    config.apiKeys = [...config.apiKeys, ...apiKeys];
    return createEdgeHandler({ wasmModule: await loadModule(), config, cacheSecret: SECRET, originSecret: ORIGIN_SECRET, log: () => {}, ...shim });
  }
  const request = (path, headers = {}) => new Request(`http://edge.test${path}`, { headers: { 'x-api-key': 'qv_demo_growth', ...headers } });

  test('an organisation\'s keys of two tiers get a copy each: the origin is told the tier, and may answer by it', async () => {
    const key = 'qv_test_growth_enterprise';
    const handle = await handler({ apiKeys: [{ sha256: createHash('sha256').update(key).digest('hex'), organizationId: 'org_growth', tier: 'Enterprise' }] });
    seen = [];
    const path = '/api/campaigns?probe=tier';
    assert.equal((await handle(request(path))).headers.get('x-cache'), 'MISS');
    const other = await handle(request(path, { 'x-api-key': key }));
    assert.equal(other.headers.get('x-cache'), 'MISS', 'the Growth tier\'s copy was served to an Enterprise key');
    const fills = seen.filter((headers) => headers['x-qv-organization-id'] === 'org_growth'); // (not the health probes)
    assert.deepEqual(fills.map((headers) => headers['x-qv-tier']), ['Growth', 'Enterprise']);
    assert.equal((await handle(request(path))).headers.get('x-cache'), 'HIT-L1');
  });

  test('every request the edge sends an origin carries the origin secret: cache fills, proxied requests, retries and health checks', async () => {
    const handle = await handler();
    seen = [];
    const kept = [];
    const event = { waitUntil: (promise) => kept.push(promise) };
    assert.equal((await handle(request('/api/campaigns?probe=secret'), event)).status, 200);
    assert.equal((await handle(request('/api/something/proxied?probe=secret'), event)).status, 200);
    assert.equal((await handle(request('/api/something/proxied?server-error'), event)).status, 500); // and its retry
    await Promise.all(kept); // the health checks the first request started
    const probes = seen.filter((headers) => headers['x-qv-organization-id'] === undefined);
    assert.ok(probes.length > 0, 'a health check reached the origin');
    assert.ok(seen.length >= probes.length + 4);
    assert.deepEqual([...new Set(seen.map((headers) => headers['x-qv-origin-secret']))], [ORIGIN_SECRET]);
  });

  test('the origin secret is in no answer, log line, cache key or cached value', async () => {
    const lines = [];
    const written = []; // every key and value the edge writes to its KV (the cache's L2 among them)
    const text = (value) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : String(value));
    const kv = new (class extends CountingKv {
      async set(...args) { written.push(...args.map(text)); return super.set(...args); }
      async cas(...args) { written.push(...args.map(text)); return super.cas(...args); }
      async incr(...args) { written.push(...args.map(text)); return super.incr(...args); }
    })();
    const url = `http://127.0.0.1:${origin.address().port}`;
    const config = await edgeConfig({ urls: Object.fromEntries(DEMO_REGIONS.map((region) => [region, url])) },
      { critical: [], config: { origin: { timeoutMs: 300 } } });
    const handle = createEdgeHandler({
      wasmModule: await loadModule(), config, cacheSecret: SECRET, originSecret: ORIGIN_SECRET, kv,
      log: (level, message) => lines.push(message),
    });
    const answers = [];
    const kept = [];
    const event = { waitUntil: (promise) => kept.push(promise) };
    for (const [path, key] of [
      ['/api/campaigns?probe=leak', 'qv_demo_growth'], ['/api/campaigns?probe=leak', 'qv_demo_growth'],
      ['/api/something/proxied?probe=leak', 'qv_demo_growth'], ['/api/something/proxied?server-error', 'qv_demo_growth'],
      ['/api/route', 'qv_demo_growth'], ['/api/cache/stats', 'qv_demo_operator'], ['/api/leads?busy', 'qv_demo_growth'],
    ]) {
      const response = await handle(request(path, { 'x-api-key': key }), event);
      answers.push(`${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}`);
    }
    // An origin that does not answer: the 502 names the region, not what was sent.
    const down = createEdgeHandler({
      wasmModule: await loadModule(), cacheSecret: SECRET, originSecret: ORIGIN_SECRET, log: (level, message) => lines.push(message),
      config: await edgeConfig({ urls: Object.fromEntries(DEMO_REGIONS.map((region) => [region, 'http://127.0.0.1:1'])) }, { critical: [] }),
    });
    for (const path of ['/api/campaigns', '/api/something/proxied']) {
      const response = await down(request(path));
      assert.ok(response.status >= 500, path);
      answers.push(`${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}`);
    }
    await Promise.all(kept); // the L2 writes and health checks behind the requests
    assert.ok(written.some((value) => value.startsWith('qvc:') && value.includes('probe%3Dleak')), 'the cached copy is in the KV');
    for (const said of [...answers, ...lines, ...written]) assert.ok(!said.includes(ORIGIN_SECRET), said);
  });

  test('an origin\'s 500 is a failure like any 5xx: the request is retried on the fallback region', async () => {
    const handle = await handler();
    seen = [];
    const response = await handle(request('/api/something/proxied?server-error'));
    assert.equal(response.status, 500);
    assert.notEqual(response.headers.get('x-region-failover'), null, 'not retried');
    assert.notEqual(response.headers.get('x-region'), response.headers.get('x-region-failover'));
    assert.equal(seen.filter((headers) => headers['x-qv-organization-id'] === 'org_growth').length, 2);
  });

  test('warming fills the key of each critical entry\'s query, and counts an answer the cache may not keep as failed', async () => {
    const handle = await handler({ cache: {}, critical: [
      { organizationId: 'org_growth', path: '/api/leads', query: 'warm=1' },
      { organizationId: 'org_growth', path: '/api/leads', query: 'uncacheable' },
    ] });
    await handle.ready();
    const warmed = await handle.warmed();
    assert.deepEqual(warmed, { warmed: 1, failed: [{ path: '/api/leads', organizationId: 'org_growth', message: 'not stored: cache-control: no-store' }] });
    seen = [];
    assert.equal((await handle(request('/api/leads?warm=1'))).headers.get('x-cache'), 'HIT-L1');
    assert.equal(seen.filter((headers) => headers['x-qv-organization-id'] === 'org_growth').length, 0);
  });

  test('an answer for an API key is private to it, whatever the origin allowed shared caches', async () => {
    const handle = await handler();
    for (const path of ['/api/campaigns', '/api/something/proxied']) {
      const response = await handle(request(path));
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get('cache-control'), 'private, max-age=60', path);
      assert.match(response.headers.get('vary') ?? '', /authorization, x-api-key/, path);
    }
  });

  test('a cached answer carries the edge\'s own vary alone, not the origin\'s the cache keeps (its fills send only accept)', async () => {
    const handle = await handler();
    for (const expected of ['MISS', 'HIT-L1']) {
      const response = await handle(request('/api/leads?varied'));
      assert.equal(response.headers.get('x-cache'), expected);
      assert.equal(response.headers.get('vary'), 'authorization, x-api-key');
    }
  });

  test('an answer for an API key reads the origin\'s Cache-Control by its quoted strings, as the cache module does', async () => {
    const handle = await handler();
    for (const [query, expected] of [
      // A "private" inside a quoted string is no directive: the answer must still be made private.
      ['quoted-private', 'private, x-note="a,private,b", max-age=60'],
      ['quoted-escape', 'private, x-note="say \\"hi, s-maxage=9\\"", max-age=60'],
      // private="..." lets a shared cache keep the rest of the answer: the plain private replaces it.
      ['qualified-private', 'private, max-age=60'],
      // A quoted string left open hides what follows it: nothing of the value can be told.
      ['open-quote', 'private, no-store'],
    ]) {
      for (const path of ['/api/leads', '/api/something/proxied']) {
        const response = await handle(request(`${path}?${query}`));
        assert.equal(response.status, 200, `${path}?${query}`);
        assert.equal(response.headers.get('cache-control'), expected, `${path}?${query}`);
      }
    }
  });

  test('a cache fill does not carry the client\'s Host to the origin: the copy is shared by every client of the key', async () => {
    const handle = await handler();
    seen = [];
    const path = '/api/leads?probe=forwarded-host';
    const first = await handle(new Request(`http://evil.example${path}`, { headers: { 'x-api-key': 'qv_demo_growth' } }));
    assert.equal(first.headers.get('x-cache'), 'MISS');
    const fills = seen.filter((headers) => headers['x-qv-organization-id'] === 'org_growth'); // (not the health probes)
    assert.equal(fills.length, 1);
    assert.notEqual(fills[0]['x-forwarded-host'], 'evil.example', 'an unkeyed client header reached the origin of a shared copy');
    assert.equal((await handle(request(path))).headers.get('x-cache'), 'HIT-L1');
  });

  test('an answer keeps the origin\'s Expires, cached or not, as a proxied one does: without it a browser would guess a freshness from Last-Modified', async () => {
    const handle = await handler();
    for (const [query, expires, caches] of [['expired', '0', ['MISS', 'MISS']], ['expiring', 'Wed, 01 Jan 2100 00:00:00 GMT', ['MISS', 'HIT-L1']]]) {
      for (const cache of caches) {
        const response = await handle(request(`/api/leads?${query}`));
        assert.deepEqual([response.status, response.headers.get('x-cache')], [200, cache], query);
        assert.equal(response.headers.get('expires'), expires, `${query}, ${cache}`);
      }
      assert.equal((await handle(request(`/api/something/proxied?${query}`))).headers.get('expires'), expires, `${query}, proxied`);
    }
  });

  test('a 204 from the origin is answered (and cached) without a body, not as a 500', async () => {
    const handle = await handler();
    for (const cache of ['MISS', 'HIT-L1']) {
      const response = await handle(request('/api/leads?no-content'));
      assert.equal(response.status, 204, cache);
      assert.equal(response.headers.get('x-cache'), cache);
      assert.equal(response.body, null);
    }
  });

  test('a redirect keeps its Location, cached or not; a 503 its Retry-After; a 401 its WWW-Authenticate', async () => {
    const handle = await handler();
    for (const cache of ['MISS', 'HIT-L1']) {
      const moved = await handle(request('/api/leads?moved'));
      assert.equal(moved.status, 301, cache);
      assert.equal(moved.headers.get('x-cache'), cache);
      assert.equal(moved.headers.get('location'), '/api/leads/all', cache);
      assert.equal(moved.headers.get('link'), '</api/leads/all>; rel="canonical"', cache);
    }
    const busy = await handle(request('/api/leads?busy'));
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get('retry-after'), '7');
    const challenged = await handle(request('/api/leads?challenge'));
    assert.equal(challenged.status, 401);
    assert.equal(challenged.headers.get('www-authenticate'), 'Bearer realm="leads"');
  });

  test('an ETag sent twice is its first, to the client and to its If-None-Match, from the origin and from the cache', async () => {
    const handle = await handler();
    for (const cache of ['MISS', 'HIT-L1']) {
      const response = await handle(request('/api/leads?two-etags'));
      assert.equal(response.status, 200, cache);
      assert.equal(response.headers.get('x-cache'), cache);
      assert.equal(response.headers.get('etag'), 'W/"a,1"', cache);
      assert.equal(await response.text(), '{"ok":true}');
    }
    for (const held of ['W/"a,1"', '"a,1"']) {
      const again = await handle(request('/api/leads?two-etags', { 'if-none-match': held }));
      assert.equal(again.status, 304, held);
      assert.equal(again.headers.get('etag'), 'W/"a,1"', held);
    }
    const second = await handle(request('/api/leads?two-etags', { 'if-none-match': '"b"' }));
    assert.equal(second.status, 200, 'the second ETag is not the answer\'s');
  });

  test('a Last-Modified sent twice is its first, to the client and to its If-Modified-Since', async () => {
    const handle = await handler();
    for (const cache of ['MISS', 'HIT-L1']) {
      const response = await handle(request('/api/leads?two-dates'));
      assert.equal(response.headers.get('x-cache'), cache);
      assert.equal(response.headers.get('last-modified'), 'Wed, 26 Nov 2025 10:00:00 GMT', cache);
    }
    const held = await handle(request('/api/leads?two-dates', { 'if-modified-since': 'Wed, 26 Nov 2025 10:00:00 GMT' }));
    assert.equal(held.status, 304);
    const older = await handle(request('/api/leads?two-dates', { 'if-modified-since': 'Tue, 25 Nov 2025 10:00:00 GMT' }));
    assert.equal(older.status, 200);
  });

  test('a body that is not UTF-8 (never stored) reaches the client byte for byte', async () => {
    const handle = await handler();
    const response = await handle(request('/api/leads?binary'));
    assert.equal(response.status, 200);
    assert.deepEqual([...new Uint8Array(await response.arrayBuffer())], [0xff, 0x00, 0x80, 0xc3, 0xa9, 0xe9, 0x0a]);
  });

  test('hop-by-hop headers, named in Connection or not, pass neither way', async () => {
    const handle = await handler();
    seen = [];
    const response = await handle(request('/api/something/proxied', { connection: 'x-client-hop', 'x-client-hop': 'secret', te: 'trailers' }));
    assert.equal(response.status, 200);
    assert.equal(seen.at(-1)['x-client-hop'], undefined);
    assert.equal(seen.at(-1).te, undefined);
    for (const name of ['x-origin-hop', 'trailer', 'connection']) assert.equal(response.headers.get(name), null, name);
  });

  test('an origin that stalls after its headers times out; the miss does not hang', { timeout: 30_000 }, async () => {
    const handle = await handler();
    stall = true;
    try {
      const response = await handle(request('/api/leads?stall=1')); // (a hang fails the test's timeout)
      assert.equal(response.status, 504);
      // In the proxied routes' code, naming the route and the region (when its headers came
      // within the fill's time), not the fill's own URL.
      const region = response.headers.get('x-region');
      assert.deepEqual(await response.json(), {
        error: 'origin_timeout', message: `GET /api/leads${region ? ` (region ${region})` : ''}: no answer within 300 ms`,
      });
    } finally {
      stall = false;
    }
  });

  test('a fill that fails itself (a body above fetchMaxBytes) is a 502 origin_unavailable naming the route and the region', async () => {
    const handle = await handler({ cache: {}, shim: { fetchMaxBytes: 4 } }); // (the fill's default time limit)
    const response = await handle(request('/api/leads?too-large=1'));
    assert.equal(response.status, 502);
    const region = response.headers.get('x-region');
    assert.ok(DEMO_REGIONS.includes(region), `x-region: ${region}`);
    assert.deepEqual(await response.json(), {
      error: 'origin_unavailable', message: `GET /api/leads (region ${region}): the answer's body is over 4 bytes (fetchMaxBytes)`,
    });
  });

  test('a path with a ;parameter is refused, named', async () => {
    const handle = await handler();
    const response = await handle(request('/api/models;v=1'));
    assert.equal(response.status, 400);
    assert.equal((await response.json()).message, "path: '/api/models;v=1' has a ';' (path parameters are not accepted)");
  });
});

describe('header values are bytes: an origin\'s UTF-8 and latin-1 values, kept as sent', () => {
  // Node.js hands header values over and writes them one byte per char (latin-1), so this
  // origin sends these bytes: "é" in UTF-8 (C3 A9) and, in the Link header, in latin-1 (E9).
  const utf8 = (text) => Buffer.from(text, 'utf8').toString('latin1');
  const SURROGATE_KEY = utf8('leads:é leads:list');
  const DISPOSITION = utf8('attachment; filename="café.json"');
  const LINK = '</api/leads/caf\u00e9>; rel="canonical"'; // é as the single byte E9
  let origin;
  let origins;
  let server;
  before(async () => {
    origin = createServer((request, response) => {
      response.writeHead(200, {
        'content-type': 'application/json', 'cache-control': 'public, max-age=60, s-maxage=300',
        'surrogate-key': SURROGATE_KEY, 'content-disposition': DISPOSITION, link: LINK,
      });
      response.end(Buffer.from('{"ok":true}')); // (a Buffer: the header values go out as latin-1)
    });
    await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${origin.address().port}`;
    origins = { urls: Object.fromEntries(DEMO_REGIONS.map((region) => [region, url])) };
    const runtime = await createEdgeRuntime({ cacheSecret: SECRET, originSecret: ORIGIN_SECRET, config: await edgeConfig(origins, { critical: [] }) });
    server = await serveEdgeRuntime({ runtime, port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await server?.close();
    origin.closeAllConnections();
    origin.close();
  });

  // A GET on a raw socket: the status line and header lines exactly as the bytes came, one
  // char per byte (no client decodes them).
  async function rawGet(path) {
    const { port, hostname } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    socket.write(`GET ${path} HTTP/1.1\r\nhost: edge.test\r\nx-api-key: qv_demo_growth\r\nconnection: close\r\n\r\n`);
    const chunks = [];
    for await (const chunk of socket) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString('latin1');
    const lines = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
    const header = (name) => lines.find((line) => line.toLowerCase().startsWith(`${name}: `))?.slice(name.length + 2);
    return { status: Number(lines[0].split(' ')[1]), header };
  }

  test('a UTF-8 value and a latin-1 value reach the client byte for byte, from the origin and from the cache', async () => {
    for (const cache of ['MISS', 'HIT-L1']) {
      const { status, header } = await rawGet('/api/leads?bytes=passed');
      assert.equal(status, 200, cache);
      assert.equal(header('x-cache'), cache);
      assert.equal(header('content-disposition'), DISPOSITION, `${cache}: the UTF-8 bytes C3 A9`);
      assert.equal(header('link'), LINK, `${cache}: the latin-1 byte E9`);
    }
  });

  test('a tag the origin sent in UTF-8 (Surrogate-Key: leads:é) is the tag a change to row é invalidates', async () => {
    const path = '/api/leads?bytes=tagged';
    assert.equal((await rawGet(path)).header('x-cache'), 'MISS');
    assert.equal((await rawGet(path)).header('x-cache'), 'HIT-L1');
    const payload = JSON.stringify({ type: 'UPDATE', table: 'leads', record: { id: 'é', organization_id: 'org_growth', campaign_id: 'org_growth_c1' }, old_record: null });
    const response = await fetch(new URL('/api/cache/invalidate', server.url), {
      method: 'POST', body: payload, headers: { [SIGNATURE_HEADER]: await signRequest(SECRET, payload) },
    });
    assert.equal(response.status, 200);
    assert.deepEqual((await response.json()).tags, ['leads:é']);
    assert.equal((await rawGet(path)).header('x-cache'), 'MISS', 'the entry tagged leads:é was invalidated');
  });
});

describe('the invalidation webhook\'s signatures, on a clock of the test\'s', () => {
  const payload = JSON.stringify({ type: 'UPDATE', table: 'campaigns', record: { id: 'org_growth_c1', organization_id: 'org_growth' }, old_record: null });
  const T = 1795800000; // the signature's timestamp, unix seconds
  let clock = T * 1000;
  const kv = new CountingKv({ now: () => clock }); // the KV the journals are written to
  // An edge handler (one isolate) over the shared KV, or `shared`, on the test's clock.
  const edgeOver = async (shared = kv, options = {}) => createEdgeHandler({
    wasmModule: await loadModule(), config: await loadEdgeConfig(), cacheSecret: SECRET, originSecret: ORIGIN_SECRET, kv: shared, now: () => clock, log: () => {}, ...options,
  });
  // [status, message, and on a 503 its Retry-After] of a signed invalidation.
  const sendTo = async (isolate, signature, body = payload) => {
    const response = await isolate(new Request('http://edge.test/api/cache/invalidate', { method: 'POST', body, headers: { [SIGNATURE_HEADER]: signature } }));
    const message = (await response.json()).message ?? 'applied';
    return response.status === 503 ? [503, message, response.headers.get('retry-after')] : [response.status, message];
  };
  let handle;
  before(async () => { handle = await edgeOver(); });
  const send = (signature) => sendTo(handle, signature);

  test('a change not applied (503) may be sent again as it is; one applied may not', async () => {
    const signature = await signRequest(SECRET, payload, T);
    kv.failing = new Set(['get', 'cas']);
    clock = T * 1000 + 500;
    assert.equal((await send(signature))[0], 503);
    kv.failing = false;
    assert.deepEqual(await send(signature), [200, 'applied']);
    const [status, message] = await send(signature);
    assert.equal(status, 401);
    assert.match(message, /already taken/);
  });

  // Isolates made ready (their module instance up) over one KV.
  const isolatesOver = (shared, count = 2, options = {}) => Promise.all(Array.from({ length: count }, async () => {
    const isolate = await edgeOver(shared, options);
    await (await isolate(new Request('http://edge.test/healthz'))).arrayBuffer();
    return isolate;
  }));
  // The shared KV with compare-and-set on keys under `prefix` done by `operation`.
  const casOn = (prefix, operation) => withOps(kv, { cas: (key, ...rest) => (key.startsWith(prefix) ? operation(key, ...rest) : kv.cas(key, ...rest)) });
  const claimKey = (signature) => SIGNATURE_CLAIM_PREFIX + signature.slice(-64);
  const claimOf = async (signature) => new TextDecoder().decode(await kv.get(claimKey(signature)) ?? new Uint8Array());
  // Until a request under way has claimed the signature.
  const pendingClaim = async (signature) => {
    for (let waited = 0; !(await claimOf(signature)).startsWith('pending:'); waited++) {
      assert.ok(waited < 5000, 'the request claimed the signature');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  };

  test('isolates sharing a KV take a signed request once between them, sent to both at once or one after the other', async () => {
    const [one, two] = await isolatesOver(kv);
    clock = T * 1000 + 2000;
    const together = await signRequest(SECRET, payload, T + 2);
    // The other copy finds it applied (401), or still being applied (503, retry).
    const refused = [[401, 'x-qv-signature: already taken: a signed request is taken once (sign each with its own timestamp)'],
      [503, 'x-qv-signature: the same signed request is being applied: retry in a second', '1']];
    for (const [isolates, signature] of [[[one, two], together], [[one, one], await signRequest(SECRET, payload, T + 7)]]) {
      const answers = await Promise.all(isolates.map((isolate) => sendTo(isolate, signature)));
      assert.deepEqual(answers.filter(([status]) => status === 200), [[200, 'applied']]);
      assert.ok(answers.every((answer) => answer[0] === 200 || refused.some((r) => JSON.stringify(r) === JSON.stringify(answer))), JSON.stringify(answers));
    }
    assert.match((await sendTo(two, together))[1], /already taken/, 'the retry, once it was applied');
    const apart = await signRequest(SECRET, payload, T + 3);
    assert.deepEqual(await sendTo(one, apart), [200, 'applied']);
    assert.match((await sendTo(two, apart))[1], /already taken/);
    assert.equal(await claimOf(apart), 'done');
  });

  test('a change one isolate could not apply (503) is let go in the KV too: another isolate takes it', async () => {
    const journalsDown = casOn('qvc:j:', failWith('kv down'));
    const [failing] = await isolatesOver(journalsDown, 1);
    const [healthy] = await isolatesOver(kv, 1);
    clock = T * 1000 + 4000;
    const signature = await signRequest(SECRET, payload, T + 4);
    const [status, message, retryAfter] = await sendTo(failing, signature);
    assert.deepEqual([status, retryAfter], [503, '1'], message);
    assert.equal(await claimOf(signature), 'released');
    assert.deepEqual(await sendTo(healthy, signature), [200, 'applied']);
    assert.equal(await claimOf(signature), 'done');
  });

  test('an isolate that found the request claimed elsewhere takes the retry once the claimer let it go (503)', async (t) => {
    let openGate;
    const gate = new Promise((resolve) => { openGate = resolve; });
    t.after(() => openGate()); // (after a failure too: the held change and its KV timeout would keep the process up)
    const stalled = casOn('qvc:j:', () => gate.then(() => { throw new Error('kv down'); }));
    const [claimer] = await isolatesOver(stalled, 1, { kvTimeoutMs: 60_000 }); // held by the gate alone
    const [other] = await isolatesOver(kv, 1);
    clock = T * 1000 + 6000;
    const signature = await signRequest(SECRET, payload, T + 6);
    const first = sendTo(claimer, signature);
    await pendingClaim(signature);
    const inProgress = [503, 'x-qv-signature: the same signed request is being applied: retry in a second', '1'];
    assert.deepEqual(await sendTo(other, signature), inProgress, 'claimed by the first, whose change is under way');
    assert.deepEqual(await sendTo(claimer, signature), inProgress, 'the same in the first one\'s isolate');
    openGate();
    assert.equal((await first)[0], 503);
    assert.deepEqual(await sendTo(other, signature), [200, 'applied'], 'the retry is taken where it lands');
  });

  test('a KV that cannot hold the claim leaves the record to the isolate: the change is applied, logged', async () => {
    const claimsDown = casOn(SIGNATURE_CLAIM_PREFIX, failWith('kv down'));
    const logged = [];
    const isolate = await edgeOver(claimsDown, { log: (level, message) => logged.push(message) });
    clock = T * 1000 + 5000;
    const signature = await signRequest(SECRET, payload, T + 5);
    assert.deepEqual(await sendTo(isolate, signature), [200, 'applied']);
    assert.match(logged.join('\n'), /taken once in this isolate only \(KV: kv\.cas qv:webhook:[0-9a-f]{64}: kv down\)/);
    assert.match((await sendTo(isolate, signature))[1], /already taken/, 'still once in this isolate');
  });

  test('a change that outlived its pending claim is still recorded done when it is applied', async (t) => {
    let gate;
    let openGate;
    t.after(() => openGate?.()); // (after a failure too: the held change and its KV timeout would keep the process up)
    const slow = casOn('qvc:j:', (...args) => gate.then(() => kv.cas(...args)));
    const journalsDown = casOn('qvc:j:', failWith('kv down'));
    const [isolate] = await isolatesOver(slow, 1, { kvTimeoutMs: 60_000 });
    const [failing] = await isolatesOver(journalsDown, 1);
    for (const [at, copyFails] of [[T + 8, false], [T + 14, true]]) {
      gate = new Promise((resolve) => { openGate = resolve; });
      clock = at * 1000;
      const signature = await signRequest(SECRET, payload, at);
      const answer = sendTo(isolate, signature);
      await pendingClaim(signature);
      clock += 31_000; // the claim's 30 s run out while the change is applied (on the KV's clock)
      assert.equal(await claimOf(signature), '');
      if (copyFails) { // a copy taken elsewhere, not applied there: released
        assert.equal((await sendTo(failing, signature))[0], 503);
        assert.equal(await claimOf(signature), 'released');
      }
      openGate();
      assert.deepEqual(await answer, [200, 'applied']);
      assert.equal(await claimOf(signature), 'done');
    }
  });

  test('a claim is renewed while its change is applied', async (t) => {
    let openGate;
    const gate = new Promise((resolve) => { openGate = resolve; });
    t.after(() => openGate()); // (after a failure too: the held change and its KV timeout would keep the process up)
    const slow = casOn('qvc:j:', (...args) => gate.then(() => kv.cas(...args)));
    const [isolate] = await isolatesOver(slow, 1, { kvTimeoutMs: 60_000 });
    t.mock.timers.enable({ apis: ['setInterval'] });
    clock = T * 1000 + 15_000;
    const signature = await signRequest(SECRET, payload, T + 15);
    const answer = sendTo(isolate, signature);
    await pendingClaim(signature);
    clock += 25_000;
    t.mock.timers.tick(10_000); // a third of the claim's 30 s: renewed, for 30 s from now
    for (let waited = 0; waited < 50; waited++) await new Promise((resolve) => setTimeout(resolve, 1));
    clock += 25_000; // 50 s after the claim
    assert.match(await claimOf(signature), /^pending:/);
    openGate();
    assert.deepEqual(await answer, [200, 'applied']);
    assert.equal(await claimOf(signature), 'done');
  });

  test('a change applied while its claim failed is recorded done over a copy\'s claim that landed meanwhile', async () => {
    const signature = await signRequest(SECRET, payload, T + 16);
    clock = T * 1000 + 16_000;
    const key = claimKey(signature);
    let first = true;
    const lateClaim = withOps(kv, { cas: async (k, ...rest) => {
      if (k === key && first) { // this claim gets no answer, and a copy's lands meanwhile
        first = false;
        await kv.set(key, 'pending:a-copy-elsewhere', 30_000);
        throw new Error('no answer');
      }
      return kv.cas(k, ...rest);
    } });
    const [isolate] = await isolatesOver(lateClaim, 1);
    assert.deepEqual(await sendTo(isolate, signature), [200, 'applied']);
    assert.equal(await claimOf(signature), 'done');
    const [other] = await isolatesOver(kv, 1);
    assert.match((await sendTo(other, signature))[1], /already taken/, 'not applied a second time');
  });

  // Until the signature's claim reads `value` (settled in the background), a few seconds at most.
  const claimBecomes = async (signature, value) => {
    for (let waited = 0; (await claimOf(signature)) !== value; waited++) {
      assert.ok(waited < 3000, `the claim became ${value} (it is '${await claimOf(signature)}')`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  };

  test('a claim that timed out and landed after its change failed is released all the same: a resend is taken', async (t) => {
    const signature = await signRequest(SECRET, payload, T + 17);
    clock = T * 1000 + 17_000;
    const key = claimKey(signature);
    let first = true;
    const lateClaim = withOps(kv, { cas: async (k, expected, value, ttlMs) => {
      if (k === key && first) { // no answer in time; the claim lands a little later
        first = false;
        setTimeout(() => kv.set(key, value, ttlMs), 30);
        throw new Error('no answer');
      }
      if (k.startsWith('qvc:j:')) throw new Error('kv down'); // the change cannot be applied
      return kv.cas(k, expected, value, ttlMs);
    } });
    const [isolate] = await isolatesOver(lateClaim, 1);
    const behind = []; // what the request asked its runtime to wait for
    const event = { waitUntil: (promise) => behind.push(promise) };
    const response = await isolate(new Request('http://edge.test/api/cache/invalidate', { method: 'POST', body: payload, headers: { [SIGNATURE_HEADER]: signature } }), event);
    assert.equal(response.status, 503);
    const alive = setInterval(() => {}, 1000); // (the settling's timers keep no process up)
    t.after(() => clearInterval(alive)); // (also when the settling fails or the test times out)
    await Promise.all(behind); // the settling, which the runtime keeps alive behind the response
    assert.equal(await claimOf(signature), 'released');
    const [other] = await isolatesOver(kv, 1);
    assert.deepEqual(await sendTo(other, signature), [200, 'applied'], 'the resend, elsewhere');
  });

  test('an applied change whose "done" got no answer is recorded done in the background', async () => {
    const signature = await signRequest(SECRET, payload, T + 18);
    clock = T * 1000 + 18_000;
    const key = claimKey(signature);
    let claims = 0;
    const flaky = withOps(kv, { cas: async (k, ...rest) => {
      if (k === key && ++claims === 2) throw new Error('no answer'); // the first "done"
      return kv.cas(k, ...rest);
    } });
    const logged = [];
    const [isolate] = await isolatesOver(flaky, 1, { log: (level, message) => logged.push(message) });
    assert.deepEqual(await sendTo(isolate, signature), [200, 'applied']);
    await claimBecomes(signature, 'done');
    assert.match(logged.join('\n'), /claim is not settled in the KV yet: trying again/);
  });

  test('a claim the ledger does not know is taken as answered; a KV answering strings is read as well', async () => {
    const signature = await signRequest(SECRET, payload, T + 9);
    clock = T * 1000 + 9000;
    await kv.set(claimKey(signature), 'written by another version', 60_000);
    const [isolate] = await isolatesOver(kv, 1);
    assert.match((await sendTo(isolate, signature))[1], /already taken/);
    const strings = withOps(kv, { cas: async (...args) => {
      const result = await kv.cas(...args);
      return result.current ? { ...result, current: new TextDecoder().decode(result.current) } : result;
    } });
    const [one, two] = await isolatesOver(strings);
    const fresh = await signRequest(SECRET, payload, T + 10);
    assert.deepEqual(await sendTo(one, fresh), [200, 'applied']);
    assert.match((await sendTo(two, fresh))[1], /already taken/, 'not applied twice');
  });

  test('a body that is not UTF-8 is a 400 and claims nothing', async () => {
    const bytes = new Uint8Array([0x7b, 0xff, 0x7d]);
    const signature = await signRequest(SECRET, bytes, T + 11);
    clock = T * 1000 + 11_000;
    assert.deepEqual(await sendTo(handle, signature, bytes), [400, 'body: not valid UTF-8']);
    assert.equal(await claimOf(signature), '');
  });

  test('a body with a Content-Encoding is a 415 naming it and claims nothing (the edge decodes none)', async () => {
    const signature = await signRequest(SECRET, payload, T + 11);
    clock = T * 1000 + 11_000;
    const response = await handle(new Request('http://edge.test/api/cache/invalidate', {
      method: 'POST', body: payload, headers: { [SIGNATURE_HEADER]: signature, 'content-encoding': 'gzip' },
    }));
    assert.equal(response.status, 415);
    assert.equal(response.headers.get('accept-encoding'), 'identity');
    assert.equal((await response.json()).message, "content-encoding: 'gzip' is not decoded here; send the body as it is (identity)");
    assert.equal(await claimOf(signature), '');
  });

  test('an isolate whose module cannot be made answers 503 with Retry-After, naming why', async () => {
    const broken = await edgeOver(kv, { config: { ...(await loadEdgeConfig()), cache: { config: { l1: { maxEntries: -1 } } } } });
    clock = T * 1000 + 12_000;
    const [status, message, retryAfter] = await sendTo(broken, await signRequest(SECRET, payload, T + 12));
    assert.deepEqual([status, retryAfter], [503, '1']);
    assert.match(message, /^the change was not applied \(config\.cache\.config: l1\.maxEntries/);
    const health = await broken(new Request('http://edge.test/healthz'));
    assert.deepEqual([health.status, (await health.json()).message], [503, 'module not ready (logged at the edge)']);
  });

  test('the first request an isolate gets may be the webhook: the cache\'s own settings apply to it', async () => {
    const isolate = await edgeOver(kv, { config: { ...(await loadEdgeConfig()), cache: { config: { invalidation: { idField: 'uuid' } } } } });
    const change = JSON.stringify({ type: 'UPDATE', table: 'campaigns', record: { uuid: 'c42', organization_id: 'org_growth' }, old_record: null });
    clock = T * 1000 + 13_000;
    const response = await isolate(new Request('http://edge.test/api/cache/invalidate', { method: 'POST', body: change, headers: { [SIGNATURE_HEADER]: await signRequest(SECRET, change, T + 13) } }));
    assert.equal(response.status, 200);
    assert.ok((await response.json()).tags.includes('campaigns:c42'));
  });

  test('a signature is remembered for as long as its timestamp is taken, to the millisecond', async () => {
    const signature = await signRequest(SECRET, payload, T + 1);
    clock = (T + 1) * 1000;
    assert.equal((await send(signature))[0], 200);
    clock = (T + 1 + 300) * 1000; // the last moment the timestamp is taken: still remembered
    assert.match((await send(signature))[1], /already taken/);
    clock += 1; // past it: too old, whatever the record
    assert.match((await send(signature))[1], /timestamp \d+ is 300 s old/);
  });
});

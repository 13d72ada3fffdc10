// The router module in WebAssembly and the edge's regional proxy: deterministic simulations
// on a virtual clock (a region degrades and recovers; an outage during steady traffic),
// ejections shared through KV, active health checks as fetch operations, call affinity
// when a node leaves, and the edge function proxying to demo regional origins over HTTP.
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { instantiateFlavour, FLAVOURS, MemoryKv } from '../dist/js/node.mjs';
import { CountingKv } from './kv-doubles.mjs';
import {
  simulateRouting, window, returnedAt, START_MS, STEADY_RTT, REGIONS, NEW_YORK,
} from './router-sim.mjs';
import { createEdgeRuntime, loadEdgeConfig } from '../edge/runtime.mjs';
import { execFile } from 'node:child_process';
import { startRegionalOrigins, routerConfigFor } from '../edge/regional-origins.mjs';
import { createRegionalProxy } from '../edge/regional-proxy.mjs';

const quiet = () => {};
const ORIGIN_SECRET = 'test-origin-secret'; // the demo origins serve only requests with it
const ISOLATES = 4;
const PER_SECOND = 50; // 12.5 per isolate
// Scenarios: us-east-1 (New York's nearest) misbehaves from 60 s to 120 s of the run.
const DOWN_FROM = 60000;
const DOWN_UNTIL = 120000;
const during = (t) => t >= DOWN_FROM && t < DOWN_UNTIL;
const fault = (what) => (region, path, t) => (region === 'us-east-1' && during(t) ? what : { rttMs: STEADY_RTT[region] });

// For each isolate, when it saw its first answer of us-east-1 after the fault began.
function firstObservation(requests) {
  const seen = new Map();
  for (const r of requests) {
    if (r.at < DOWN_FROM || r.firstRegion !== 'us-east-1') continue;
    const answered = r.at + (r.failedOver ? 0 : r.latencyMs);
    if (!seen.has(r.isolate) || answered < seen.get(r.isolate)) seen.set(r.isolate, answered);
  }
  return seen;
}

describe('simulation: a region degrades, then recovers (virtual clock, 4 isolates, 50 requests/s)', () => {
  test('latency 20 -> 400 ms: each isolate leaves after its first slow answer; traffic returns after recovery', async () => {
    const { requests } = await simulateRouting({ isolates: ISOLATES, seconds: 200, perSecond: PER_SECOND, behaviour: fault({ rttMs: 400 }) });
    assert.equal(window(requests, 0, DOWN_FROM).firstTo('us-east-1'), 3000, 'before: all of New York on us-east-1');
    // One observation: 20 + 0.3 x 380 = 134 ms, less its 13.4 ms switch margin as the
    // incumbent, > 80 x 1.1 (eu-west-1 within the near-tie).
    // What an isolate sends before that first answer arrives is in flight already: at
    // 12.5 requests/s and 400 ms, 5 more each.
    const seen = firstObservation(requests);
    assert.equal(seen.size, ISOLATES);
    for (const r of requests) {
      if (r.firstRegion !== 'us-east-1' || !during(r.at)) continue;
      assert.ok(r.at <= seen.get(r.isolate), `isolate ${r.isolate} sent to us-east-1 at ${r.at} ms after its first slow answer at ${seen.get(r.isolate)} ms`);
    }
    const slow = window(requests, DOWN_FROM, DOWN_UNTIL);
    assert.ok(slow.firstTo('us-east-1') <= ISOLATES * (1 + Math.ceil(0.4 * PER_SECOND / ISOLATES)), `${slow.firstTo('us-east-1')} requests went to the slow region`);
    assert.equal(slow.failed, 0);
    // Recovery: the stale EWMA (about 355 ms after six slow samples) relaxes towards the
    // 10 ms prior with a 30 s half-life. eu-west-1, the incumbent now, competes with its 80 ms
    // less the switch margin (8 ms), so us-east-1 is within the near-tie (79.2 ms) after
    // 30 x log2(345 / 69) = 70 s from the last sample (~60.5 s): traffic returns at ~130 s
    // (~125 s without hysteresis).
    const back = returnedAt(requests, 'us-east-1', DOWN_UNTIL);
    assert.ok(back !== null && back <= DOWN_UNTIL + 15000, `returned at ${back} ms`);
    assert.equal(window(requests, DOWN_UNTIL, 200000).failed, 0);
  });

  test('503s: ejected after 5 failures per isolate, each failed over within the budget; back after a passing probe', async () => {
    const { requests, instances } = await simulateRouting({ isolates: ISOLATES, seconds: 200, perSecond: PER_SECOND, behaviour: fault({ rttMs: 5, status: 503 }) });
    const bad = window(requests, DOWN_FROM, DOWN_UNTIL);
    assert.equal(bad.firstTo('us-east-1'), 5 * ISOLATES, 'five observations per isolate (503s come back in 5 ms)');
    assert.equal(bad.failedOver, 5 * ISOLATES);
    assert.equal(bad.failed, 0, 'no request failed: every failure was retried on eu-west-1');
    // Ejected at ~60.4 s for 30 s; its probe at ~90.4 s fails (still 503) and doubles the
    // ejection to 60 s; the probe at ~150.4 s passes. Back at most one back-off plus one
    // health-check interval after recovery.
    const back = returnedAt(requests, 'us-east-1', DOWN_UNTIL);
    assert.ok(back !== null && back <= DOWN_UNTIL + 60000 + 10000, `returned at ${back} ms`);
    assert.ok(back >= DOWN_UNTIL, 'not before it recovered');
    for (const { qv } of instances) assert.equal((await qv.call('router.health')).regions[0].health, 'healthy');
  });
});

describe('simulation: an outage during steady traffic', () => {
  test('connections refused: no request fails, the budget covers every failover', async () => {
    const { requests } = await simulateRouting({ isolates: ISOLATES, seconds: 200, perSecond: PER_SECOND, behaviour: fault({ refuse: true }) });
    const outage = window(requests, DOWN_FROM, DOWN_UNTIL);
    assert.equal(outage.failed, 0);
    assert.equal(outage.firstTo('us-east-1'), 5 * ISOLATES);
    assert.equal(window(requests, 0, 200000).unfinished, 0);
  });

  test('a hanging region: every request that fails is one the retry budget could not cover', async () => {
    const { requests } = await simulateRouting({ isolates: ISOLATES, seconds: 200, perSecond: PER_SECOND, behaviour: fault({ hang: true }) });
    const outage = window(requests, DOWN_FROM, DOWN_UNTIL);
    // Until 5 timeouts per isolate have come back (5 s), every request goes there: about
    // 5 s x 50/s. Retries are capped per isolate at 3 + 20% of its requests of the last 10 s.
    assert.ok(outage.failedOver <= ISOLATES * (3 + 0.2 * 10 * PER_SECOND / ISOLATES), `${outage.failedOver} retries`);
    const failed = requests.filter((r) => r.status >= 500);
    assert.ok(failed.length > 0, 'this outage exceeds the budget (the scenario is meant to)');
    for (const r of failed) {
      assert.equal(r.firstRegion, 'us-east-1');
      assert.match(r.notRetried ?? '', /^retry budget exhausted/, `a failure the budget did not refuse: ${JSON.stringify(r)}`);
    }
    assert.equal(failed.length + outage.failedOver, outage.firstTo('us-east-1'), 'every failed first try was either retried or refused by the budget');
    assert.ok(window(requests, DOWN_FROM + 10000, DOWN_UNTIL).failed === 0, 'after the ejections, nothing fails');
  });

  test('a tight budget (0% + 2 per window): failures are exactly the failovers it refused', async () => {
    const { requests } = await simulateRouting({
      isolates: ISOLATES, seconds: 100, perSecond: PER_SECOND, behaviour: fault({ rttMs: 5, status: 503 }),
      routerConfig: { retryBudget: { percent: 0, minRetries: 2 } },
    });
    const outage = window(requests, DOWN_FROM, DOWN_UNTIL);
    assert.equal(outage.failedOver, 2 * ISOLATES);
    assert.equal(outage.failed, 5 * ISOLATES - 2 * ISOLATES);
    for (const r of requests.filter((x) => x.status >= 500)) assert.match(r.notRetried, /^retry budget exhausted: 2 retries/);
  });

  test('the same run on both flavours gives the same requests the same answers', async () => {
    const runs = [];
    for (const flavour of FLAVOURS) {
      runs.push((await simulateRouting({ flavour, isolates: 2, seconds: 80, perSecond: 20, behaviour: fault({ rttMs: 5, status: 503 }) }))
        .requests.map((r) => `${r.at}:${r.firstRegion}:${r.region}:${r.status}`));
    }
    assert.deepEqual(runs[0], runs[1]);
  });
});

// A fetch for health checks: answers from `status(region)` and records what was asked.
function probeFetch(status, asked = []) {
  return async (url, init) => {
    const region = new URL(url).hostname.split('.')[0];
    asked.push({ region, method: init.method, url });
    const code = status(region);
    if (code === 'hang') {
      return new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    }
    return new Response('ok', { status: code });
  };
}

describe('active health checks and shared ejections (module on a settable clock)', () => {
  const config = { regions: REGIONS.map((id) => ({ id, origin: `http://${id}.sim` })), healthCheck: { timeoutMs: 50 } };

  test('probes are fetch operations on the interval; 3 failures in a row take a region out, one success brings it back', async () => {
    let now = START_MS;
    let failing = true;
    const asked = [];
    const qv = await instantiateFlavour('wasi', {
      now: () => now, log: quiet, fetch: probeFetch((region) => (region === 'eu-west-1' && failing ? 503 : 200), asked),
    });
    await qv.call('router.configure', config);
    const first = await qv.call('router.health_check');
    assert.deepEqual(asked.map((a) => [a.region, a.method, a.url]), REGIONS.map((r) => [r, 'GET', `http://${r}.sim/health`]));
    assert.deepEqual(first.checked.map((c) => [c.region, c.ok, c.detail]),
      [['us-east-1', true, 'HTTP 200'], ['eu-west-1', false, 'HTTP 503'], ['ap-southeast-1', true, 'HTTP 200'], ['sa-east-1', true, 'HTTP 200']]);
    assert.equal(first.nextHealthCheckAtMs, now + 10000);
    assert.deepEqual((await qv.call('router.health_check')).checked, [], 'nothing is due before the interval');
    for (let i = 0; i < 2; i++) {
      now += 10000;
      await qv.call('router.health_check');
    }
    const london = { headers: { 'x-vercel-ip-latitude': '51.5', 'x-vercel-ip-longitude': '-0.13' } };
    const health = await qv.call('router.health');
    assert.equal(health.regions[1].health, 'unhealthy');
    assert.equal(health.regions[1].cause, '3 health checks failed in a row (last: HTTP 503)');
    assert.equal((await qv.call('router.route', london)).optimalRegion, 'us-east-1');
    failing = false;
    now += 10000;
    await qv.call('router.health_check');
    assert.equal((await qv.call('router.route', london)).optimalRegion, 'eu-west-1');
  });

  test('a probe that does not answer times out as the timeout says; concurrent checks do not repeat probes', async () => {
    let now = START_MS;
    const asked = [];
    const qv = await instantiateFlavour('emscripten', { now: () => now, log: quiet, fetch: probeFetch((r) => (r === 'sa-east-1' ? 'hang' : 200), asked) });
    await qv.call('router.configure', config);
    const [a, b] = await Promise.all([qv.call('router.health_check'), qv.call('router.health_check')]);
    assert.equal(a.checked.length + b.checked.length, 4, 'each region probed once');
    assert.equal(asked.length, 4);
    const hung = [...a.checked, ...b.checked].find((c) => c.region === 'sa-east-1');
    assert.equal(hung.ok, false);
    assert.match(hung.detail, /^timeout: fetch GET http:\/\/sa-east-1\.sim\/health: no answer within 50 ms/);
  });

  test('after an ejection ends, the region returns only once a probe passes', async () => {
    let now = START_MS;
    let status = 503;
    const qv = await instantiateFlavour('wasi', { now: () => now, log: quiet, fetch: probeFetch((r) => (r === 'us-east-1' ? status : 200)) });
    await qv.call('router.configure', { ...config, healthCheck: { intervalMs: 3600000 } });
    await qv.call('router.health_check'); // all checked once; none due again for an hour
    for (let i = 0; i < 5; i++) await qv.call('router.observe', { region: 'us-east-1', rttMs: 1, status: 503 });
    const ny = { headers: NEW_YORK };
    assert.equal((await qv.call('router.route', ny)).optimalRegion, 'eu-west-1');
    now += 30000;
    assert.equal((await qv.call('router.health')).regions[0].health, 'probing');
    assert.equal((await qv.call('router.route', ny)).optimalRegion, 'eu-west-1', 'not before a probe');
    const failedProbe = await qv.call('router.health_check');
    assert.deepEqual(failedProbe.checked.map((c) => c.region), ['us-east-1'], 'the probing region is checked at once');
    assert.deepEqual(failedProbe.published, ['us-east-1'], 'the renewed ejection is published');
    assert.equal((await qv.call('router.health')).regions[0].ejectedUntilMs, now + 60000);
    now += 60000;
    status = 200;
    await qv.call('router.health_check');
    assert.equal((await qv.call('router.route', ny)).optimalRegion, 'us-east-1');
  });

  test('an ejection a KV refuses to write is not published, and router.observe names why', async () => {
    for (const flavour of FLAVOURS) {
      const kv = new CountingKv();
      kv.failing = new Set(['set']);
      const qv = await instantiateFlavour(flavour, { kv, now: () => START_MS, log: quiet });
      await qv.call('router.configure', config);
      let observed;
      for (let i = 0; i < 5; i++) observed = await qv.call('router.observe', { region: 'us-east-1', rttMs: 1, status: 503 });
      assert.equal(observed.ejectedNow, true, flavour);
      assert.equal(observed.published, false, flavour);
      assert.match(observed.kvProblem, /^the ejection of us-east-1 was not published \(.*kv down.*\)$/, flavour);
      assert.equal(await kv.get('qv:router:ejected:us-east-1'), null, flavour);
    }
  });

  test('an ejection published by one isolate reaches another at its next health check', async () => {
    let now = START_MS;
    const kv = new MemoryKv({ now: () => now });
    const fetch = probeFetch(() => 200);
    const [a, b] = await Promise.all([0, 1].map(() => instantiateFlavour('emscripten', { kv, now: () => now, log: quiet, fetch })));
    for (const qv of [a, b]) {
      await qv.call('router.configure', config);
      await qv.call('router.health_check');
    }
    for (let i = 0; i < 5; i++) await a.call('router.observe', { region: 'us-east-1', rttMs: 1, status: 503 });
    const ny = { headers: NEW_YORK };
    assert.equal((await b.call('router.route', ny)).optimalRegion, 'us-east-1', 'b has not heard yet');
    now += 10000;
    const check = await b.call('router.health_check');
    assert.deepEqual(check.sharedEjections, [{ region: 'us-east-1', untilMs: START_MS + 30000, applied: true }]);
    assert.equal((await b.call('router.route', ny)).optimalRegion, 'eu-west-1');
    const health = await b.call('router.health');
    assert.equal(health.regions[0].shared, true);
    assert.equal(health.regions[0].cause, 'shared: 5 consecutive failures (last: 503 response)');
    now += 20000; // the published key expires with the ejection
    assert.equal(await kv.get('qv:router:ejected:us-east-1'), null);
  });

  test('a lower maxEjectionMs ends the ejection running at the new maximum, and its copy in KV does not bring it back', async () => {
    let now = START_MS;
    const kv = new MemoryKv({ now: () => now });
    const qv = await instantiateFlavour('wasi', { kv, now: () => now, log: quiet, fetch: probeFetch(() => 200) });
    await qv.call('router.configure', { ...config, outlierDetection: { baseEjectionMs: 120000 } });
    await qv.call('router.health_check');
    for (let i = 0; i < 5; i++) await qv.call('router.observe', { region: 'us-east-1', rttMs: 1, status: 503 });
    assert.equal((await qv.call('router.health')).regions[0].ejectedUntilMs, START_MS + 120000);
    now += 10000;
    await qv.call('router.configure', { ...config, outlierDetection: { baseEjectionMs: 30000, maxEjectionMs: 30000 } });
    assert.equal((await qv.call('router.health')).regions[0].ejectedUntilMs, START_MS + 30000);
    const read = await qv.call('router.health_check'); // reads the ejection it published: known
    assert.deepEqual(read.sharedEjections, [{ region: 'us-east-1', untilMs: START_MS + 120000, applied: false }]);
    now = START_MS + 30000; // its probe passes; the key, published for 120 s, is still there
    const back = await qv.call('router.health_check');
    assert.equal(back.checked.find((c) => c.region === 'us-east-1')?.ok, true);
    assert.deepEqual(back.sharedEjections, [{ region: 'us-east-1', untilMs: START_MS + 120000, applied: false }]);
    assert.equal((await qv.call('router.health')).regions[0].health, 'healthy');
    assert.equal((await qv.call('router.route', { headers: NEW_YORK })).optimalRegion, 'us-east-1');
  });

  test('an invalid configuration changes nothing', async () => {
    const qv = await instantiateFlavour('wasi', { log: quiet });
    await qv.call('router.configure', { regions: [{ id: 'eu-west-1' }], retryBudget: { percent: 5 } });
    const { status, body } = await qv.invoke('router.configure', { regions: [{ id: 'us-east-1' }], retryBudget: { percent: -5 } });
    assert.equal(status, 'invalid_input');
    assert.equal(body.message, 'retryBudget.percent: must be between 0 and 100, got -5');
    const config = await qv.call('router.config');
    assert.deepEqual(config.regions.map((r) => r.id), ['eu-west-1']);
    assert.equal(config.retryBudget.percent, 5);
  });
});

describe('call affinity when a media node leaves (through the module)', () => {
  const CALLS = 5000;
  const NODES = 10;
  const nodes = (n) => Array.from({ length: n }, (_, i) => `node-${i}`);
  async function placements(qv, list) {
    await qv.call('router.configure', { regions: [{ id: 'us-east-1', mediaNodes: list }], affinity: qv.affinity });
    const out = [];
    for (let i = 0; i < CALLS; i++) out.push((await qv.call('router.affinity', { callId: `call-${i}`, region: 'us-east-1' })).node);
    return out;
  }
  for (const flavour of FLAVOURS) {
    for (const algorithm of ['rendezvous', 'maglev']) {
      test(`${algorithm} on ${flavour}: removing one of ${NODES} nodes moves about 1/${NODES} of the calls`, async () => {
        const qv = await instantiateFlavour(flavour, { log: quiet });
        qv.affinity = { algorithm, maglevTableSize: 65537 };
        const before = await placements(qv, nodes(NODES));
        const after = await placements(qv, nodes(NODES).filter((n) => n !== 'node-3'));
        let moved = 0;
        let movedFromOthers = 0;
        for (let i = 0; i < CALLS; i++) {
          if (before[i] === after[i]) continue;
          moved++;
          if (before[i] !== 'node-3') movedFromOthers++;
        }
        const fraction = moved / CALLS;
        assert.ok(Math.abs(fraction - 1 / NODES) < 0.02, `moved ${fraction}`);
        if (algorithm === 'rendezvous') assert.equal(movedFromOthers, 0, 'only the removed node\'s calls move');
        else assert.ok(movedFromOthers < CALLS * 0.01, `${movedFromOthers} calls of other nodes moved`);
      });
    }
  }
});

describe('the regional proxy under a caller\'s deadline', () => {
  test('a caller that gives up neither charges the region with a timeout nor retries elsewhere', async () => {
    const observed = [];
    const asked = [];
    const invoke = async (method, input) => {
      asked.push(method);
      if (method === 'router.route') return { status: 'ok', body: { optimalRegion: 'us-east-1', origin: 'http://us.test', fallbackRegions: ['eu-west-1'], timeoutMs: 5000, clientArea: 'x' } };
      if (method === 'router.retry') return { status: 'ok', body: { allowed: true, region: 'eu-west-1', origin: 'http://eu.test' } };
      if (method === 'router.observe') observed.push(input);
      return { status: 'ok', body: { nextHealthCheckAtMs: Infinity } };
    };
    const contacted = [];
    const fetch = (url, init) => new Promise((resolve, reject) => {
      contacted.push(url);
      init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
    });
    const regional = createRegionalProxy({ invoke, fetch });
    const deadline = new AbortController();
    setTimeout(() => deadline.abort(), 30);
    const response = await regional.fetcher()('http://edge.local/api/campaigns', { signal: deadline.signal });
    assert.equal(response.status, 504);
    assert.deepEqual(contacted, ['http://us.test/api/campaigns']);
    assert.deepEqual([observed.length, asked.includes('router.retry')], [0, false]);
  });
});

describe('hysteresis through the regional proxy: GET /api/route says when an area keeps its region', () => {
  const LONDON = { 'x-vercel-ip-latitude': '51.51', 'x-vercel-ip-longitude': '-0.13', 'x-vercel-ip-country': 'GB' };
  for (const flavour of FLAVOURS) {
    test(`${flavour}: RTTs within the switch margin keep the region; beyond it, the faster takes over`, async () => {
      const qv = await instantiateFlavour(flavour, { log: quiet });
      const configured = await qv.invoke('router.configure', {
        regions: [
          { id: 'a', latitude: 51.5, longitude: 0, costFactor: 1, origin: 'http://a.test' },
          { id: 'b', latitude: 52.5, longitude: 0, costFactor: 1, origin: 'http://b.test' },
        ],
        latency: { staleHalfLifeMs: 0 }, healthCheck: { enabled: false }, shareEjections: false,
      });
      assert.equal(configured.status, 'ok');
      // Each origin answers after the round trip the test sets, on the proxy's own clock.
      let clock = 0;
      const rtt = { a: 50, b: 48 };
      const fetch = async (url) => {
        const region = new URL(url).hostname.split('.')[0];
        clock += rtt[region];
        return new Response(region);
      };
      const regional = createRegionalProxy({ invoke: (method, input) => qv.invoke(method, input), fetch, now: () => clock });
      const request = () => new Request('http://edge.local/api/agents', { headers: LONDON });
      const send = async () => {
        const response = await regional.proxy(request());
        await response.body?.cancel();
        return response.headers.get('x-region');
      };
      const explained = async () => (await regional.explain(request())).json();
      // a, the nearest, measured at 50 ms; then b, nearer than that by its estimate, at 48 ms.
      assert.deepEqual([await send(), await send()], ['a', 'b']);
      rtt.b = 55; // b's EWMA: 50.1 ms
      assert.equal(await send(), 'b');
      const kept = await explained();
      assert.equal(kept.optimalRegion, 'b');
      assert.deepEqual(kept.measuredLatencies, { a: 50, b: 50.1 });
      assert.equal(kept.reason, 'b stays the region for geo:50,-10 (its last choice): measured RTT 50.1 ms (EWMA of 2 samples); '
        + 'a (50.0 ms) would rank first, but not by more than the switch margin of 5.0 ms (the larger of 10% of the incumbent\'s latency and 5 ms)');
      assert.equal(await send(), 'b', 'the proxy keeps it too');
      // b's EWMA at 57.1 ms: a is 7.1 ms faster, beyond the margin (5.7 ms): a takes over.
      rtt.b = 70;
      assert.equal(await send(), 'b');
      const switched = await explained();
      assert.equal(switched.optimalRegion, 'a');
      assert.equal(switched.reason, 'a has the lowest measured RTT from geo:50,-10: 50.0 ms (EWMA of 1 sample)');
      assert.equal(await send(), 'a');
    });
  }
});

describe('the regional proxy\'s request timeout', () => {
  test('covers the answer\'s headers only: an answer whose observation outlasts the deadline keeps its body', async () => {
    const origins = await startRegionalOrigins({ secret: ORIGIN_SECRET, regions: ['us-east-1'] });
    try {
      // The timers are the test's: the request's deadline passes exactly while the module
      // records the answer (as when an observation publishes an ejection through a slow KV).
      const pending = new Map();
      let ids = 0;
      const timers = {
        setTimeout: (fire) => { pending.set(++ids, fire); return ids; },
        clearTimeout: (id) => { pending.delete(id); },
      };
      const invoke = async (method) => {
        if (method === 'router.route') {
          return { status: 'ok', body: { optimalRegion: 'us-east-1', origin: origins.urls['us-east-1'], fallbackRegions: [], timeoutMs: 5000, clientArea: 'x' } };
        }
        if (method === 'router.observe') for (const fire of pending.values()) fire();
        return { status: 'ok', body: { nextHealthCheckAtMs: Infinity } };
      };
      const regional = createRegionalProxy({ invoke, timers, originSecret: ORIGIN_SECRET });
      const response = await regional.proxy(new Request('http://edge.local/api/echo?x=1'));
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-region'), 'us-east-1');
      const echo = await response.json();
      assert.deepEqual([echo.region, echo.path], ['us-east-1', '/api/echo']);
    } finally {
      await origins.close();
    }
  });
});

describe('the edge function proxies /api/* to the regions (edge-runtime, demo regional origins)', () => {
  let origins;
  let runtime; // the test's edge
  let timeouts; // its timeouts, fired by the test
  const LONDON = { 'x-vercel-ip-latitude': '51.51', 'x-vercel-ip-longitude': '-0.13', 'x-vercel-ip-country': 'GB' };
  const call = (path, init = {}) => runtime.dispatchFetch(`http://edge.test${path}`, {
    ...init, headers: { 'x-api-key': 'qv_demo_enterprise', ...LONDON, ...init.headers },
  });
  // The timers the edge's requests to origins, health probes and KV operations time out by:
  // kept, and fired by the test alone. Nothing times out because a loaded machine answered
  // late; the hanging region's request times out when the test says.
  const firedByTest = () => {
    const timeouts = new Map(); // id -> {fire, ms}
    let ids = 0;
    return {
      timeouts,
      timers: { setTimeout: (fire, ms) => { timeouts.set(++ids, { fire, ms }); return ids; }, clearTimeout: (id) => { timeouts.delete(id); } },
    };
  };
  // An edge function in front of the origins with these router settings.
  const edgeRuntime = async (settings, timers) => {
    const config = await loadEdgeConfig();
    config.router = routerConfigFor(origins.urls, settings);
    // No warm-up of critical keys (the cache's, in cache-edge.test.mjs): the only requests
    // the regions see, and the router measures and budgets, are the tests' own.
    config.cache = { ...config.cache, critical: [] };
    return createEdgeRuntime({ config, originSecret: ORIGIN_SECRET, globals: { QV_TIMERS: timers } });
  };
  // (Requests wait 400 ms, probes 300, KV operations 250: a timeout is told by its length.)
  const REQUEST_TIMEOUT_MS = 400;
  before(async () => { origins = await startRegionalOrigins({ secret: ORIGIN_SECRET }); });
  // Each test on an edge of its own, so each starts from the same health state: nothing
  // measured, failed, ejected or retried yet (an edge shared by the tests carried one test's
  // failures and ejections into the next, and a test could pass only after another). And
  // without active health checks, except the test of them: only the test's own requests move
  // the routing decision. A check landing late, under load, between asking where a request
  // would go and sending it could take that region out, and the request would rightly go
  // elsewhere; a probe could also wait on a hanging region.
  beforeEach(async () => {
    let timers;
    ({ timeouts, timers } = firedByTest());
    runtime = await edgeRuntime({ requestTimeoutMs: REQUEST_TIMEOUT_MS, healthCheck: { enabled: false } }, timers);
  });
  after(async () => {
    await origins?.close();
  });
  // The decision for the next request. The demo origins all run on this machine, so once
  // the first RTTs are measured the choice among them follows those (a few ms each), not
  // geography: the tests ask the router rather than assume.
  const decision = async () => (await call('/api/route')).json();

  test('a request goes to the nearest region, with x-region, the identity set by the edge and no API key', async () => {
    const response = await call('/api/agents?page=2');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-region'), 'eu-west-1', 'by distance: nothing measured yet');
    assert.match(response.headers.get('ratelimit-policy'), /^"tier";q=10000/);
    const body = await response.json();
    assert.equal(body.region, 'eu-west-1');
    assert.equal(body.path, '/api/agents');
    assert.deepEqual(body.query, { page: '2' });
    assert.equal(body.organizationId, 'org_enterprise');
    assert.ok(!body.headers.includes('x-api-key') && !body.headers.includes('authorization'));
    assert.ok(body.headers.includes('x-qv-tier'));
  });

  test('headers some origins route by, or take a method from, stay at the edge: the gates judged the request as sent', async () => {
    const rerouting = ['x-original-url', 'x-original-uri', 'x-rewrite-url', 'x-forwarded-uri', 'x-forwarded-path', 'x-forwarded-prefix',
      'x-envoy-original-path', 'x-middleware-subrequest', 'x-matched-path', 'x-invoke-path', 'x-invoke-query',
      'x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method'];
    const response = await call('/api/agents', { headers: Object.fromEntries(rerouting.map((name) => [name, '/api/models'])) });
    assert.equal(response.status, 200);
    const { headers } = await response.json();
    assert.deepEqual(rerouting.filter((name) => headers.includes(name)), []);
  });

  test('GET /api/route explains the decision for the caller', async () => {
    await (await call('/api/agents')).body?.cancel();
    const response = await call('/api/route');
    assert.equal(response.status, 200);
    const explained = await response.json();
    assert.equal(explained.organizationId, 'org_enterprise');
    assert.equal(explained.origin, origins.urls[explained.optimalRegion]);
    assert.equal(explained.regions.length, 4);
    assert.equal(explained.measuredLatencies['eu-west-1'] > 0, true, 'the request before was measured');
    assert.ok(explained.reason.startsWith(explained.optimalRegion));
    const next = await call('/api/contacts');
    assert.equal(next.headers.get('x-region'), explained.optimalRegion);
    await next.body?.cancel();
    const bad = await call('/api/route', { headers: { 'x-vercel-ip-latitude': 'north' } });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).message, /^headers\.x-vercel-ip-latitude: expected a latitude/);
  });

  test('a failing region: the request is retried on the first fallback; x-region-failover says so', async () => {
    const { optimalRegion: failing, fallbackRegions } = await decision();
    await origins.set(failing, { mode: 'fail' });
    try {
      const response = await call('/api/contacts');
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-region'), fallbackRegions[0]);
      assert.equal(response.headers.get('x-region-failover'), failing);
      assert.equal((await response.json()).region, fallbackRegions[0]);
      // A POST that reached the origin is not repeated ...
      await origins.reset();
      const target = (await decision()).optimalRegion;
      await origins.set(target, { mode: 'fail' });
      const post = await call('/api/leads', { method: 'POST', body: '{"name":"a"}' });
      assert.equal(post.status, 503);
      assert.equal(post.headers.get('x-region'), target);
      assert.match(post.headers.get('x-region-not-retried'), /POST without an Idempotency-Key/);
      // ... unless it says it may be, and then its body goes again.
      const idempotent = await call('/api/leads', { method: 'POST', body: '{"name":"a"}', headers: { 'idempotency-key': 'k-1' } });
      assert.equal(idempotent.status, 200);
      assert.equal((await idempotent.json()).bodyBytes, 12);
    } finally {
      await origins.reset();
    }
  });

  test('a hanging region times out after requestTimeoutMs and the request is answered by the fallback', { timeout: 30_000 }, async () => {
    const { optimalRegion: hanging, fallbackRegions } = await decision();
    await origins.set(hanging, { mode: 'hang' });
    try {
      const held = () => origins.stats().held[hanging] ?? 0;
      const heldBefore = held();
      let answered = false;
      const answer = call('/api/contacts').finally(() => { answered = true; });
      // Once the hanging region holds the request (and never answers it), its timeout comes.
      // An answer before that came from another region: the assertion below says so.
      while (held() === heldBefore && !answered) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(held() - heldBefore, 1, 'the hanging region holds the request');
      const waiting = [...timeouts.values()].filter((timeout) => timeout.ms === REQUEST_TIMEOUT_MS);
      assert.equal(waiting.length, 1, 'the one request in flight waits requestTimeoutMs');
      waiting[0].fire();
      const response = await answer;
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-region'), fallbackRegions[0]);
      assert.equal(response.headers.get('x-region-failover'), hanging);
      await response.body?.cancel();
      assert.equal(held() - heldBefore, 1, 'the hanging region had the request once');
    } finally {
      await origins.reset(); // the held request's connection closed
    }
  });

  test('a hanging region on a cached route\'s miss: the fill outlasts the first attempt, and the fallback answers it', { timeout: 30_000 }, async () => {
    // The default requestTimeoutMs, as long as the cache's default origin timeout (5 s): the
    // fill's own limit must leave room for the proxy's retry.
    let timers;
    ({ timeouts, timers } = firedByTest());
    runtime = await edgeRuntime({ healthCheck: { enabled: false } }, timers);
    const { optimalRegion: hanging, fallbackRegions, timeoutMs } = await decision();
    await origins.set(hanging, { mode: 'hang' });
    try {
      const held = () => origins.stats().held[hanging] ?? 0;
      const heldBefore = held();
      let answered = false;
      const answer = call('/api/leads?page=4').finally(() => { answered = true; });
      while (held() === heldBefore && !answered) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(held() - heldBefore, 1, 'the hanging region holds the fill');
      // requestTimeoutMs passes: every timeout of that length fires.
      for (const timeout of [...timeouts.values()].filter((t) => t.ms === timeoutMs)) timeout.fire();
      const response = await answer;
      assert.deepEqual([response.status, response.headers.get('x-cache')], [200, 'MISS']);
      assert.equal(response.headers.get('x-region'), fallbackRegions[0]);
      assert.equal(response.headers.get('x-region-failover'), hanging);
      assert.equal((await response.json()).page, 4);
    } finally {
      await origins.reset(); // the held request's connection closed
    }
  });

  test('when every region refuses, the answer is a 502 naming the region', async () => {
    for (const region of Object.keys(origins.urls)) await origins.set(region, { mode: 'refuse' });
    try {
      const response = await call('/api/contacts');
      assert.equal(response.status, 502);
      const body = await response.json();
      assert.equal(body.error, 'origin_unavailable');
      assert.match(body.message, /^region (us-east-1|eu-west-1|sa-east-1|ap-southeast-1): unreachable/);
    } finally {
      await origins.reset();
    }
  });

  test('background health checks reach the origins: a failing region is marked unhealthy', async () => {
    // sa-east-1's health once the background checks (every 100 ms) reach `wanted`.
    const healthOnceChecked = async (wanted) => {
      let health = null;
      for (let i = 0; i < 40 && health !== wanted; i++) {
        await (await call('/api/contacts')).body?.cancel(); // a request lets a due check run
        await new Promise((resolve) => setTimeout(resolve, 60));
        const decision = await (await call('/api/route')).json();
        health = decision.regions.find((r) => r.region === 'sa-east-1').health;
      }
      return health;
    };
    // This test's edge checks actively: every 100 ms, one failed probe taking a region out.
    runtime = await edgeRuntime({
      requestTimeoutMs: REQUEST_TIMEOUT_MS, healthCheck: { intervalMs: 100, timeoutMs: 300, unhealthyThreshold: 1 },
    }, firedByTest().timers);
    await origins.set('sa-east-1', { mode: 'fail' });
    try {
      assert.equal(await healthOnceChecked('unhealthy'), 'unhealthy');
    } finally {
      await origins.reset();
    }
  });

  test('a call start says where its media goes', async () => {
    const { optimalRegion } = await decision();
    const response = await call('/api/calls/start', { method: 'POST', body: JSON.stringify({ callId: 'call-affinity-1' }) });
    assert.equal(response.status, 201);
    const answer = await response.json();
    assert.equal(answer.media.region, optimalRegion);
    assert.match(answer.media.node, new RegExp(`^${optimalRegion}-media-\\d$`));
    const again = await call(`/api/calls/call-affinity-1/media?region=${optimalRegion}&node=${answer.media.node}`);
    const media = await again.json();
    assert.equal(media.node, answer.media.node);
    assert.equal(media.kept, true);
  });
});

describe('the demo regional origins\' fault endpoints', () => {
  test('refusing the last region that still listens is a 400: its listener is the last way to undo the faults', async () => {
    const origins = await startRegionalOrigins({ secret: ORIGIN_SECRET });
    try {
      const [last, ...others] = Object.keys(origins.urls);
      const post = (region, fault) => fetch(`${origins.urls[last]}/__qv/faults/${region}`, { method: 'POST', body: JSON.stringify(fault) });
      for (const region of others) assert.equal((await post(region, { mode: 'refuse' })).status, 200);
      const refused = await post(last, { mode: 'refuse' });
      assert.equal(refused.status, 400);
      assert.match((await refused.json()).message, new RegExp(`^mode: refusing ${last} too would close the last listener`));
      assert.equal(origins.faults()[last].mode, 'up', 'nothing changed');
      assert.equal((await post(others[0], { mode: 'up' })).status, 200);
      assert.equal((await fetch(`${origins.urls[others[0]]}/__qv/faults`)).status, 200, 'listening again');
      const own = await post(last, { mode: 'refuse' }); // through its own listener, which closes
      assert.equal(own.status, 200, 'another region listens now');
      assert.equal((await own.json()).fault.mode, 'refuse');
      await assert.rejects(fetch(`${origins.urls[last]}/__qv/faults`), 'refused');
    } finally {
      await origins.close();
    }
  });

  test('a body that is not JSON, or a region escaped wrongly, is a 400 naming it; nothing changes', async () => {
    const origins = await startRegionalOrigins({ secret: ORIGIN_SECRET });
    try {
      const [first] = Object.keys(origins.urls);
      const post = (region, body) => fetch(`${origins.urls[first]}/__qv/faults/${region}`, { method: 'POST', body });
      const malformed = await post(first, '{"mode": fail}');
      assert.equal(malformed.status, 400);
      assert.match((await malformed.json()).message, /^fault: malformed JSON \(.+\)$/);
      const escaped = await post('us%ZZ', '{"mode": "fail"}');
      assert.equal(escaped.status, 400);
      assert.equal((await escaped.json()).message, "region: malformed percent-encoding in the path ('us%ZZ')");
      assert.equal(origins.faults()[first].mode, 'up', 'nothing changed');
    } finally {
      await origins.close();
    }
  });
});

describe('the demo regional origins\' upstream', () => {
  const HOLDS_CREDENTIALS = 'the URL holds credentials (user:password@ before the host), which fetch() refuses';

  // Runs node edge/regional-origins.mjs on any free ports; one that starts serving all the same
  // is stopped after 10 s.
  const standalone = (args, env = {}) => new Promise((resolve) => {
    const environment = { ...process.env, ...env };
    for (const name of ['ORIGIN_URL', 'QV_ORIGIN_UPSTREAM']) if (!(name in env)) delete environment[name];
    execFile(process.execPath, [new URL('../edge/regional-origins.mjs', import.meta.url).pathname, '--port', '0', ...args],
      { env: environment, timeout: 10_000 }, (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stderr }));
  });

  test('one with credentials or of another scheme stops them at start with status 2, naming the flag or setting and the URL without its credentials', async () => {
    const wrong = [
      [['--upstream', 'http://alice:s3cret@origin.example/'], {}, `--upstream: http://origin.example/: ${HOLDS_CREDENTIALS}`],
      [['--upstream', 'ftp://alice:s3cret@origin.example/'], {}, "--upstream: expected an http:// or https:// URL, got 'ftp://origin.example/'"],
      [[], { ORIGIN_URL: 'https://:s3cret@origin.example:8443/api' }, `ORIGIN_URL: https://origin.example:8443/api: ${HOLDS_CREDENTIALS}`],
      [[], { QV_ORIGIN_UPSTREAM: 'alice:s3cret@origin.example' }, "QV_ORIGIN_UPSTREAM: expected an http:// or https:// URL, got 'origin.example'"],
    ];
    for (const [args, env, message] of wrong) {
      const { code, stderr } = await standalone(args, env);
      assert.equal(code, 2, stderr);
      assert.equal(stderr.trim(), message);
    }
  });

  test('startRegionalOrigins refuses one with credentials, naming it without them, before any origin starts', async () => {
    await assert.rejects(startRegionalOrigins({ secret: ORIGIN_SECRET, upstream: 'http://alice:s3cret@127.0.0.1:1/' }),
      { name: 'TypeError', message: `upstream: http://127.0.0.1:1/: ${HOLDS_CREDENTIALS}` });
  });
});

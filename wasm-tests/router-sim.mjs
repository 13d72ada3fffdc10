// A deterministic simulation of regional routing: isolates (module instances) sharing one
// in-memory KV, each running the edge's own proxy (edge/regional-proxy.mjs), on a virtual
// clock, against simulated regional origins whose latency and failures are a function of
// the region and the time. Nothing waits for real time: a request "takes" its simulated
// round trip on the virtual clock. Used by router.test.mjs and bench/router.bench.mjs.
import { loadModule, instantiate, MemoryKv } from '../dist/js/node.mjs';
import { createRegionalProxy } from '../edge/regional-proxy.mjs';

export const START_MS = 1764115200000; // 2025-11-26T00:00:00Z
export const REGIONS = Object.freeze(['us-east-1', 'eu-west-1', 'ap-southeast-1', 'sa-east-1']);
/** A client in New York, as Vercel's headers describe it: us-east-1 is nearest. */
export const NEW_YORK = Object.freeze({ 'x-vercel-ip-latitude': '40.71', 'x-vercel-ip-longitude': '-74.01', 'x-vercel-ip-country': 'US' });
/** What a simulated origin does when it hangs: the host gives up after this long. */
export const HOST_TIMEOUT_MS = 5000;

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A clock and timers that move only when told to. */
export class VirtualClock {
  now;
  #timers = []; // sorted by (at, seq)
  #seq = 0;

  constructor(start = START_MS) {
    this.now = start;
  }

  setTimeout = (fn, ms = 0) => {
    const timer = { at: this.now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    let low = 0;
    let high = this.#timers.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      const t = this.#timers[mid];
      if (t.at < timer.at || (t.at === timer.at && t.seq < timer.seq)) low = mid + 1;
      else high = mid;
    }
    this.#timers.splice(low, 0, timer);
    return timer;
  };

  clearTimeout = (timer) => {
    if (timer) timer.cancelled = true;
  };

  /** Runs every timer due up to `time` in order, letting the promises they settle run. */
  async runUntil(time) {
    for (;;) {
      for (let i = 0; i < 3; i++) await settle();
      const next = this.#timers[0];
      if (!next || next.at > time) break;
      this.#timers.shift();
      if (next.cancelled) continue;
      this.now = next.at;
      next.fn();
    }
    this.now = time;
    for (let i = 0; i < 3; i++) await settle();
  }
}

/**
 * A fetch over simulated origins at http://REGION.sim. behaviour(region, path, t) returns
 * {rttMs, status?} (an answer after rttMs), {refuse: true} (connection refused at once)
 * or {hang: true} (no answer: the caller's timeout, or the host's after HOST_TIMEOUT_MS).
 */
export function simulatedFetch(clock, behaviour) {
  return (url, init = {}) => {
    const target = new URL(url);
    const region = target.hostname.split('.')[0];
    const what = behaviour(region, target.pathname, clock.now - START_MS);
    return new Promise((resolve, reject) => {
      const abort = () => reject(new DOMException('The operation was aborted.', 'AbortError'));
      if (init.signal?.aborted) return abort();
      init.signal?.addEventListener('abort', abort, { once: true });
      if (what.refuse) {
        const failure = new TypeError('fetch failed');
        failure.cause = { code: 'ECONNREFUSED' };
        clock.setTimeout(() => reject(failure), 1);
        return;
      }
      clock.setTimeout(() => {
        if (what.hang) return reject(new TypeError(`fetch failed: no answer within ${HOST_TIMEOUT_MS} ms`));
        resolve(new Response(JSON.stringify({ region }), { status: what.status ?? 200, headers: { 'content-type': 'application/json' } }));
      }, what.hang ? HOST_TIMEOUT_MS : what.rttMs);
    });
  };
}

/** Round trips of the regions from New York when all is well (ms). */
export const STEADY_RTT = Object.freeze({ 'us-east-1': 20, 'eu-west-1': 80, 'sa-east-1': 130, 'ap-southeast-1': 230 });

/**
 * Offers `perSecond` requests per simulated second, evenly, round-robin over `isolates`,
 * for `seconds`, from `client` (geolocation headers). behaviour: as simulatedFetch.
 * routerConfig: the router configuration beyond the regions; isolateOf(k): the isolate of
 * the k-th request (default round-robin). Resolves to {requests,
 * instances, clock}: one record per request {at (ms from the start), isolate, status,
 * region (answered), firstRegion (tried first), failedOver, notRetried (why a failed
 * first try was not retried), latencyMs}.
 */
export async function simulateRouting({
  flavour = 'emscripten', isolates = 4, seconds, perSecond, client = NEW_YORK, behaviour,
  routerConfig = {}, method = 'GET', drainMs = 15000, isolateOf = (k) => k % isolates,
}) {
  const clock = new VirtualClock();
  const kv = new MemoryKv({ now: () => clock.now });
  const fetch = simulatedFetch(clock, behaviour);
  const module = await loadModule(flavour);
  const config = { ...routerConfig, regions: REGIONS.map((id) => ({ id, origin: `http://${id}.sim` })) };
  const instances = [];
  for (let i = 0; i < isolates; i++) {
    const qv = await instantiate(module, { kv, fetch, now: () => clock.now, log: () => {} });
    await qv.call('router.configure', config);
    const proxy = createRegionalProxy({
      invoke: (name, input) => qv.invoke(name, input), fetch, now: () => clock.now, clock: () => clock.now, timers: clock,
    });
    instances.push({ qv, proxy });
  }
  const requests = [];
  const total = Math.round(seconds * perSecond);
  for (let k = 0; k < total; k++) {
    clock.setTimeout(() => {
      const record = { at: clock.now - START_MS, isolate: isolateOf(k) };
      requests.push(record);
      const request = new Request('http://edge.sim/api/leads', { method, headers: client });
      instances[record.isolate].proxy.proxy(request).then(async (response) => {
        record.status = response.status;
        record.region = response.headers.get('x-region');
        record.failedOver = response.headers.get('x-region-failover');
        record.firstRegion = record.failedOver ?? record.region;
        record.latencyMs = clock.now - START_MS - record.at;
        record.notRetried = response.headers.get('x-region-not-retried');
        await response.body?.cancel();
      }, (failure) => {
        record.error = failure?.stack ?? String(failure);
      });
    }, (k * 1000) / perSecond);
  }
  await clock.runUntil(START_MS + seconds * 1000 + drainMs);
  return { requests, instances, clock, kv };
}

/** Summaries of a run's records between from and to (ms from the start). */
export function window(requests, from, to) {
  const inside = requests.filter((r) => r.at >= from && r.at < to);
  const count = (predicate) => inside.filter(predicate).length;
  return {
    requests: inside.length,
    firstTo: (region) => count((r) => r.firstRegion === region),
    answeredBy: (region) => count((r) => r.region === region && r.status < 500),
    failed: count((r) => r.status >= 500 || r.error),
    failedOver: count((r) => r.failedOver),
    unfinished: count((r) => r.status === undefined && !r.error),
    errors: inside.filter((r) => r.error).map((r) => r.error),
  };
}

/** When traffic last went first to `region` within [from, to) (ms from the start), or null. */
export function lastFirstTo(requests, region, from, to) {
  let last = null;
  for (const r of requests) if (r.at >= from && r.at < to && r.firstRegion === region) last = r.at;
  return last;
}

/** From `from` on, when traffic first went back to `region` to stay: every later request's first try. */
export function returnedAt(requests, region, from) {
  const after = requests.filter((r) => r.at >= from).sort((a, b) => a.at - b.at);
  let since = null;
  for (const r of after) {
    if (r.firstRegion === region) since ??= r.at;
    else since = null;
  }
  return since;
}

// The regional proxy of the edge function: sends an admitted /api/* request to the region
// the router module chooses, reports every origin response (or failure) to the module
// (router.observe), and retries once on the first fallback region when the module's retry
// budget allows (router.retry). Responses carry x-region. Edge-runtime rules: no file
// system, no eval; fetch, time and timers are injected, so the deterministic simulation
// (wasm-tests/router-sim.mjs) runs this very code on a virtual clock.

/** Geolocation headers the router reads (Vercel sets them at the edge). */
export const GEO_HEADERS = Object.freeze(['x-vercel-ip-latitude', 'x-vercel-ip-longitude', 'x-vercel-ip-country', 'x-vercel-id']);

/**
 * The header that carries the origin secret (QV_ORIGIN_SECRET) on every request the edge
 * sends to an origin: an origin serves only a request that has it, since anyone who can reach
 * the origin could otherwise set x-qv-organization-id and read any organisation's data. A
 * client's own is dropped with the other x-qv-* headers.
 */
export const ORIGIN_SECRET_HEADER = 'x-qv-origin-secret';

/** What the proxy adds to an answer: the region that answered, and why it was that one. */
export const REGION_HEADERS = Object.freeze(['x-region', 'x-region-failover', 'x-region-not-retried']);

// Hop-by-hop headers (RFC 9110 section 7.6.1) and what a proxy must not pass on.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'content-length']);
// The API key stays at the edge: origins trust the identity headers the edge sets, on
// requests that carry the origin secret. Headers
// some frameworks route by, or take a method from, stay too: the feature gates judged the
// request's own path and method, and the origin must not serve another.
const CREDENTIALS = new Set(['x-api-key', 'authorization']);
// (Those of common servers and frameworks; a list of names cannot be complete.)
const REROUTING = new Set(['x-original-url', 'x-original-uri', 'x-rewrite-url', 'x-forwarded-uri', 'x-forwarded-path',
  'x-forwarded-prefix', 'x-envoy-original-path', 'x-middleware-subrequest', 'x-matched-path', 'x-invoke-path',
  'x-invoke-query', 'x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-method']);
// fetch() hands over a decoded body: its encoding and length no longer apply.
const DECODED = new Set(['content-encoding', 'content-length']);

// The hop-by-hop headers of a message: the fixed ones and those its Connection header names.
function hopByHop(headers) {
  const listed = headers.get('connection');
  if (!listed) return HOP_BY_HOP;
  const names = new Set(HOP_BY_HOP);
  for (const name of listed.split(',')) names.add(name.trim().toLowerCase());
  return names;
}
// Safe to repeat (RFC 9110 section 9.2.2): retried after any failure. Others only when the
// request never reached the origin, or when it carries an Idempotency-Key.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
// Connection failures that mean the request was never sent.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

const HTTP_STATUS = { ok: 200, invalid_input: 400, not_found: 404, too_large: 413, unavailable: 503, timeout: 504 };

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

/** The request's geolocation headers, as router.route and router.affinity take them. */
export function geoHeaders(headers) {
  const geo = {};
  for (const name of GEO_HEADERS) {
    const value = headers.get(name);
    if (value !== null) geo[name] = value;
  }
  return geo;
}

/**
 * Makes the proxy. options:
 *   invoke(method, input) -> {status, body}: a module call (QvInstance.invoke);
 *   fetch: the fetch to reach origins with (default globalThis.fetch);
 *   now(): ms for round-trip times (default performance.now);
 *   clock(): ms since the epoch, the module's clock, for health-check scheduling (default Date.now);
 *   timers: {setTimeout, clearTimeout} for request timeouts (default the global ones);
 *   originSecret: the secret sent in ORIGIN_SECRET_HEADER on every request to an origin
 *     (none: the header is not sent);
 *   log(level, message).
 * Background health checks run behind the request that started them (its waitUntil).
 */
export function createRegionalProxy({
  invoke, fetch = (...args) => globalThis.fetch(...args), now = () => performance.now(), clock = () => Date.now(),
  timers = globalThis, originSecret, log = () => {},
}) {
  let nextHealthCheckAt = 0;
  let checking = null;

  // Runs router.health_check when the module said it is due, without holding up the request;
  // keepAlive: the waitUntil of the request that started it.
  function healthCheckIfDue(keepAlive = () => {}) {
    if (checking || clock() < nextHealthCheckAt) return null;
    checking = invoke('router.health_check', {}).then(({ status, body }) => {
      if (status !== 'ok') throw new Error(`${status}: ${body?.message}`);
      nextHealthCheckAt = body.nextHealthCheckAtMs ?? Infinity;
    }).catch((failure) => {
      log(2, `router: health check failed: ${failure?.message ?? failure}`);
      nextHealthCheckAt = clock() + 10000;
    }).finally(() => { checking = null; });
    keepAlive(checking);
    return checking;
  }

  async function observe(region, area, rttMs, status, timedOut) {
    const { status: outcome, body } = await invoke('router.observe', { region, area, rttMs: Math.max(0, rttMs), status, timedOut });
    if (outcome !== 'ok') {
      log(2, `router: observe ${region}: ${body?.message}`);
    } else if (body.ejectedNow) {
      log(2, `router: ${region} ejected until ${new Date(body.ejectedUntilMs).toISOString()}: ${body.cause}`);
      nextHealthCheckAt = Math.min(nextHealthCheckAt, body.ejectedUntilMs);  // its probe is due then
    }
  }

  // The headers sent to the origin: the client's, less hop-by-hop ones and credentials,
  // plus who the caller is (set here, so a client cannot forge them), where it came from,
  // and the origin secret that tells the origin the edge sent it.
  function originHeaders(request, caller, region) {
    const headers = new Headers();
    const hop = hopByHop(request.headers);
    request.headers.forEach((value, name) => {
      if (!hop.has(name) && !CREDENTIALS.has(name) && !REROUTING.has(name) && !name.startsWith('x-qv-')) headers.append(name, value);
    });
    const url = new URL(request.url);
    if (caller) {
      headers.set('x-qv-organization-id', caller.organizationId);
      headers.set('x-qv-tier', caller.tier);
    }
    headers.set('x-qv-region', region);
    headers.set('x-forwarded-host', url.host);
    headers.set('x-forwarded-proto', url.protocol.replace(':', ''));
    if (originSecret) headers.set(ORIGIN_SECRET_HEADER, originSecret);
    return headers;
  }

  // One attempt on one region; every outcome is reported to the module.
  // outer: the caller's own signal (a module call's fetch deadline), which also covers the
  // body after the headers came, when this attempt's timer no longer runs.
  async function send(request, body, caller, region, origin, timeoutMs, area, outer) {
    const url = new URL(request.url);
    const target = `${origin}${url.pathname}${url.search}`;
    const controller = new AbortController();
    if (outer?.aborted) controller.abort();
    outer?.addEventListener('abort', () => controller.abort(), { once: true });
    let ownTimeout = false;
    const timer = timers.setTimeout(() => { ownTimeout = true; controller.abort(); }, timeoutMs);
    const started = now();
    let response;
    let error;
    try {
      response = await fetch(target, {
        method: request.method,
        headers: originHeaders(request, caller, region),
        body: body && body.length && request.method !== 'GET' && request.method !== 'HEAD' ? body : undefined,
        signal: controller.signal,
        redirect: 'manual',
      });
    } catch (failure) {
      error = failure;
    } finally {
      // The timeout is the headers': once they came, no later wait (the observation's KV
      // write) may abort the body.
      timers.clearTimeout(timer);
    }
    const rttMs = now() - started;
    if (response) {
      await observe(region, area, rttMs, response.status, false);
      return { region, response, failed: response.status >= 500 };
    }
    const timedOut = controller.signal.aborted;
    // The caller gave up (its own deadline): nothing was learnt of the region.
    if (ownTimeout || !outer?.aborted) await observe(region, area, rttMs, 0, timedOut);
    const code = error?.cause?.code ?? error?.code;
    return { region, error, timedOut, notSent: !timedOut && NOT_SENT.has(code), failed: true };
  }

  function retryable(request, attempt) {
    if (IDEMPOTENT.has(request.method) || request.headers.has('idempotency-key')) return true;
    return attempt.notSent === true;
  }

  function respond(attempt, headers, failedOver, retryNote) {
    const extra = { ...headers, 'x-region': attempt.region };
    if (failedOver) extra['x-region-failover'] = failedOver;
    if (retryNote) extra['x-region-not-retried'] = retryNote.replace(/^not retried: /, '');
    if (attempt.response) {
      const out = new Headers();
      const hop = hopByHop(attempt.response.headers);
      attempt.response.headers.forEach((value, name) => { if (!DECODED.has(name) && !hop.has(name)) out.append(name, value); });
      for (const [name, value] of Object.entries(extra)) out.set(name, value);
      const empty = attempt.response.status === 204 || attempt.response.status === 304 || attempt.response.status < 200;
      return new Response(empty ? null : attempt.response.body, { status: attempt.response.status, headers: out });
    }
    const what = attempt.timedOut ? 'no answer in time' : `unreachable (${attempt.error?.cause?.code ?? attempt.error?.message ?? attempt.error})`;
    return json(attempt.timedOut ? 504 : 502, {
      error: attempt.timedOut ? 'origin_timeout' : 'origin_unavailable',
      message: `region ${attempt.region}: ${what}${retryNote ? `; ${retryNote}` : ''}`,
    }, extra);
  }

  /**
   * Proxies request to the chosen region. body: the request body already read (bytes or
   * null), so that a retry can send it again; caller: {organizationId, tier}; headers:
   * response headers to add (the rate-limit fields); geo: the client's geolocation headers
   * the region is chosen by (default: the request's own); waitUntil: the request's, which a
   * health check it starts runs behind.
   */
  async function proxy(request, { body = null, caller = null, headers = {}, geo = geoHeaders(request.headers), waitUntil: keepAlive, signal } = {}) {
    const { status, body: decision } = await invoke('router.route', { headers: geo, countRequest: true });
    if (status !== 'ok') return json(HTTP_STATUS[status] ?? 500, decision, headers);
    healthCheckIfDue(keepAlive);
    const first = await send(request, body, caller, decision.optimalRegion, decision.origin, decision.timeoutMs, decision.clientArea, signal);
    if (!first.failed || signal?.aborted) return respond(first, headers); // no retry for a caller gone
    if (!retryable(request, first)) {
      return respond(first, headers, null, `not retried: ${request.method} without an Idempotency-Key may have reached the origin`);
    }
    const { status: retryStatus, body: retry } = await invoke('router.retry', {
      failedRegion: decision.optimalRegion, fallbackRegions: decision.fallbackRegions,
    });
    if (retryStatus !== 'ok' || !retry.allowed) {
      return respond(first, headers, null, `not retried: ${retry?.reason ?? retry?.message}`);
    }
    await Promise.resolve(first.response?.body?.cancel?.()).catch(() => {});  // discard the failed answer
    const second = await send(request, body, caller, retry.region, retry.origin, decision.timeoutMs, decision.clientArea, signal);
    return respond(second, headers, decision.optimalRegion);
  }

  return {
    healthCheckIfDue,
    proxy,

    /**
     * A fetch for the fetch operations of a module call (the cache's origin fetches): each
     * goes through proxy() — the region chosen for `geo`, one retry within the budget,
     * x-region on the answer — and carries only the operation's own headers plus the
     * caller's identity, so that what the origin answers cannot vary with the client's other
     * headers.
     */
    fetcher({ caller = null, geo = {}, waitUntil: keepAlive } = {}) {
      return (url, init = {}) => proxy(new Request(url, { method: init.method ?? 'GET', headers: init.headers }),
        { body: init.body ?? null, caller, geo, waitUntil: keepAlive, signal: init.signal });
    },

    /** GET /api/route: the decision for this caller, with every region's view, not counted. */
    async explain(request, { caller = null, headers = {} } = {}) {
      const { status, body } = await invoke('router.route', { headers: geoHeaders(request.headers), explain: true });
      if (status !== 'ok') return json(HTTP_STATUS[status] ?? 500, body, headers);
      return json(200, { ...(caller ? { organizationId: caller.organizationId } : {}), ...body }, headers);
    },
  };
}

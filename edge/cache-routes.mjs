// The edge function's cached routes: GET requests answered through the cache module
// (L1 in this isolate, L2 in the shared KV, then the origin), the signed invalidation
// webhook and the cache's metrics. Edge-runtime rules: no file system, no eval.
//
//   GET  /api/campaigns, /api/leads, /api/dashboard/metrics, /api/analytics/overview,
//        /api/knowledge/search?q=    through the cache; x-cache: HIT-L1 | HIT-L2 | MISS | STALE,
//                                    server-timing, age; 304 without a body when the request's
//                                    If-None-Match / If-Modified-Since matches
//   POST /api/cache/invalidate        a Supabase change payload (realtime or webhook form),
//                                    signed: x-qv-signature: t=<unix seconds>,sha256=<hex
//                                    HMAC-SHA256 of "<t>.<raw body>" with the shared secret>,
//                                    t within 5 minutes of now; else 401, nothing done.
//                                    A signed request is taken once, by one isolate of
//                                    those sharing the KV (claimed there, qv:webhook:<mac>);
//                                    while it is being applied, a copy gets 503 Retry-After
//   GET  /api/cache/stats             the isolate's cache metrics, to an operator key only (they
//                                    count every organisation's traffic); else 403
// Other methods on the cached paths (writes) go past the cache, to the router's proxy.
import { REGION_HEADERS } from './regional-proxy.mjs';
import { firstEntityTag, firstHttpDate, notModified } from './conditional.mjs';
import { bytesToHex, hexToBytes, presentedKey } from './identity.mjs';
import { headerValueOf, textBytesOf } from '../host-shims/js/host-ops.mjs';

/** The GET routes served through the cache (path patterns of the spec's dashboard API). */
export const CACHED_PATHS = Object.freeze([
  '/api/campaigns', '/api/leads', '/api/dashboard/metrics', '/api/analytics/overview', '/api/knowledge/search',
]);

const CRITICAL_FIELDS = ['organizationId', 'path', 'query'];

/**
 * Validates config.cache.critical (the spec's warmCriticalCaches): [{organizationId, path,
 * query?}], each path a cached route's and each organisation one with a key in
 * config.apiKeys (keys: parseApiKeys' entries), else no request could read what is warmed.
 * Returns the entries to warm, {organizationId, tier, path, query?}: one per tier the
 * organisation's keys have, as the tier is part of the cache key. Throws an Error naming the
 * field and the problem.
 */
export function parseCriticalKeys(critical, keys) {
  if (critical === undefined) return [];
  if (!Array.isArray(critical)) throw new Error('config.cache.critical: expected an array of {organizationId, path, query?}');
  return critical.flatMap((entry, i) => {
    const where = `config.cache.critical[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new Error(`${where}: expected an object {organizationId, path, query?}`);
    const unknown = Object.keys(entry).find((field) => !CRITICAL_FIELDS.includes(field));
    if (unknown !== undefined) throw new Error(`${where}.${unknown}: unknown field (expected one of: ${CRITICAL_FIELDS.join(', ')})`);
    if (typeof entry.organizationId !== 'string') throw new Error(`${where}.organizationId: expected a string`);
    const tiers = new Set(keys.filter((key) => key.organizationId === entry.organizationId).map((key) => key.tier));
    if (tiers.size === 0) throw new Error(`${where}.organizationId: no key in config.apiKeys is for '${entry.organizationId}', so no request could read what is warmed`);
    if (!CACHED_PATHS.includes(entry.path)) throw new Error(`${where}.path: expected a cached route (${CACHED_PATHS.join(', ')}), got ${JSON.stringify(entry.path)}`);
    if (entry.query !== undefined && (typeof entry.query !== 'string' || entry.query.startsWith('?'))) {
      throw new Error(`${where}.query: expected the query as a string without its '?', got ${JSON.stringify(entry.query)}`);
    }
    return [...tiers].map((tier) => ({ organizationId: entry.organizationId, tier, path: entry.path, query: entry.query }));
  });
}

/** The header that carries the invalidation webhook's signature. */
export const SIGNATURE_HEADER = 'x-qv-signature';

const encoder = new TextEncoder();

// The query as the cache key sees it: parameters sorted, so ?a=1&b=2 and ?b=2&a=1 share
// an entry; repeated names keep their order.
export function normalizedQuery(searchParams) {
  const pairs = [...searchParams].map(([name, value], i) => [name, value, i]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[2] - b[2]));
  return new URLSearchParams(pairs.map(([name, value]) => [name, value])).toString();
}

/** How far a signature's timestamp may be from the edge's clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

// The HMAC-SHA256 key of a shared secret, for `usage` ('sign' or 'verify').
const hmacKeyOf = (secret, usage) =>
  crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);

// What is signed: "<t>.<raw body>", so a signature holds for one timestamp only.
function signedBytes(t, body) {
  const bytes = typeof body === 'string' ? encoder.encode(body) : body;
  const prefix = encoder.encode(`${t}.`);
  const out = new Uint8Array(prefix.length + bytes.length);
  out.set(prefix);
  out.set(bytes, prefix.length);
  return out;
}

/**
 * The x-qv-signature value a webhook sender computes for body at unix time t (seconds, now
 * by default): "t=<t>,sha256=<hex HMAC-SHA256 of "<t>.<body>" with secret>".
 */
export async function signRequest(secret, body, t = Math.floor(Date.now() / 1000)) {
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await hmacKeyOf(secret, 'sign'), signedBytes(t, body)));
  return `t=${t},sha256=${bytesToHex(mac)}`;
}

// Whether the signature header authorises bytes at nowMs: {problem} when it does not, else
// {signature, untilMs} (the last moment its timestamp is taken). The timestamp keeps a
// captured request from being replayed after the tolerance (within it, signatureLedger
// takes each signed request once). Web Crypto's verify compares the MAC in constant time.
async function checkSignature(key, header, bytes, nowMs) {
  const match = /^t=(\d{1,12}),sha256=([0-9a-fA-F]{64})$/.exec(header ?? '');
  if (!match) return { problem: 'missing or malformed (expected t=<unix seconds>,sha256=<hex HMAC-SHA256 of "<t>.<body>">)' };
  // untilMs below is the same bound: the ledger remembers a signature while it is taken.
  const skew = Number(match[1]) - nowMs / 1000;
  if (Math.abs(skew) > SIGNATURE_TOLERANCE_SECONDS) {
    return { problem: `timestamp ${match[1]} is ${Math.round(Math.abs(skew))} s ${skew < 0 ? 'old' : 'ahead'} (at most ${SIGNATURE_TOLERANCE_SECONDS} s either way)` };
  }
  if (!(await crypto.subtle.verify('HMAC', key, hexToBytes(match[2]), signedBytes(match[1], bytes)))) return { problem: 'wrong signature' };
  return { signature: match[2].toLowerCase(), untilMs: (Number(match[1]) + SIGNATURE_TOLERANCE_SECONDS) * 1000 };
}

// A signed request's claim in the shared KV, under qv:webhook:<mac>: "pending:<token>" while
// one request applies its change (the claim lasts PENDING_MS, renewed every third of it while
// the change is applied, so a claimer that died frees it within PENDING_MS), then "done" until
// its timestamp is too old plus CLAIM_SLACK_MS (an isolate whose clock runs behind takes the
// timestamp a little longer); "released" when the change was not applied (503), so that the
// sender's retry is taken wherever it lands.
export const SIGNATURE_CLAIM_PREFIX = 'qv:webhook:';
const PENDING = 'pending:';
const PENDING_MS = 30_000;
const CLAIM_SLACK_MS = 60_000;
const DONE = 'done';
const RELEASED = 'released';
// When settle tries again, after the KV did not confirm it: over as long as a claim lasts.
const SETTLE_RETRY_MS = [100, 400, 1_500, 6_000, 24_000];
// An isolate's own record, bounded: past the bound the oldest settled ones are forgotten.
const REMEMBERED_SIGNATURES = 10_000;

const TAKEN = { problem: 'already taken: a signed request is taken once (sign each with its own timestamp)' };
const IN_PROGRESS = { problem: 'the same signed request is being applied: retry in a second', retry: true };

/**
 * Takes each signed request once across the isolates sharing the KV. take(qv, signature,
 * untilMs, nowMs) answers {record} when the change is this request's to apply (then
 * settle(qv, record, applied, nowMs) once the module has answered: applied is any answer but
 * a 503), TAKEN once it was answered, IN_PROGRESS while another request applies it. qv: the
 * instance whose KV holds the claims (QvInstance.kvCas, which never rejects). A KV that
 * fails or does not answer leaves the record to this isolate: the change is still applied
 * (refusing it would lose the invalidation).
 */
function signatureLedger({ log }) {
  const seen = new Map(); // signature -> this isolate's record: {signature, token, untilMs, done, renewal}
  const warn = (message) => {
    try {
      log(2, `invalidation webhook: ${message}`);
    } catch {} // a host log that throws must not leave a record half taken
  };

  // Free: absent, released, or gone between two reads (a released claim expiring).
  const free = (current) => current === null || current === RELEASED;
  const claimCas = (qv, signature, expected, value, ttlMs) => qv.kvCas(SIGNATURE_CLAIM_PREFIX + signature, expected, value, ttlMs);

  async function take(qv, signature, untilMs, nowMs) {
    const held = seen.get(signature);
    if (held) return held.done ? TAKEN : IN_PROGRESS;
    if (seen.size >= REMEMBERED_SIGNATURES) {
      for (const [old, record] of seen) if (record.done && (record.untilMs < nowMs || seen.size >= REMEMBERED_SIGNATURES)) seen.delete(old);
    }
    // Recorded before the claim: a copy arriving meanwhile is answered here.
    const cas = (expected, value, ttlMs) => claimCas(qv, signature, expected, value, ttlMs);
    const record = { signature, token: PENDING + crypto.randomUUID(), untilMs, done: false, renewal: undefined };
    seen.set(signature, record);
    let claim = await cas(null, record.token, PENDING_MS);
    for (let tries = 0; tries < 3 && claim.swapped === false && free(claim.current); tries++) {
      claim = await cas(claim.current, record.token, PENDING_MS);
    }
    if (claim.problem) {
      warn(`the signature is taken once in this isolate only (KV: ${claim.problem})`);
      return { record };
    }
    if (claim.swapped) {
      record.renewal = setInterval(async () => {
        const renewed = await cas(record.token, record.token, PENDING_MS);
        if (renewed.swapped === false) clearInterval(record.renewal); // no longer this request's
      }, PENDING_MS / 3);
      return { record };
    }
    if (claim.current?.startsWith(PENDING) || free(claim.current)) {
      seen.delete(signature); // another request is applying it, and may yet let it go
      return IN_PROGRESS;
    }
    record.done = true; // answered elsewhere, for good: remembered here too
    return TAKEN;
  }

  // A change not applied lets the claim go only while it is this request's token (stored,
  // or one that timed out and was stored all the same). An applied change is recorded done
  // whatever the key holds: free, released, or another copy's claim that landed while the KV
  // was failing (that copy, applied or not, must not be taken again). When the KV does not
  // confirm it (no answer, a client refusing more commands, or a claim that timed out and
  // has not landed yet but may), it is tried again in the background for as long as a
  // pending claim lasts: else every resend would be told to wait for up to PENDING_MS.
  async function settle(qv, record, applied, nowMs, waitUntil = () => {}) {
    const claimed = record.renewal !== undefined;
    clearInterval(record.renewal);
    record.renewal = undefined; // (a remembered record holds no timer; retries hold qv a while)
    if (applied) record.done = true;
    else seen.delete(record.signature);
    const cas = (expected, value, ttlMs) => claimCas(qv, record.signature, expected, value, ttlMs);
    const doneMs = Math.max(1, Math.ceil(record.untilMs - nowMs) + CLAIM_SLACK_MS);
    const attempt = async () => {
      let result = applied
        ? await cas(record.token, DONE, doneMs)
        : await cas(record.token, RELEASED, PENDING_MS);
      for (let tries = 0; applied && tries < 3 && result.swapped === false && result.current !== DONE; tries++) {
        result = await cas(result.current, DONE, doneMs);
      }
      // Settled: swapped, or the key holds another request's claim or outcome. Absent, when
      // the claim was never confirmed: it may still land.
      return result.swapped === true || (result.swapped === false && (result.current !== null || claimed));
    };
    if (await attempt()) return;
    warn(`the signature's claim is not settled in the KV yet: trying again for up to ${PENDING_MS / 1000} s`);
    // Behind the response: an edge runtime keeps the isolate for it (waitUntil).
    waitUntil((async () => {
      for (const delay of SETTLE_RETRY_MS) {
        await new Promise((resolve) => setTimeout(resolve, delay).unref?.()); // (a process with nothing else to do need not wait)
        if (await attempt()) return;
      }
      warn(`the signature's claim could not be settled in the KV: it stays ${applied ? 'pending' : 'claimed'} until it runs out`);
    })());
  }

  return { take, settle };
}

// server-timing entries from the module's timing (ms).
function serverTiming(timing) {
  const entries = [`total;dur=${timing.totalMs.toFixed(1)}`];
  for (const [name, value] of [['journal', timing.journalMs], ['l2', timing.l2Ms], ['origin', timing.originMs], ['wait', timing.waitMs]]) {
    if (value > 0) entries.push(`${name};dur=${value.toFixed(1)}`);
  }
  return entries.join(', ');
}

// What the edge passes on of the origin's answer (of what the cache keeps: kept_header in
// modules/cache/src/entry.cpp): the content's description and validators, its freshness
// (without Expires, a browser would guess one from Last-Modified), and what a redirect, a
// 503 or a 401 means. Not the origin's Vary: the cache's fills send the origin only `accept`,
// so an answer varies with what the edge's own `vary` names (handler.mjs), nothing else.
const PASSED_HEADERS = ['content-type', 'content-language', 'content-disposition', 'content-location', 'etag', 'last-modified',
  'cache-control', 'expires', 'location', 'retry-after', 'www-authenticate', 'link'];

// The statuses whose answers have no body (the Fetch standard's null body statuses a cache
// call can answer with).
const NO_BODY = new Set([204, 205, 304]);

// Origin answers remembered per cache key, so that calls which waited for another call's
// fetch (coalesced) can say which region served it too. Bounded: the oldest go first.
const REMEMBERED_ORIGINS = 1024;

// The base of the URLs the cache's fills and warm-up ask the origin for (through the router,
// which replaces the host with the region's origin and forwards this one as x-forwarded-host).
const CACHE_FILL_BASE = 'http://edge.local';

// The cache module's limit on one part of a key (kMaxKeyPartBytes in keys.h).
const MAX_QUERY_BYTES = 1024;

/**
 * The cache's routes for createEdgeHandler. module(): the isolate's QvInstance (a
 * promise); originFetch({caller, request}): the fetch a cache call's origin fetches go
 * through — the router's proxy, which picks the region for the request's client (no
 * request: the router's default) — or null when there is no origin; originTimeoutMs(): the
 * time limit of a cache call's origin fetches, in ms, or undefined for the cache
 * configuration's (origin.timeoutMs); cacheSecret: the
 * invalidation webhook's shared secret (no secret: the route answers 503); json/error: the
 * handler's response helpers; waitUntilFor(request): the waitUntil(promise) of that
 * request's event, which keeps the revalidation it starts alive where the runtime needs
 * telling (optional); now(): the clock signatures' timestamps are checked against, in ms;
 * log(level, message): the edge's log.
 */
export function createCacheRoutes({
  module, originFetch, originTimeoutMs = () => undefined, cacheSecret, json, error, waitUntilFor = () => () => {}, now = Date.now, log = () => {},
}) {
  let keyPromise = null;
  const hmacKey = () => (keyPromise ??= hmacKeyOf(cacheSecret, 'verify'));
  const origins = new Map(); // cache key -> the region headers of its last origin answer
  const signatures = signatureLedger({ log });

  // The cache.get input of a request: the organisation, the route, what varies the answer.
  // The origin URL carries the path and query only: the router picks the region, and the
  // key never depends on it. Its host is the edge's own (CACHE_FILL_BASE), never the
  // client's Host: the proxy forwards it as x-forwarded-host, and a copy every client of the
  // key shares must not depend on what one client sent.
  function cacheInput(url, caller) {
    const query = normalizedQuery(url.searchParams);
    const timeoutMs = originTimeoutMs();
    return {
      organizationId: caller.organizationId,
      key: `GET ${url.pathname}`,
      vary: { scope: caller.tier, query },
      origin: {
        url: new URL(url.pathname + (query ? `?${query}` : ''), CACHE_FILL_BASE).href,
        headers: { accept: 'application/json' },
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      },
    };
  }

  const originKey = (input) => JSON.stringify([input.organizationId, input.key, input.vary]);

  // The fetch of one cache call: through the router, remembering which region answered.
  function fetchFor(input, caller, request, seen = {}) {
    const fetch = originFetch({ caller, request });
    return async (url, init) => {
      const response = await fetch(url, init);
      const regions = {};
      for (const name of REGION_HEADERS) if (response.headers.has(name)) regions[name] = response.headers.get(name);
      seen.regions = regions;
      const key = originKey(input);
      origins.delete(key);
      origins.set(key, regions);
      if (origins.size > REMEMBERED_ORIGINS) origins.delete(origins.keys().next().value);
      return response;
    };
  }

  async function cached(request, match, caller, headers) {
    if (!originFetch) return error(503, 'unavailable', 'the cache has no origin: the edge config has no router section (regions and their origins)', headers);
    const url = new URL(request.url);
    const input = cacheInput(url, caller);
    // The cache keeps up to 1 KiB of each part of a key; say so in the client's terms.
    const queryBytes = encoder.encode(input.vary.query).length;
    if (queryBytes > MAX_QUERY_BYTES) {
      return error(400, 'invalid_input', `query string: ${queryBytes} bytes (normalised) is above the limit of ${MAX_QUERY_BYTES}`, headers);
    }
    const qv = await module();
    const seen = {};
    const { status, body } = await qv.invoke('cache.get', input, { fetch: fetchFor(input, caller, request, seen) });
    if (status !== 'ok') return json(status === 'invalid_input' ? 400 : 503, body, headers);
    const out = { ...headers, 'x-cache': body.xCache, 'server-timing': serverTiming(body.timing) };
    // x-region when the origin was reached for this answer: by this call, or by the call
    // whose fetch it waited for.
    const regions = seen.regions ?? (body.coalesced && body.layer === 'origin' ? origins.get(originKey(input)) : null);
    Object.assign(out, regions ?? {});
    if (body.revalidate) {
      // Stale-while-revalidate: this answer goes now; one refresh per key runs behind it.
      const refresh = qv.invoke('cache.refresh', input, { fetch: fetchFor(input, caller, request) }).catch(() => {});
      waitUntilFor(request)(refresh);
    }
    if (!body.found) {
      // In the proxied routes' codes, naming the route and the region that answered, if one
      // did: the module's reason names the fill's URL, the edge's own (CACHE_FILL_BASE).
      const detail = String(body.reason ?? '').replace(/^origin failed: [a-z_]+: /, '').replace(`fetch GET ${input.origin.url}: `, '')
        .replaceAll(CACHE_FILL_BASE, '');
      const where = `GET ${url.pathname}${out['x-region'] ? ` (region ${out['x-region']})` : ''}`;
      return error(body.status ?? 502, body.status === 504 ? 'origin_timeout' : 'origin_unavailable',
        `${where}: ${detail || 'origin unavailable'}`, out);
    }
    // The values as the bytes the origin sent (UTF-8 or latin-1), one char per byte as Headers
    // hold them; the module's answer has them as text (headerValueOf).
    for (const name of PASSED_HEADERS) if (body.headers[name] !== undefined) out[name] = headerValueOf(body.headers[name]);
    // An ETag or Last-Modified the origin sent more than once is its first (as the cache
    // revalidates and confirms the copy by it): the client gets the one its If-None-Match or
    // If-Modified-Since is compared with.
    if (out.etag !== undefined) out.etag = firstEntityTag(out.etag);
    if (out['last-modified'] !== undefined) out['last-modified'] = firstHttpDate(out['last-modified']);
    out.age = String(Math.floor(body.ageMs / 1000));
    // A client that holds this answer already (its ETag or Last-Modified) gets 304 and no body.
    if (body.status === 200 && notModified(request.headers, { etag: out.etag, lastModified: out['last-modified'] })) {
      return new Response(null, { status: 304, headers: out });
    }
    // A 204 or 205 (204 is storable) has no body: a Response refuses one, even empty. The body
    // as the origin's bytes: one that is not UTF-8 (never stored, but passed on) is text with
    // its other bytes escaped in the answer (textBytesOf gives them back).
    return new Response(NO_BODY.has(body.status) ? null : textBytesOf(body.body), { status: body.status, headers: out });
  }

  const routes = CACHED_PATHS.map((path) => ({
    pattern: new RegExp(`^${path.replace(/\//g, '\\/')}$`), methods: ['GET'], run: cached, otherMethodsProxied: true,
  }));

  routes.push({
    pattern: /^\/api\/cache\/invalidate$/, methods: ['POST'], open: true,
    run: async (request, match, caller, headers, readRaw) => {
      if (!cacheSecret) return error(503, 'unavailable', 'cache invalidation is not configured (no shared secret)', headers);
      const body = await readRaw(request);
      if (body.response) return body.response;
      const { problem, signature, untilMs } = await checkSignature(await hmacKey(), request.headers.get(SIGNATURE_HEADER), body.bytes, now());
      if (problem) return error(401, 'unauthorized', `${SIGNATURE_HEADER}: ${problem}`, headers);
      let text;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(body.bytes);
      } catch {
        return error(400, 'invalid_input', 'body: not valid UTF-8', headers);
      }
      // Every 503 here may be sent again as it is, and says when.
      const retryHeaders = { ...headers, 'retry-after': '1' };
      const notApplied = (failure) => error(503, 'unavailable', `the change was not applied (${String(failure?.message ?? failure)}): retry`, retryHeaders);
      let qv;
      try {
        qv = await module();
      } catch (failure) { // an instance that cannot be made: nothing to claim for
        return notApplied(failure);
      }
      const taken = await signatures.take(qv, signature, untilMs, now());
      if (taken.retry) return error(503, 'unavailable', `${SIGNATURE_HEADER}: ${taken.problem}`, retryHeaders);
      if (taken.problem) return error(401, 'unauthorized', `${SIGNATURE_HEADER}: ${taken.problem}`, headers);
      // A change the module did not apply (503, or a failed instance) may be sent again as it
      // is: its signature is let go.
      let code = 503;
      try {
        const { status, body: answer } = await (await module()).invoke('cache.change', text);
        code = status === 'ok' ? 200 : status === 'invalid_input' || status === 'too_large' ? 400 : 503;
        return json(code, answer, code === 503 ? retryHeaders : headers);
      } catch (failure) { // the instance failed: retry on a fresh one
        return notApplied(failure);
      } finally {
        await signatures.settle(qv, taken.record, code !== 503, now(), waitUntilFor(request));
      }
    },
  });

  routes.push({
    pattern: /^\/api\/cache\/stats$/, methods: ['GET'],
    run: async (request, match, caller, headers) => {
      if (!caller.operator) {
        return error(403, 'forbidden', `${presentedKey(request).header}: the cache's metrics count every organisation's traffic and need an operator key (config.apiKeys[].operator)`, headers);
      }
      const { status, body } = await (await module()).invoke('cache.stats', {});
      return json(status === 'ok' ? 200 : 503, body, headers);
    },
  });

  /**
   * Warms the critical keys (the spec's warmCriticalCaches): entries of {organizationId,
   * tier, path, query?}, fetched through the cache as a request would be. Resolves to
   * {warmed, failed: [{path, organizationId, message}]}.
   */
  async function warm(entries) {
    if (!originFetch || !entries?.length) return { warmed: 0, failed: [] };
    const qv = await module();
    const results = await Promise.all(entries.map(async (entry) => {
      const url = new URL(entry.path + (entry.query ? `?${entry.query}` : ''), CACHE_FILL_BASE);
      const caller = { organizationId: entry.organizationId, tier: entry.tier };
      const input = cacheInput(url, caller);
      const { status, body } = await qv.invoke('cache.get', input, { fetch: fetchFor(input, caller, null) });
      const ok = status === 'ok' && body.found && body.stored;
      return ok ? null : { path: entry.path, organizationId: entry.organizationId, message: body.reason ?? body.message ?? status };
    }));
    const failed = results.filter(Boolean);
    return { warmed: entries.length - failed.length, failed };
  }

  return { routes, warm };
}

// The edge function: HTTP routes over the WebAssembly bundle. Written for edge runtimes
// (Vercel Edge, Next.js middleware, workerd, edge-runtime) and Node.js alike: it gets the
// bundle as a WebAssembly.Module and never compiles code, reads files or requires.
//
//   GET  /healthz                        the instance is up and answers a module call
// Every /api/* request passes identity (API key -> organisation, tier), the organisation's
// rate limit and the feature gates before anything else:
//   GET  /api/me                         who the key is, its tier and features
//   POST /api/tiers/evaluate             a metrics history -> the scaling decision
//   GET  /api/tiers/:tier/features       the tier's features
//   POST /api/calls/start                admit a call under the concurrent-call limit, and
//                                        place it on a region and media node (affinity)
//   POST /api/calls/:id/heartbeat        renew the call's lease
//   POST /api/calls/:id/end              release the call's slot
//   GET  /api/calls/:id/media            the call's region and media node (?region=&node=:
//                                        where it is now, kept while they serve)
//   GET  /api/route                      the routing decision for the caller, explained
//   GET  /api/campaigns, /api/leads, /api/dashboard/metrics, /api/analytics/overview,
//        /api/knowledge/search?q=        through the cache (edge/cache-routes.mjs); a miss
//                                        or a revalidation goes to the origin through the
//                                        router's proxy below; x-cache, server-timing, and
//                                        x-region when the origin was reached
//   GET  /api/cache/stats                the isolate's cache metrics (an operator key only)
//   *    /api/... (any other)            proxied to the region the router chooses, retried
//                                        once on the first fallback within the retry
//                                        budget (edge/regional-proxy.mjs); x-region says
//                                        which region answered. Needs config.router.
// So the order is identity and admission, then the cache, then the router's proxy.
// Signed with the cache's shared secret instead of an API key:
//   POST /api/cache/invalidate           a Supabase change payload invalidates what it touches

import { instantiate, MAX_INPUT_BYTES } from '../host-shims/js/qv.mjs';
import { readUpTo } from '../host-shims/js/host-ops.mjs';
import { identify, indexApiKeys, knownFields, parseApiKeys, presentedKey } from './identity.mjs';
import { createRegionalProxy, geoHeaders, ORIGIN_SECRET_HEADER } from './regional-proxy.mjs';
import { createCacheRoutes, parseCriticalKeys } from './cache-routes.mjs';

/** Largest request body accepted: the largest input the module takes. */
export const MAX_BODY_BYTES = MAX_INPUT_BYTES;

// A cache fill's time limit beyond the proxy's two attempts (the observation of the first and
// the retry's decision, KV operations of 250 ms at most each), and the cache's largest.
const FILL_SLACK_MS = 1000;
const MAX_FILL_TIMEOUT_MS = 600000;

// Why nothing is routed without a router section: GET /api/route's 503, a call start's
// mediaReason.
const NO_ROUTING = 'no routing: the edge config has no router section (regions and their origins)';

// The edge config's fields, and its cache section's (the router section and cache.config are
// the modules' to check, cache.critical's entries parseCriticalKeys'). A field it does not know
// stops the edge as a wrong value does: a misspelt featureRoutes would leave every gated route
// open, and a misspelt critical would warm nothing, without a word.
const CONFIG_FIELDS = ['apiKeys', 'featureRoutes', 'router', 'cache', 'origin'];
const CACHE_FIELDS = ['config', 'critical', 'demoSecret'];
const ORIGIN_FIELDS = ['demoSecret'];

// Module status -> HTTP status.
const HTTP_STATUS = {
  ok: 200, invalid_input: 400, not_found: 404, too_large: 413, unavailable: 503, timeout: 504,
};

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

function error(status, code, message, headers) {
  return json(status, { error: code, message }, headers);
}

// Reads the body's bytes, refusing more than MAX_BODY_BYTES without reading it all.
const readBytes = (request) => readUpTo(request, MAX_BODY_BYTES);

// Reads the body as text, refusing more than MAX_BODY_BYTES without reading it all.
async function readBody(request) {
  const body = await readBytes(request);
  if (body.tooLarge) return body;
  return { text: new TextDecoder('utf-8', { fatal: true }).decode(body.bytes) };
}

// (A chunked body is refused as soon as it passes the limit, its size not known.)
const tooLarge = (headers) => error(413, 'too_large', `body: above the limit of ${MAX_BODY_BYTES} bytes`, headers);

// The raw body (for a signature check, or to resend on a retry): {bytes} or {response}
// carrying `headers`.
async function rawBody(request, headers) {
  try {
    const body = await readBytes(request);
    return body.tooLarge ? { response: tooLarge(headers) } : body;
  } catch {
    return { response: error(400, 'invalid_input', 'body: could not be read', headers) };
  }
}

// A body the edge reads itself comes as sent: the edge decodes no Content-Encoding (a proxied
// body goes to the origin with its own). A 415 naming the encoding, or null.
function encodingRefused(request, headers) {
  const encoding = request.headers.get('content-encoding');
  if (encoding === null || /^\s*(identity\s*)?$/i.test(encoding)) return null;
  return error(415, 'unsupported_media_type', `content-encoding: '${encoding}' is not decoded here; send the body as it is (identity)`,
    { ...headers, 'accept-encoding': 'identity' });
}

// A request whose Transfer-Encoding has a coding besides chunked: its body would reach the
// edge, and the origin, still in that coding (a runtime decodes chunked alone). A 415, or null.
function transferCodingRefused(request) {
  const codings = (request.headers.get('transfer-encoding') ?? '').split(',').map((c) => c.trim().toLowerCase()).filter(Boolean);
  const other = codings.find((coding) => coding !== 'chunked');
  if (other === undefined) return null;
  return error(415, 'unsupported_media_type', `transfer-encoding: '${other}' is not decoded here; send the body chunked or with a length`,
    { 'accept-encoding': 'identity' });
}

// The raw body of a route that reads it itself (the invalidation webhook): {bytes} or {response}.
async function ownRawBody(request, headers) {
  const refused = encodingRefused(request, headers);
  return refused ? { response: refused } : rawBody(request, headers);
}

// A JSON body as text, or an error Response carrying `headers` (the rate-limit fields).
async function jsonBody(request, { optional = false, headers } = {}) {
  const refused = encodingRefused(request, headers);
  if (refused) return { response: refused };
  let body;
  try {
    body = await readBody(request);
  } catch {
    return { response: error(400, 'invalid_input', 'body: not valid UTF-8', headers) };
  }
  if (body.tooLarge) return { response: tooLarge(headers) };
  if (!body.text.trim()) {
    return optional ? { text: '{}' } : { response: error(400, 'invalid_input', 'body: expected a JSON object, got an empty body', headers) };
  }
  return { text: body.text };
}

// The first key given twice at the top level of an object's JSON text (text that parsed), or
// undefined. JSON.parse keeps the last copy without a word; the modules refuse a key given
// twice, and so does the edge for the bodies it parses itself (the call routes': their one
// field is a string, so nothing deeper can be valid). A scan, as no JSON parser here reports it.
function repeatedKey(text) {
  const keys = new Set();
  let depth = 0;
  for (const [token, colon] of text.matchAll(/"(?:[^"\\]|\\.)*"(\s*:)?|[{}[\]]/g)) {
    if (token === '{' || token === '[') depth++;
    else if (token === '}' || token === ']') depth--;
    else if (colon && depth === 1) {
      const key = JSON.parse(token.slice(0, token.length - colon.length));
      if (keys.has(key)) return key;
      keys.add(key);
    }
  }
  return undefined;
}

// A JSON value's type as the modules name it in their errors ("expected a string, got null").
const typeOf = (value) => (value === null ? 'null' : Array.isArray(value) ? 'an array'
  : typeof value === 'object' ? 'an object' : typeof value === 'boolean' ? 'a boolean'
    : typeof value === 'string' ? 'a string' : 'a number');

// The query of GET /api/calls/:id/media: where the call is now, region and node (the
// router.affinity fields they fill), each once and not empty, node only with its region.
// {input} or {problem}.
const MEDIA_QUERY = { region: 'region', node: 'currentNode' };
function mediaQuery(query) {
  const input = {};
  for (const [name, value] of query) {
    const field = Object.hasOwn(MEDIA_QUERY, name) ? MEDIA_QUERY[name] : undefined;
    if (!field) return { problem: `${name}: unknown query parameter (expected region, node)` };
    if (input[field] !== undefined) return { problem: `${name}: given twice` };
    if (!value) return { problem: `${name}: empty (give the ${name} the call is on, or leave it out)` };
    input[field] = value;
  }
  if (input.currentNode !== undefined && input.region === undefined) {
    return { problem: "node: needs region, the region the call's node is in" };
  }
  return { input };
}

// The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers): the policy as
// a quota per window — a GCRA bucket of `burst` tokens refilling at `rate` per second is
// q=burst per w=burst/rate seconds — and what is left of it. The window is whole seconds,
// rounded up: a client keeping to q per w then never asks for more than the rate (rounded
// down, burst 140 at 100/s would announce 140 a second).
export function rateLimitHeaders(decision) {
  if (decision.rate == null) return {};
  const window = Math.max(1, Math.ceil(decision.burst / decision.rate));
  return {
    'ratelimit-policy': `"tier";q=${decision.limit};w=${window}`,
    ratelimit: `"tier";r=${Math.max(0, decision.remaining)};t=${Math.ceil(decision.resetAfterMs / 1000)}`,
  };
}

const retryAfterSeconds = (ms) => String(Math.max(1, Math.ceil(ms / 1000)));

// The 403 for a feature the caller's tier lacks (gate: tiers.feature_enabled's answer): the
// tier to upgrade to, or, when only tiers below the caller's have it, those tiers — never a
// lower tier as an upgrade.
function featureRefusal({ feature, tier, upgradeTier, availableIn }) {
  if (upgradeTier !== null) return `${feature} is not in the ${tier} tier; it is available from the ${upgradeTier} tier`;
  const tiers = availableIn.length === 1
    ? `the ${availableIn[0]} tier does`
    : `the ${availableIn.slice(0, -1).join(', ')} and ${availableIn.at(-1)} tiers do`;
  return `${feature} is not in the ${tier} tier, and no higher tier has it (only ${tiers})`;
}

// The directives of a Cache-Control value as the cache module reads them (parse_cache_control,
// modules/cache/src/freshness.cpp): split on commas outside quoted strings, where a backslash
// escapes the next character (a quote included); {name (lower-case), text, qualified (it has
// an argument)} each. Null when a quoted string is left open: the directives after it cannot
// be told.
function cacheControlDirectives(value) {
  const directives = [];
  const trim = (text) => text.replace(/^[ \t]+|[ \t]+$/g, '');
  let quoted = false;
  for (let start = 0, end = 0; start <= value.length; start = end + 1) {
    for (end = start; end < value.length && (quoted || value[end] !== ','); end++) {
      if (value[end] === '"') quoted = !quoted;
      else if (quoted && value[end] === '\\') end++;
    }
    end = Math.min(end, value.length);
    const text = trim(value.slice(start, end));
    if (!text) continue;
    const equals = text.indexOf('=');
    directives.push({ name: trim(equals < 0 ? text : text.slice(0, equals)).toLowerCase(), text, qualified: equals >= 0 });
  }
  return quoted ? null : directives;
}

// An answer to one organisation's API key: no shared cache may keep it (the origin's
// `public` and `s-maxage` are for the edge's own cache, which keys by organisation), and a
// browser that holds answers for two keys keeps them apart. An unqualified `private` or a
// `no-store` says so already; `private="..."` (a shared cache may keep the rest) gives way
// to the plain one; a value with a quoted string left open, which cannot be read, to
// `private, no-store`.
function forCaller(response) {
  const directives = cacheControlDirectives(response.headers.get('cache-control') ?? '');
  if (!directives) {
    response.headers.set('cache-control', 'private, no-store');
  } else if (!directives.some((d) => d.name === 'no-store' || (d.name === 'private' && !d.qualified))) {
    const kept = directives.filter((d) => !['public', 's-maxage', 'proxy-revalidate', 'private'].includes(d.name));
    response.headers.set('cache-control', ['private', ...kept.map((d) => d.text)].join(', '));
  }
  response.headers.append('vary', 'authorization, x-api-key');
  return response;
}

// Escaped ASCII characters that no origin routes differently once decoded: space (though not
// at a segment's edge, which an origin may trim) and the printable characters that are not
// unreserved or a path's syntax ('/', '\', '%', ';', '?', '#'), as encodeURIComponent
// writes '@', '+', ':', ',' and the like.
const ESCAPABLE = /[ !"$&'()*+,:<=>@[\]^`{|}]/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MARKS = /\p{M}/gu;

// Feature gates and routes match the URL's path (an http: URL reads a '\' as '/'), and the
// proxy forwards that path; an origin may decode it, re-parse it, trim or strip characters,
// normalise Unicode or fold case before it routes. So an /api/* path must not be ambiguous:
// no segment empty, starting or ending in a space, ending in '.', or with a ;parameter; no
// escape of an unreserved character, of '/', '\', '%', ';', '?', '#' or of a control
// character, and no escape that is not UTF-8; no character that is invisible, a control or
// unassigned. What is left an origin can still read in other forms (NFKC, accents stripped,
// case folded: 'ß' as 'ss'); none of them may hold path syntax the path itself does not (a
// full-width '／' read as '/', '‥' as '..'), and the feature gates are matched against every
// one of them (readings). {decoded, readings} or {problem}.
function canonical(path) {
  const refused = (problem) => ({ problem: `path: '${path}' ${problem}` });
  if (path.includes('//')) return refused(`has an empty segment ('//')`);
  if (/;|%3b/i.test(path)) return refused(`has a ';' (path parameters are not accepted)`);
  const stray = /%(?![0-9A-Fa-f]{2})/.exec(path);
  if (stray) return refused(`has a '%' that starts no escape ('${path.slice(stray.index, stray.index + 3)}')`);
  for (const [escape, hex] of path.matchAll(/%([0-9A-Fa-f]{2})/g)) {
    const code = parseInt(hex, 16);
    const char = String.fromCharCode(code);
    if (code >= 0x80 || ESCAPABLE.test(char)) continue;
    if (/[A-Za-z0-9\-._~]/.test(char)) return refused(`encodes '${char}' as '${escape}'; send it as is`);
    const what = code < 0x20 || code === 0x7f ? 'control character' : `'${char}'`;
    return refused(`has an encoded ${what} ('${escape}')`);
  }
  let decoded = '';
  for (const [run] of path.matchAll(/(?:%[0-9A-Fa-f]{2})+|[^%]+/g)) {
    if (run[0] !== '%') {
      decoded += run;
      continue;
    }
    try {
      decoded += utf8.decode(new Uint8Array(run.slice(1).split('%').map((hex) => parseInt(hex, 16))));
    } catch {
      return refused(`has '${run}', which is not UTF-8`);
    }
  }
  for (const char of decoded) {
    if (char < '\x80') continue;
    if (/[\p{Cc}\p{Cf}\p{Cn}\p{Z}]/u.test(char)) {
      const code = `U+${char.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')} ('${encodeURIComponent(char)}')`;
      return refused(`has ${code}, an invisible, control or unassigned character`);
    }
  }
  const edge = /(?:^|\/)( [^/]*|[^/]*[ .])(?=\/|$)/.exec(decoded);
  if (edge) return refused(`has a segment that ${edge[1].startsWith(' ') ? 'starts' : 'ends'} in ${edge[1].endsWith('.') ? "'.'" : 'a space'} ('${edge[1]}')`);
  const forms = readings(decoded);
  const syntax = [...SYNTAX].map((char) => decoded.split(char).length);
  for (const form of forms.slice(1)) {
    const added = [...SYNTAX].find((char, i) => form.split(char).length > syntax[i]);
    if (added) return refused(`has a character an origin may read as '${added}' (reading it '${form}')`);
    if (/(?:^|\/)[^/]*\.(?=\/|$)/.test(form)) return refused(`has a segment an origin may read as ending in '.' (reading it '${form}')`);
  }
  return { decoded, readings: forms };
}

/**
 * The edge function's answer to a request for an /api/* path it refuses (a 400 naming the
 * problem, as it answers one itself), or null. For a host that must answer such a path before
 * the function sees it: Next.js decodes a route's path first, and answers one it cannot decode
 * (a '%' that starts no escape, an escape that is not UTF-8) with its own plain-text 500.
 */
export function refusedPath(pathname) {
  const problem = pathname.startsWith('/api/') ? canonical(pathname).problem : undefined;
  return problem ? error(400, 'invalid_input', problem) : null;
}

// The characters of a path's syntax, which no reading of it may add.
const SYNTAX = '/\\?#;%';

// The forms an origin may read a decoded path in, the path first: as it is, in NFKC, without
// its accents (NFKD, marks dropped), and each of those case-folded ('ẞ' and 'ß' as 'ss', 'K'
// as 'k'). An ASCII path (most of them) has one: Unicode forms leave ASCII as it is, and the
// gates ignore its case.
function readings(decoded) {
  if (/^[\0-\x7f]*$/.test(decoded)) return [decoded];
  const forms = new Set([decoded, decoded.normalize('NFKC'), decoded.normalize('NFKD').replace(MARKS, '')]);
  for (const form of [...forms]) {
    const folded = form.toLowerCase().toUpperCase().toLowerCase(); // 'ẞ' → 'ß' → 'SS' → 'ss'
    forms.add(folded);
    forms.add(folded.normalize('NFKD').replace(MARKS, ''));
  }
  return [...forms];
}

/**
 * Makes the request handler. options.wasmModule: the bundle as a WebAssembly.Module;
 * options.config: {apiKeys: [{sha256, organizationId, tier}], featureRoutes: [{pattern,
 * feature}], router?: the router module's configuration (regions and their origins; see
 * docs/router.md) — without it /api/* requests no route serves are 404, not proxied, and
 * the cached routes have no origin; cache?: {config?: the cache module's configuration,
 * critical?: [{organizationId, path, query?}] warmed at start}}; options.originFetch: the
 * fetch used to reach origins (default globalThis.fetch); options.cacheSecret: the shared
 * secret of POST /api/cache/invalidate; options.originSecret: the secret every request to an
 * origin carries in x-qv-origin-secret (the proxied requests, the cache's fills and the
 * router's health checks), by which an origin tells the edge's requests from anyone's; the
 * other options go to the shim's instantiate()
 * (kv, now, log, ...), and options.timers (the timers its operations time out by) times out
 * the requests to origins too.
 */
export function createEdgeHandler({ wasmModule, config = {}, originFetch, cacheSecret, originSecret, ...shimOptions } = {}) {
  if (!wasmModule) throw new Error('createEdgeHandler: wasmModule is required (the qv.wasm bundle as a WebAssembly.Module)');
  if (originSecret !== undefined && typeof originSecret !== 'string') {
    throw new TypeError(`createEdgeHandler: originSecret: expected a string, got ${typeof originSecret}`);
  }
  // The router's health checks are the module's own fetches: they carry the secret too.
  if (originSecret && (shimOptions.fetch === undefined || typeof shimOptions.fetch === 'function')) {
    const fetch = shimOptions.fetch ?? ((...args) => globalThis.fetch(...args));
    shimOptions = {
      ...shimOptions,
      fetch: (url, init = {}) => {
        const headers = new Headers(init.headers);
        headers.set(ORIGIN_SECRET_HEADER, originSecret);
        return fetch(url, { ...init, headers });
      },
    };
  }
  let instance = null; // Promise<QvInstance>, one per isolate
  let settings = null; // Promise<{keys, featureRoutes}> (keys: by digest), validated against the catalogue
  // How long a cache fill may take: the proxy's two attempts (config.router.requestTimeoutMs
  // each) and what it does between them, unless config.cache.config sets origin.timeoutMs.
  // The cache's default (5 s, as an attempt's) would end the fill as the first attempt times
  // out, so a hanging region would never be retried on the fallback.
  let fillTimeoutMs;
  // The edge's own messages: the host's log, else warnings and errors to the console.
  const log = shimOptions.log ?? ((level, message) => { if (level >= 2) console.warn(`[qv] ${message}`); });

  // A fresh instance, with the router configured when the edge config has regions and the
  // cache when it has cache settings: every instance, a replacement of a failed one too,
  // before any route uses it (the invalidation webhook may be an isolate's first request).
  async function configured() {
    const qv = await instantiate(wasmModule, shimOptions);
    if (config.router) {
      const { status, body } = await qv.invoke('router.configure', config.router);
      if (status !== 'ok') throw new Error(`config.router: ${body.message}`);
      fillTimeoutMs = Math.min(MAX_FILL_TIMEOUT_MS, 2 * body.requestTimeoutMs + FILL_SLACK_MS);
    }
    if (config.cache?.config !== undefined) {
      const { status, body } = await qv.invoke('cache.configure', config.cache.config);
      if (status !== 'ok') throw new Error(`config.cache.config: ${body.message}`);
    }
    return qv;
  }

  function module() {
    // A module that aborted is discarded; the next request gets a fresh instance (one, however
    // many callers saw the same failure).
    if (!instance) instance = configured();
    const current = instance;
    return current.then((qv) => {
      if (!qv.failed) return qv;
      if (instance === current) instance = null;
      return module();
    }, (failure) => {
      if (instance === current) instance = null;
      throw failure;
    });
  }

  async function loadSettings(waitUntil) {
    knownFields(config, CONFIG_FIELDS, 'config');
    for (const [name, fields] of [['cache', CACHE_FIELDS], ['origin', ORIGIN_FIELDS]]) {
      const section = config[name];
      if (section === undefined) continue;
      if (section === null || typeof section !== 'object' || Array.isArray(section)) {
        throw new Error(`config.${name}: expected an object {${fields.join(', ')}}`);
      }
      knownFields(section, fields, `config.${name}`);
    }
    if (config.featureRoutes !== undefined && !Array.isArray(config.featureRoutes)) {
      throw new Error('config.featureRoutes: expected an array of {pattern, feature}');
    }
    const qv = await module();
    const catalogue = await qv.call('tiers.catalogue');
    const tiers = catalogue.tiers.flatMap((tier) => [tier.name, tier.id]);
    const featureRoutes = (config.featureRoutes ?? []).map((route, i) => {
      if (typeof route?.feature !== 'string' || typeof route?.pattern !== 'string') {
        throw new Error(`config.featureRoutes[${i}]: expected {pattern, feature} strings`);
      }
      knownFields(route, ['pattern', 'feature'], `config.featureRoutes[${i}]`);
      // Case-insensitive: an origin that routes /api/Models as /api/models stays gated.
      let pattern;
      try {
        pattern = new RegExp(route.pattern, 'i');
      } catch (failure) {
        throw new Error(`config.featureRoutes[${i}].pattern: ${failure.message}`);
      }
      return { pattern, feature: route.feature };
    });
    // A feature the catalogue does not know would fail every request its pattern matches.
    for (const [i, route] of featureRoutes.entries()) {
      const { status, body } = await qv.invoke('tiers.feature_enabled', { tier: catalogue.tiers[0].name, feature: route.feature });
      if (status !== 'ok') throw new Error(`config.featureRoutes[${i}].feature: ${String(body.message).replace(/^feature: /, '')}`);
    }
    const keys = parseApiKeys(config.apiKeys ?? [], tiers);
    warmCritical(parseCriticalKeys(config.cache?.critical, keys), waitUntil);
    return { keys: indexApiKeys(keys), featureRoutes };
  }

  // The spec's warmCriticalCaches: the configured critical keys, fetched once per isolate
  // in the background (a request never waits for it).
  let warming = null;
  function warmCritical(entries, waitUntil) {
    if (warming || !config.router || entries.length === 0) return;
    warming = cache.warm(entries).then((result) => {
      for (const failure of result.failed) {
        log(2, `cache warm-up of ${failure.path} for ${failure.organizationId} failed: ${failure.message}`);
      }
      return result;
    }, () => ({ warmed: 0, failed: entries }));
    waitUntil(warming);
  }

  // waitUntil: the first request's, which the warm-up of critical keys runs behind.
  function getSettings(waitUntil = () => {}) {
    settings ??= loadSettings(waitUntil).catch((failure) => {
      settings = null;
      throw failure;
    });
    return settings;
  }

  async function invoke(method, input, headers) {
    const { status, body } = await (await module()).invoke(method, input);
    return json(HTTP_STATUS[status] ?? 500, body, headers);
  }

  // Work a request starts in the background (a health check, a revalidation, the warm-up)
  // is kept alive by that request's own event, never by whichever request came last.
  const events = new WeakMap(); // request -> its event
  const waitUntilFor = (request) => (promise) => events.get(request)?.waitUntil?.(promise);
  const regional = createRegionalProxy({
    invoke: async (method, input) => (await module()).invoke(method, input),
    ...(originFetch ? { fetch: originFetch } : {}),
    ...(shimOptions.timers ? { timers: shimOptions.timers } : {}),
    clock: shimOptions.now,
    originSecret,
    log,
  });

  // A proxied request: its body read once (so that a retry can resend it), then out.
  async function proxy(request, caller, headers) {
    const body = await rawBody(request, headers);
    return body.response ?? regional.proxy(request, { body: body.bytes, caller, headers, waitUntil: waitUntilFor(request) });
  }

  // The cache in front of the router: a miss or a revalidation reaches the origin through
  // the proxy, from the region chosen for the request's client.
  const cache = createCacheRoutes({
    module,
    originFetch: config.router
      ? ({ caller, request }) => regional.fetcher({ caller, geo: request ? geoHeaders(request.headers) : {}, waitUntil: waitUntilFor(request) })
      : null,
    originTimeoutMs: () => (config.cache?.config?.origin?.timeoutMs === undefined ? fillTimeoutMs : undefined),
    cacheSecret, json, error, waitUntilFor, log,
    now: shimOptions.now,
  });

  // Where a call's media goes: {media: {region, node, ...}}, by consistent hashing of its id,
  // or {media: null, mediaReason} when it cannot be placed. Without regions the module would
  // place it on its built-in default nodes, which nothing here runs.
  async function media(request, callId, placed = {}) {
    if (!config.router) return { media: null, mediaReason: NO_ROUTING };
    const { status, body } = await (await module()).invoke('router.affinity', {
      callId, headers: geoHeaders(request.headers), ...placed,
    });
    return status === 'ok'
      ? { media: { region: body.region, node: body.node, kept: body.kept, reason: body.reason } }
      : { media: null, mediaReason: body.message };
  }

  // What is wrong with the request's geolocation headers, as router.route reads them (the
  // module's message), or undefined.
  async function geoProblem(request) {
    const { status, body } = await (await module()).invoke('router.route', { headers: geoHeaders(request.headers) });
    return status === 'invalid_input' ? body.message : undefined;
  }

  // Identity, rate limit and feature gate of an /api/* request (path: as sent; readings: the
  // forms an origin may read it in): the caller, or a Response.
  async function admit(request, path, readings) {
    const { keys, featureRoutes } = await getSettings(waitUntilFor(request));
    const presented = presentedKey(request);
    const unauthorized = (message) => ({ response: error(401, 'unauthorized', message, { 'www-authenticate': 'Bearer' }) });
    if (!presented) return unauthorized('x-api-key: missing API key (or Authorization: Bearer)');
    if (presented.problem) return unauthorized(presented.problem);
    const caller = await identify(keys, presented.key);
    if (!caller) return unauthorized(`${presented.header}: unknown API key`);

    const qv = await module();
    const { status, body: decision } = await qv.invoke('tiers.admit', { organizationId: caller.organizationId, tier: caller.tier });
    if (status !== 'ok') return { response: json(HTTP_STATUS[status] ?? 500, decision) };
    const headers = rateLimitHeaders(decision);
    if (!decision.allowed) {
      return {
        response: json(429, {
          error: 'rate_limited',
          message: `organisation ${caller.organizationId} is above its API rate limit of ${decision.rate} requests per second (burst ${decision.burst})`,
          retryAfterMs: decision.retryAfterMs,
          ...(decision.reason ? { reason: decision.reason } : {}),
        }, { ...headers, 'retry-after': retryAfterSeconds(decision.retryAfterMs) }),
      };
    }
    for (const route of featureRoutes) {
      if (!route.pattern.test(path) && !readings.some((form) => route.pattern.test(form))) continue;
      const gate = await qv.call('tiers.feature_enabled', { tier: caller.tier, feature: route.feature });
      if (!gate.enabled) return { response: error(403, 'forbidden', featureRefusal(gate), headers) };
    }
    return { caller, headers };
  }

  async function callRoute(action, request, caller, headers, callId) {
    const parsed = await jsonBody(request, { optional: true, headers });
    if (parsed.response) return parsed.response;
    let body;
    try {
      body = JSON.parse(parsed.text);
    } catch (failure) {
      // Said as the modules say it of the bodies they read, naming line and column: their
      // parser reads the text (tiers.catalogue reads nothing else, and changes nothing).
      const { status, body: refusal } = await (await module()).invoke('tiers.catalogue', parsed.text);
      const message = status === 'invalid_input' ? refusal.message : `input: malformed JSON (${failure.message})`;
      return error(400, 'invalid_input', message, headers);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return error(400, 'invalid_input', `input: expected an object, got ${typeOf(body)}`, headers);
    }
    const repeated = repeatedKey(parsed.text);
    if (repeated !== undefined) return error(400, 'invalid_input', `${repeated}: given twice`, headers);
    const unknown = Object.keys(body).find((field) => field !== 'callId');
    if (unknown !== undefined) {
      return error(400, 'invalid_input', `${unknown}: unknown field (expected one of: callId)`, headers);
    }
    if ('callId' in body && typeof body.callId !== 'string') {
      return error(400, 'invalid_input', `callId: expected a string, got ${typeOf(body.callId)}`, headers);
    }
    // A path's segment may not end in '.' (canonical): a call started under such an id would
    // hold its slot until its lease ends, out of reach of its heartbeat and end.
    if (callId === undefined && body.callId?.endsWith('.')) {
      return error(400, 'invalid_input', `callId: ${JSON.stringify(body.callId)} ends in '.', which a path cannot carry (its heartbeat and end could not reach it)`, headers);
    }
    if (callId !== undefined && body.callId !== undefined && body.callId !== callId) {
      return error(400, 'invalid_input', `callId: ${JSON.stringify(body.callId)} in the body, ${JSON.stringify(callId)} in the path (give it once, or the same)`, headers);
    }
    // The client's geolocation headers place a started call's media (router.affinity): read
    // before the call starts, so that malformed ones are a 400 naming the header, as /api/route
    // and /media answer them, and start nothing.
    if (action === 'start') {
      const problem = await geoProblem(request);
      if (problem) return error(400, 'invalid_input', problem, headers);
    }
    const id = callId ?? body.callId ?? crypto.randomUUID();
    const { status, body: answer } = await (await module()).invoke(`tiers.call_${action}`,
      { organizationId: caller.organizationId, tier: caller.tier, callId: id });
    if (status !== 'ok') {
      // unavailable: the KV could not be written (a compare-and-set lost 64 times); the
      // client may try again in a second.
      const code = HTTP_STATUS[status] ?? 500;
      return json(code, answer, code === 503 ? { ...headers, 'retry-after': '1' } : headers);
    }
    if (action === 'start' && !answer.admitted) {
      return json(429, { error: 'call_limit', message: answer.reason ?? 'concurrent calls at the limit', ...answer },
        { ...headers, 'retry-after': retryAfterSeconds(answer.retryAfterMs) });
    }
    if (action === 'heartbeat' && !answer.renewed) {
      return json(503, { error: 'unavailable', message: answer.reason, ...answer },
        { ...headers, 'retry-after': retryAfterSeconds(answer.retryAfterMs) });
    }
    if (action === 'start') Object.assign(answer, await media(request, id));
    return json(action === 'start' && !answer.alreadyActive ? 201 : 200, answer, headers);
  }

  const routes = [
    ...cache.routes,
    {
      pattern: /^\/healthz$/, methods: ['GET'], open: true,
      run: async () => {
        let qv;
        try {
          qv = await module();
        } catch (failure) {
          log(3, `module not ready: ${failure?.message ?? failure}`);
          return error(503, 'unavailable', 'module not ready (logged at the edge)');
        }
        const { status } = await qv.invoke('tiers.catalogue', {});
        return status === 'ok' ? json(200, { status: 'ok' }) : error(503, 'unavailable', 'module not ready');
      },
    },
    {
      pattern: /^\/api\/me$/, methods: ['GET'],
      run: async (request, match, caller, headers) => {
        const { features } = await (await module()).call('tiers.features', { tier: caller.tier });
        return json(200, { organizationId: caller.organizationId, tier: caller.tier, features }, headers);
      },
    },
    {
      pattern: /^\/api\/tiers\/evaluate$/, methods: ['POST'],
      run: async (request, match, caller, headers) => {
        const parsed = await jsonBody(request, { headers });
        return parsed.response ?? invoke('tiers.evaluate', parsed.text, headers);
      },
    },
    {
      pattern: /^\/api\/tiers\/([^/]+)\/features$/, methods: ['GET'],
      run: async (request, match, caller, headers) => {
        let tier;
        try {
          tier = decodeURIComponent(match[1]);
        } catch {
          return error(400, 'invalid_input', 'tier: malformed percent-encoding in the path', headers);
        }
        return invoke('tiers.features', { tier }, headers);
      },
    },
    {
      pattern: /^\/api\/calls\/start$/, methods: ['POST'],
      run: (request, match, caller, headers) => callRoute('start', request, caller, headers),
    },
    {
      pattern: /^\/api\/calls\/([^/]+)\/media$/, methods: ['GET'],
      run: async (request, match, caller, headers) => {
        let id;
        try {
          id = decodeURIComponent(match[1]);
        } catch {
          return error(400, 'invalid_input', 'callId: malformed percent-encoding in the path', headers);
        }
        const where = mediaQuery(new URL(request.url).searchParams);
        if (where.problem) return error(400, 'invalid_input', where.problem, headers);
        // Without regions the module would answer its built-in default nodes, which nothing
        // here runs: a 503 as /api/route's, once the request itself is known to be well formed.
        if (!config.router) {
          const problem = await geoProblem(request);
          return problem ? error(400, 'invalid_input', problem, headers) : error(503, 'unavailable', NO_ROUTING, headers);
        }
        const { status, body } = await (await module()).invoke('router.affinity', {
          callId: id, headers: geoHeaders(request.headers), ...where.input,
        });
        return json(HTTP_STATUS[status] ?? 500, body, headers);
      },
    },
    {
      pattern: /^\/api\/route$/, methods: ['GET'],
      // Without regions the module would explain its built-in default, which nothing here uses.
      run: (request, match, caller, headers) => (config.router
        ? regional.explain(request, { caller, headers })
        : error(503, 'unavailable', NO_ROUTING, headers)),
    },
    {
      pattern: /^\/api\/calls\/([^/]+)\/(heartbeat|end)$/, methods: ['POST'],
      run: (request, match, caller, headers) => {
        let id;
        try {
          id = decodeURIComponent(match[1]);
        } catch {
          return error(400, 'invalid_input', 'callId: malformed percent-encoding in the path', headers);
        }
        return callRoute(match[2], request, caller, headers, id);
      },
    },
  ];

  // HEAD is GET without the body (RFC 9110 section 9.3.2), wherever GET is served.
  for (const route of routes) route.allowed = route.methods.includes('GET') ? [...route.methods, 'HEAD'] : route.methods;

  async function handle(request, event) {
    const url = new URL(request.url);
    const api = url.pathname.startsWith('/api/');
    if (event) events.set(request, event);
    try {
      // A request line may carry a whole URL; one of another scheme parses its path by other
      // rules ('\' is no separator there) than the origin's http: URL would.
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        return error(400, 'invalid_input', `request: a '${url.protocol}' URL; send a path, or an http: or https: URL`);
      }
      const path = api ? canonical(url.pathname) : null;
      if (path?.problem) return error(400, 'invalid_input', path.problem);
      const coding = transferCodingRefused(request);
      if (coding) return coding;
      let match = null;
      const route = routes.find((candidate) => (match = candidate.pattern.exec(url.pathname)));
      // Routes marked open authenticate otherwise (or not at all); every other /api/*
      // request, even to an unknown path, passes identity and admission first.
      let admitted = { caller: null, headers: {} };
      if (api && !route?.open) {
        admitted = await admit(request, url.pathname, path.readings);
        if (admitted.response) return admitted.response;
      }
      const proxied = config.router && api;
      const forThem = admitted.caller ? forCaller : (response) => response;
      if (route?.allowed.includes(request.method)) {
        const response = forThem(await route.run(request, match, admitted.caller, admitted.headers, ownRawBody));
        if (request.method !== 'HEAD') return response;
        await response.body?.cancel();
        return new Response(null, { status: response.status, headers: response.headers });
      }
      if (proxied && (!route || route.otherMethodsProxied)) return forThem(await proxy(request, admitted.caller, admitted.headers));
      if (route) {
        return error(405, 'method_not_allowed', `${request.method} ${url.pathname}: use ${route.allowed.join(', ')}`,
          { ...admitted.headers, allow: route.allowed.join(', ') });
      }
      return error(404, 'not_found', `no route for ${request.method} ${url.pathname}`, admitted.headers);
    } catch (failure) {
      // The cause goes to the log, not to the client.
      log(3, `internal error: ${failure?.stack ?? failure}`);
      return error(500, 'internal', 'internal error (logged at the edge)');
    }
  }

  /**
   * Resolves once the edge config is read and the module configured (API keys, feature
   * routes, router and cache settings); rejects with an Error naming the field when one is
   * wrong, which would otherwise fail every /api/* request. The warm-up is not waited for.
   */
  handle.ready = async () => {
    await getSettings();
  };

  /** Resolves once the critical keys were warmed (or at once when there are none). */
  handle.warmed = async () => {
    await getSettings();
    return warming ?? { warmed: 0, failed: [] };
  };
  return handle;
}

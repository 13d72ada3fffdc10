// The project's edge function (createEdgeHandler of the @quantum-voice/edge package) as this
// Next.js app's route handlers serve it. Shared by both runtimes: the route files differ only in how they get the
// WebAssembly bundle and the KV.
//
// Configuration, read once per instance: QV_EDGE_CONFIG_JSON, the edge config as JSON text
// (API keys, feature routes, router regions and origins, cache settings; the format of
// the package's demo-config.json); QV_CACHE_SECRET, the invalidation webhook's secret;
// QV_ORIGIN_SECRET, the secret the function's requests to origins carry in
// x-qv-origin-secret, by which the origins know them for the edge's;
// QV_KV_TIMEOUT_MS, how long a KV operation may take before it fails (default 250).
// The demo config (its API keys are public) and its demo secrets serve only with QV_DEMO=1:
// a deployment that forgot its config fails loudly instead of accepting the demo keys.
import { after } from 'next/server';
import { createEdgeHandler } from '@quantum-voice/edge/edge-function';
import demoConfig from '@quantum-voice/edge/demo-config.json';

const demo = () => process.env.QV_DEMO === '1';

function edgeConfig() {
  const text = process.env.QV_EDGE_CONFIG_JSON;
  if (!text) {
    if (demo()) return demoConfig;
    throw new Error('QV_EDGE_CONFIG_JSON is not set (QV_DEMO=1 serves the demo config, whose API keys are public)');
  }
  let config;
  try {
    config = JSON.parse(text);
  } catch (failure) {
    throw new Error(`QV_EDGE_CONFIG_JSON: not JSON (${failure.message})`);
  }
  // Anything but an object would pass for a config without API keys: every request a 401.
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    const got = config === null ? 'null' : Array.isArray(config) ? 'an array' : `a ${typeof config}`;
    throw new Error(`QV_EDGE_CONFIG_JSON: expected a JSON object (the edge config), got ${got}`);
  }
  return config;
}

function kvTimeout() {
  const text = process.env.QV_KV_TIMEOUT_MS;
  if (text === undefined) return {};
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms < 1 || ms > 60000) throw new Error(`QV_KV_TIMEOUT_MS: expected a whole number of milliseconds from 1 to 60000, got '${text}'`);
  return { kvTimeoutMs: ms };
}

/**
 * The route handlers (GET, POST, ...) of the edge function over wasmModule (a
 * WebAssembly.Module, or a promise of one) and options.kv (a KV shared by the instances,
 * or a promise of one, or a function giving either, called when the instance starts, at its
 * first request, and kept for the next start should that one fail; default: the instance's
 * in-memory KV). options.basePath: the path the app serves the function under, taken off
 * before the function sees the request.
 */
export function edgeFunctionRoutes(wasmModule, { kv, basePath = '' } = {}) {
  let handler = null;
  let kvGiven; // options.kv, or what its function gave
  async function serve(request) {
    handler ??= Promise.all([wasmModule, kvGiven ??= typeof kv === 'function' ? kv() : kv]).then(async ([module, sharedKv]) => {
      const config = edgeConfig();
      const handle = createEdgeHandler({
        wasmModule: module,
        config,
        cacheSecret: process.env.QV_CACHE_SECRET ?? (demo() ? config.cache?.demoSecret : undefined),
        originSecret: process.env.QV_ORIGIN_SECRET ?? (demo() ? config.origin?.demoSecret : undefined),
        ...(sharedKv ? { kv: sharedKv } : {}),
        ...kvTimeout(),
      });
      // A wrong field of the config (an API key's tier, a feature route, the router's regions)
      // fails the start here, naming it, as npm start refuses to start: it would otherwise fail
      // every /api/* request while /healthz answered ok.
      await handle.ready().catch((failure) => {
        const source = process.env.QV_EDGE_CONFIG_JSON ? 'QV_EDGE_CONFIG_JSON' : 'the demo config';
        throw new Error(`${source}: ${String(failure?.message ?? failure).replace(/^config\./, '')}`);
      });
      after(handle.warmed()); // the warm-up of critical keys, behind the request that started it
      return handle;
    });
    const starting = handler;
    let handle;
    try {
      handle = await starting;
    } catch (failure) {
      if (handler === starting) handler = null; // a failed start is retried by the next request
      // The cause (a setting, named) goes to the log; the client gets the edge function's
      // JSON error, as for any failure of its own, rather than Next's bare 500.
      console.error(`[qv] the edge function did not start: ${failure?.message ?? failure}`);
      return new Response(JSON.stringify({ error: 'internal', message: 'internal error (logged at the edge)' }), {
        status: 500, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
      });
    }
    return handle(asSent(request, basePath), { waitUntil: after });
  }
  return { GET: serve, HEAD: serve, POST: serve, PUT: serve, PATCH: serve, DELETE: serve, OPTIONS: serve };
}

// The request as the edge function expects it: the host the client asked for, its path from
// /api/ on, and its query as Next hands it over less the catch-all segment's parameter,
// qvEdgePath, which Next adds to it on the edge runtime (it would reach the origin and the
// cache key). Those pairs are taken off as text: searchParams.delete() would write the whole
// query again in its own form ('?a' as 'a=', '~' as '%7E', '%20' as '+'); Next itself hands
// route handlers the query in that form, on both runtimes (see the README). The host: Next
// builds the URL with its own (under next start, the address it listens on) and passes the
// client's on as x-forwarded-host (the one a proxy in front set, else the Host header); the
// edge function tells origins the URL's host, in x-forwarded-host.
const SEGMENT_PARAMETER = 'qvEdgePath';
function asSent(request, basePath) {
  const url = new URL(request.url);
  const host = request.headers.get('x-forwarded-host')?.split(',')[0].trim();
  const given = host && URL.canParse(`${url.protocol}//${host}/`) ? new URL(`${url.protocol}//${host}/`) : null;
  if (given && given.href === `${given.origin}/`) { // a host and port, nothing else
    url.hostname = given.hostname;
    url.port = given.port;
  }
  if (basePath) {
    url.pathname = url.pathname.slice(basePath.length);
    url.search = url.search.slice(1).split('&')
      .filter((pair) => pair !== SEGMENT_PARAMETER && !pair.startsWith(`${SEGMENT_PARAMETER}=`)).join('&');
  }
  return url.href === request.url ? request : new Request(url, request);
}

// The local edge server: the edge function on Vercel's edge-runtime at
// http://localhost:3000. Environment: PORT, HOST; QV_FLAVOUR=wasi for the WASI bundle;
// QV_EDGE_CONFIG=FILE for API keys, feature routes, regions and cache settings (default
// edge/config/demo.json); QV_REDIS_URL=redis://... for a shared Redis KV (default: the
// in-memory KV); QV_CACHE_SECRET for the invalidation webhook's secret (default: the
// config's cache.demoSecret); QV_ORIGIN_SECRET for the secret the edge's requests to origins
// carry in x-qv-origin-secret, which the demo origins require (default: the config's
// origin.demoSecret).
// Origins: unless the edge config has a `router` section (regions and their origins), the
// four demo regional origins of edge/regional-origins.mjs start in this process, serving
// the demo data set (edge/demo-origin.mjs), and both the cache's misses and the other
// /api/* requests go through the router to them. ORIGIN_URL=http://... puts your own
// origin behind them instead (they forward /api/* to it; QV_ORIGIN_UPSTREAM is the same);
// QV_ORIGINS_PORT=4101 fixes their ports (default: free ones); QV_DEMO_ORIGINS=0 starts
// none. Ctrl-C stops it.
import { constants } from 'node:os';
import { createEdgeRuntime, loadEdgeConfig, serveEdgeRuntime } from './runtime.mjs';
import { startRegionalOrigins, routerConfigFor, upstreamProblem } from './regional-origins.mjs';
import { RedisKv } from '../dist/js/kv-redis.mjs';
import { withoutCredentials } from '../dist/js/host-ops.mjs';
import { FLAVOURS, instantiateFlavour } from '../dist/js/node.mjs';

// PORT set but empty (or blank) is refused: Number('') is 0, a port the system would pick.
const port = Number(process.env.PORT ?? 3000);
if (process.env.PORT?.trim() === '') {
  console.error(`PORT: expected a port number 0-65535, got an empty value ('${process.env.PORT}'); leave it out for 3000`);
  process.exit(2);
}
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT: expected a port number 0-65535, got '${process.env.PORT}'`);
  process.exit(2);
}
const originsPort = Number(process.env.QV_ORIGINS_PORT ?? 0);
if (!Number.isInteger(originsPort) || originsPort < 0 || originsPort > 65532) {
  console.error(`QV_ORIGINS_PORT: expected a port number 0-65532 (the demo origins take it and the next three), got '${process.env.QV_ORIGINS_PORT}'`);
  process.exit(2);
}
// The shared KV connects in the background from here on: a URL it cannot take stops the
// server now, before anything starts.
const redisUrl = process.env.QV_REDIS_URL || null;
let redis = null;
if (redisUrl) {
  try {
    redis = await RedisKv.connect(redisUrl, { wait: false });
  } catch (failure) {
    console.error(`QV_REDIS_URL: ${failure.message}`);
    process.exit(2);
  }
}

// A port another process holds, or a HOST that names no address of this machine (a name that
// does not resolve, or an address on none of its interfaces), stops the server with the
// setting to change, not a stack trace.
const NO_SUCH_ADDRESS = ['ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL'];
async function listening(setting, what, start) {
  try {
    return await start();
  } catch (error) {
    if (error?.code === 'EADDRINUSE') {
      console.error(`${setting}: port ${error.port} is in use (${what}); choose another`);
    } else if (setting === 'PORT' && process.env.HOST && NO_SUCH_ADDRESS.includes(error?.code)) {
      console.error(`HOST: '${process.env.HOST}' is no address of this machine (${what} listens there); choose another, or leave it out for all of them`);
    } else {
      throw error;
    }
    process.exit(2);
  }
}
const flavour = process.env.QV_FLAVOUR ?? 'emscripten';
if (!FLAVOURS.includes(flavour)) {
  console.error(`QV_FLAVOUR: expected one of ${FLAVOURS.join(', ')}, got '${flavour}'`);
  process.exit(2);
}

// The shared KV: connected within REDIS_WAIT_MS, or served without it meanwhile, saying so.
const REDIS_WAIT_MS = 2000;
async function waitForRedis(kv, url) {
  for (let waited = 0; !kv.connected && waited < REDIS_WAIT_MS; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!kv.connected) {
    console.warn(`QV_REDIS_URL: ${withoutCredentials(url)} does not answer; serving on per-isolate limits without L2 until it does (it is tried again in the background)`);
  }
  return kv;
}

let config;
try {
  config = await loadEdgeConfig(process.env.QV_EDGE_CONFIG);
} catch (failure) {
  console.error(`QV_EDGE_CONFIG: ${failure.message}`);
  process.exit(2);
}
// The origin secret: an origin serves only requests that carry it (it trusts the identity
// headers the edge sets on them), so an empty one is refused rather than sent.
if (process.env.QV_ORIGIN_SECRET?.trim() === '') {
  console.error('QV_ORIGIN_SECRET: empty; give the secret your origins expect, or leave it out for the edge config\'s origin.demoSecret');
  process.exit(2);
}
const originSecret = process.env.QV_ORIGIN_SECRET ?? config.origin?.demoSecret;
const upstream = process.env.ORIGIN_URL || process.env.QV_ORIGIN_UPSTREAM || null;
let origins = null;
if (config.router) {
  if (upstream) console.warn('ORIGIN_URL: ignored, the edge config\'s router section names the origins');
} else if (process.env.QV_DEMO_ORIGINS !== '0') {
  const setting = process.env.ORIGIN_URL ? 'ORIGIN_URL' : 'QV_ORIGIN_UPSTREAM';
  const problem = upstream ? upstreamProblem(upstream) : null;
  if (problem) {
    console.error(`${setting}: ${problem}`);
    process.exit(2);
  }
  if (!originSecret) {
    console.error('QV_ORIGIN_SECRET: not set, and the edge config has no origin.demoSecret: the demo origins serve only requests that carry the secret');
    process.exit(2);
  }
  origins = await listening('QV_ORIGINS_PORT', `the demo regional origins take ${originsPort} to ${originsPort + 3}`,
    () => startRegionalOrigins({ secret: originSecret, port: originsPort, upstream }));
  config.router = routerConfigFor(origins.urls);
}
if (config.router) {
  // A wrong router config stops the server here, naming the field, rather than failing requests.
  const { status, body } = await (await instantiateFlavour(flavour, { log: () => {} })).invoke('router.configure', config.router);
  if (status !== 'ok') {
    console.error(`edge config: router.${body.message}`);
    await origins?.close();
    process.exit(2);
  }
}
// A Redis that is down (or not yet up) at start must not keep the edge from serving: the
// client connects in the background, and until it has, admission runs on per-isolate limits
// and the cache skips L2 (docs/admission.md, "When the KV fails"), as in an outage later on.
const kv = redis ? await waitForRedis(redis, redisUrl) : undefined;
const cacheSecret = process.env.QV_CACHE_SECRET ?? config.cache?.demoSecret;
if (config.router && !originSecret) {
  console.warn('QV_ORIGIN_SECRET: not set; the requests to the origins of the config\'s router section carry no x-qv-origin-secret, so they cannot tell the edge from anyone who reaches them');
}
const runtime = await createEdgeRuntime({ flavour, config, kv, cacheSecret, originSecret });
// A wrong API key entry, feature route or cache setting stops the server here too, naming
// the field, rather than answering every /api/* request with a 500.
try {
  await runtime.context.qvReady();
} catch (failure) {
  console.error(`edge config: ${String(failure?.message ?? failure).replace(/^config\./, '')}`);
  await origins?.close();
  await kv?.close();
  process.exit(2);
}
const server = await listening('PORT', 'the edge server', () => serveEdgeRuntime({ runtime, port, host: process.env.HOST }));
const shown = process.env.HOST ? server.url : `http://localhost:${new URL(server.url).port}`;
console.log(`qv edge server (${flavour} bundle on edge-runtime, ${kv ? 'Redis' : 'in-memory'} KV) listening on ${shown}`);
if (origins) {
  console.log(`demo regional origins, serving ${upstream ? `${upstream} (ORIGIN_URL)` : 'the demo data'} (inject faults: curl -X POST URL/__qv/faults/REGION -d '{"mode":"fail"}'):`);
  for (const [region, url] of Object.entries(origins.urls)) console.log(`  ${region.padEnd(15)} ${url}`);
}
if (config.router) {
  const warmed = await runtime.context.qvCacheWarmed();
  console.log(`cache: ${warmed.warmed} critical keys warmed${warmed.failed.length ? `, ${warmed.failed.length} failed` : ''}`);
}

// Ctrl-C (or SIGTERM) stops taking connections and waits for the requests in flight and
// their background work (a webhook claim still settling retries for up to 32 s) for at most
// STOP_GRACE_MS; a second signal stops at once.
const STOP_GRACE_MS = 5_000;
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) {
      console.log('qv edge server: stopped without waiting for the work in flight');
      process.exit(128 + constants.signals[signal]);
    }
    stopping = true;
    console.log(`qv edge server: stopping (waiting up to ${STOP_GRACE_MS / 1000} s for the work in flight; ${signal} again stops at once)`);
    const closed = (async () => {
      await server.close();
      await kv?.close();
      await origins?.close();
      return true;
    })();
    const grace = new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS, false).unref());
    if (!(await Promise.race([closed, grace]))) {
      console.log(`qv edge server: work still in flight after ${STOP_GRACE_MS / 1000} s, stopped anyway`);
    }
    process.exit(0);
  });
}

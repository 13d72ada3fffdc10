// The local edge server: the edge function on Vercel's edge-runtime at
// http://localhost:3000. Environment: PORT, HOST; QV_FLAVOUR=wasi for the WASI bundle;
// QV_EDGE_CONFIG=FILE for API keys and feature routes (default edge/config/demo.json);
// QV_REDIS_URL=redis://... for a shared Redis KV (default: the in-memory KV);
// ORIGIN_URL=http://... for the origin behind the cache (default: the demo origin, started
// here on a free loopback port); QV_CACHE_SECRET for the invalidation webhook's secret
// (default: the config's cache.demoSecret). Ctrl-C stops it.
import { runServer } from 'edge-runtime';
import { createEdgeRuntime, loadEdgeConfig } from './runtime.mjs';
import { RedisKv } from '../dist/js/kv-redis.mjs';
import { startDemoOrigin } from './demo-origin.mjs';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT: expected a port number 0-65535, got '${process.env.PORT}'`);
  process.exit(2);
}
const flavour = process.env.QV_FLAVOUR ?? 'emscripten';

const config = await loadEdgeConfig(process.env.QV_EDGE_CONFIG);
const kv = process.env.QV_REDIS_URL ? await RedisKv.connect(process.env.QV_REDIS_URL) : undefined;
const demoOrigin = process.env.ORIGIN_URL ? null : await startDemoOrigin();
const originUrl = process.env.ORIGIN_URL ?? demoOrigin.url;
const cacheSecret = process.env.QV_CACHE_SECRET ?? config.cache?.demoSecret;
const runtime = await createEdgeRuntime({ flavour, config, kv, originUrl, cacheSecret });
const server = await runServer({ runtime, port, host: process.env.HOST });
const shown = process.env.HOST ? server.url : `http://localhost:${new URL(server.url).port}`;
console.log(`qv edge server (${flavour} bundle on edge-runtime, ${kv ? 'Redis' : 'in-memory'} KV) listening on ${shown}`);
console.log(`cache origin: ${originUrl}${demoOrigin ? ' (the demo origin)' : ''}`);
const warmed = await runtime.context.qvCacheWarmed();
console.log(`cache: ${warmed.warmed} critical keys warmed${warmed.failed.length ? `, ${warmed.failed.length} failed` : ''}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('qv edge server: stopping');
    await server.close();
    await demoOrigin?.close();
    await kv?.close();
    process.exit(0);
  });
}

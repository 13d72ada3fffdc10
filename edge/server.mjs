// The local edge server: the edge function on Vercel's edge-runtime at
// http://localhost:3000. Environment: PORT, HOST; QV_FLAVOUR=wasi for the WASI bundle;
// QV_EDGE_CONFIG=FILE for API keys and feature routes (default edge/config/demo.json);
// QV_REDIS_URL=redis://... for a shared Redis KV (default: the in-memory KV).
// Unless the edge config has a `router` section (regions and their origins), the four demo
// regional origins of edge/regional-origins.mjs start in this process and /api/* is
// proxied to them: QV_ORIGINS_PORT=4101 fixes their ports (default: free ones),
// QV_ORIGIN_UPSTREAM=URL makes them forward to one upstream (e.g. the demo data origin),
// QV_DEMO_ORIGINS=0 starts none.
// Ctrl-C stops it.
import { runServer } from 'edge-runtime';
import { createEdgeRuntime, loadEdgeConfig } from './runtime.mjs';
import { startRegionalOrigins, routerConfigFor } from './regional-origins.mjs';
import { RedisKv } from '../dist/js/kv-redis.mjs';
import { instantiateFlavour } from '../dist/js/node.mjs';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT: expected a port number 0-65535, got '${process.env.PORT}'`);
  process.exit(2);
}
const flavour = process.env.QV_FLAVOUR ?? 'emscripten';

const config = await loadEdgeConfig(process.env.QV_EDGE_CONFIG);
let origins = null;
if (!config.router && process.env.QV_DEMO_ORIGINS !== '0') {
  origins = await startRegionalOrigins({
    port: Number(process.env.QV_ORIGINS_PORT ?? 0),
    upstream: process.env.QV_ORIGIN_UPSTREAM || null,
  });
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
const kv = process.env.QV_REDIS_URL ? await RedisKv.connect(process.env.QV_REDIS_URL) : undefined;
const runtime = await createEdgeRuntime({ flavour, config, kv });
const server = await runServer({ runtime, port, host: process.env.HOST });
const shown = process.env.HOST ? server.url : `http://localhost:${new URL(server.url).port}`;
console.log(`qv edge server (${flavour} bundle on edge-runtime, ${kv ? 'Redis' : 'in-memory'} KV) listening on ${shown}`);
if (origins) {
  console.log('demo regional origins (inject faults: curl -X POST URL/__qv/faults/REGION -d \'{"mode":"fail"}\'):');
  for (const [region, url] of Object.entries(origins.urls)) console.log(`  ${region.padEnd(15)} ${url}`);
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('qv edge server: stopping');
    await server.close();
    await kv?.close();
    await origins?.close();
    process.exit(0);
  });
}

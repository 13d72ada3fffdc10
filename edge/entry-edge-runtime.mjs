// Entry of the edge function for Vercel's edge-runtime (scripts/build bundles it into
// dist/edge/handler.js). The host hands in, as globals: QV_WASM_MODULE, the bundle
// precompiled (as production edge runtimes do with an imported .wasm); QV_EDGE_CONFIG,
// the API keys, feature routes, regions (router) and cache settings; and optionally QV_KV,
// a KV shared by every isolate (as a KV binding is), else each isolate keeps an in-memory
// KV; QV_CACHE_SECRET, the invalidation webhook's secret; QV_ORIGIN_SECRET, the secret its
// requests to origins carry (x-qv-origin-secret); QV_NOW, a clock; and QV_TIMERS,
// the {setTimeout, clearTimeout} KV operations and requests to origins time out by.
import { createEdgeHandler } from './handler.mjs';

const handle = createEdgeHandler({
  wasmModule: globalThis.QV_WASM_MODULE,
  config: globalThis.QV_EDGE_CONFIG ?? {},
  cacheSecret: globalThis.QV_CACHE_SECRET,
  originSecret: globalThis.QV_ORIGIN_SECRET,
  ...(globalThis.QV_KV ? { kv: globalThis.QV_KV } : {}),
  ...(globalThis.QV_NOW ? { now: globalThis.QV_NOW } : {}), // tests: a simulated clock
  ...(globalThis.QV_TIMERS ? { timers: globalThis.QV_TIMERS } : {}), // tests: timeouts they fire
});
globalThis.qvCacheWarmed = () => handle.warmed();
globalThis.qvReady = () => handle.ready();
addEventListener('fetch', (event) => event.respondWith(handle(event.request, event)));

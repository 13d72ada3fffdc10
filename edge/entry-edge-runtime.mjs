// Entry of the edge function for Vercel's edge-runtime (scripts/build bundles it into
// dist/edge/handler.js). The host hands in, as globals: QV_WASM_MODULE, the bundle
// precompiled (as production edge runtimes do with an imported .wasm); QV_EDGE_CONFIG,
// the API keys and feature routes; and optionally QV_KV, a KV shared by every isolate
// (as a KV binding is), else each isolate keeps an in-memory KV, and QV_NOW, a clock.
import { createEdgeHandler } from './handler.mjs';

const handle = createEdgeHandler({
  wasmModule: globalThis.QV_WASM_MODULE,
  config: globalThis.QV_EDGE_CONFIG ?? {},
  ...(globalThis.QV_KV ? { kv: globalThis.QV_KV } : {}),
  ...(globalThis.QV_NOW ? { now: globalThis.QV_NOW } : {}), // tests: a simulated clock
});
addEventListener('fetch', (event) => event.respondWith(handle(event.request, event)));

// Entry of the edge function for Vercel's edge-runtime (scripts/build bundles it into
// dist/edge/handler.js). The host hands the bundle in, precompiled, as the global
// QV_WASM_MODULE, as production edge runtimes do with an imported .wasm.
import { createEdgeHandler } from './handler.mjs';

const handle = createEdgeHandler({ wasmModule: globalThis.QV_WASM_MODULE });
addEventListener('fetch', (event) => event.respondWith(handle(event.request)));

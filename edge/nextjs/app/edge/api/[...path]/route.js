// /edge/api/* on the edge runtime (a Vercel Edge Function): the bundle is imported as a
// WebAssembly.Module (`?module`), compiled by the platform, never from bytes here; the KV is
// the isolate's own memory (edge runtimes have no TCP for Redis).
import wasmModule from '../../../../../../dist/emscripten/qv.wasm?module';
import { edgeFunctionRoutes } from '../../../../lib/edge-function.js';

export const runtime = 'edge';

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = edgeFunctionRoutes(wasmModule, { basePath: '/edge' });

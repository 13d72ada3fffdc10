// /edge/api/* on the edge runtime (a Vercel Edge Function; the segment's unusual name is
// one no client query uses: lib/edge-function.js takes it off the query Next adds it to):
// the bundle is imported as a
// WebAssembly.Module (`?module`), compiled by the platform, never from bytes here; the KV is
// the isolate's own memory (edge runtimes have no TCP for Redis). Turbopack applies `?module`
// to a file path only, not through a package's `exports`: hence the path in node_modules.
import wasmModule from '../../../../node_modules/@quantum-voice/edge/emscripten/qv.wasm?module';
import { edgeFunctionRoutes } from '../../../../lib/edge-function.js';

export const runtime = 'edge';

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = edgeFunctionRoutes(wasmModule, { basePath: '/edge' });

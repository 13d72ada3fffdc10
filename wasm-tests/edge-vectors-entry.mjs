// Bundled by edge-runtime.test.mjs and evaluated inside Vercel's edge-runtime: exposes the
// vector runner over the bundle the host handed in as QV_WASM_MODULE.
import { runVectorFiles } from './vector-runner.mjs';

globalThis.runVectors = (files) => runVectorFiles(globalThis.QV_WASM_MODULE, files);

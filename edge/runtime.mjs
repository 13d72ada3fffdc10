// Node.js side of the local edge: an EdgeRuntime (Vercel's edge-runtime) running the
// bundled edge function with code generation off, the WebAssembly bundle compiled here
// and handed in, as a production edge runtime does.
import { readFile } from 'node:fs/promises';
import { EdgeRuntime } from 'edge-runtime';
import { loadModule } from '../dist/js/node.mjs';

/** Code generation as production edge runtimes allow it: none from strings or bytes. */
export const STRICT_CODE_GENERATION = Object.freeze({ strings: false, wasm: false });

/** The edge config of npm start: demo API keys and feature routes (edge/config/demo.json). */
export async function loadEdgeConfig(path = new URL('config/demo.json', import.meta.url)) {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (failure) {
    throw new Error(`edge config ${path}: ${failure.message}`);
  }
}

/**
 * Creates an EdgeRuntime with the edge function loaded. options.flavour: 'emscripten'
 * (default) or 'wasi'; options.code: the script to run (default dist/edge/handler.js);
 * options.config: the edge config (default: edge/config/demo.json); options.kv: a KV the
 * isolate shares with others (default: its own in-memory KV); options.globals: more
 * globals for the context.
 */
export async function createEdgeRuntime({ flavour = 'emscripten', code, config, kv, globals = {} } = {}) {
  const wasmModule = await loadModule(flavour);
  const defaultConfig = config ?? await loadEdgeConfig();
  const initialCode = code ?? await readFile(new URL('../dist/edge/handler.js', import.meta.url), 'utf8');
  return new EdgeRuntime({
    initialCode,
    codeGeneration: STRICT_CODE_GENERATION,
    extend: (context) => Object.assign(context, {
      QV_WASM_MODULE: wasmModule,
      QV_EDGE_CONFIG: config ?? defaultConfig,
      ...(kv ? { QV_KV: kv } : {}),
      ...globals,
    }),
  });
}

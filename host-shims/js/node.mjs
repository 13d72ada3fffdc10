// Node.js entry: compiles a bundle from dist/ once per process and instantiates it. Edge
// runtimes import the .wasm as a WebAssembly.Module instead and call instantiate() from
// qv.mjs directly (they refuse to compile bytes).

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { instantiate } from './qv.mjs';

export * from './qv.mjs';
export { MemoryKv } from './kv-memory.mjs';

/** The two WebAssembly flavours the build produces. */
export const FLAVOURS = Object.freeze(['emscripten', 'wasi']);

const compiled = new Map(); // flavour -> Promise<WebAssembly.Module>

/** The path of a flavour's bundle, next to this file in dist/. */
export function wasmPath(flavour = 'emscripten') {
  if (!FLAVOURS.includes(flavour)) {
    throw new TypeError(`flavour: expected one of ${FLAVOURS.join(', ')}, got '${flavour}'`);
  }
  return new URL(`../${flavour}/qv.wasm`, import.meta.url);
}

/**
 * Compiles the flavour's bundle on first use; later calls reuse the module. Every failure,
 * an unknown flavour too, is a rejection (loadModule(flavour).catch(...) sees them all).
 */
export async function loadModule(flavour = 'emscripten') {
  if (!compiled.has(flavour)) {
    const path = fileURLToPath(wasmPath(flavour));
    // Where the bundle comes from: the repository's build, or the installed package.
    const remedy = 'build it (npm run build -- wasm) in the repository, or reinstall @quantum-voice/edge';
    compiled.set(flavour, readFile(path).then((bytes) => WebAssembly.compile(bytes).catch((error) => {
      compiled.delete(flavour);
      throw new Error(`qv: ${path} is not a valid WebAssembly bundle (${error.message}); ${remedy}`);
    }), (error) => {
      compiled.delete(flavour);
      throw new Error(`qv: cannot read ${path} (${error.code ?? error.message}); ${remedy}`);
    }));
  }
  return compiled.get(flavour);
}

/** Instantiates the flavour's bundle with the shim options of qv.mjs instantiate(). */
export async function instantiateFlavour(flavour = 'emscripten', options = {}) {
  return instantiate(await loadModule(flavour), options);
}

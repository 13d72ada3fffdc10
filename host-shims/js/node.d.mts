import type { QvInstance, ShimOptions } from './qv.mjs';

export * from './qv.mjs';
export { MemoryKv } from './kv-memory.mjs';

export type Flavour = 'emscripten' | 'wasi';
export declare const FLAVOURS: readonly Flavour[];
/** dist/<flavour>/qv.wasm beside this file. */
export declare function wasmPath(flavour?: Flavour): URL;
/** Compiles the flavour's bundle once per process. */
export declare function loadModule(flavour?: Flavour): Promise<WebAssembly.Module>;
export declare function instantiateFlavour(flavour?: Flavour, options?: ShimOptions): Promise<QvInstance>;

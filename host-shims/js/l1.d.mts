// Types of l1.mjs: direct access to the cache module's L1.
export { DirectL1 } from './qv.mjs';
/** A clock that reads `now` at most once per millisecond (as npm lru-cache's ttlResolution 1). */
export declare function coarseClock(now: () => number): () => number;
/** The 64-bit hash the shim registers a key under: out[0] its low 32 bits, out[1] its high. */
export declare function hashKey(key: string, out: Uint32Array): void;

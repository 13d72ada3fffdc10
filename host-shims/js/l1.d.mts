// Types of l1.mjs: direct access to the cache module's L1.
export { DirectL1 } from './qv.mjs';
/** A clock that reads `now` at most once per millisecond (as npm lru-cache's ttlResolution 1). */
export declare function coarseClock(now: () => number): () => number;

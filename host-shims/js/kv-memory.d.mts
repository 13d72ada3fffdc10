import type { Kv } from './qv.mjs';

/**
 * In-memory KV with TTLs on an injectable clock, bounded by maxBytes (default 64 MiB): past
 * it a write evicts the least recently used of the cache's L2 copies ("qvc:e:<key>"), never
 * other entries. A maxBytes that is not a whole number from 1 to 2^53 - 1 is a RangeError, a
 * now that is not a function a TypeError.
 * get and cas answer copies of the stored bytes: changing them changes nothing stored.
 */
export declare class MemoryKv implements Kv {
  constructor(options?: { now?: () => number; maxBytes?: number });
  get(key: string): Promise<Uint8Array | null>;
  set(key: string, value: Uint8Array | string, ttlMs?: number): Promise<void>;
  incr(key: string, delta?: number | bigint, ttlMs?: number): Promise<number | bigint>;
  del(key: string): Promise<number>;
  cas(key: string, expected: Uint8Array | string | null, value: Uint8Array | string, ttlMs?: number):
    Promise<{ swapped: boolean; current: Uint8Array | null }>;
  /** Entries held, expired ones not swept yet included (writes sweep a few each). */
  readonly size: number;
  /** About the bytes those entries hold (keys, values and a fixed overhead each). */
  readonly bytes: number;
  /** Entries evicted to stay within maxBytes. */
  readonly evicted: number;
  keys(): string[];
}

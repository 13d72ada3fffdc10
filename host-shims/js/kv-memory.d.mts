import type { Kv } from './qv.mjs';

/** In-memory KV with TTLs on an injectable clock. */
export declare class MemoryKv implements Kv {
  constructor(options?: { now?: () => number });
  get(key: string): Promise<Uint8Array | null>;
  set(key: string, value: Uint8Array | string, ttlMs?: number): Promise<void>;
  incr(key: string, delta?: number, ttlMs?: number): Promise<number | bigint>;
  del(key: string): Promise<number>;
  cas(key: string, expected: Uint8Array | string | null, value: Uint8Array | string, ttlMs?: number):
    Promise<{ swapped: boolean; current: Uint8Array | null }>;
  /** Entries held, expired ones not swept yet included (writes sweep a few each). */
  readonly size: number;
  keys(): string[];
}

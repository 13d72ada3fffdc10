import type { Kv, Timers } from './qv.mjs';

/**
 * KV on a Redis server (Node.js hosts). Fails fast while the server is down; a connection it
 * stalls on is dropped for a new one, and while it stays stalled the new ones come further apart.
 */
export declare class RedisKv implements Kv {
  /**
   * url: redis:// or rediss:// (another, one that cannot be read, or one with a user and no
   * password, rejects with a TypeError saying so). wait: false
   * resolves at once; operations fail until the first connection. maxInFlight (default
   * 1000): commands sent and not yet answered; more fail at once. stallMs (default 2000): a
   * connection that leaves a command or its handshake unanswered this long is dropped and a
   * new one made; the commands it held fail, later ones go to the new connection. While the
   * store stays stalled, each connection dropped after another with no command answered
   * between them waits longer for the next: the first is made at once, then stallMs after
   * the drop, doubling up to 30 s (or stallMs, if longer); meanwhile operations fail at once.
   * connectTimeoutMs (default 1000), maxInFlight and stallMs are whole numbers from 1, else
   * a RangeError naming the option. now (ms, default performance.now) and timers (default
   * the global ones) time stalls and reconnections (tests: a clock and timers they move); a
   * now that is not a function, or timers without setTimeout and clearTimeout, is a TypeError
   * naming it.
   * lookup (default dns.lookup, as net.connect's) finds a host name's addresses (tests: a
   * resolver they hold); connectTimeoutMs bounds an attempt whole, the resolution included.
   */
  static connect(url: string, options?: {
    prefix?: string; connectTimeoutMs?: number; wait?: boolean; maxInFlight?: number; stallMs?: number;
    now?: () => number; timers?: Timers;
    lookup?: (hostname: string, options: object,
      callback: (error: Error | null, address: string | { address: string; family: number }[], family?: number) => void) => void;
  }): Promise<RedisKv>;
  readonly connected: boolean;
  get(key: string): Promise<Uint8Array | null>;
  set(key: string, value: Uint8Array | string, ttlMs?: number): Promise<void>;
  /** The new value: a number, or a bigint past 2^53 (exact across the 64-bit range, as MemoryKv). */
  incr(key: string, delta?: number | bigint, ttlMs?: number): Promise<number | bigint>;
  del(key: string): Promise<number>;
  cas(key: string, expected: Uint8Array | string | null, value: Uint8Array | string, ttlMs?: number):
    Promise<{ swapped: boolean; current: Uint8Array | null }>;
  close(): Promise<void>;
}

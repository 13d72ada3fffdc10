import type { Kv } from './qv.mjs';

export declare const OP: Readonly<{ KV_GET: 1; KV_SET: 2; KV_INCR: 3; KV_DEL: 4; FETCH: 5; KV_CAS: 6; SLEEP: 7; WAIT: 8 }>;

export interface HostOp {
  kind: number;
  /** KV key, or the URL of a fetch. */
  key: string;
  /** kv.set value, or the fetch body. */
  value: Uint8Array;
  /** fetch: "METHOD\n" then "name: value\n" per header; kv.cas: the expected value. */
  meta: Uint8Array;
  /** TTL (kv.set, kv.incr, kv.cas), timeout (fetch) or delay (sleep) in ms. */
  durationMs: number;
  /** kv.incr amount (a bigint past 2^53); kv.cas: 1 to set only if the key is absent. */
  delta: number | bigint;
}

export interface HostOpResult {
  /** A qv_status value. */
  status: number;
  number?: number | bigint;
  data?: Uint8Array | string;
  meta?: string;
}

export declare class HostOps {
  constructor(options: { kv: Kv; fetch?: typeof fetch; kvTimeoutMs?: number; fetchTimeoutMs?: number; fetchMaxBytes?: number });
  /** Performs one operation (a fetch with `fetch` when given); never rejects. */
  perform(op: HostOp, fetch?: typeof globalThis.fetch): Promise<HostOpResult>;
}

/**
 * The body of a Request or Response, up to max bytes: {bytes}, or {tooLarge: size} as soon as
 * it proves longer (by its Content-Length, or as it streams in), the rest unread.
 */
export declare function readUpTo(message: Request | Response, max: number):
  Promise<{ bytes: Uint8Array; tooLarge?: undefined } | { tooLarge: number; bytes?: undefined }>;

import type { Kv } from './qv.mjs';

export declare const OP: Readonly<{ KV_GET: 1; KV_SET: 2; KV_INCR: 3; KV_DEL: 4; FETCH: 5 }>;

export interface HostOp {
  kind: number;
  /** KV key, or the URL of a fetch. */
  key: string;
  /** kv.set value, or the fetch body. */
  value: Uint8Array;
  /** fetch: "METHOD\n" then "name: value\n" per header. */
  meta: string;
  /** TTL (kv.set, kv.incr) or timeout (fetch) in ms. */
  durationMs: number;
  /** kv.incr amount. */
  delta: number;
}

export interface HostOpResult {
  /** A qv_status value. */
  status: number;
  number?: number;
  data?: Uint8Array | string;
  meta?: string;
}

export declare class HostOps {
  constructor(options: { kv: Kv; fetch?: typeof fetch; kvTimeoutMs?: number; fetchTimeoutMs?: number });
  /** Performs one operation; never rejects. */
  perform(op: HostOp): Promise<HostOpResult>;
}

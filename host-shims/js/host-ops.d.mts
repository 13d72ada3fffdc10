import type { Kv, Timers } from './qv.mjs';

export declare const OP: Readonly<{ KV_GET: 1; KV_SET: 2; KV_INCR: 3; KV_DEL: 4; FETCH: 5; KV_CAS: 6; SLEEP: 7; WAIT: 8 }>;

export interface HostOp {
  kind: number;
  /** KV key, or the URL of a fetch. */
  key: string;
  /** kv.set value, or the fetch body. */
  value: Uint8Array;
  /**
   * fetch: "METHOD\n" then "name: value\n" per header, values sent byte for byte (one
   * Headers char per byte); kv.cas: the expected value.
   */
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
  /** fetch: "name: value\n" per response header, the bytes as received (a string is encoded as UTF-8). */
  meta?: Uint8Array | string;
}

export declare class HostOps {
  constructor(options: { kv: Kv; fetch?: typeof fetch; kvTimeoutMs?: number; fetchTimeoutMs?: number; fetchMaxBytes?: number; timers?: Timers });
  /** Performs one operation (a fetch with `fetch` when given); never rejects. */
  perform(op: HostOp, fetch?: typeof globalThis.fetch): Promise<HostOpResult>;
}

/**
 * The body of a Request or Response, up to max bytes: {bytes}, or {tooLarge: true} as soon as
 * it proves longer (by its Content-Length, or as it streams in), the rest unread.
 */
export declare function readUpTo(message: Request | Response, max: number):
  Promise<{ bytes: Uint8Array; tooLarge?: undefined } | { tooLarge: true; bytes?: undefined }>;

/** An operation as messages name it: "kv.get KEY", or "fetch METHOD URL" (the URL without credentials). */
export declare function operationName(op: Pick<HostOp, 'kind' | 'key' | 'meta'>): string;
/** Bytes as a ByteString (what Headers hold): one char, 0-255, per byte. */
export declare function byteStringOf(bytes: Uint8Array): string;
/** A ByteString's bytes: each char's code (0-255). */
export declare function bytesOfByteString(text: string): Uint8Array;
/**
 * A module's text, UTF-8 decoded with nothing lost: a byte that is not part of valid UTF-8
 * becomes the lone surrogate U+DC80-U+DCFF (as Python's "surrogateescape").
 */
export declare function moduleTextOf(bytes: Uint8Array): string;
/** The bytes a string of a module's answer stands for: UTF-8, U+DC80-U+DCFF back as single bytes. */
export declare function textBytesOf(text: string): Uint8Array;
/**
 * A header value of a module's answer as the ByteString a Headers or Response takes, so the
 * client gets the bytes the module holds (an origin's, UTF-8 or latin-1 alike).
 */
export declare function headerValueOf(text: string): string;

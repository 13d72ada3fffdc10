// Types of qv.mjs: the JavaScript host of qv_abi.h.

export declare const ABI_VERSION: number;
/** The largest call input a module takes, in bytes (QV_MAX_INPUT_BYTES in qv_abi.h). */
export declare const MAX_INPUT_BYTES: number;
/** The longest method name there is, in bytes (QV_MAX_METHOD_BYTES in qv_abi.h): invoke() refuses a longer one, or one that is not a string, as invalid_input naming method. */
export declare const MAX_METHOD_BYTES: number;
export type StatusName =
  | 'ok' | 'pending' | 'invalid_input' | 'not_found' | 'bad_handle' | 'bad_state'
  | 'unavailable' | 'timeout' | 'too_large' | 'internal';
export declare const STATUS: readonly StatusName[];
export { OP, HostOps, headerValueOf } from './host-ops.mjs';
export declare const ALLOWED_IMPORTS: readonly string[];

/**
 * The KV a shim performs kv.* operations on (MemoryKv, RedisKv, or your own). An answer of
 * another type than these (a get of a number, an incr of text, a cas without a boolean
 * swapped) fails that operation as 'unavailable', naming the method and what it answered.
 */
export interface Kv {
  /** The value's bytes, or null when absent or expired. */
  get(key: string): Promise<Uint8Array | ArrayBuffer | string | null>;
  /** Stores the value with a TTL in ms (0: none). */
  set(key: string, value: Uint8Array | string, ttlMs?: number): Promise<void>;
  /** Adds delta to the integer at key (absent: 0); a new key gets the TTL. The new value. */
  incr(key: string, delta?: number | bigint, ttlMs?: number): Promise<number | bigint>;
  /** Removes the key; the number of keys removed (0 or 1). */
  del(key: string): Promise<number>;
  /**
   * Atomically sets key to value (TTL in ms, 0: none) only if it holds exactly `expected`
   * (null: only if it is absent). `current` is the value found when not swapped.
   */
  cas(key: string, expected: Uint8Array | null, value: Uint8Array | string, ttlMs?: number):
    Promise<{ swapped: boolean; current: Uint8Array | string | null }>;
}

export interface ShimOptions {
  /** Default: a new MemoryKv on the same clock. One that is not a KV (a promise of one, an object without get, set, incr, del and cas) is a TypeError naming kv. */
  kv?: Kv;
  /** Default: globalThis.fetch. As for now, randomBytes and log: anything but a function is a TypeError naming the option. */
  fetch?: typeof fetch;
  /** Clock in ms since the epoch (default Date.now). A reading that is not a finite number fails the instance, with a QvError naming now. */
  now?: () => number;
  /** Fills the array with random bytes (default crypto.getRandomValues). */
  randomBytes?: (buffer: Uint8Array) => void;
  /** Log sink; level 0 debug, 1 info, 2 warn, 3 error. Default: warn and above to console. */
  log?: (level: number, message: string) => void;
  /** A KV operation without an answer by then fails with 'timeout' (default 250; 1 to 2^31 - 1, else a RangeError). */
  kvTimeoutMs?: number;
  /** The longest any fetch may take: a module's own timeout above it is lowered to it, never raised (1 to 2^31 - 1 ms, else a RangeError; default: the module's, 10 s when it gives none). */
  fetchTimeoutMs?: number;
  /** A fetch whose answer body is longer fails with 'too_large', unread (default 8 MiB; 1 to 2^32 - 1, else a RangeError). One within it that no longer fits in the module's memory (2 GiB in the Emscripten bundle, 4 GiB in the WASI one) fails with 'too_large' too, the instance unharmed. */
  fetchMaxBytes?: number;
  /**
   * The timers KV and fetch operations, and waits for another call that give a timeout, time
   * out by, and sleep operations wait on (default the global ones; tests: timers they fire).
   * One without both functions (node:timers/promises has no clearTimeout) is a TypeError naming timers.
   */
  timers?: Timers;
}

/** What timeouts are set and cleared with: the global setTimeout and clearTimeout, or a test's own. */
export interface Timers {
  setTimeout(fire: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export interface Invocation<T = unknown> {
  status: StatusName;
  /**
   * The answer, or {error, message} for an error status. Its text is the module's bytes
   * decoded as UTF-8; a byte that is not part of valid UTF-8 (a latin-1 header value an
   * origin sent) is the lone surrogate U+DC80-U+DCFF, never U+FFFD: headerValueOf turns a
   * header value back into its bytes.
   */
  body: T | { error: StatusName; message: string };
}

export interface InvokeOptions {
  /** Performs this call's fetch operations instead of the instance's fetch (anything but a function: a TypeError naming fetch). */
  fetch?: typeof fetch;
}

export declare class QvError extends Error {
  constructor(status: StatusName, message: string);
  readonly status: StatusName;
}

/**
 * The cache module's L1 for values the host keeps (qv_l1_* in qv_abi.h), as `qv.l1`. Once
 * the instance has failed, get, has, set and delete throw its QvError (make a new instance).
 */
export declare class DirectL1 {
  private constructor();
  /** The value stored under key, or undefined when absent, evicted or expired. */
  get(key: string): unknown;
  /** Whether key holds a live value (the access is not counted). */
  has(key: string): boolean;
  /**
   * Stores value for ttlMs (0: the cache's L1 TTL), counting `size` bytes (default: a
   * string's length or a view's byteLength); false when too large or not admitted. ttlMs and
   * size are whole numbers from 0 to 2^32 - 1 (else a RangeError), key a string (else a
   * TypeError).
   */
  set(key: string, value: unknown, ttlMs?: number, size?: number): boolean;
  /** Removes key; true when it held a live value. */
  delete(key: string): boolean;
  /** Hands the buffered accesses to the module now (a set or a module call does it too). */
  flush(): void;
  /** Forgets values the module let go (the shim calls it after every step of a module call). */
  sync(): void;
  /** Live values the shim's mirror holds (some may have expired since). */
  readonly mirrored: number;
}

export declare class QvInstance {
  /**
   * The host of one module instance, before the module: instantiate() makes one, instantiates
   * the module with its imports() and attach()es it; a host that instantiates the module itself
   * does the same. Options as instantiate()'s.
   */
  constructor(options?: ShimOptions);
  /** The import object for WebAssembly.instantiate (qv_abi.h, "Imports"). */
  imports(): WebAssembly.Imports;
  /** Binds to the instantiated module; throws for a module that is not a bundle or of another ABI version. */
  attach(instance: WebAssembly.Instance): void;
  readonly kv: Kv;
  /** The cache module's L1, or null when the bundle has no cache module. */
  readonly l1: DirectL1 | null;
  /** True once the module aborted; make a new instance. */
  readonly failed: boolean;
  /**
   * Runs method to completion; never rejects for errors the module reports. A method that is
   * not a string, or is longer than MAX_METHOD_BYTES, is refused as invalid_input naming
   * method, before it is copied into the module. input: an object
   * (sent as its JSON; one JSON cannot write, holding a BigInt or a cycle, is refused as
   * invalid_input naming input), or a string (its UTF-8; one holding a lone surrogate is refused as
   * invalid_input, naming its index) or bytes (a Uint8Array, another view, an ArrayBuffer)
   * sent as they are.
   */
  invoke<T = unknown>(method: string, input?: unknown, options?: InvokeOptions): Promise<Invocation<T>>;
  /**
   * Compare-and-set on the instance's KV (expected null: only if absent), bounded by
   * kvTimeoutMs as the module's operations are; value and expected are strings (their UTF-8)
   * or bytes. {problem} when the KV failed, did not answer or answered what a KV does not;
   * rejects only with a TypeError naming a value or expected that is neither.
   */
  kvCas(key: string, expected: string | Uint8Array | ArrayBuffer | null, value: string | Uint8Array | ArrayBuffer, ttlMs: number):
    Promise<{ swapped: true } | { swapped: false; current: string | null } | { problem: string }>;
  /** Runs method to completion; rejects with QvError on an error status. */
  call<T = unknown>(method: string, input?: unknown, options?: InvokeOptions): Promise<T>;
}

/** Instantiates a bundle from a WebAssembly.Module (what an edge runtime's .wasm import gives). */
export declare function instantiate(module: WebAssembly.Module, options?: ShimOptions): Promise<QvInstance>;

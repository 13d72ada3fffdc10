// The JavaScript host of qv_abi.h: instantiates a Quantum Voice Edge WebAssembly bundle
// from a WebAssembly.Module and drives module calls to completion by performing the
// operations they ask for (KV, fetch). Runs unchanged in edge runtimes (Vercel Edge,
// Next.js middleware, workerd) and in Node.js: no file system, no eval, no require.
//
// Many calls may be in flight on one instance: each awaits its own operations, and the
// module keeps every call's state behind its handle.

import { MemoryKv } from './kv-memory.mjs';
import { HostOps, OP, bytesView, moduleTextOf, headerValueOf, functionOption, operationName } from './host-ops.mjs';
import { DirectL1, coarseClock } from './l1.mjs';

export { HostOps, OP, DirectL1, headerValueOf };

/** The ABI version this shim implements (QV_ABI_VERSION in qv_abi.h). */
export const ABI_VERSION = 2;

/** The largest call input a module takes (QV_MAX_INPUT_BYTES in qv_abi.h). */
export const MAX_INPUT_BYTES = 1 << 20;

/** The longest method name there is (QV_MAX_METHOD_BYTES in qv_abi.h). */
export const MAX_METHOD_BYTES = 64;

/** Status names by qv_status value, as qv_abi.h defines them. */
export const STATUS = Object.freeze([
  'ok', 'pending', 'invalid_input', 'not_found', 'bad_handle', 'bad_state', 'unavailable',
  'timeout', 'too_large', 'internal',
]);
const S = Object.freeze(Object.fromEntries(STATUS.map((name, value) => [name, value])));


/** Imports the ABI allows (QV_ALLOWED_IMPORTS in qv_abi.h). */
export const ALLOWED_IMPORTS = Object.freeze([
  'qv_host.now_ms', 'qv_host.random_bytes', 'qv_host.log', 'wasi_snapshot_preview1.fd_write',
  'wasi_snapshot_preview1.fd_seek', 'wasi_snapshot_preview1.fd_close',
  'wasi_snapshot_preview1.proc_exit', 'env.emscripten_notify_memory_growth',
]);

const OP_RECORD_SIZE = 40; // sizeof(qv_op) in wasm32
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A module call that ended with an error status; message names the field and problem. */
export class QvError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'QvError';
    this.status = status; // a STATUS name
  }
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];
function defaultLog(level, message) {
  if (level >= 2) console[LOG_LEVELS[level]](`[qv] ${message}`);
}

/**
 * Instantiates a bundle. `module` is a WebAssembly.Module: what an edge runtime's import
 * of a .wasm gives, or what node.mjs compiles from the file once per process.
 * Options: kv (default: a new MemoryKv; one without get, set, incr, del and cas is a
 * TypeError naming kv), fetch (default: globalThis.fetch), now (ms since
 * the epoch), randomBytes(Uint8Array), log(level, message), kvTimeoutMs, fetchTimeoutMs,
 * fetchMaxBytes, timers ({setTimeout, clearTimeout} the operations time out by, waits for
 * another call included, and sleeps wait on). A fetch, now, randomBytes or log that is not a
 * function, and timers without both functions, are a TypeError naming the option; a reading
 * of now that is not a finite number fails the instance (a QvError naming now).
 */
export async function instantiate(module, options = {}) {
  if (!(module instanceof WebAssembly.Module) && module?.constructor?.name !== 'Module') {
    throw new TypeError(`instantiate: expected a WebAssembly.Module, got ${given(module)}`);
  }
  const host = new QvInstance(options);
  const instance = await WebAssembly.instantiate(module, host.imports());
  host.attach(instance);
  return host;
}

// What instantiate() was given instead of a module, and what to do about it.
function given(value) {
  if (typeof value?.then === 'function') return 'a promise of one? (await it: loadModule() resolves to the module)';
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return "the .wasm file's bytes (compile them first: WebAssembly.compile in Node.js, loadModule() from @quantum-voice/edge/node; edge runtimes import the .wasm as a module)";
  }
  return `${value === null ? 'null' : typeof value === 'object' ? `a ${value.constructor?.name ?? 'object'}` : typeof value} (compile the .wasm first)`;
}

export class QvInstance {
  #exports = null;
  #memory = null;
  #scratch = 0; // 8 bytes of module memory for out-parameters
  #failure = null; // set when the module aborted: the instance is unusable
  #now;
  #randomBytes;
  #log;
  #ops; // performs kv.* and fetch operations
  #timers; // what waits with a timeout time out by
  #wakes = new Map(); // call handle -> {pending: waits not yet woken, resolve, reject}
  #l1 = null; // DirectL1, when the bundle has the cache module
  #l1Clock; // the clock of the direct L1: the host clock, read at most once per ms by default

  constructor(options = {}) {
    // The module reads these from inside its calls: one that is not a function would fail the
    // instance at its first call, so it is refused here, named.
    const now = functionOption(options, 'now');
    const randomBytes = functionOption(options, 'randomBytes');
    const log = functionOption(options, 'log');
    this.kv = options.kv ?? new MemoryKv({ now });
    this.#now = now ?? (() => Date.now());
    this.#l1Clock = now ?? coarseClock(() => Date.now());
    this.#randomBytes = randomBytes ?? ((buffer) => crypto.getRandomValues(buffer));
    this.#log = log ?? defaultLog;
    this.#ops = new HostOps({ ...options, kv: this.kv });
    this.#timers = options.timers ?? globalThis;
  }

  /** The import object for WebAssembly.instantiate (see qv_abi.h, "Imports"). */
  imports() {
    // Pointers and lengths come in as i32 and read negative from 2 GiB up (the WASI bundle's
    // memory may grow to 4 GiB): >>> 0 reads them as the unsigned wasm32 addresses they are.
    const bytes = (ptr, len) => new Uint8Array(this.#memory.buffer, ptr >>> 0, len >>> 0);
    const view = () => new DataView(this.#memory.buffer);
    return {
      qv_host: {
        now_ms: () => {
          // A clock that gives no number (a function missing its return) would have the module
          // decide on NaN: every admission refused, no cache entry ever fresh, with no word.
          // Read as the import's f64 reads it (a Date is its ms), then checked.
          const reading = this.#now();
          const now = Number(reading);
          if (Number.isFinite(now)) return now;
          throw new QvError('internal', `now: the host clock gave ${typeof reading === 'number' ? reading : typeof reading}, not a finite number of ms since the epoch`);
        },
        random_bytes: (ptr, len) => {
          // getRandomValues fills at most 65536 bytes per call
          for (let offset = 0; offset < len; offset += 65536) {
            this.#randomBytes(bytes(ptr + offset, Math.min(65536, len - offset)));
          }
        },
        log: (level, ptr, len) => this.#log(level, decoder.decode(bytes(ptr, len))),
      },
      wasi_snapshot_preview1: {
        fd_write: (fd, iovs, iovsLen, outWritten) => {
          if (fd !== 1 && fd !== 2) return 8; // EBADF
          let text = '';
          let written = 0;
          for (let i = 0; i < iovsLen; i++) {
            const ptr = view().getUint32((iovs >>> 0) + i * 8, true);
            const len = view().getUint32((iovs >>> 0) + i * 8 + 4, true);
            text += decoder.decode(bytes(ptr, len));
            written += len;
          }
          view().setUint32(outWritten >>> 0, written, true);
          if (text.trim()) this.#log(fd === 2 ? 3 : 1, text.trimEnd());
          return 0;
        },
        fd_seek: () => 70, // ESPIPE
        fd_close: () => 8, // EBADF
        proc_exit: (code) => {
          throw new QvError('internal', `module aborted (exit code ${code})`);
        },
      },
      env: { emscripten_notify_memory_growth: () => {} },
    };
  }

  /** Binds to the instantiated module and checks its ABI version. */
  attach(instance) {
    const exports = instance.exports;
    for (const name of ['qv_abi_version', 'qv_alloc', 'qv_free', 'qv_call_start', 'qv_call_ops',
      'qv_call_complete_op', 'qv_call_resume', 'qv_call_output', 'qv_call_free', 'qv_woken_calls', 'memory']) {
      if (!(name in exports)) throw new Error(`qv: the module does not export ${name}: not a Quantum Voice Edge bundle`);
    }
    this.#exports = exports;
    this.#memory = exports.memory;
    exports._initialize?.();
    const version = exports.qv_abi_version();
    if (version !== ABI_VERSION) {
      throw new Error(`qv: ABI version mismatch: the module implements version ${version}, this shim version ${ABI_VERSION}; rebuild the module and the shim together`);
    }
    this.#scratch = exports.qv_alloc(8) >>> 0;
    if (typeof exports.qv_l1_put === 'function' && typeof exports.qv_l1_released === 'function') {
      this.#l1 = new DirectL1(exports, this.#l1Clock, (error) => this.#guard(() => { throw error; }));
    }
  }

  /**
   * The cache module's L1, read and written directly (get, set, has, delete; see l1.mjs),
   * or null when the bundle has no cache module.
   */
  get l1() {
    return this.#l1;
  }

  /** True once the module aborted; a new instance must be made. */
  get failed() {
    return this.#failure !== null;
  }

  /**
   * Runs method with input (an object, serialised to JSON; a string, or bytes such as a
   * request body's ArrayBuffer, used as is) to
   * completion. Resolves to {status, body}: status a STATUS name, body the parsed JSON
   * answer (on errors: {error, message}). Never rejects for errors the module reports.
   * options.fetch: performs this call's fetch operations instead of the instance's fetch
   * (e.g. a proxy that picks the origin per request).
   */
  async invoke(method, input = {}, options = {}) {
    const fetch = functionOption(options, 'fetch');
    const refused = methodProblem(method); // before it is copied into the module, whatever its size
    if (refused) return { status: 'invalid_input', body: { error: 'invalid_input', message: refused } };
    const lone = typeof input === 'string' ? loneSurrogateAt(input) : -1;
    if (lone >= 0) { // TextEncoder would write U+FFFD in its place, and the module read that
      const unit = input.charCodeAt(lone).toString(16).toUpperCase();
      const message = `input: the text is not Unicode: a lone surrogate U+${unit} at index ${lone} (UTF-8 cannot hold it)`;
      return { status: 'invalid_input', body: { error: 'invalid_input', message } };
    }
    const { bytes, problem } = inputBytes(input);
    if (problem) return { status: 'invalid_input', body: { error: 'invalid_input', message: problem } };
    if (bytes.length > MAX_INPUT_BYTES) { // refused as the module would, without copying it in
      const message = `input: ${bytes.length} bytes is above the limit of ${MAX_INPUT_BYTES} bytes`;
      return { status: 'too_large', body: { error: 'too_large', message } };
    }
    const handle = this.#start(method, bytes);
    try {
      let status = handle.status;
      while (status === S.pending) {
        const ops = this.#readOps(handle.id);
        // kv.*, fetch and sleep are performed here; waits are completed by the module
        // itself when another call of this instance notifies them, or here, as timed out,
        // when they gave a timeout and it passes first.
        const waits = ops.filter((op) => op.kind === OP.WAIT).length;
        const woken = waits ? this.#wokenAfter(handle.id, waits) : null;
        const timeouts = ops.flatMap((op, index) => (op.kind === OP.WAIT && op.durationMs > 0
          ? [this.#timers.setTimeout(() => this.#timeOutWait(handle.id, index, op.durationMs), op.durationMs)]
          : []));
        let results;
        try {
          results = await Promise.all(ops.map((op) => (op.kind === OP.WAIT ? null : this.#ops.perform(op, fetch))));
          await woken;
        } finally {
          for (const timer of timeouts) this.#timers.clearTimeout(timer);
        }
        this.#guard(() => {
          results.forEach((result, index) => { if (result) this.#complete(handle.id, index, result, ops[index]); });
          status = this.#exports.qv_call_resume(handle.id);
          this.#drainWoken();
          this.#l1?.sync();
        });
      }
      const body = this.#output(handle.id);
      return { status: STATUS[status] ?? `status_${status}`, body: JSON.parse(body) };
    } finally {
      this.#wakes.delete(handle.id);
      // Freeing runs the module too (a call freed while others waited for it wakes them): a
      // trap there fails the instance as any other does.
      if (!this.#failure) {
        this.#guard(() => {
          this.#exports.qv_call_free(handle.id);
          this.#drainWoken();
        });
      }
    }
  }

  /**
   * Compare-and-set on the instance's KV, performed as the module's operations are (bounded
   * by kvTimeoutMs): sets key to value for ttlMs only if it holds expected (null: only if
   * absent); value and expected are strings (their UTF-8) or bytes (a Uint8Array, another view,
   * an ArrayBuffer), as the KV takes them. Resolves to {swapped: true}, {swapped: false,
   * current} (the value found, a string, or null), or {problem} when the KV failed, did not
   * answer or answered what a KV does not; rejects only with a TypeError naming a value or
   * expected that is neither a string nor bytes.
   */
  async kvCas(key, expected, value, ttlMs) {
    const result = await this.#ops.perform({
      kind: OP.KV_CAS, key, value: kvBytes(value, 'value'), delta: expected == null ? 1 : 0,
      meta: expected == null ? undefined : kvBytes(expected, 'expected'), durationMs: ttlMs,
    });
    if (result.status !== 0) return { problem: String(result.data) };
    if (result.number === 1) return { swapped: true };
    const current = result.data ?? null; // bytes, or a string from a KV that answers strings
    return { swapped: false, current: typeof current === 'string' || current === null ? current : decoder.decode(current) };
  }

  /** As invoke, but resolves to the answer and rejects with a QvError on an error status. */
  async call(method, input = {}, options = {}) {
    const { status, body } = await this.invoke(method, input, options);
    if (status !== 'ok') throw new QvError(status, body?.message ?? `${method} failed: ${status}`);
    return body;
  }

  // Resolves once the module has reported `count` woken waits of the call. Rejects when the
  // instance fails, which may be while the call still awaits the other operations of its
  // batch (a KV or fetch operation): handled here, so that rejection is never unhandled;
  // the call reads it once those end.
  #wokenAfter(id, count) {
    const entry = this.#wakeEntry(id);
    entry.pending += count;
    const woken = new Promise((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
      if (entry.pending <= 0) this.#settleWake(id, entry);
    });
    woken.catch(() => {});
    return woken;
  }

  // Wait `index` of the call `id` gave a timeout of `ms`, and it passed: ends the wait as
  // timed out (qv_call_complete_op with QV_TIMEOUT), unless the module completed it first
  // (the wake stands) or the instance failed (every wait was released then).
  #timeOutWait(id, index, ms) {
    const entry = this.#wakes.get(id);
    if (!entry || this.#failure) return;
    let status;
    try {
      status = this.#guard(() => this.#completeOp(id, index, { status: S.timeout, data: `wait: not woken within ${ms} ms` }));
    } catch {
      return; // the module failed: the call's wait was rejected with the reason
    }
    if (status !== S.ok) return;
    entry.pending -= 1;
    if (entry.pending <= 0 && entry.resolve) this.#settleWake(id, entry);
  }

  // The wakes the call `id` waits for (pending may run ahead of the wait, below 0).
  #wakeEntry(id) {
    let entry = this.#wakes.get(id);
    if (!entry) this.#wakes.set(id, (entry = { pending: 0, resolve: null, reject: null }));
    return entry;
  }

  #settleWake(id, entry) {
    this.#wakes.delete(id);
    entry.resolve?.();
  }

  // Reads the calls the module woke (qv_woken_calls) and releases their waits.
  #drainWoken() {
    this.#exports.qv_woken_calls(this.#scratch, this.#scratch + 4);
    const view = new DataView(this.#memory.buffer);
    const base = view.getUint32(this.#scratch, true);
    const count = view.getUint32(this.#scratch + 4, true);
    for (let i = 0; i < count; i++) {
      const id = view.getUint32(base + i * 4, true);
      const entry = this.#wakeEntry(id);
      entry.pending -= 1;
      if (entry.pending <= 0 && entry.resolve) this.#settleWake(id, entry);
    }
  }

  // Runs fn, turning a trap or abort of the module into a failed instance. Every call
  // waiting for another to wake it fails too: nothing will wake it now.
  #guard(fn) {
    if (this.#failure) throw new QvError('internal', `qv: the module instance failed earlier (${this.#failure}); make a new instance`);
    if (!this.#exports) throw new Error('qv: no module attached: attach() the instance WebAssembly.instantiate made with imports() first (instantiate() does both)');
    try {
      return fn();
    } catch (error) {
      this.#failure = error?.message ?? String(error);
      this.#l1?.discard();
      const failed = new QvError('internal', `qv: the module failed (${this.#failure}); the instance is discarded`);
      for (const entry of this.#wakes.values()) entry.reject?.(failed);
      this.#wakes.clear();
      throw failed;
    }
  }

  // Copies bytes into module memory: their address, or 0 when they do not fit there (qv_alloc
  // answers NULL: the module's memory is at its limit, 2 GiB in the Emscripten bundle, 4 GiB in
  // the WASI bundle).
  #copyIn(data) {
    const ptr = this.#exports.qv_alloc(data.length) >>> 0; // unsigned, as in imports()
    if (ptr !== 0) new Uint8Array(this.#memory.buffer, ptr, data.length).set(data);
    return ptr;
  }

  // Copies bytes into module memory for the duration of fn(ptr, len); `what` names them for
  // the error when they do not fit.
  #withBytes(data, what, fn) {
    const ptr = this.#copyIn(data);
    if (ptr === 0) throw new Error(`qv: module out of memory: ${what}'s ${data.length} bytes do not fit in the module's memory`);
    try {
      return fn(ptr, data.length);
    } finally {
      this.#exports.qv_free(ptr);
    }
  }

  #start(method, input) {
    return this.#guard(() => this.#withBytes(encoder.encode(method), 'the method', (mPtr, mLen) =>
      this.#withBytes(input, 'the input', (iPtr, iLen) => {
        this.#l1?.flush(); // the module's eviction decisions see every access served so far
        const status = this.#exports.qv_call_start(mPtr, mLen, iPtr, iLen, this.#scratch);
        const id = new DataView(this.#memory.buffer).getUint32(this.#scratch, true);
        this.#drainWoken();
        this.#l1?.sync();
        if (id === 0) throw new Error(`qv_call_start failed with ${STATUS[status]}`);
        return { id, status };
      })));
  }

  #readOps(id) {
    return this.#guard(() => {
      const status = this.#exports.qv_call_ops(id, this.#scratch, this.#scratch + 4);
      if (status !== S.ok) throw new Error(`qv_call_ops returned ${STATUS[status]}`);
      const view = new DataView(this.#memory.buffer);
      const base = view.getUint32(this.#scratch, true);
      const count = view.getUint32(this.#scratch + 4, true);
      const slice = (ptr, len) => new Uint8Array(this.#memory.buffer, ptr, len).slice();
      const ops = [];
      for (let i = 0; i < count; i++) {
        const at = base + i * OP_RECORD_SIZE;
        ops.push({
          kind: view.getUint32(at, true),
          durationMs: view.getUint32(at + 4, true),
          delta: exactInteger(view.getBigInt64(at + 8, true)),
          key: decoder.decode(slice(view.getUint32(at + 16, true), view.getUint32(at + 20, true))),
          value: slice(view.getUint32(at + 24, true), view.getUint32(at + 28, true)),
          meta: slice(view.getUint32(at + 32, true), view.getUint32(at + 36, true)),
        });
      }
      return ops;
    });
  }

  #complete(id, index, result, op) {
    const status = this.#completeOp(id, index, result, op);
    if (status !== S.ok) throw new Error(`qv_call_complete_op returned ${STATUS[status]}`);
  }

  // qv_call_complete_op with an operation's result; returns its status. A result that does not
  // fit in the module's memory (an answer of fetchMaxBytes, a KV value, past what the memory
  // can still grow by) fails that operation, too_large, naming its size and the operation: the
  // call goes on as that failure makes it, and the instance stays usable.
  #completeOp(id, index, { status, number = 0, data = EMPTY, meta = EMPTY }, op) {
    const dataBytes = typeof data === 'string' ? encoder.encode(data) : data;
    const metaBytes = typeof meta === 'string' ? encoder.encode(meta) : meta;
    const dPtr = this.#copyIn(dataBytes);
    const mPtr = dPtr === 0 ? 0 : this.#copyIn(metaBytes);
    try {
      if (mPtr !== 0) {
        return this.#exports.qv_call_complete_op(id, index, status, BigInt(number), dPtr, dataBytes.length, mPtr, metaBytes.length);
      }
    } finally {
      if (dPtr !== 0) this.#exports.qv_free(dPtr);
      if (mPtr !== 0) this.#exports.qv_free(mPtr);
    }
    const [what, size] = dPtr === 0 ? [RESULT_DATA[op?.kind] ?? "the result's", dataBytes.length] : ["the answer's headers'", metaBytes.length];
    const message = `${op ? operationName(op) : `operation ${index}`}: ${what} ${size} bytes do not fit in the module's memory`;
    return this.#withBytes(encoder.encode(message), 'the message', (ptr, len) =>
      this.#exports.qv_call_complete_op(id, index, S.too_large, 0n, ptr, len, 0, 0));
  }

  #output(id) {
    return this.#guard(() => {
      const status = this.#exports.qv_call_output(id, this.#scratch, this.#scratch + 4);
      if (status !== S.ok) throw new Error(`qv_call_output returned ${STATUS[status]}`);
      const view = new DataView(this.#memory.buffer);
      const ptr = view.getUint32(this.#scratch, true);
      const len = view.getUint32(this.#scratch + 4, true);
      // Nothing lost: a header value the origin sent in latin-1 is in the answer as it came
      // (moduleTextOf), for headerValueOf to hand on byte for byte.
      return moduleTextOf(new Uint8Array(this.#memory.buffer, ptr, len));
    });
  }
}

const EMPTY = new Uint8Array(0);
// What an operation's result data is, by kind, for the message when it does not fit.
const RESULT_DATA = { [OP.KV_GET]: "the value's", [OP.KV_CAS]: "the current value's", [OP.FETCH]: "the answer's" };
// Where text holds half of a surrogate pair without its other half (which no UTF-8 holds), or
// -1 (isWellFormed, where the runtime has it, says so faster than the search).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const loneSurrogateAt = (text) => (text.isWellFormed?.() === true ? -1 : text.search(LONE_SURROGATE));

// Why method can be no method's name: not a string, or longer than any, in the module's words
// (qv_call_start's), which show its first 32 bytes at most, cut before a character they would
// split; else undefined.
function methodProblem(method) {
  if (typeof method !== 'string') return `method: expected a string, got ${method === null ? 'null' : typeof method}`;
  if (method.length <= MAX_METHOD_BYTES && encoder.encode(method).length <= MAX_METHOD_BYTES) return undefined;
  const prefix = new Uint8Array(32);
  const { written } = encoder.encodeInto(method, prefix); // whole characters only
  return `method: longer than any method name (at most ${MAX_METHOD_BYTES} bytes), beginning '${decoder.decode(prefix.subarray(0, written))}'`;
}

// A kvCas argument as the bytes a KV operation carries: a string's UTF-8, bytes as they are (not
// the text of a Uint8Array's numbers, "1,2,3"); anything else a TypeError naming it.
function kvBytes(value, name) {
  if (typeof value === 'string') return encoder.encode(value);
  const bytes = bytesView(value);
  if (bytes) return bytes;
  throw new TypeError(`kvCas ${name}: expected a string or bytes (a Uint8Array), got ${value === null ? 'null' : typeof value}`);
}

// A call's input as the bytes the module reads ({bytes}): a string's UTF-8, bytes as they are
// (not the JSON of a Uint8Array's indices, or {} for an ArrayBuffer), anything else as its
// JSON; or {problem} naming input when it has none (a BigInt, a cycle, a function).
function inputBytes(input) {
  if (typeof input === 'string') return { bytes: encoder.encode(input) };
  const bytes = bytesView(input);
  if (bytes) return { bytes };
  let text;
  try {
    text = JSON.stringify(input);
  } catch (error) {
    return { problem: `input: cannot be written as JSON (${error.message})` };
  }
  if (text === undefined) return { problem: `input: expected a value JSON can write, got a ${typeof input}` };
  return { bytes: encoder.encode(text) };
}

// A 64-bit integer of the module's: a Number while one holds it exactly, else a BigInt.
const exactInteger = (n) => (n >= -Number.MAX_SAFE_INTEGER && n <= Number.MAX_SAFE_INTEGER ? Number(n) : n);

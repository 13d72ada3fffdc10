// Performs the operations a module call asks for (qv_op_kind in qv_abi.h) against a KV
// and fetch, bounded in time. Never throws: a failure or a timeout becomes the op's
// result (status unavailable or timeout, with a message), so a failing dependency
// degrades the call instead of hanging or crashing it.

/** Operation kinds (qv_op_kind). */
export const OP = Object.freeze({ KV_GET: 1, KV_SET: 2, KV_INCR: 3, KV_DEL: 4, FETCH: 5, KV_CAS: 6, SLEEP: 7, WAIT: 8 });
const OP_NAMES = { 1: 'kv.get', 2: 'kv.set', 3: 'kv.incr', 4: 'kv.del', 5: 'fetch', 6: 'kv.cas', 7: 'sleep', 8: 'wait' };
const decoder = new TextDecoder();

// qv_status values used in results.
const OK = 0;
const NOT_FOUND = 3;
const BAD_STATE = 5;
const UNAVAILABLE = 6;
const TIMEOUT = 7;
const TOO_LARGE = 8;

// A KV operation unanswered this long fails as a timeout. Every /api/* request waits for
// admission, and L1 hits for the invalidation journals' poll, so a stalled (not refusing)
// KV costs each request up to about twice this once per kvRetryMs: 250 ms, not seconds,
// while leaving room for a KV a region away.
const DEFAULT_KV_TIMEOUT_MS = 250;
const DEFAULT_FETCH_TIMEOUT_MS = 10000;
// An origin's answer is copied into module memory, which never shrinks: one unbounded
// answer could take an isolate's memory for good.
const DEFAULT_FETCH_MAX_BYTES = 8 << 20;

// The longest delay setTimeout keeps (a longer one fires at once).
const MAX_TIMER_MS = 2 ** 31 - 1;

class TimeoutError extends Error {
  name = 'TimeoutError';
}

// An option that is a whole number from 1 to most, or absent (undefined): else a RangeError
// naming it.
function wholeOption(options, name, most) {
  const value = options[name];
  if (value === undefined || (Number.isInteger(value) && value >= 1 && value <= most)) return value;
  throw new RangeError(`${name}: expected a whole number from 1 to ${most}, got ${typeof value === 'string' ? `'${value}'` : String(value)}`);
}

export class HostOps {
  #kv;
  #fetch;
  #kvTimeoutMs;
  #fetchTimeoutMs;
  #fetchMaxBytes;

  /**
   * options.kv: the KV; options.fetch (default globalThis.fetch); options.kvTimeoutMs
   * (default 250); options.fetchTimeoutMs overrides the op's own timeout;
   * options.fetchMaxBytes (default 8 MiB): a longer answer body is not read, and the fetch
   * fails with status too_large.
   */
  constructor(options) {
    this.#kv = options.kv;
    this.#fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.#kvTimeoutMs = wholeOption(options, 'kvTimeoutMs', MAX_TIMER_MS) ?? DEFAULT_KV_TIMEOUT_MS;
    this.#fetchTimeoutMs = wholeOption(options, 'fetchTimeoutMs', MAX_TIMER_MS);
    this.#fetchMaxBytes = wholeOption(options, 'fetchMaxBytes', 2 ** 32 - 1) ?? DEFAULT_FETCH_MAX_BYTES;
  }

  /**
   * op: {kind, key, value: Uint8Array, meta: string, durationMs, delta}. Resolves to
   * {status, number?, data?, meta?} as qv_call_complete_op takes them. fetch: performs a
   * fetch operation instead of the one given to the constructor (one call's own fetch).
   */
  async perform(op, fetch = this.#fetch) {
    try {
      switch (op.kind) {
        case OP.KV_GET: {
          const value = await this.#kvCall(() => this.#kv.get(op.key));
          return value == null ? { status: NOT_FOUND } : { status: OK, data: bytesOf(value, 'value') };
        }
        case OP.KV_SET:
          await this.#kvCall(() => this.#kv.set(op.key, op.value, op.durationMs));
          return { status: OK };
        case OP.KV_INCR:
          return { status: OK, number: integerOf(await this.#kvCall(() => this.#kv.incr(op.key, op.delta, op.durationMs))) };
        case OP.KV_DEL:
          return { status: OK, number: integerOf(await this.#kvCall(() => this.#kv.del(op.key))) };
        case OP.KV_CAS: {
          const expected = op.delta === 1 ? null : op.meta;
          const { swapped, current } = await this.#kvCall(() => this.#kv.cas(op.key, expected, op.value, op.durationMs));
          if (swapped) return { status: OK, number: 1 };
          return current == null ? { status: OK, number: -1 } : { status: OK, number: 0, data: bytesOf(current, 'current value') };
        }
        case OP.FETCH:
          return await this.#performFetch(op, fetch);
        case OP.SLEEP:
          await new Promise((resolve) => setTimeout(resolve, op.durationMs));
          return { status: OK };
        default:
          return { status: BAD_STATE, data: `unknown operation kind ${op.kind}` };
      }
    } catch (error) {
      return {
        status: error instanceof TimeoutError ? TIMEOUT : UNAVAILABLE,
        data: `${OP_NAMES[op.kind] ?? 'op'} ${op.key}: ${reasonOf(error)}`,
      };
    }
  }

  // A slow store degrades the call; it never hangs it. The timeout gives way once more to
  // I/O before it fails the operation: after the event loop was busy past the deadline, the
  // timer and the store's answer are both ready, and timers run first.
  #kvCall(run) {
    let timer;
    const timeout = new Promise((_, reject) => {
      const fail = () => reject(new TimeoutError(`no answer within ${this.#kvTimeoutMs} ms`));
      timer = setTimeout(() => { timer = setTimeout(fail, 0); }, this.#kvTimeoutMs);
    });
    return Promise.race([Promise.resolve().then(run), timeout]).finally(() => clearTimeout(timer));
  }

  async #performFetch(op, fetch) {
    const [method, ...headerLines] = decoder.decode(op.meta).split('\n');
    const headers = new Headers();
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const timeoutMs = this.#fetchTimeoutMs ?? (op.durationMs || DEFAULT_FETCH_TIMEOUT_MS);
    const controller = new AbortController();
    // The deadline holds even for a fetch, or a body, that ignores the abort signal.
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new TimeoutError());
      }, timeoutMs);
    });
    try {
      const response = await Promise.race([deadline, fetch(op.key, {
        method: method || 'GET',
        headers,
        body: op.value.length && method !== 'GET' && method !== 'HEAD' ? op.value : undefined,
        signal: controller.signal,
      })]);
      const body = await Promise.race([deadline, readUpTo(response, this.#fetchMaxBytes)]);
      if (body.tooLarge) {
        controller.abort();
        return { status: TOO_LARGE, data: `fetch ${op.key}: the answer's body is over ${this.#fetchMaxBytes} bytes (fetchMaxBytes)` };
      }
      let meta = '';
      response.headers.forEach((value, name) => { meta += `${name.toLowerCase()}: ${value}\n`; });
      return { status: OK, number: response.status, data: body.bytes, meta };
    } catch (error) {
      if (controller.signal.aborted) {
        return { status: TIMEOUT, data: `fetch ${op.key}: no answer within ${timeoutMs} ms` };
      }
      return { status: UNAVAILABLE, data: `fetch ${op.key}: ${reasonOf(error)}` };
    } finally {
      clearTimeout(timer);
    }
  }
}

// A KV's answer as the op's data: stores answer strings (encoded when the result is
// completed), Uint8Arrays, ArrayBuffers or other views. Anything else fails the operation
// rather than reach the module as an empty value.
function bytesOf(value, what) {
  if (value instanceof Uint8Array || typeof value === 'string') return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`the KV answered a ${what} of type ${value?.constructor?.name ?? typeof value}, not bytes or a string`);
}

// A KV's integer answer, as a 64-bit integer the module can take: a BigInt, or a Number
// that is exactly an integer (past 2^53 a Number may have been rounded on the way).
function integerOf(value) {
  if (typeof value === 'bigint' && BigInt.asIntN(64, value) === value) return value;
  if (Number.isSafeInteger(value)) return value;
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  if (Number.isInteger(value)) throw new TypeError(`the KV answered ${shown}, an integer past 2^53 that a Number cannot hold exactly`);
  throw new TypeError(`the KV answered ${shown}, not an integer`);
}

// An error's message and, when the runtime keeps it apart (undici's "fetch failed"), its cause.
function reasonOf(error) {
  const message = error?.message ?? String(error);
  const cause = error?.cause?.message ?? error?.cause?.code;
  return cause && !message.includes(cause) ? `${message} (${cause})` : message;
}

/**
 * The body of a Request or Response, up to `max` bytes: {bytes}, or {tooLarge: size} as soon
 * as it proves longer (by its Content-Length, or as it streams in), the rest unread. The
 * rest's cancel is not awaited: a runtime that hands over one branch of a teed body settles
 * it only once the other branch is cancelled too.
 */
export async function readUpTo(message, max) {
  // No body (the answer to a HEAD, a 204 or a 304): nothing to read, whatever Content-Length
  // says; there it names the size of a body that was not sent.
  if (!message.body) return { bytes: new Uint8Array(0) };
  const declared = Number(message.headers.get('content-length') ?? 0);
  if (declared > max) {
    message.body.cancel().catch(() => {});
    return { tooLarge: declared };
  }
  const reader = message.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      reader.cancel().catch(() => {});
      return { tooLarge: size };
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return { bytes: chunks[0] };
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return { bytes };
}

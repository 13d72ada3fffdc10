// Performs the operations a module call asks for (qv_op_kind in qv_abi.h) against a KV
// and fetch, bounded in time. Never throws: a failure or a timeout becomes the op's
// result (status unavailable or timeout, with a message), so a failing dependency
// degrades the call instead of hanging or crashing it.

/** Operation kinds (qv_op_kind). */
export const OP = Object.freeze({ KV_GET: 1, KV_SET: 2, KV_INCR: 3, KV_DEL: 4, FETCH: 5, KV_CAS: 6, SLEEP: 7, WAIT: 8 });
const OP_NAMES = { 1: 'kv.get', 2: 'kv.set', 3: 'kv.incr', 4: 'kv.del', 5: 'fetch', 6: 'kv.cas', 7: 'sleep', 8: 'wait' };
const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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
export const MAX_TIMER_MS = 2 ** 31 - 1;

class TimeoutError extends Error {
  name = 'TimeoutError';
}

// An option that is a whole number from 1 to most, or absent (undefined): else a RangeError
// naming it.
export function wholeOption(options, name, most) {
  const value = options[name];
  if (value === undefined || (Number.isInteger(value) && value >= 1 && value <= most)) return value;
  throw new RangeError(`${name}: expected a whole number from 1 to ${most}, got ${typeof value === 'string' ? `'${value}'` : String(value)}`);
}

// An option that is a function, or absent (undefined or null: its default): else a TypeError
// naming it. One that is not (a URL given as fetch, a clock's reading given as now) would fail
// every operation or call that uses it, with no word at start.
export function functionOption(options, name) {
  const value = options[name] ?? undefined;
  if (value === undefined || typeof value === 'function') return value;
  throw new TypeError(`${name}: expected a function, got ${typeof value}`);
}

// The timers option as given (default the global ones), or a TypeError naming it and what it
// lacks: node:timers/promises, say, has no clearTimeout, and its setTimeout takes no callback.
export function timersOption(timers) {
  if (timers == null) return globalThis;
  const expected = 'timers: expected {setTimeout, clearTimeout} functions (the global ones, or a test\'s own)';
  if (typeof timers !== 'object') throw new TypeError(`${expected}, got ${typeof timers}`);
  const missing = ['setTimeout', 'clearTimeout'].filter((name) => typeof timers[name] !== 'function');
  if (missing.length) throw new TypeError(`${expected}; it has no ${missing.join(', ')}`);
  return timers;
}

const KV_OPERATIONS = ['get', 'set', 'incr', 'del', 'cas'];

// The KV option as given, or a TypeError naming it and what it lacks: a KV that is not one
// would fail every operation, and the module degrade every call, with no word at start.
function kvOption(kv) {
  const expected = `kv: expected a KV (with ${KV_OPERATIONS.join(', ')} functions)`;
  if (typeof kv?.then === 'function') {
    throw new TypeError(`${expected}, got a promise of one? (await it: RedisKv.connect() resolves to the KV)`);
  }
  if (kv === null || typeof kv !== 'object') throw new TypeError(`${expected}, got ${kv === null ? 'null' : typeof kv}`);
  const missing = KV_OPERATIONS.filter((name) => typeof kv[name] !== 'function');
  if (missing.length) throw new TypeError(`${expected}; it has no ${missing.join(', ')}`);
  return kv;
}

export class HostOps {
  #kv;
  #fetch;
  #kvTimeoutMs;
  #fetchTimeoutMs;
  #fetchMaxBytes;
  #timers;

  /**
   * options.kv: the KV (an object with get, set, incr, del and cas, else a TypeError naming
   * kv); options.fetch (default globalThis.fetch; not a function: a TypeError naming it);
   * options.kvTimeoutMs
   * (default 250); options.fetchTimeoutMs bounds every fetch: the op's own timeout (10 s when
   * it gives none) above it is lowered to it, never raised (the router counts on a probe
   * ending within its own timeout);
   * options.fetchMaxBytes (default 8 MiB): a longer answer body is not read, and the fetch
   * fails with status too_large; options.timers: {setTimeout, clearTimeout} the KV and fetch
   * operations time out by and sleep operations wait on (default the global ones; tests:
   * timers they fire; an object without both functions is a TypeError naming timers).
   */
  constructor(options) {
    this.#kv = kvOption(options.kv);
    this.#fetch = functionOption(options, 'fetch') ?? ((...args) => globalThis.fetch(...args));
    this.#kvTimeoutMs = wholeOption(options, 'kvTimeoutMs', MAX_TIMER_MS) ?? DEFAULT_KV_TIMEOUT_MS;
    this.#fetchTimeoutMs = wholeOption(options, 'fetchTimeoutMs', MAX_TIMER_MS);
    this.#fetchMaxBytes = wholeOption(options, 'fetchMaxBytes', 2 ** 32 - 1) ?? DEFAULT_FETCH_MAX_BYTES;
    this.#timers = timersOption(options.timers);
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
          return value == null ? { status: NOT_FOUND } : { status: OK, data: bytesOf(value, 'get', 'a value') };
        }
        case OP.KV_SET:
          await this.#kvCall(() => this.#kv.set(op.key, op.value, op.durationMs));
          return { status: OK };
        case OP.KV_INCR:
          return { status: OK, number: integerOf(await this.#kvCall(() => this.#kv.incr(op.key, op.delta, op.durationMs)), 'incr') };
        case OP.KV_DEL:
          return { status: OK, number: integerOf(await this.#kvCall(() => this.#kv.del(op.key)), 'del') };
        case OP.KV_CAS: {
          const expected = op.delta === 1 ? null : op.meta;
          const { swapped, current } = casAnswerOf(await this.#kvCall(() => this.#kv.cas(op.key, expected, op.value, op.durationMs)));
          if (swapped) return { status: OK, number: 1 };
          return current == null ? { status: OK, number: -1 } : { status: OK, number: 0, data: bytesOf(current, 'cas', 'a current value') };
        }
        case OP.FETCH:
          return await this.#performFetch(op, fetch);
        case OP.SLEEP:
          await new Promise((resolve) => this.#timers.setTimeout(resolve, op.durationMs));
          return { status: OK };
        default:
          return { status: BAD_STATE, data: `op: unknown operation kind ${op.kind}` }; // perform_op's words
      }
    } catch (error) {
      return {
        status: error instanceof TimeoutError ? TIMEOUT : UNAVAILABLE,
        data: `${operationName(op)}: ${reasonOf(error)}`,
      };
    }
  }

  // A slow store degrades the call; it never hangs it. The timeout gives way once more to
  // I/O before it fails the operation: after the event loop was busy past the deadline, the
  // timer and the store's answer are both ready, and timers run first.
  #kvCall(run) {
    const timers = this.#timers;
    let timer;
    const timeout = new Promise((_, reject) => {
      const fail = () => reject(new TimeoutError(`no answer within ${this.#kvTimeoutMs} ms`));
      timer = timers.setTimeout(() => { timer = timers.setTimeout(fail, 0); }, this.#kvTimeoutMs);
    });
    return Promise.race([Promise.resolve().then(run), timeout]).finally(() => timers.clearTimeout(timer));
  }

  async #performFetch(op, fetch) {
    // Header values are bytes on the wire, and a Headers value holds one byte per char: the
    // module's bytes go out as they are (as the native host's libcurl sends them), UTF-8 or not.
    const { method, headers, problem } = fetchRequestOf(byteStringOf(op.meta));
    // Every message names the fetch as the native host's do: "fetch METHOD URL" ("fetch URL"
    // when the method is what is wrong), the URL without credentials.
    const named = withoutCredentials(op.key);
    if (method === undefined) return { status: UNAVAILABLE, data: `fetch ${named}: ${problem}` };
    const what = `fetch ${method} ${named}`;
    // fetch() refuses a URL with credentials with words that quote them, URL and all: it is
    // refused here, in the native host's words.
    if (hasCredentials(op.key, named)) {
      return {
        status: UNAVAILABLE,
        data: `${what}: the URL holds credentials (user:password@ before the host), which fetch() refuses: send them in a header`,
      };
    }
    if (problem) return { status: UNAVAILABLE, data: `${what}: ${problem}` };
    const timeoutMs = Math.min(op.durationMs || DEFAULT_FETCH_TIMEOUT_MS, this.#fetchTimeoutMs ?? Infinity);
    const controller = new AbortController();
    // The deadline holds even for a fetch, or a body, that ignores the abort signal.
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = this.#timers.setTimeout(() => {
        controller.abort();
        reject(new TimeoutError());
      }, timeoutMs);
    });
    try {
      const response = await Promise.race([deadline, fetch(op.key, {
        method,
        headers: new Headers(headers),
        body: op.value.length && method !== 'GET' && method !== 'HEAD' ? op.value : undefined,
        signal: controller.signal,
      })]);
      const body = await Promise.race([deadline, readUpTo(response, this.#fetchMaxBytes)]);
      if (body.tooLarge) {
        controller.abort();
        return { status: TOO_LARGE, data: `${what}: the answer's body is over ${this.#fetchMaxBytes} bytes (fetchMaxBytes)` };
      }
      let meta = '';
      response.headers.forEach((value, name) => { meta += `${name.toLowerCase()}: ${value}\n`; });
      // One char per byte received: the module gets the wire bytes, as natively (not their
      // chars encoded as UTF-8, which would turn an origin's UTF-8 "é" into "Ã©").
      return { status: OK, number: response.status, data: body.bytes, meta: bytesOfByteString(meta) };
    } catch (error) {
      if (controller.signal.aborted) {
        return { status: TIMEOUT, data: `${what}: no answer within ${timeoutMs} ms` };
      }
      // fetch() fails a redirect to a URL with credentials as a bare network error; undici
      // (Node.js, edge-runtime) says why in its cause, in its own words.
      if (REDIRECT_WITH_CREDENTIALS.test(error?.cause?.message ?? '')) {
        return { status: UNAVAILABLE, data: `${what}: a redirect to a URL with credentials (user:password@), which fetch() refuses` };
      }
      return { status: UNAVAILABLE, data: `${what}: ${reasonOf(error)}` };
    } finally {
      this.#timers.clearTimeout(timer);
    }
  }
}

/**
 * An operation as messages name it: "kv.get KEY", or for a fetch "fetch METHOD URL", the URL
 * without credentials, as the native host names them.
 */
export function operationName(op) {
  if (op.kind !== OP.FETCH) return `${OP_NAMES[op.kind] ?? 'op'} ${op.key}`;
  return `fetch ${byteStringOf(op.meta).split('\n', 1)[0]} ${withoutCredentials(op.key)}`;
}

// undici's causes for a redirect fetch() refuses for the credentials in its Location (the fetch
// standard's HTTP-redirect fetch, steps 8 and 9).
const REDIRECT_WITH_CREDENTIALS = /^cross origin not allowed for request mode "cors"$|^URL cannot contain credentials/;

// RFC 9110 token characters: what a method and a header name may hold.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// A fetch operation's meta (as a ByteString: "METHOD\n" then "name: value\n" per header) read as
// the native host's parse_fetch_op reads it: {method, headers: [[name, value]]}, or a problem
// in its words ({problem} alone when the method is what is wrong). Header values are trimmed
// of spaces and tabs; empty lines are skipped.
function fetchRequestOf(meta) {
  const [method, ...lines] = meta.split('\n');
  if (!TOKEN.test(method)) return { problem: `method '${method}' is not an HTTP token` };
  const headers = [];
  for (const [index, line] of lines.entries()) {
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon < 0) return { method, problem: `header line ${index + 1} has no ':' (expected 'name: value')` };
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return { method, problem: `header name '${name}' is not an HTTP token` };
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (/[\r\0]/.test(value)) return { method, problem: `header '${name}' holds a line break or NUL` };
    headers.push([name, value]);
  }
  return { method, headers };
}

/**
 * A URL as messages name it, without its credentials (user:password@ before the host): they
 * are never quoted. As the native host names it, the text given less what lies between "://"
 * (or the start, in one without a scheme: "user:password@host:6379") and the authority's last
 * "@"; one the URL parser finds credentials in elsewhere ("http:user:password@host", with no
 * "//") as the parser writes it, less them.
 */
export function withoutCredentials(url) {
  const text = String(url);
  const scheme = text.indexOf('://');
  const start = scheme < 0 ? 0 : scheme + 3;
  const end = text.slice(start).search(/[/?#]/);
  const at = text.slice(start, end < 0 ? undefined : start + end).lastIndexOf('@');
  const named = at < 0 ? text : text.slice(0, start) + text.slice(start + at + 1);
  const parsed = parsedWithCredentials(text);
  if (!parsed || (scheme >= 0 && !parsedWithCredentials(named))) return named;
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

// The URL as the parser reads it, when it finds credentials in it; else null.
function parsedWithCredentials(url) {
  const parsed = URL.canParse(url) ? new URL(url) : null;
  return parsed?.username || parsed?.password ? parsed : null;
}

// Whether a URL holds credentials, as the native host reads them: a "user:password@" before the
// host (an empty one too, which libcurl would send as Basic auth, and fetch()'s URL parser
// drops), or credentials the parser finds elsewhere; named is withoutCredentials(url).
function hasCredentials(url, named) {
  return named !== url || parsedWithCredentials(url) !== null;
}

/**
 * Bytes as a ByteString (what Headers hold): one char, 0-255, per byte. Not
 * TextDecoder('latin1'), which is windows-1252 and maps 0x80-0x9f elsewhere.
 */
export function byteStringOf(bytes) {
  let text = '';
  for (let at = 0; at < bytes.length; at += 8192) text += String.fromCharCode.apply(null, bytes.subarray(at, at + 8192));
  return text;
}

/** A ByteString's bytes (each char's code, all 0-255: what Headers hold). */
export function bytesOfByteString(text) {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; ++i) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * A module's text (the bytes of its answers) as a string with nothing lost: UTF-8 decoded,
 * and each byte that is not part of valid UTF-8 (a latin-1 header value an origin sent, kept
 * as it came) as the lone surrogate U+DC80-U+DCFF (Python's "surrogateescape"). Valid UTF-8
 * never decodes to those, so textBytesOf gives the bytes back exactly. Text that is UTF-8
 * throughout (nearly all) decodes as TextDecoder decodes it.
 */
export function moduleTextOf(bytes) {
  try {
    return utf8.decode(bytes);
  } catch {
    // not UTF-8 throughout: below
  }
  let text = '';
  let start = 0;
  let at = 0;
  while (at < bytes.length) {
    const size = utf8SequenceAt(bytes, at);
    if (size) {
      at += size;
      continue;
    }
    text += utf8.decode(bytes.subarray(start, at)) + String.fromCharCode(0xdc00 + bytes[at]);
    start = ++at;
  }
  return text + utf8.decode(bytes.subarray(start));
}

// The length of the valid UTF-8 sequence at bytes[at] (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0 when the byte there starts none.
function utf8SequenceAt(bytes, at) {
  const lead = bytes[at];
  if (lead < 0x80) return 1;
  const tail = (i, low = 0x80, high = 0xbf) => at + i < bytes.length && bytes[at + i] >= low && bytes[at + i] <= high;
  if (lead >= 0xc2 && lead <= 0xdf) return tail(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    const second = lead === 0xe0 ? tail(1, 0xa0) : lead === 0xed ? tail(1, 0x80, 0x9f) : tail(1);
    return second && tail(2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const second = lead === 0xf0 ? tail(1, 0x90) : lead === 0xf4 ? tail(1, 0x80, 0x8f) : tail(1);
    return second && tail(2) && tail(3) ? 4 : 0;
  }
  return 0;
}

/**
 * The bytes a string of the module's answers stands for (the inverse of moduleTextOf): its
 * UTF-8 encoding, with U+DC80-U+DCFF back as the single bytes 0x80-0xff they escaped.
 */
export function textBytesOf(text) {
  if (!/[\udc80-\udcff]/.test(text)) return encoder.encode(text);
  const bytes = [];
  // By code point: a surrogate pair comes whole, so an escaped byte is a lone one.
  for (const char of text) {
    const code = char.codePointAt(0);
    if (code >= 0xdc80 && code <= 0xdcff) bytes.push(code - 0xdc00);
    else bytes.push(...encoder.encode(char));
  }
  return Uint8Array.from(bytes);
}

/**
 * A header value of a module's answer (the bytes the module holds, as moduleTextOf decoded
 * them) as the ByteString a Headers or Response takes: the client gets the module's bytes,
 * which for a value the origin sent are the origin's bytes, UTF-8 or latin-1 alike.
 */
export function headerValueOf(text) {
  return /^[\x00-\x7f]*$/.test(text) ? text : byteStringOf(textBytesOf(text));
}

/**
 * Bytes given as an ArrayBuffer or any view of one (a Uint8Array, a Buffer, a DataView), as a
 * Uint8Array over the same memory; undefined for anything else.
 */
export function bytesView(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

// A value's type as the refusal of a KV's answer names it: its class (String, Number, Object),
// or null or undefined.
const typeOf = (value) => (value == null ? String(value) : value.constructor?.name ?? typeof value);

// A KV's answer as the op's data: stores answer strings (encoded when the result is
// completed), Uint8Arrays, ArrayBuffers or other views. Anything else fails the operation,
// naming the KV's method that answered it, rather than reach the module as an empty value.
function bytesOf(value, method, what) {
  if (typeof value === 'string') return value;
  const bytes = bytesView(value);
  if (bytes) return bytes;
  throw new TypeError(`the KV's ${method} answered ${what} of type ${typeOf(value)}, not bytes or a string`);
}

// A KV's compare-and-set answer: {swapped: a boolean, current}. Anything else fails the
// operation, rather than be read as set or not by its truth ('false' would read as set).
function casAnswerOf(answer) {
  if (typeof answer?.swapped === 'boolean') return answer;
  const got = answer !== null && typeof answer === 'object' ? `swapped of type ${typeOf(answer.swapped)}` : typeOf(answer);
  throw new TypeError(`the KV's cas answered ${got}, not {swapped: a boolean, current}`);
}

// A KV's integer answer, as a 64-bit integer the module can take: a BigInt, or a Number
// that is exactly an integer (past 2^53 a Number may have been rounded on the way).
function integerOf(value, method) {
  if (typeof value === 'bigint' && BigInt.asIntN(64, value) === value) return value;
  if (Number.isSafeInteger(value)) return value;
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  if (Number.isInteger(value)) throw new TypeError(`the KV's ${method} answered ${shown}, an integer past 2^53 that a Number cannot hold exactly`);
  throw new TypeError(`the KV's ${method} answered ${shown} (${typeOf(value)}), not an integer`);
}

// An error's message and, when the runtime keeps it apart (undici's "fetch failed"), its cause.
function reasonOf(error) {
  const message = error?.message ?? String(error);
  const cause = error?.cause?.message ?? error?.cause?.code;
  return cause && !message.includes(cause) ? `${message} (${cause})` : message;
}

/**
 * The body of a Request or Response, up to `max` bytes: {bytes}, or {tooLarge: true} as soon
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
    return { tooLarge: true };
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
      return { tooLarge: true };
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

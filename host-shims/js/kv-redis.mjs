// A KV on a Redis server (Redis 7, or any Redis-compatible store reached over TCP), for
// Node.js hosts: the shared L2 that every isolate and region sees. Uses the npm `redis`
// client. A store that is down makes operations fail fast (no offline queue), so the
// shim turns them into `unavailable` results instead of waiting. A store that stalls while
// connected (a partition that sends no reset, a frozen server, a failover to another
// address behind the same name) refuses nothing: the client would wait on that connection
// until the system declares it dead (minutes), so a connection that leaves a command or its
// handshake unanswered for stallMs is dropped for a new one. While the store stays stalled,
// the new ones are made further and further apart (reconnectDelay), not one every stallMs
// from every isolate for as long as it lasts.

import { createClient, commandOptions } from 'redis';
import { bytesView, wholeOption, functionOption, timersOption, withoutCredentials, MAX_TIMER_MS } from './host-ops.mjs';

// Far past any answer of a store that works (the shim times an operation out after
// kvTimeoutMs, 250 ms by default), and short against an outage.
const DEFAULT_STALL_MS = 2000;
// The longest a stalled store waits for its next connection (unless stallMs is longer).
const MAX_RECONNECT_DELAY_MS = 30_000;

// INCRBY, and PEXPIRE only when this call created the key (PEXPIRE ... NX would also put
// a TTL on an existing key that has none), as the native shim's script does.
// ARGV: delta, TTL in ms for a key it creates (0: none). Returns the new value as Redis
// stores it, a decimal string: integer replies reach JavaScript (and Lua) as doubles, which
// are exact only up to 2^53.
const INCR_SCRIPT = `
local created = redis.call('EXISTS', KEYS[1]) == 0
redis.call('INCRBY', KEYS[1], ARGV[1])
if created and ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('GET', KEYS[1])
`;

// ARGV: expect-absent flag, expected value, new value, TTL in ms (0: none).
// Returns {1} when set, {0, current} when the value differs, {-1} when the key is absent.
const CAS_SCRIPT = `
local current = redis.call('GET', KEYS[1])
local matches
if ARGV[1] == '1' then matches = (current == false) else matches = (current == ARGV[2]) end
if matches then
  if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  else redis.call('SET', KEYS[1], ARGV[3]) end
  return {1}
end
if current == false then return {-1} end
return {0, current}
`;

function toBuffer(value) {
  if (typeof value === 'string') return Buffer.from(value);
  const bytes = bytesView(value);
  if (bytes) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError(`kv value: expected a string or bytes (a Uint8Array), got ${value === null ? 'null' : typeof value}`);
}
// An integer as Redis reads it: a Number past 2^53 in all its digits (String(2 ** 60) is
// "1152921504606847000", another number); anything else as String() writes it, for Redis to refuse.
const decimal = (n) => (Number.isInteger(n) ? BigInt(n).toString() : String(n));
// A TTL as Redis takes it, whole milliseconds (0: none): a fraction is rounded up, as MemoryKv
// keeps it at least that long (PX 1.5 is refused: "value is not an integer").
const wholeMs = (ttlMs) => (ttlMs > 0 ? Math.ceil(ttlMs) : 0);
const toBytes = (buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);

// Why a redis:// or rediss:// URL cannot be read, naming it without its credentials: its port
// when that is what is wrong (the URL parser says only "Invalid URL").
function unreadable(url) {
  const named = withoutCredentials(url);
  const authority = named.slice(named.indexOf('://') + 3).split(/[/?#]/)[0];
  const port = /^(?:\[[^\]]*\]|[^:[\]]*):(.*)$/.exec(authority)?.[1];
  const why = port !== undefined && !(/^\d+$/.test(port) && Number(port) <= 65535)
    ? `: port '${port}' is not a number from 0 to 65535` : '';
  return `cannot read '${named}' as a URL${why}`;
}

// The wait for the next connection after the drops-th drop in a row (no command answered
// between them): none after the first (a single stalled connection, such as one to an address
// failed over from, is replaced at once), then stallMs, doubling up to MAX_RECONNECT_DELAY_MS
// (or stallMs, if longer).
function reconnectDelay(drops, stallMs) {
  if (drops <= 1) return 0;
  return Math.min(stallMs * 2 ** (drops - 2), Math.max(MAX_RECONNECT_DELAY_MS, stallMs));
}

export class RedisKv {
  #newClient;
  #client;
  #prefix;
  #maxInFlight;
  #stallMs;
  #now;
  #timers;
  #inFlight = 0;
  // What awaits the store's answer on the current connection, oldest first: its commands, and
  // its handshake while it has one ({since, dropped}).
  #waiting = new Set();
  #handshake = null;
  #watchdog = null;
  // Connections dropped one after another with no command answered between them, and, while
  // the next waits for its turn (reconnectDelay), its timer and when it fires.
  #drops = 0;
  #reconnect = null;
  #reconnectAt = 0;
  // Resolved once a connection is ready, whichever: the first may be dropped for stalling.
  #ready;
  #markReady;
  #closed = false;

  /** Use RedisKv.connect(). */
  constructor(newClient, { prefix, maxInFlight, stallMs, now, timers }) {
    this.#newClient = newClient;
    this.#prefix = prefix;
    this.#maxInFlight = maxInFlight;
    this.#stallMs = stallMs;
    this.#now = now;
    this.#timers = timers;
    this.#ready = new Promise((resolve) => { this.#markReady = resolve; });
    this.#open(); // (a URL the client cannot read throws here: connect() rejects)
  }

  // A client of its own for each connection: one dropped takes its queue and its half-read
  // replies with it, so no command is ever answered with another's reply.
  #open() {
    const client = this.#newClient();
    const current = () => client === this.#client;
    const handshakeEnded = () => {
      if (!current() || !this.#handshake) return;
      this.#waiting.delete(this.#handshake);
      this.#handshake = null;
    };
    client
      .on('connect', () => { // (again after each reconnection the client makes itself)
        if (!current()) return;
        handshakeEnded();
        this.#handshake = this.#watch();
      })
      .on('ready', () => { if (current()) { handshakeEnded(); this.#markReady(); } })
      .on('end', handshakeEnded)
      .on('error', handshakeEnded); // failures surface per operation; reconnects go on
    this.#client = client;
    client.connect().catch(() => {}); // (settles once ready, or once dropped or closed)
  }

  #watch() {
    const entry = { since: this.#now(), dropped: false };
    this.#waiting.add(entry);
    this.#arm();
    return entry;
  }

  // One timer, for the oldest wait, only while something waits.
  #arm() {
    if (this.#watchdog !== null || this.#closed || !this.#waiting.size) return;
    const [oldest] = this.#waiting;
    this.#watchdog = this.#timers.setTimeout(() => {
      this.#watchdog = null;
      const [oldest] = this.#waiting;
      if (oldest && this.#now() - oldest.since >= this.#stallMs) this.#drop();
      this.#arm();
    }, Math.max(0, oldest.since + this.#stallMs - this.#now()));
    this.#watchdog?.unref?.();
  }

  // Disconnecting fails the commands the connection holds; later ones go to the new one, or,
  // until it is made, fail at once.
  #drop() {
    for (const entry of this.#waiting) entry.dropped = true;
    this.#waiting.clear();
    this.#handshake = null;
    const stalled = this.#client;
    const delay = reconnectDelay(++this.#drops, this.#stallMs);
    if (delay === 0) {
      this.#open();
    } else {
      this.#reconnectAt = this.#now() + delay;
      this.#reconnect = this.#timers.setTimeout(() => {
        this.#reconnect = null;
        this.#open();
      }, delay);
      this.#reconnect?.unref?.();
    }
    stalled.disconnect().catch(() => {});
  }

  // Past maxInFlight commands awaiting an answer, new ones fail at once instead of piling up
  // in memory (and being applied long after their callers were told they failed).
  async #run(command) {
    if (this.#reconnect !== null) {
      const wait = Math.max(0, Math.ceil(this.#reconnectAt - this.#now()));
      throw new Error(`no connection to the store: ${this.#drops} connections in a row went unanswered for ${this.#stallMs} ms; the next is made in ${wait} ms`);
    }
    if (this.#inFlight >= this.#maxInFlight) {
      throw new Error(`${this.#inFlight} commands in flight: the store is not answering`);
    }
    ++this.#inFlight;
    const entry = this.#watch();
    try {
      const reply = await command();
      this.#drops = 0; // the store answers: a connection dropped from now on is made again at once
      return reply;
    } catch (error) {
      if (!entry.dropped) throw error;
      throw new Error(`no answer from the store in ${this.#stallMs} ms: its connection was dropped for a new one`, { cause: error });
    } finally {
      --this.#inFlight;
      this.#waiting.delete(entry);
    }
  }

  /**
   * Connects to url (redis://host:port, or rediss:// for TLS; anything else, one that cannot be read
   * (its port, when that is what is wrong), or one with a user and no password, is a TypeError
   * that says so). options.prefix is put before every key (default
   * ''), options.connectTimeoutMs bounds a connection attempt (default 1000).
   * connectTimeoutMs, maxInFlight and stallMs are whole numbers from 1 (else a RangeError
   * naming the option, before any connection).
   * options.wait (default true) resolves once connected, retrying until the server answers;
   * false resolves at once and connects in the background: until then every operation fails
   * fast, as during an outage (for hosts that must answer while the store is down).
   * options.maxInFlight (default 1000): commands sent and not yet answered; more fail at
   * once. (An incr that timed out may still be applied later: counts are at least once.)
   * options.stallMs (default 2000): a
   * connection that leaves a command, or its handshake, unanswered this long is dropped and
   * a new one made; the commands it held fail, and later ones go to the new connection.
   * While the store stays stalled the new connections come further apart: the first at once,
   * then each stallMs after the drop, doubling up to 30 s (or stallMs, if longer), until a
   * command is answered again; meanwhile every operation fails at once.
   * options.now (ms, default performance.now) and options.timers ({setTimeout,
   * clearTimeout}, default the global ones) time the stalls and the reconnections (tests:
   * a clock and timers they move); a now that is not a function, or timers without both, is a
   * TypeError naming it.
   * options.lookup (default dns.lookup, as net.connect's lookup option) finds the addresses of
   * a host name (tests: a resolver they hold; a function, else a TypeError naming it). The
   * connect timeout bounds an attempt whole, the name's resolution included, as the native
   * host's connect_timeout_ms does: the client's connectTimeout runs from the socket's
   * creation, so an attempt whose lookup has not answered by then ends as a connection
   * timeout, and the next attempt resolves again.
   */
  static async connect(url, options = {}) {
    // The client's own word for another scheme is a bare "Invalid protocol". The URL is named
    // without its credentials (user:password@), as every message names it.
    if (!URL.canParse(url) && /^rediss?:\/\//i.test(String(url))) throw new TypeError(unreadable(url));
    if (!/^rediss?:$/.test(URL.canParse(url) ? new URL(url).protocol : '')) {
      throw new TypeError(`expected a redis:// or rediss:// URL, got '${withoutCredentials(url)}'`);
    }
    // The client would send AUTH user '', which logs in only a user that needs no password
    // ("nopass"); the native host's RedisKv refuses the URL, in these words.
    const { username, password } = new URL(url);
    if (username && !password) {
      throw new TypeError("redis URL: the user has no password: Redis's AUTH takes a user only with its password (redis://user:password@host), and a URL without a user logs in as the default user");
    }
    const stallMs = wholeOption(options, 'stallMs', MAX_TIMER_MS) ?? DEFAULT_STALL_MS;
    const connectTimeoutMs = wholeOption(options, 'connectTimeoutMs', MAX_TIMER_MS) ?? 1000;
    const maxInFlight = wholeOption(options, 'maxInFlight', Number.MAX_SAFE_INTEGER) ?? 1000;
    if (options.lookup !== undefined && typeof options.lookup !== 'function') {
      throw new TypeError(`lookup: expected a function (hostname, options, callback), as dns.lookup, got ${typeof options.lookup}`);
    }
    // Read on every connection and command: one that is not what it names would leave connect()
    // unsettled, or reject unhandled, at the first connection.
    const now = functionOption(options, 'now') ?? (() => performance.now());
    const timers = timersOption(options.timers);
    const newClient = () => createClient({
      url,
      disableOfflineQueue: true, // fail now rather than queue while the store is down
      socket: {
        connectTimeout: connectTimeoutMs,
        ...(options.lookup && { lookup: options.lookup }),
        reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000),
      },
    });
    const kv = new RedisKv(newClient, {
      prefix: options.prefix ?? '', maxInFlight, stallMs,
      now, timers,
    });
    if (options.wait !== false) await kv.#ready;
    return kv;
  }

  get connected() {
    return this.#client.isReady;
  }

  async get(key) {
    const value = await this.#run(() => this.#client.get(commandOptions({ returnBuffers: true }), this.#prefix + key));
    return value == null ? null : toBytes(value);
  }

  async set(key, value, ttlMs = 0) {
    await this.#run(() => this.#client.set(this.#prefix + key, toBuffer(value), ttlMs > 0 ? { PX: wholeMs(ttlMs) } : undefined));
  }

  /**
   * INCRBY that sets the TTL only when it creates the key: one atomic round trip. Resolves
   * to a Number, or a BigInt past 2^53 (exact across the 64-bit range, as MemoryKv).
   */
  async incr(key, delta = 1, ttlMs = 0) {
    const reply = await this.#run(() => this.#client.eval(INCR_SCRIPT, {
      keys: [this.#prefix + key], arguments: [decimal(delta), String(wholeMs(ttlMs))],
    })).catch((error) => {
      // INCRBY's own words, without where in the script ("script: <sha>, on @user_script:3.")
      throw new Error(String(error?.message ?? error).replace(/\s*script: \w+, on @user_script:\d+\.?$/, ''));
    });
    const value = BigInt(reply);
    return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  }

  /** Compare-and-set in one round trip: a Lua script runs atomically on the server. */
  async cas(key, expected, value, ttlMs = 0) {
    const reply = await this.#run(() => this.#client.eval(commandOptions({ returnBuffers: true }), CAS_SCRIPT, {
      keys: [this.#prefix + key],
      arguments: [expected == null ? '1' : '0', toBuffer(expected ?? ''), toBuffer(value), String(wholeMs(ttlMs))],
    }));
    const outcome = Number(reply[0]);
    if (outcome === 1) return { swapped: true, current: null };
    return { swapped: false, current: outcome === -1 ? null : toBytes(reply[1]) };
  }

  async del(key) {
    return Number(await this.#run(() => this.#client.del(this.#prefix + key)));
  }

  async close() {
    this.#closed = true;
    this.#timers.clearTimeout(this.#watchdog);
    this.#timers.clearTimeout(this.#reconnect);
    await this.#client.disconnect().catch(() => {});
  }
}

// An in-memory KV for one isolate or process: the default KV of the shim and of the local
// edge server. Values are bytes; TTLs run on the injected clock, so tests control expiry.

import { bytesView, wholeOption, functionOption } from './host-ops.mjs';

const encoder = new TextEncoder();
// A value as bytes: a string (UTF-8) or bytes; anything else is refused, naming its type
// (new Uint8Array(123) would be 123 zero bytes).
function toBytes(value) {
  if (typeof value === 'string') return encoder.encode(value);
  const bytes = bytesView(value);
  if (bytes) return bytes.slice();
  throw new TypeError(`kv value: expected a string or bytes (a Uint8Array), got ${value === null ? 'null' : typeof value}`);
}
const sameBytes = (a, b) => a.length === b.length && a.every((byte, i) => byte === b[i]);

// Entries each write checks for expiry, walking the map round and round (as Redis's active
// expiry does): keys never read again still leave, within about size / SWEEP writes.
const SWEEP = 4;

// What an entry is taken to cost besides its key and value (the Map slot, the record).
const ENTRY_OVERHEAD_BYTES = 64;

// The cache's L2 copies ("qvc:e:<key>"): what a full MemoryKv may evict.
const evictable = (key) => key.startsWith('qvc:e:');

export class MemoryKv {
  #entries = new Map(); // key -> {value: Uint8Array, expiresAt: ms | Infinity}
  #sweeper = this.#entries.keys(); // a Map iterator stays valid as entries come and go
  #evictable = new Map(); // evictable keys, least recently read or written first
  #now;
  #maxBytes;
  #bytes = 0;
  #evicted = 0;

  /**
   * options.now: clock in ms (default Date.now). options.maxBytes (default 64 MiB): past it a
   * write evicts the least recently used of the cache's L2 copies (which the origin can give
   * again), never other entries: admission and router state, journals and leases are not the
   * KV's to lose. Distinct keys one client chooses (every query string is a cache key) then
   * cannot grow an isolate without bound. A maxBytes that is not a whole number from 1 to
   * 2^53 - 1 is a RangeError (NaN would bound nothing), a now that is not a function a
   * TypeError.
   */
  constructor(options = {}) {
    this.#now = functionOption(options, 'now') ?? (() => Date.now());
    this.#maxBytes = wholeOption(options, 'maxBytes', Number.MAX_SAFE_INTEGER) ?? 64 << 20;
  }

  #live(key) {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt <= this.#now()) {
      this.#remove(key, entry);
      return undefined;
    }
    return entry;
  }

  #remove(key, entry) {
    this.#entries.delete(key);
    this.#evictable.delete(key);
    this.#bytes -= key.length + entry.value.length + ENTRY_OVERHEAD_BYTES;
  }

  #expiry(ttlMs) {
    return ttlMs > 0 ? this.#now() + ttlMs : Infinity;
  }

  #write(key, value, expiresAt) {
    const old = this.#entries.get(key);
    if (old) this.#remove(key, old);
    this.#entries.set(key, { value, expiresAt });
    this.#bytes += key.length + value.length + ENTRY_OVERHEAD_BYTES;
    if (evictable(key)) this.#evictable.set(key, true);
    if (this.#bytes > this.#maxBytes) for (const victim of this.#evictable.keys()) {
      if (this.#bytes <= this.#maxBytes || victim === key) break;
      this.#remove(victim, this.#entries.get(victim));
      this.#evicted++;
    }
    for (let i = 0; i < SWEEP; i++) {
      let next = this.#sweeper.next();
      if (next.done) {
        this.#sweeper = this.#entries.keys();
        next = this.#sweeper.next();
      }
      if (!next.done) this.#live(next.value);
    }
  }

  /**
   * Resolves to a copy of the value's bytes (a caller that changes them changes nothing
   * stored, as with Redis), or null when absent or expired.
   */
  async get(key) {
    const entry = this.#live(key);
    if (entry && this.#evictable.delete(key)) this.#evictable.set(key, true); // most recently used
    return entry?.value.slice() ?? null;
  }

  /** Stores value (bytes or string) with a TTL in ms (0: none). */
  async set(key, value, ttlMs = 0) {
    this.#write(key, toBytes(value), this.#expiry(ttlMs));
  }

  /**
   * Adds delta to the integer at key (absent: 0); a new key gets the TTL. Resolves to the new
   * value. As Redis: the value must be a 64-bit integer written canonically ("7", not "007"
   * or "-0"), and a result past 64 bits is refused.
   */
  async incr(key, delta = 1, ttlMs = 0) {
    const entry = this.#live(key);
    let current = 0n;
    if (entry) {
      const text = new TextDecoder().decode(entry.value);
      current = /^(0|-?[1-9]\d{0,18})$/.test(text) ? BigInt(text) : null;
      if (current === null || BigInt.asIntN(64, current) !== current) {
        throw new Error(`value at ${key} is not an integer or out of range`);
      }
    }
    const next = current + BigInt(delta);
    if (BigInt.asIntN(64, next) !== next) throw new Error(`increment or decrement of ${key} would overflow`);
    this.#write(key, encoder.encode(String(next)), entry ? entry.expiresAt : this.#expiry(ttlMs));
    return Number.isSafeInteger(Number(next)) ? Number(next) : next;
  }

  /**
   * Sets key to value only if it holds exactly `expected` (null: only if absent).
   * Resolves to {swapped, current}: current is a copy of the value found when not swapped.
   */
  async cas(key, expected, value, ttlMs = 0) {
    const current = this.#live(key)?.value ?? null;
    const matches = expected == null ? current == null : current != null && sameBytes(current, toBytes(expected));
    if (!matches) return { swapped: false, current: current?.slice() ?? null };
    this.#write(key, toBytes(value), this.#expiry(ttlMs));
    return { swapped: true, current: null };
  }

  /** Removes key; resolves to the number of keys removed (0 or 1). */
  async del(key) {
    const entry = this.#live(key);
    if (!entry) return 0;
    this.#remove(key, entry);
    return 1;
  }

  /** Entries held, expired ones not swept yet included. */
  get size() {
    return this.#entries.size;
  }

  /** About the bytes those entries hold (keys, values and a fixed overhead each). */
  get bytes() {
    return this.#bytes;
  }

  /** Entries evicted to stay within maxBytes. */
  get evicted() {
    return this.#evicted;
  }

  /** Live keys (for tests and stats). */
  keys() {
    return [...this.#entries.keys()].filter((key) => this.#live(key));
  }
}

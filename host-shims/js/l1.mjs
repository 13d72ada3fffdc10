// The cache module's L1 for values the host keeps (qv_l1_* in qv_abi.h): a get or set without
// a call handle, JSON, promise or copy, for values the host caches itself and for the L1
// benchmark. The L1 stays the module's: its W-TinyLFU decides what stays, its entry and
// byte bounds and TTLs hold.
//
// The shim keeps an exact mirror of the live values: key -> slot in a Map, and per slot the
// key, the value (a JavaScript value, never copied into module memory), its version, expiry
// and key hash. The module knows each value by a 64-bit hash of its key (so its frequency
// sketch follows keys across evictions) and by its size (for the byte bound). Keys are
// compared here, exactly: two keys of one hash share one module entry, and the one set last
// wins.
//
// A hit is served from the mirror (expiry checked here) and recorded in a buffer of
// accesses that goes to the module with the next set (qv_l1_put replays it first), or in
// one call when it fills: the module sees every access, in order, before it decides an
// eviction, as Caffeine's policy sees its buffered reads, at one module call per miss. A
// miss in the mirror is a miss with no call at all (the module learns of a key when it is
// set, as Caffeine's sketch does). The module lists every hosted value it lets go
// (qv_l1_put returns the list; qv_l1_released after other calls): the shim drops those from
// the mirror at once, so it never serves one the module evicted.

const REF_SIZE = 24; // sizeof(qv_l1_ref) in wasm32: slot@0 version@4 expires_at_ms@8 released@16 released_count@20
const BATCH = 256; // accesses buffered before they go to the module on their own
const DEAD = 0; // the version of a slot the mirror holds no value for
const OVERFLOW = 0xffffffff; // released_count when the module's list overflowed

export class DirectL1 {
  #exports;
  #memory;
  #clock;
  #fail;
  #index = new Map(); // key -> slot, for live values only
  #keys = []; // by slot
  #values = [];
  #versions = new Uint32Array(64);
  #expires = new Float64Array(64);
  #hashes = new Uint32Array(128); // low and high 32 bits of each slot's key hash
  #batch = new Uint32Array(2 * BATCH); // (slot, version) of the hits not yet handed over
  #pending = 0; // how many
  #batchPtr = 0; // module memory the batch is copied to
  #ref = 0; // a qv_l1_ref the module fills
  #out = 0; // module memory for qv_l1_released's out-parameters
  #words = null; // Uint32Array and Float64Array over module memory, renewed when it grows
  #doubles = null;
  #missed; // the key of the last get that missed: set() right after needs no lookup
  #keyHash = new Uint32Array(2); // the key hash set() registers, low and high 32 bits
  #discarded = false; // the module failed: nothing is served or stored any more

  /**
   * exports: the instance's exports; clock(): ms since the epoch; fail(error): marks the
   * instance failed after a trap (and throws).
   */
  constructor(exports, clock, fail) {
    this.#exports = exports;
    this.#memory = exports.memory;
    this.#clock = clock;
    this.#fail = fail;
    this.#ref = exports.qv_alloc(REF_SIZE);
    this.#batchPtr = exports.qv_alloc(8 * BATCH);
    this.#out = exports.qv_alloc(8);
  }

  /** The value stored under key, or undefined when absent, evicted or expired. */
  get(key) {
    if (this.#discarded) this.#fail(null);
    const slot = this.#index.get(key);
    if (slot === undefined) {
      this.#missed = key;
      return undefined;
    }
    if (this.#clock() >= this.#expires[slot]) {
      this.#unmap(slot);
      this.#missed = key;
      return undefined;
    }
    const at = 2 * this.#pending;
    this.#batch[at] = slot;
    this.#batch[at + 1] = this.#versions[slot];
    if (++this.#pending === BATCH) this.#flush();
    return this.#values[slot];
  }

  /** Whether key holds a live value (the access is not counted). */
  has(key) {
    if (this.#discarded) this.#fail(null);
    const slot = this.#index.get(key);
    return slot !== undefined && this.#clock() < this.#expires[slot];
  }

  /**
   * Stores value (any JavaScript value; its size is a string's length, an ArrayBuffer
   * view's byteLength, or `size`) under key for ttlMs (0: the cache's L1 TTL). Returns true
   * when stored; false when it is too large for the L1 or the eviction policy let it go.
   */
  set(key, value, ttlMs = 0, size = undefined) {
    if (this.#discarded) this.#fail(null);
    if (typeof key !== 'string') throw new TypeError(`key: expected a string, got ${typeof key}`);
    if (!isU32(ttlMs)) throw new RangeError(`ttlMs: expected a whole number of ms from 0 to 4294967295, got ${ttlMs}`);
    if (size !== undefined && !isU32(size)) throw new RangeError(`size: expected a whole number of bytes from 0 to 4294967295, got ${size}`);
    const held = key === this.#missed ? undefined : this.#index.get(key);
    this.#missed = undefined;
    const hash = this.#keyHash;
    if (held === undefined) {
      hashKey(key, hash);
    } else {
      hash[0] = this.#hashes[2 * held];
      hash[1] = this.#hashes[2 * held + 1];
    }
    const bytes = size ?? (typeof value === 'string' ? value.length : value?.byteLength ?? 0);
    const count = this.#handOver();
    let status;
    try {
      status = this.#exports.qv_l1_put(this.#batchPtr, count, hash[0], hash[1], bytes, ttlMs, this.#clock(), this.#ref);
    } catch (error) {
      this.#fail(error);
    }
    const words = this.#view();
    const at = this.#ref >>> 2;
    // Before the new value takes its slot: a release listed may be that slot's old value
    // (a replaced value of this key too).
    this.#forget(words[at + 4], words[at + 5]);
    if (status !== 0) return false;
    const slot = words[at];
    if (slot >= this.#versions.length) this.#grow(slot);
    this.#keys[slot] = key;
    this.#values[slot] = value;
    this.#versions[slot] = words[at + 1];
    this.#expires[slot] = this.#doubles[(this.#ref + 8) >>> 3];
    this.#hashes[2 * slot] = hash[0];
    this.#hashes[2 * slot + 1] = hash[1];
    this.#index.set(key, slot);
    return true;
  }

  /** Removes key; true when it held a live value. */
  delete(key) {
    if (this.#discarded) this.#fail(null);
    const slot = this.#index.get(key);
    if (slot === undefined) return false;
    const live = this.#clock() < this.#expires[slot];
    const version = this.#versions[slot];
    this.#unmap(slot);
    try {
      this.#exports.qv_l1_remove(slot, version);
    } catch (error) {
      this.#fail(error);
    }
    return live;
  }

  /** Keys the mirror holds (live values; some may have expired since). */
  get mirrored() {
    return this.#index.size;
  }

  /**
   * Drops every value: the module instance failed, so what it decided can no longer be
   * trusted. Every later get, has, set or delete throws (through fail) as calls do.
   */
  discard() {
    this.#discarded = true;
    this.#index.clear();
    this.#keys = [];
    this.#values = [];
    this.#pending = 0;
  }

  /** Hands the buffered accesses to the module now. */
  flush() {
    this.#flush();
  }

  /**
   * Forgets the values the module let go since the last sync (qv_l1_released). The shim
   * calls it after every step of a module call.
   */
  sync() {
    if (this.#discarded || this.#index.size === 0) return;
    let status;
    try {
      status = this.#exports.qv_l1_released(this.#out, this.#out + 4);
    } catch (error) {
      this.#fail(error);
    }
    const words = this.#view();
    this.#forget(words[this.#out >>> 2], status === 0 ? words[(this.#out >>> 2) + 1] : OVERFLOW);
  }

  #flush() {
    if (this.#discarded) return;
    const count = this.#handOver();
    if (count === 0) return;
    try {
      this.#exports.qv_l1_touch_batch(this.#batchPtr, count, this.#clock());
    } catch (error) {
      this.#fail(error);
    }
    this.sync(); // values found expired were released
  }

  // Copies the buffered accesses to module memory; returns how many pairs.
  #handOver() {
    const count = this.#pending;
    if (count === 0) return 0;
    this.#pending = 0;
    const words = this.#view();
    const base = this.#batchPtr >>> 2;
    for (let i = 0; i < 2 * count; i++) words[base + i] = this.#batch[i];
    return count;
  }

  // Drops the values of the (slot, version) pairs at ptr from the mirror (count OVERFLOW:
  // the module's list overflowed, so every value is checked).
  #forget(ptr, count) {
    if (count === 0) return;
    if (count === OVERFLOW) {
      this.#verifyAll();
      return;
    }
    const words = this.#view();
    for (let i = ptr >>> 2, end = i + 2 * count; i < end; i += 2) {
      if (this.#versions[words[i]] === words[i + 1]) this.#unmap(words[i]);
    }
  }

  #verifyAll() {
    const now = this.#clock();
    for (const slot of this.#index.values()) {
      if (this.#exports.qv_l1_alive(slot, this.#versions[slot], now) !== 1) this.#unmap(slot);
    }
  }

  #unmap(slot) {
    this.#index.delete(this.#keys[slot]);
    this.#keys[slot] = undefined;
    this.#values[slot] = undefined;
    this.#versions[slot] = DEAD;
  }

  #grow(slot) {
    const size = Math.max(2 * this.#versions.length, slot + 1);
    const versions = new Uint32Array(size);
    versions.set(this.#versions);
    this.#versions = versions;
    const expires = new Float64Array(size);
    expires.set(this.#expires);
    this.#expires = expires;
    const hashes = new Uint32Array(2 * size);
    hashes.set(this.#hashes);
    this.#hashes = hashes;
  }

  // Views of module memory (a grown memory detaches the old ones: their length drops to 0).
  #view() {
    if (this.#words === null || this.#words.length === 0) {
      this.#words = new Uint32Array(this.#memory.buffer);
      this.#doubles = new Float64Array(this.#memory.buffer);
    }
    return this.#words;
  }
}

// Whether value is a whole number the module's 32-bit unsigned arguments hold as it is.
const isU32 = (value) => Number.isInteger(value) && value >= 0 && value <= 0xffffffff;

/**
 * The 64-bit hash the shim registers a key under, written to out[0] (low 32 bits) and out[1]
 * (high): two 32-bit multiply-xor lanes over the key's UTF-16 code units, each finished with
 * MurmurHash3's fmix32. Keys of one hash are rare, and compared exactly anyway.
 */
export function hashKey(key, out) {
  let a = 0x811c9dc5 ^ key.length;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  a ^= a >>> 16; a = Math.imul(a, 0x85ebca6b); a ^= a >>> 13; a = Math.imul(a, 0xc2b2ae35); a ^= a >>> 16;
  b ^= b >>> 16; b = Math.imul(b, 0x85ebca6b); b ^= b >>> 13; b = Math.imul(b, 0xc2b2ae35); b ^= b >>> 16;
  out[0] = a;
  out[1] = b;
}

/**
 * A clock that reads `now` at most once per millisecond, as npm lru-cache does for its TTLs
 * (ttlResolution 1): the value is cached until a 1 ms timer clears it.
 */
export function coarseClock(now) {
  let cached = 0;
  const clear = () => { cached = 0; };
  return () => {
    if (cached !== 0) return cached;
    cached = now();
    const timer = setTimeout(clear, 1);
    timer.unref?.();
    return cached;
  };
}

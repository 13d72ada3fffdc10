// The cache module's L1 for values the host keeps (qv_l1_* in qv_abi.h): a get or set without
// a call handle, JSON, promise or copy, for values the host caches itself and for the L1
// benchmark. The L1 stays the module's: its W-TinyLFU decides what stays, its entry and
// byte bounds and TTLs hold.
//
// The shim keeps a mirror, key -> {slot, version, expiresAt, value}: the values live here,
// in JavaScript, never copied into module memory. The module knows each by a 64-bit hash
// of its key (so its frequency sketch follows keys across evictions) and by its size (for
// the byte bound). Keys are compared here, exactly: two keys of one hash share one module
// entry, and the one set last wins.
//
// A hit is served from the mirror (expiry checked here) and recorded in a buffer of
// accesses that goes to the module in one call (qv_l1_touch_batch) before the next set,
// delete or sweep, or when it fills: the module sees every access, in order, before it
// decides an eviction, as Caffeine's policy sees its buffered reads. Only sets evict, and
// they replay the buffer first, so eviction decides exactly as with one call per access.
// A miss in the mirror is a miss with no call at all (the module learns of a key when it
// is set, as Caffeine's sketch does). The module lists every hosted value it lets go
// (qv_l1_released): the shim reads that list after every set and after every step of a
// module call (which may evict too), and forgets those values at once, so it never serves
// one the module evicted. The mirror keeps dead keys (with their hash, so setting them
// again needs no hashing) until it reaches four times the live values; then it is rebuilt
// with the live ones.

const REF_SIZE = 24; // sizeof(qv_l1_ref) in wasm32: slot@0 version@4 expires_at_ms@8 released@16 released_count@20
const BATCH = 256; // accesses buffered before they go to the module
const MIN_COMPACT = 4096; // the mirror is not rebuilt below this many keys
const DEAD = 0; // the version of a mirror entry whose value the module let go

export class DirectL1 {
  #exports;
  #memory;
  #clock;
  #fail;
  #mirror = new Map(); // key -> {slot, version, expiresAt, value, lo, hi}
  #ref = 0; // a qv_l1_ref the module fills
  #batchPtr = 0; // module memory for a batch of (slot, version) pairs
  #batch = new Uint32Array(2 * BATCH); // the accesses not yet handed over
  #batchEntries = new Array(BATCH); // their mirror entries
  #pending = 0;
  #bySlot = []; // slot -> the mirror entry whose value is registered there
  #out = 0; // module memory for qv_l1_released's out-parameters
  #words = null; // Uint32Array and Float64Array over module memory, renewed when it grows
  #doubles = null;
  #compactAt = MIN_COMPACT; // rebuild the mirror when it holds this many keys
  #lo = 0; // the last key's hash, low and high 32 bits
  #hi = 0;

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
    const entry = this.#mirror.get(key);
    if (entry === undefined || entry.version === DEAD) return undefined;
    if (this.#clock() >= entry.expiresAt) {
      this.#bury(entry);
      return undefined;
    }
    const at = 2 * this.#pending;
    this.#batch[at] = entry.slot;
    this.#batch[at + 1] = entry.version;
    this.#batchEntries[this.#pending] = entry;
    if (++this.#pending === BATCH) this.#flush();
    return entry.value;
  }

  /** Whether key holds a live value (the access is not counted). */
  has(key) {
    const entry = this.#mirror.get(key);
    if (entry === undefined || entry.version === DEAD) return false;
    this.#flush();
    return entry.version !== DEAD && this.#exports.qv_l1_alive(entry.slot, entry.version, this.#clock()) === 1;
  }

  /**
   * Stores value (any JavaScript value; its size is a string's length, an ArrayBuffer
   * view's byteLength, or `size`) under key for ttlMs (0: the cache's L1 TTL). Returns true
   * when stored; false when it is too large for the L1 or the eviction policy let it go.
   */
  set(key, value, ttlMs = 0, size = undefined) {
    this.#flush();
    let entry = this.#mirror.get(key);
    if (entry === undefined) {
      if (this.#mirror.size >= this.#compactAt) this.#compact();
      this.#hash(key);
      entry = { slot: 0, version: DEAD, expiresAt: 0, value: undefined, lo: this.#lo, hi: this.#hi };
      this.#mirror.set(key, entry);
    }
    const bytes = size ?? (typeof value === 'string' ? value.length : value?.byteLength ?? 0);
    let status;
    try {
      status = this.#exports.qv_l1_put(entry.lo, entry.hi, bytes, ttlMs, this.#clock(), this.#ref);
    } catch (error) {
      this.#fail(error);
    }
    const words = this.#view();
    const at = this.#ref >>> 2;
    // Before the new value takes its slot: a release listed may be that slot's old value.
    this.#forget(words[at + 4], words[at + 5]);
    if (status !== 0) {
      this.#bury(entry);
      return false;
    }
    if (entry.version !== DEAD && this.#bySlot[entry.slot] === entry) this.#bySlot[entry.slot] = undefined;
    entry.slot = words[at];
    entry.version = words[at + 1];
    entry.expiresAt = this.#doubles[(this.#ref + 8) >>> 3];
    entry.value = value;
    this.#bySlot[entry.slot] = entry;
    return true;
  }

  /**
   * Forgets the values the module let go since the last sync (qv_l1_released). The shim
   * calls it after every set and every step of a module call.
   */
  sync() {
    if (this.#mirror.size === 0) return;
    let status;
    try {
      status = this.#exports.qv_l1_released(this.#out, this.#out + 4);
    } catch (error) {
      this.#fail(error);
    }
    const words = this.#view();
    this.#forget(words[this.#out >>> 2], status === 0 ? words[(this.#out >>> 2) + 1] : 0xffffffff);
  }

  // Forgets the values of the (slot, version) pairs at ptr (count 0xffffffff: the module's
  // list overflowed, so every value is checked).
  #forget(ptr, count) {
    if (count === 0) return;
    if (count === 0xffffffff) {
      this.#verifyAll();
      return;
    }
    const words = this.#view();
    for (let i = ptr >>> 2, end = i + 2 * count; i < end; i += 2) {
      const entry = this.#bySlot[words[i]];
      if (entry !== undefined && entry.version === words[i + 1]) this.#bury(entry);
    }
  }

  // Views of module memory (a grown memory detaches the old ones: their length drops to 0).
  #view() {
    if (this.#words === null || this.#words.length === 0) {
      this.#words = new Uint32Array(this.#memory.buffer);
      this.#doubles = new Float64Array(this.#memory.buffer);
    }
    return this.#words;
  }

  /** Removes key; true when it held a live value. */
  delete(key) {
    const entry = this.#mirror.get(key);
    if (entry === undefined) return false;
    this.#flush();
    this.#mirror.delete(key);
    const removed = entry.version !== DEAD && this.#exports.qv_l1_remove(entry.slot, entry.version) === 0;
    this.#bury(entry);
    this.sync();
    return removed;
  }

  /** Keys the mirror holds (some may have been evicted since). */
  get mirrored() {
    return this.#mirror.size;
  }

  /** Hands the buffered accesses to the module now. */
  flush() {
    this.#flush();
  }

  #flush() {
    const count = this.#pending;
    if (count === 0) return;
    this.#pending = 0;
    this.#view().set(this.#batch.subarray(0, 2 * count), this.#batchPtr >>> 2);
    let gone;
    try {
      gone = this.#exports.qv_l1_touch_batch(this.#batchPtr, count, this.#clock());
    } catch (error) {
      this.#fail(error);
    }
    if (gone > 0) {
      // Expired meanwhile (this clock read is later than the lookups'): gone for good.
      const back = this.#view();
      const base = this.#batchPtr >>> 2;
      for (let i = 0; i < count; i++) {
        if (back[base + 2 * i + 1] === DEAD && this.#batchEntries[i].version === this.#batch[2 * i + 1]) {
          this.#bury(this.#batchEntries[i]);
        }
      }
    }
    this.#batchEntries.fill(undefined, 0, count);
    this.sync();
  }

  // Forgets the value of an entry the module let go (its hash stays for the next set).
  #bury(entry) {
    if (entry.version !== DEAD && this.#bySlot[entry.slot] === entry) this.#bySlot[entry.slot] = undefined;
    entry.version = DEAD;
    entry.value = undefined;
  }

  #verifyAll() {
    const now = this.#clock();
    for (const entry of this.#mirror.values()) {
      if (entry.version !== DEAD && this.#exports.qv_l1_alive(entry.slot, entry.version, now) !== 1) this.#bury(entry);
    }
  }

  // Rebuilds the mirror with the keys whose value the module still holds.
  #compact() {
    this.#flush();
    const now = this.#clock();
    const live = new Map();
    for (const [key, entry] of this.#mirror) {
      if (entry.version !== DEAD && this.#exports.qv_l1_alive(entry.slot, entry.version, now) === 1) {
        live.set(key, entry);
      }
    }
    this.#mirror = live;
    this.#compactAt = Math.max(MIN_COMPACT, 4 * live.size);
  }

  // Two 32-bit multiply-xor lanes over the key's UTF-16 code units, each finished with
  // MurmurHash3's fmix32: 64 bits, so keys of one hash are rare (and compared exactly anyway).
  #hash(key) {
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
    this.#lo = a >>> 0;
    this.#hi = b >>> 0;
  }
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

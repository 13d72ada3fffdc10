// KV stand-ins the suites share: a MemoryKv that counts and can fail, a KV with some of its
// operations replaced, and one that answers after random delays. (Not a .test.mjs: importing
// one would run its tests.)
import { MemoryKv } from '../dist/js/node.mjs';
import { MAX_TIMER_MS } from '../dist/js/host-ops.mjs';

// A KV that counts operations by kind and can be made to fail: wholly (failing = true) or
// for some kinds of operation (failing = a Set of kinds).
export class CountingKv extends MemoryKv {
  counts = { get: 0, set: 0, del: 0, cas: 0, incr: 0 };
  failing = false;
  #check(kind) {
    this.counts[kind]++;
    if (this.failing === true || this.failing?.has?.(kind)) throw new Error('kv down');
  }
  async get(key) { this.#check('get'); return super.get(key); }
  async set(key, value, ttl) { this.#check('set'); return super.set(key, value, ttl); }
  async del(key) { this.#check('del'); return super.del(key); }
  async cas(...args) { this.#check('cas'); return super.cas(...args); }
  async incr(...args) { this.#check('incr'); return super.incr(...args); }
}

// The KV's operations, bound to it, with some replaced.
export const withOps = (kv, replaced) => ({
  get: (...args) => kv.get(...args), set: (...args) => kv.set(...args), cas: (...args) => kv.cas(...args),
  incr: (...args) => kv.incr(...args), del: (...args) => kv.del(...args), ...replaced,
});

// Timers that never fire (the shim's timers option): a KV operation waits for its answer,
// however late a loaded machine gives it, where a test means the answers of a KV that is up
// (a store that is down fails at once; a hang fails the test's own timeout).
export const noTimeouts = Object.freeze({ setTimeout: () => 0, clearTimeout: () => {} });

// The shim's options for a KV operation that waits for its answer however late a loaded
// machine gives it, as noTimeouts does, while the module's sleeps (its back-off between
// compare-and-set attempts on a contended key) still end: they wait on the timers option too,
// and with timers that never fire a call that backs off would wait for good.
export const kvWaits = Object.freeze({ kvTimeoutMs: MAX_TIMER_MS });

// An operation that fails with message.
export const failWith = (message) => async () => { throw new Error(message); };

// The KV's operations, each reaching it and answering after a random 0-2 ms (random(): the
// test's seeded generator of numbers in [0, 1)), so that concurrent calls interleave.
export function delayedOps(kv, random) {
  const delay = () => new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 3)));
  const delayed = (operation) => async (...args) => {
    await delay();
    const result = await kv[operation](...args);
    await delay();
    return result;
  };
  return withOps(kv, Object.fromEntries(['get', 'set', 'cas', 'incr', 'del'].map((operation) => [operation, delayed(operation)])));
}

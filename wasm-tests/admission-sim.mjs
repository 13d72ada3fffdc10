// A deterministic admission simulation: isolates (module instances) sharing one
// in-memory KV on a simulated clock, offered an even request rate for one organisation.
// Used by admission.test.mjs (the stated bounds) and bench/admission.bench.mjs.
import { loadModule, instantiate, MemoryKv } from '../dist/js/node.mjs';

// A KV that counts its operations (every operation is one round trip).
class CountingKv {
  constructor(inner) { this.inner = inner; this.ops = 0; }
  get(...a) { this.ops++; return this.inner.get(...a); }
  set(...a) { this.ops++; return this.inner.set(...a); }
  incr(...a) { this.ops++; return this.inner.incr(...a); }
  del(...a) { this.ops++; return this.inner.del(...a); }
  cas(...a) { this.ops++; return this.inner.cas(...a); }
}

/**
 * Offers `perSecond` requests per simulated second (a number, or a function of the whole
 * seconds elapsed), evenly, round-robin over `isolates` instances of `flavour`, for
 * `seconds`. Isolate i reads its clock `clockOffsetsMs[i]` ms off the true time (the KV's),
 * as machines whose clocks disagree. Resolves to {offered, admitted, kvOps, admittedAt}:
 * admittedAt lists the true time of every admission, in ms from the start.
 */
export async function simulateAdmission({ isolates = 4, seconds, perSecond, tier = 'Startup', flavour = 'emscripten', clockOffsetsMs = [] }) {
  let now = 1764115200000;
  const start = now;
  const clock = () => now;
  const kv = new CountingKv(new MemoryKv({ now: clock }));
  const module = await loadModule(flavour);
  const instances = await Promise.all(Array.from({ length: isolates }, (_, i) =>
    instantiate(module, { kv, now: () => now + (clockOffsetsMs[i] ?? 0), log: () => {} })));
  const rate = typeof perSecond === 'function' ? perSecond : () => perSecond;
  const admittedAt = [];
  let offered = 0;
  for (let ms = 0; ms < seconds * 1000; ms++, now++) {
    const perMs = rate(Math.floor(ms / 1000));
    const due = Math.floor(((ms + 1) * perMs) / 1000) - Math.floor((ms * perMs) / 1000);
    for (let i = 0; i < due; i++) {
      const decision = await instances[offered++ % isolates].call('tiers.admit', { organizationId: 'org_sim', tier });
      if (decision.allowed) admittedAt.push(now - start);
    }
  }
  return { offered, admitted: admittedAt.length, kvOps: kv.ops, admittedAt };
}

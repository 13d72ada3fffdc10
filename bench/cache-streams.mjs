// Key streams for the cache benchmarks and tests: deterministic (a seeded xorshift), so both
// sides of a comparison see exactly the same keys.

/** xorshift32: a small deterministic generator of numbers in [0, 1). */
export function random(seed = 0x2545f491) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

/**
 * `length` draws from a Zipf distribution over `keys` items with exponent `s` (YCSB's
 * request distribution is Zipf with s = 0.99), as item indexes 0..keys-1, the most popular
 * first. Inverse-CDF sampling over the precomputed cumulative weights.
 */
export function zipfStream({ keys, length, s = 0.99, seed = 42 }) {
  const cumulative = new Float64Array(keys);
  let total = 0;
  for (let i = 0; i < keys; i++) {
    total += 1 / Math.pow(i + 1, s);
    cumulative[i] = total;
  }
  const next = random(seed);
  const stream = new Int32Array(length);
  for (let n = 0; n < length; n++) {
    const target = next() * total;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    stream[n] = lo;
  }
  // Popular items spread over the key space, so neighbouring keys are not all hot.
  const shuffle = random(seed ^ 0x9e3779b9);
  const permutation = Int32Array.from({ length: keys }, (_, i) => i);
  for (let i = keys - 1; i > 0; i--) {
    const j = Math.floor(shuffle() * (i + 1));
    [permutation[i], permutation[j]] = [permutation[j], permutation[i]];
  }
  for (let n = 0; n < length; n++) stream[n] = permutation[stream[n]];
  return stream;
}

/** Cache keys as the edge builds them: organisation, route, query. */
export function edgeKeys(count) {
  return Array.from({ length: count }, (_, i) => `org_${(i * 7919) % 97}:GET /api/leads?page=${i}&limit=50`);
}

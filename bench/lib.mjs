// Shared helpers of the benchmarks: timing, native binaries, bundle sizes.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { FLAVOURS } from '../dist/js/node.mjs';
import { median, mid } from './rounds.mjs';

export { median, mid, alternateRounds } from './rounds.mjs';

export const root = new URL('../', import.meta.url);
export const RUNS = 5;
export const TARGET_MS = 300; // per run

// fn(flavour) on each flavour, one after another: {flavour: figures}.
export async function perFlavour(fn) {
  const out = {};
  for (const flavour of FLAVOURS) out[flavour] = await fn(flavour);
  return out;
}

// Per flavour, the median of the rounds' ratios wasmNs(round[side][flavour]) / peerNs(round[peer]):
// by default the wasm side against the native one.
export const flavourRatios = (rounds, wasmNs, peerNs, side = 'wasm', peer = 'native') =>
  Object.fromEntries(FLAVOURS.map((f) => [f, mid(rounds, (r) => wasmNs(r[side][f]) / peerNs(r[peer]))]));

// ns per call of an async function: iterations scaled to about TARGET_MS per run,
// RUNS runs, the median reported.
export async function measure(fn) {
  let iterations = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (ms >= TARGET_MS / 4) {
      iterations = Math.max(1, Math.round(iterations * TARGET_MS / ms));
      break;
    }
    iterations *= 4;
  }
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    runs.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  return { ns_per_call: median(runs), iterations, runs };
}

export function nativeBinary(name) {
  for (const candidate of [`build/native/bench/${name}`, `build/native/${name}`]) {
    if (existsSync(new URL(candidate, root))) return new URL(candidate, root).pathname;
  }
  throw new Error(`${name} not built: run npm run build -- native`);
}

export async function wasmSizes() {
  const sizes = {};
  for (const flavour of FLAVOURS) {
    const bytes = await readFile(new URL(`dist/${flavour}/qv.wasm`, root));
    sizes[flavour] = { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  }
  return sizes;
}

// The size budget: all .wasm files of one flavour together, gzipped, under 250 kB (an edge
// function ships one flavour; BRIEF: Vercel Hobby allows 1 MB for the whole function).
export const WASM_GZIP_BUDGET_BYTES = 250_000;

// Prints each flavour's bundle size, raw and gzipped, against the budget.
export function printWasmSizes(sizes) {
  console.log('\nbundle sizes (budget: one flavour\'s .wasm files, gzipped, under 250 kB)');
  for (const [flavour, size] of Object.entries(sizes)) {
    const share = ((100 * size.gzip) / WASM_GZIP_BUDGET_BYTES).toFixed(0);
    console.log(`dist/${flavour}/qv.wasm`.padEnd(28), `${(size.raw / 1000).toFixed(1)} kB raw`.padStart(16),
      `${(size.gzip / 1000).toFixed(1)} kB gzip`.padStart(16), `${share}% of the budget`.padStart(20));
  }
}


// Benchmark `startup`: what a cold edge isolate pays before its first answer, per
// WebAssembly flavour, each measured in a fresh Node.js process (V8 keeps no compiled wasm
// between processes): compiling the bundle (on Vercel the platform does this once per
// deployment and hands isolates the WebAssembly.Module), instantiating it through the shim
// (what every new isolate pays), and the first tiers.evaluate (V8 compiles a wasm function
// when it first runs) against a warm one. The ratios compare with the warm call measured in
// the same process: how many warm requests' worth of time a cold start costs. (A second
// instance in the same process is no isolate's cost: its memory's allocation can set off a
// garbage collection for external memory pressure, 1 to 40 ms here, that a fresh isolate's
// heap does not have.) One more row: the Emscripten flavour with V8's lazy compilation off
// (node --no-wasm-lazy-compilation), to show where that work goes.
import { execFileSync } from 'node:child_process';
import { FLAVOURS } from '../dist/js/node.mjs';
import { root, median, mid, alternateRounds } from './lib.mjs';

const PROCESSES = 7;
const WARM_CALLS = 2000;

// Runs in the child: prints the figures of one cold start as JSON.
const child = `
import { readFile } from 'node:fs/promises';
import { wasmPath, instantiate } from ${JSON.stringify(new URL('dist/js/node.mjs', root).href)};
const [flavour, input] = [process.argv[1], await readFile(process.argv[2], 'utf8')];
const bytes = await readFile(wasmPath(flavour));
const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6;
let t = process.hrtime.bigint();
const module = await WebAssembly.compile(bytes);
const compile = ms(t);
t = process.hrtime.bigint();
const qv = await instantiate(module, { log: () => {} });
const instantiateMs = ms(t);
t = process.hrtime.bigint();
const first = await qv.invoke('tiers.evaluate', input);
const firstCall = ms(t);
if (first.status !== 'ok') throw new Error(JSON.stringify(first.body));
for (let i = 0; i < ${WARM_CALLS}; i++) await qv.invoke('tiers.evaluate', input);
t = process.hrtime.bigint();
for (let i = 0; i < ${WARM_CALLS}; i++) await qv.invoke('tiers.evaluate', input);
const warmCall = ms(t) / ${WARM_CALLS};
console.log(JSON.stringify({ compile, instantiate: instantiateMs, first_call: firstCall, warm_call: warmCall }));
`;

const coldMs = (sample) => sample.instantiate + sample.first_call;

// Each row's cold starts, one fresh process per row per round over `processes` alternated
// rounds (which row goes first changing), so that no row has the machine to itself in a
// quieter or busier stretch; start(row) resolves to one process's figures. Per row the
// median of its processes; the cold ratio of the last flavour to the first is the median
// of the rounds' own ratios.
export async function coldStarts(rows, start, processes = PROCESSES) {
  const rounds = await alternateRounds(Object.fromEntries(rows.map((row) => [row.name, () => start(row)])), processes);
  const flavours = {};
  for (const { name } of rows) {
    const samples = rounds.map((r) => r[name]);
    const m = (key) => median(samples.map((s) => s[key]));
    flavours[name] = {
      compile_ms: m('compile'), instantiate_ms: m('instantiate'), first_call_ms: m('first_call'),
      warm_call_ms: m('warm_call'),
      cold_start_in_warm_calls: median(samples.map((s) => coldMs(s) / s.warm_call)),
      compile_in_warm_calls: median(samples.map((s) => s.compile / s.warm_call)),
      cold_ms: median(samples.map(coldMs)), samples,
    };
  }
  const [a, b] = FLAVOURS;
  return { processes, flavours, cold_ratio: mid(rounds, (r) => coldMs(r[b]) / coldMs(r[a])) };
}

export async function run() {
  const input = new URL('bench/inputs/tiers-evaluate.json', root).pathname;
  const rows = [...FLAVOURS.map((flavour) => ({ name: flavour, flavour, flags: [] })),
    { name: 'emscripten, eager', flavour: 'emscripten', flags: ['--no-wasm-lazy-compilation'] }];
  const figures = await coldStarts(rows, ({ flavour, flags }) =>
    JSON.parse(execFileSync(process.execPath, [...flags, '--input-type=module', '-e', child, flavour, input], { encoding: 'utf8' })));
  console.log(`cold start per flavour, median of ${PROCESSES} fresh processes each, the rows alternated (Node ${process.versions.node}); tiers.evaluate, 30 days of history`);
  console.log(`${'flavour'.padEnd(18)} ${'compile'.padStart(9)} ${'instantiate'.padStart(12)} ${'1st call'.padStart(9)} ${'warm call'.padStart(10)}   cold start (instantiate + 1st call) in warm calls; compile in warm calls`);
  for (const { name } of rows) {
    const f = figures.flavours[name];
    const ms = (value) => `${value.toFixed(2)} ms`;
    console.log(`${name.padEnd(18)} ${ms(f.compile_ms).padStart(9)} ${ms(f.instantiate_ms).padStart(12)} ${ms(f.first_call_ms).padStart(9)} ${`${(f.warm_call_ms * 1000).toFixed(1)} µs`.padStart(10)}   ${f.cold_start_in_warm_calls.toFixed(0)}x; ${f.compile_in_warm_calls.toFixed(0)}x`);
  }
  const [a, b] = FLAVOURS;
  console.log(`${b}/${a} cold start (instantiate + 1st call): ${figures.cold_ratio.toFixed(2)} (the median of the rounds' ratios)`);
  return figures;
}

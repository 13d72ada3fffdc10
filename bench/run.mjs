// Benchmarks: `npm run bench -- NAME` runs one (no name: all), prints a table and writes
// its figures to bench/out/NAME.json. Each benchmark is bench/NAME.bench.mjs, exporting
// `run()` that prints its table and resolves to its figures. Every figure that compares
// is a ratio of two things measured in the same run: these machines are shared and noisy.
import { mkdir, readdir, writeFile } from 'node:fs/promises';

const root = new URL('../', import.meta.url);
const available = (await readdir(new URL('bench/', root)))
  .filter((file) => file.endsWith('.bench.mjs'))
  .map((file) => file.slice(0, -'.bench.mjs'.length))
  .sort();

const names = process.argv.slice(2);
for (const name of names) {
  if (!available.includes(name)) {
    console.error(`bench: unknown benchmark '${name}' (known: ${available.join(', ')})`);
    process.exit(2);
  }
}
await mkdir(new URL('bench/out/', root), { recursive: true });
for (const name of names.length ? names : available) {
  console.log(`== bench ${name}`);
  const { run } = await import(new URL(`bench/${name}.bench.mjs`, root));
  const figures = await run();
  const out = new URL(`bench/out/${name}.json`, root);
  await writeFile(out, JSON.stringify({ benchmark: name, date: new Date().toISOString(), node: process.versions.node, ...figures }, null, 2) + '\n');
  console.log(`figures written to bench/out/${name}.json`);
}

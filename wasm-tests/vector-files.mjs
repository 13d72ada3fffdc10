// Reads every modules/*/vectors/*.json of the repository (Node.js side of the runners).
import { readdir, readFile } from 'node:fs/promises';

const root = new URL('../', import.meta.url);

export async function loadVectorFiles() {
  const files = [];
  for (const module of (await readdir(new URL('modules/', root), { withFileTypes: true }))) {
    if (!module.isDirectory()) continue;
    const dir = new URL(`modules/${module.name}/vectors/`, root);
    let names = [];
    try {
      names = (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
    } catch {
      continue; // a module without vectors
    }
    for (const name of names) {
      const file = `modules/${module.name}/vectors/${name}`;
      files.push({ file, data: JSON.parse(await readFile(new URL(file, root), 'utf8')) });
    }
  }
  if (files.length === 0) throw new Error('no test vectors found under modules/*/vectors/');
  return files;
}

// The ABI contract as the JS shim sees it: what every bundle in dist/ imports and
// exports, the version check, and refusals of what is not a bundle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, mkdtemp, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ALLOWED_IMPORTS, ABI_VERSION, FLAVOURS, MAX_INPUT_BYTES, instantiate, loadModule } from '../dist/js/node.mjs';

const root = new URL('../', import.meta.url);
const header = await readFile(new URL('host-shims/qv_abi.h', root), 'utf8');

async function wasmFiles(dir = new URL('dist/', root)) {
  const found = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const url = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    if (entry.isDirectory()) found.push(...await wasmFiles(url));
    else if (entry.name.endsWith('.wasm')) found.push(url);
  }
  return found;
}

test('the shim allows exactly the imports the header declares', () => {
  const macro = header.match(/#define QV_ALLOWED_IMPORTS([\s\S]*?)\n\n/)[1];
  const declared = [...macro.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual([...ALLOWED_IMPORTS].sort(), declared.sort());
});

test('the shim and the header agree on the ABI version and the input limit', () => {
  assert.equal(Number(header.match(/#define QV_ABI_VERSION (\d+)u/)[1]), ABI_VERSION);
  assert.equal(1 << Number(header.match(/#define QV_MAX_INPUT_BYTES \(1u << (\d+)\)/)[1]), MAX_INPUT_BYTES);
});

test('every .wasm in dist/ imports only what the header declares and exports the ABI', async () => {
  const files = await wasmFiles();
  assert.ok(files.length >= 2, `expected both flavours in dist/, found ${files.length} .wasm files`);
  const exportedByHeader = [...header.matchAll(/QV_EXPORT\((qv_\w+)\)/g)].map((m) => m[1]);
  // What the runtime exports beside them, which a host needs too: the memory, _initialize.
  const bundleExports = [...header.match(/#define QV_BUNDLE_EXPORTS (.*)/)[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(bundleExports, ['memory', '_initialize']);
  for (const file of files) {
    const module = await WebAssembly.compile(await readFile(file));
    const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`);
    const undeclared = imports.filter((name) => !ALLOWED_IMPORTS.includes(name));
    assert.deepEqual(undeclared, [], `${file.pathname} imports what qv_abi.h does not declare`);
    const exports = WebAssembly.Module.exports(module).map((e) => e.name);
    for (const name of [...exportedByHeader, ...bundleExports]) {
      assert.ok(exports.includes(name), `${file.pathname} does not export ${name}`);
    }
  }
});

// Builds a small module from WebAssembly text with wabt's wat2wasm.
async function wat(text) {
  const dir = await mkdtemp(join(tmpdir(), 'qv-abi-'));
  await writeFile(join(dir, 'm.wat'), text);
  execFileSync('wat2wasm', [join(dir, 'm.wat'), '-o', join(dir, 'm.wasm')]);
  return WebAssembly.compile(await readFile(join(dir, 'm.wasm')));
}

const fakeBundle = (version) => `(module
  (memory (export "memory") 1)
  (func (export "qv_abi_version") (result i32) i32.const ${version})
  (func (export "qv_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "qv_free") (param i32))
  (func (export "qv_call_start") (param i32 i32 i32 i32 i32) (result i32) i32.const 9)
  (func (export "qv_call_ops") (param i32 i32 i32) (result i32) i32.const 5)
  (func (export "qv_call_complete_op") (param i32 i32 i32 i64 i32 i32 i32 i32) (result i32) i32.const 5)
  (func (export "qv_call_resume") (param i32) (result i32) i32.const 5)
  (func (export "qv_call_output") (param i32 i32 i32) (result i32) i32.const 5)
  (func (export "qv_call_free") (param i32) (result i32) i32.const 0)
  (func (export "qv_woken_calls") (param i32 i32) (result i32) i32.const 0))`;

// The size budget (cmake/wasm_bundle.cmake): an edge function ships one flavour, and all
// of that flavour's .wasm files together stay under 250 kB gzipped.
test('each flavour\'s .wasm files together are under 250 kB gzipped', async () => {
  for (const flavour of FLAVOURS) {
    const files = await wasmFiles(new URL(`dist/${flavour}/`, root));
    assert.ok(files.length > 0, `dist/${flavour}/ holds no .wasm`);
    let gzipped = 0;
    for (const file of files) gzipped += gzipSync(await readFile(file), { level: 9 }).length;
    assert.ok(gzipped < 250_000, `dist/${flavour}/: ${gzipped} bytes gzipped, over the 250 kB budget`);
  }
});

test('a module of another ABI version is refused with a clear error', async () => {
  const module = await wat(fakeBundle(ABI_VERSION + 1));
  await assert.rejects(instantiate(module), new RegExp(`ABI version mismatch: the module implements version ${ABI_VERSION + 1}, this shim version ${ABI_VERSION}`));
});

test('a module that is not a bundle is refused, naming the missing export', async () => {
  const module = await wat('(module (memory (export "memory") 1))');
  await assert.rejects(instantiate(module), /does not export qv_abi_version: not a Quantum Voice Edge bundle/);
});

test('bytes instead of a compiled module are refused', async () => {
  await assert.rejects(instantiate(new Uint8Array([0, 97, 115, 109])), /^TypeError: instantiate: expected a WebAssembly.Module, got the \.wasm file's bytes \(compile them first/);
});

test('a promise of a module (loadModule() not awaited) is refused, saying to await it', async () => {
  const module = wat('(module (memory (export "memory") 1))');
  await assert.rejects(instantiate(module), /^TypeError: instantiate: expected a WebAssembly.Module, got a promise of one\? \(await it/);
  await module;
  await assert.rejects(instantiate(undefined), /^TypeError: instantiate: expected a WebAssembly.Module, got undefined \(compile the \.wasm first\)$/);
});

test('loadModule with an unknown flavour rejects, naming the flavours, as its other failures do', async () => {
  const loading = loadModule('wasm64'); // a promise, not a throw: .catch() sees it
  await assert.rejects(loading, { name: 'TypeError', message: "flavour: expected one of emscripten, wasi, got 'wasm64'" });
});

test('the edge function made without options names the module it needs', async () => {
  const { createEdgeHandler } = await import('../edge/handler.mjs');
  assert.throws(() => createEdgeHandler(), /^Error: createEdgeHandler: wasmModule is required/);
});

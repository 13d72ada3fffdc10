// The npm package @quantum-voice/edge as a user gets it (npm/README.md): `npm pack ./dist`,
// the tarball installed into an empty project without the network, and the modules (both
// flavours) and the edge function run from the installed package, by its package name.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadModule, instantiate, MemoryKv } from '../dist/js/node.mjs';
import { EVALUATION as input } from './inputs.mjs';

const run = promisify(execFile);
const tsc = new URL('../node_modules/.bin/tsc', import.meta.url).pathname;
const dist = new URL('../dist/', import.meta.url).pathname;
const root = new URL('../package.json', import.meta.url).pathname;

// What the consumer project runs: only package-name imports.
const consumerScript = `
import { loadModule, instantiate, FLAVOURS } from '@quantum-voice/edge/node';
import { MemoryKv } from '@quantum-voice/edge/kv-memory';
import { createEdgeHandler } from '@quantum-voice/edge/edge-function';
import demo from '@quantum-voice/edge/demo-config.json' with { type: 'json' };

const input = JSON.parse(process.argv[2]);
const decisions = {};
for (const flavour of FLAVOURS) {
  const qv = await instantiate(await loadModule(flavour), { kv: new MemoryKv() });
  decisions[flavour] = await qv.call('tiers.evaluate', input);
}
const handle = createEdgeHandler({ wasmModule: await loadModule(), config: demo });
const health = await handle(new Request('http://edge.test/healthz'));
const evaluate = await handle(new Request('http://edge.test/api/tiers/evaluate', {
  method: 'POST', headers: { 'x-api-key': 'qv_demo_startup' }, body: JSON.stringify(input),
}));
let internal;
try {
  await import('@quantum-voice/edge/js/host-ops.mjs');
  internal = 'imported';
} catch (error) {
  internal = error.code;
}
console.log(JSON.stringify({
  decisions,
  health: { status: health.status, body: await health.json() },
  evaluate: { status: evaluate.status, body: await evaluate.json() },
  wasm: import.meta.resolve('@quantum-voice/edge/qv.wasm'),
  internal,
}));
`;

// TypeScript in the consumer project: the package's declarations are checked (skipLibCheck
// off) along with code that uses every entry point...
const typedUse = `
import { instantiate, QvError, QvInstance, type Kv } from '@quantum-voice/edge';
import { loadModule, FLAVOURS, type Flavour } from '@quantum-voice/edge/node';
import { MemoryKv } from '@quantum-voice/edge/kv-memory';
import { RedisKv } from '@quantum-voice/edge/kv-redis';
import { coarseClock } from '@quantum-voice/edge/l1';
import { createEdgeHandler, type EdgeConfig } from '@quantum-voice/edge/edge-function';

const flavour: Flavour = FLAVOURS[0];
const kv: Kv = new MemoryKv({ now: coarseClock(() => Date.now()) });
const qv: QvInstance = await instantiate(await loadModule(flavour), { kv });
// What instantiate() does, for a host that instantiates the module itself.
const host = new QvInstance({ kv, log: () => {} });
host.attach(await WebAssembly.instantiate(await loadModule(flavour), host.imports()));
const decision = await qv.call<{ recommendedTier: string }>('tiers.evaluate', {});
const config: EdgeConfig = { apiKeys: [{ sha256: 'ab', organizationId: 'org_1', tier: 'Startup' }] };
const handle = createEdgeHandler({ wasmModule: await loadModule(), config, kv });
const response: Response = await handle(new Request('http://edge.test/healthz'), { waitUntil: () => {} });
const failure = new QvError('timeout', 'kv.get k: no answer');
export const used = [decision.recommendedTier, response.status, qv.l1?.get('k'), RedisKv.connect, failure.status, host.failed];
`;
// ... and code that misuses them is refused.
const typedMisuse = `
import { loadModule } from '@quantum-voice/edge/node';
import { createEdgeHandler } from '@quantum-voice/edge/edge-function';
import { RedisKv } from '@quantum-voice/edge/kv-redis';

await loadModule('wasm64');
createEdgeHandler({ config: {} });
export const count: number = await (await RedisKv.connect('redis://127.0.0.1')).incr('k');
`;
const tscOptions = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext',
  '--target', 'es2022', '--lib', 'es2022,dom'];

describe('the npm package @quantum-voice/edge', () => {
  let work;
  let packed; // npm pack's JSON for the tarball
  let consumer;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'qv-npm-'));
    const { stdout } = await run('npm', ['pack', dist, '--pack-destination', work, '--json'], { cwd: work });
    [packed] = JSON.parse(stdout);
    consumer = join(work, 'app');
    await mkdir(consumer);
    await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, packed.filename)], { cwd: consumer });
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('the tarball holds the bundles, the shim and the edge function, and nothing else', async () => {
    const files = packed.files.map((file) => file.path).sort();
    for (const expected of ['package.json', 'README.md', 'emscripten/qv.wasm', 'wasi/qv.wasm',
      'js/qv.mjs', 'js/qv.d.mts', 'js/node.mjs', 'js/host-ops.mjs', 'js/kv-redis.mjs',
      'edge-function/handler.mjs', 'edge-function/cache-routes.mjs', 'edge-function/demo-config.json']) {
      assert.ok(files.includes(expected), `${expected} in ${files.join(', ')}`);
    }
    for (const file of files) {
      assert.match(file, /^(package\.json|README\.md|emscripten\/qv\.wasm|wasi\/qv\.wasm|js\/[\w-]+\.(mjs|d\.mts)|edge-function\/[\w-]+\.(mjs|d\.mts|json))$/, file);
    }
    // The edge function's modules import the shim inside the package, never the repository.
    for (const file of files.filter((path) => path.startsWith('edge-function/') && path.endsWith('.mjs'))) {
      const text = await readFile(join(dist, file), 'utf8');
      assert.doesNotMatch(text, /host-shims/, file);
    }
    const version = JSON.parse(await readFile(root, 'utf8')).version;
    assert.equal(packed.name, '@quantum-voice/edge');
    assert.equal(packed.version, version);
  });

  test('an installed project runs both flavours and the edge function by the package name', async () => {
    await writeFile(join(consumer, 'check.mjs'), consumerScript);
    const { stdout } = await run('node', ['check.mjs', JSON.stringify(input)], { cwd: consumer });
    const seen = JSON.parse(stdout);
    // The same decision as the repository's own bundle gives, from either flavour.
    const expected = await (await instantiate(await loadModule('emscripten'), { kv: new MemoryKv() })).call('tiers.evaluate', input);
    assert.equal(expected.recommendedTier, 'Growth');
    assert.deepEqual(seen.decisions.emscripten, expected);
    assert.deepEqual(seen.decisions.wasi, expected);
    assert.deepEqual(seen.health, { status: 200, body: { status: 'ok' } });
    assert.equal(seen.evaluate.status, 200);
    assert.equal(seen.evaluate.body.recommendedTier, 'Growth');
    assert.equal(seen.wasm, new URL('node_modules/@quantum-voice/edge/emscripten/qv.wasm', `file://${consumer}/`).href);
    // The exports map is the package's surface: its internals are not importable.
    assert.equal(seen.internal, 'ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  test("the README's Next.js route serves the edge function's POST routes too (the webhook it passes cacheSecret for)", async () => {
    const readme = await readFile(new URL('../npm/package-readme.md', import.meta.url), 'utf8');
    const route = /```js\n(\/\/ app\/api\/\[\[\.\.\.path\]\]\/route\.js[^\n]*\n[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(route, 'the README has the Next.js route');
    const exported = [...route.matchAll(/^export\s+(?:const\s+(\w+)|\{([^}]*)\})/gm)]
      .flatMap(([, name, list]) => (name ? [name] : list.split(',').map((item) => item.trim().split(/\s+as\s+/).at(-1))));
    for (const method of ['GET', 'POST']) assert.ok(exported.includes(method), `${method} in ${exported.join(', ')}`);
    // Background work (revalidations, warm-up, health checks) is handed to Next's after().
    assert.match(route, /^import \{ after \} from 'next\/server';$/m);
    assert.match(route, /\(request, \{ waitUntil: after \}\)/);
  });

  test('its type declarations check out under tsc --strict, and refuse misuse', async () => {
    await writeFile(join(consumer, 'typed.mts'), typedUse);
    await writeFile(join(consumer, 'misuse.mts'), typedMisuse);
    const typed = await run(tsc, [...tscOptions, 'typed.mts'], { cwd: consumer }).catch((failure) => failure);
    assert.equal(typed.code ?? 0, 0, typed.stdout);
    const misuse = await run(tsc, [...tscOptions, 'misuse.mts'], { cwd: consumer }).catch((failure) => failure);
    assert.notEqual(misuse.code ?? 0, 0);
    assert.match(misuse.stdout, /misuse\.mts\(6,18\): error TS2345: Argument of type '"wasm64"'/);
    assert.match(misuse.stdout, /misuse\.mts\(7,19\): error TS2345: .*wasmModule/s);
    // RedisKv.incr, as MemoryKv's, answers a bigint past 2^53.
    assert.match(misuse.stdout, /misuse\.mts\(8,14\): error TS2322: Type 'number \| bigint' is not assignable to type 'number'/);
  });

  test('its declarations reach a project on moduleResolution node10 ("node"), which reads typesVersions, not exports', async () => {
    // Every entry point the exports map gives types (and the demo config), imported by name...
    const { exports } = JSON.parse(await readFile(join(dist, 'package.json'), 'utf8'));
    const entries = Object.entries(exports).filter(([path, entry]) => entry.types || path.endsWith('.json'))
      .map(([path]) => `@quantum-voice/edge${path.slice(1)}`);
    const imports = entries.map((entry, i) => `import * as entry${i} from '${entry}';`).join('\n');
    await writeFile(join(consumer, 'node10.ts'), `${imports}\nexport const entries = [${entries.map((_, i) => `entry${i}`)}];\n${typedUse}`);
    const options = ['--noEmit', '--strict', '--module', 'es2022', '--moduleResolution', 'node10', '--resolveJsonModule',
      '--target', 'es2022', '--lib', 'es2022,dom'];
    const typed = await run(tsc, [...options, 'node10.ts'], { cwd: consumer }).catch((failure) => failure);
    assert.equal(typed.code ?? 0, 0, typed.stdout);
    // ... and typed, not taken as any: misuse is refused there as under nodenext.
    await writeFile(join(consumer, 'misuse10.ts'), typedMisuse);
    const misuse = await run(tsc, [...options, 'misuse10.ts'], { cwd: consumer }).catch((failure) => failure);
    assert.match(misuse.stdout, /misuse10\.ts\(6,18\): error TS2345: Argument of type '"wasm64"'/);
  });

  test('a bundle missing or damaged in the installed package is named, with what to do', async () => {
    const installed = join(consumer, 'node_modules', '@quantum-voice', 'edge');
    await rm(join(installed, 'wasi', 'qv.wasm'));
    await writeFile(join(installed, 'emscripten', 'qv.wasm'), 'version https://git-lfs.github.com/spec/v1\n');
    await writeFile(join(consumer, 'broken.mjs'), `
import { loadModule } from '@quantum-voice/edge/node';
const messages = [];
for (const flavour of ['wasi', 'emscripten']) await loadModule(flavour).catch((error) => messages.push(error.message));
console.log(JSON.stringify(messages));
`);
    const { stdout } = await run('node', ['broken.mjs'], { cwd: consumer });
    const [missing, damaged] = JSON.parse(stdout);
    assert.equal(missing, `qv: cannot read ${join(installed, 'wasi', 'qv.wasm')} (ENOENT); build it (npm run build -- wasm) in the repository, or reinstall @quantum-voice/edge`);
    assert.match(damaged, new RegExp(`^qv: ${join(installed, 'emscripten', 'qv.wasm').replaceAll('/', '\\/')} is not a valid WebAssembly bundle \\(.*\\); build it .*, or reinstall @quantum-voice/edge$`));
  });
});

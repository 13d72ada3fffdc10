// The edge function inside a Next.js app (edge/nextjs), built by `next build` and served by
// `next start`: /api/* on the Node.js runtime (bundle compiled from its file, Redis as the
// shared KV), /edge/api/* on the edge runtime (bundle imported with ?module, the isolate's
// memory as KV), each with its /healthz. Both answer as the module does in this process, in
// front of the demo regional origins, with the signed invalidation webhook.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createClient } from 'redis';
import { loadEdgeConfig } from '../edge/runtime.mjs';
import { startRegionalOrigins, routerConfigFor } from '../edge/regional-origins.mjs';
import { signRequest, SIGNATURE_HEADER } from '../edge/cache-routes.mjs';
import { instantiateFlavour } from '../dist/js/node.mjs';
import { RedisServer } from './redis-server.mjs';
import { freePort } from './ports.mjs';
import { EVALUATION } from './inputs.mjs';

const app = new URL('../edge/nextjs/', import.meta.url);
const SECRET = 'next-test-secret';
const ORIGIN_SECRET = 'next-test-origin-secret'; // the demo origins serve only requests with it
const RUNTIMES = [['Node.js runtime', '/api'], ['edge runtime', '/edge/api']];

// `next start` on port 0: it listens on a port the system gives it, which nothing can take
// first, and says which (`- Local: http://127.0.0.1:<port>`). Resolves once it answers,
// rejects with its output if it exits or stays silent for 30 s.
async function startNext(env) {
  const child = spawn(process.execPath, [new URL('node_modules/next/dist/bin/next', app).pathname, 'start', '-p', '0', '-H', '127.0.0.1'], {
    cwd: app, env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const url = /- Local:\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    if (url) {
      try {
        await (await fetch(`${url}/api/me`, { signal: AbortSignal.timeout(5000) })).arrayBuffer();
        return { url, child, output: () => output };
      } catch { /* not answering yet */ }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill();
  throw new Error(`next start did not answer:\n${output}`);
}

describe('the edge function in a Next.js app (next start)', () => {
  let origins;
  let redis;
  let store;
  let next;
  let module;
  let config;
  before(async () => {
    assert.ok(existsSync(new URL('.next/BUILD_ID', app)), 'edge/nextjs is not built: npm run build -- nextjs');
    origins = await startRegionalOrigins({ secret: ORIGIN_SECRET, dataDelayMs: 5 });
    redis = await RedisServer.start();
    store = createClient({ url: redis.url });
    await store.connect();
    config = await loadEdgeConfig();
    config.router = routerConfigFor(origins.urls);
    config.cache = { ...config.cache, critical: [] };
    // A KV timeout would skip L2, which a test counts: 1 s, for a loaded test machine.
    next = await startNext({ QV_EDGE_CONFIG_JSON: JSON.stringify(config), QV_REDIS_URL: redis.url, QV_CACHE_SECRET: SECRET, QV_ORIGIN_SECRET: ORIGIN_SECRET, QV_KV_TIMEOUT_MS: '1000' });
    module = await instantiateFlavour('emscripten', { log: () => {} });
  });
  after(async () => {
    next?.child.kill();
    await store?.quit();
    await redis?.stop();
    await origins?.close();
  });

  // A request to the app; one that hangs fails the test instead of stalling it.
  const request = (path, { key = 'qv_demo_growth', url = next.url, ...init } = {}) => fetch(url + path, {
    ...init, headers: { ...(key ? { 'x-api-key': key } : {}), ...init.headers }, signal: AbortSignal.timeout(20_000),
  });

  for (const [runtime, base] of RUNTIMES) {
    test(`${runtime}: an API key is its organisation and tier, with the tier's rate limit; none is a 401`, async () => {
      const me = await request(`${base}/me`);
      assert.equal(me.status, 200, next.output());
      assert.deepEqual(await me.json(), {
        organizationId: 'org_growth', tier: 'Growth',
        features: ['voiceAI', 'advancedAnalytics', 'knowledgeBase', 'allIntegrations', 'realTimeDashboard', 'A_BTesting', 'bulkOperations'],
      });
      assert.match(me.headers.get('ratelimit-policy'), /^"tier";q=\d+;w=1$/);
      const anonymous = await request(`${base}/me`, { key: null });
      assert.equal(anonymous.status, 401);
      assert.match((await anonymous.json()).message, /^x-api-key: missing API key/);
    });

    test(`${runtime}: a proxied request reaches the origin with the client's query, and only it`, async () => {
      const response = await request(`${base}/some/thing?a=1&path=x`);
      assert.equal(response.status, 200);
      const echo = await response.json();
      assert.equal(echo.path, '/api/some/thing');
      assert.deepEqual(echo.query, { a: '1', path: 'x' });
    });

    test(`${runtime}: the origin gets the query as Next hands it to the route, with nothing of the app's own`, async () => {
      // Next gives route handlers the query written out again, on both runtimes, as
      // URLSearchParams writes it ('?b' as 'b=', '~' as '%7E', '%20' as '+'); the edge route
      // takes Next's qvEdgePath off without writing the rest again.
      const sent = 'b&c=~&d=x%20y&e=1+2&f=%2B';
      const response = await request(`${base}/some/thing?${sent}`);
      assert.equal(response.status, 200);
      assert.equal((await response.json()).search, `?${new URLSearchParams(sent)}`);
    });

    test(`${runtime}: the origin is told the host the client asked for (x-forwarded-host), as npm start tells it`, async () => {
      const direct = await request(`${base}/some/thing`);
      assert.equal((await direct.json()).forwardedHost, new URL(next.url).host);
      // Behind a proxy, the host the proxy was asked for.
      const proxied = await request(`${base}/some/thing`, { headers: { 'x-forwarded-host': 'calls.example.com:8443' } });
      assert.equal((await proxied.json()).forwardedHost, 'calls.example.com:8443');
    });

    // Beside the runtime's /api: /healthz, /edge/healthz.
    const health = `${base.slice(0, -'/api'.length)}/healthz`;
    test(`${runtime}: ${health} answers as npm start's /healthz, without an API key; other methods are its JSON 405`, async () => {
      const response = await request(health, { key: null });
      assert.equal(response.status, 200, next.output());
      assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.deepEqual(await response.json(), { status: 'ok' });
      const head = await request(health, { key: null, method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');
      const post = await request(health, { key: null, method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      assert.deepEqual(await post.json(), { error: 'method_not_allowed', message: 'POST /healthz: use GET, HEAD' });
    });

    test(`${runtime}: ${base} itself is the edge function's JSON 404, as npm start answers /api, not Next's HTML page`, async () => {
      const response = await request(base);
      assert.equal(response.status, 404);
      assert.deepEqual(await response.json(), { error: 'not_found', message: 'no route for GET /api' });
    });

    test(`${runtime}: a path Next.js cannot decode is the edge function's 400 naming the problem, as npm start answers it, not Next's plain-text 500`, async () => {
      for (const [path, problem] of [['/%ZZ', "has a '%' that starts no escape ('%ZZ')"], ['/tiers/%FF/features', "has '%FF', which is not UTF-8"]]) {
        for (const key of [null, 'qv_demo_growth']) { // before identity, as the function refuses it
          const response = await request(`${base}${path}`, { key });
          assert.equal(response.status, 400, `${path}: ${next.output()}`);
          assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
          assert.deepEqual(await response.json(), { error: 'invalid_input', message: `path: '/api${path}' ${problem}` });
        }
      }
    });

    test(`${runtime}: tiers.evaluate answers what the module answers here, bad input included`, async () => {
      for (const input of [EVALUATION, { ...EVALUATION, history: [{ date: '2026-11-31' }] }]) {
        const expected = await module.invoke('tiers.evaluate', input);
        const response = await request(`${base}/tiers/evaluate`, { key: 'qv_demo_startup', method: 'POST', body: JSON.stringify(input) });
        assert.equal(response.status, expected.status === 'ok' ? 200 : 400);
        assert.deepEqual(await response.json(), expected.body);
      }
    });

    test(`${runtime}: a cached route misses through a region, then hits L1; a signed change invalidates it`, async () => {
      const path = `${base}/campaigns`;
      const first = await request(path, { key: 'qv_demo_enterprise' });
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('x-cache'), 'MISS');
      assert.ok(first.headers.get('x-region'), 'the origin was reached through the router');
      const body = await first.text();
      const second = await request(path, { key: 'qv_demo_enterprise' });
      assert.equal(second.headers.get('x-cache'), 'HIT-L1');
      assert.equal(await second.text(), body);

      const change = JSON.stringify({ type: 'UPDATE', table: 'campaigns', record: { id: 'org_enterprise_c1', organization_id: 'org_enterprise' }, old_record: null });
      const unsigned = await request(`${base}/cache/invalidate`, { key: null, method: 'POST', body: change });
      assert.equal(unsigned.status, 401);
      await unsigned.arrayBuffer();
      const signed = await request(`${base}/cache/invalidate`, {
        key: null, method: 'POST', body: change, headers: { [SIGNATURE_HEADER]: await signRequest(SECRET, change) },
      });
      assert.equal(signed.status, 200);
      assert.ok((await signed.json()).l1Dropped >= 1);
      const third = await request(path, { key: 'qv_demo_enterprise' });
      assert.equal(third.headers.get('x-cache'), 'MISS');
      await third.arrayBuffer();
    });
  }

  test('the Node.js runtime keeps its L2 in the shared Redis; the edge runtime in isolate memory', async () => {
    const stored = async (query) => (await store.keys(`qvc:e:org_startup:*${query}*`)).length;
    for (const [, base] of RUNTIMES) {
      const query = `next-${base.replaceAll('/', '')}`;
      const response = await request(`${base}/knowledge/search?q=${query}`, { key: 'qv_demo_startup' });
      assert.equal(response.headers.get('x-cache'), 'MISS');
      await response.arrayBuffer();
      assert.equal(await stored(query), base === '/api' ? 1 : 0, `${base}: entries in Redis`);
    }
  });

  test('with its Redis down, the Node.js runtime still answers: admission on local limits, the cache from the origin', async () => {
    const down = await startNext({ QV_EDGE_CONFIG_JSON: JSON.stringify(config), QV_ORIGIN_SECRET: ORIGIN_SECRET, QV_REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    try {
      const me = await request('/api/me', { url: down.url });
      assert.equal(me.status, 200, down.output());
      assert.equal((await me.json()).organizationId, 'org_growth');
      const campaigns = await request('/api/campaigns', { url: down.url });
      assert.equal(campaigns.status, 200);
      assert.equal(campaigns.headers.get('x-cache'), 'MISS');
      const { campaigns: list } = await campaigns.json();
      assert.ok(list.length > 0 && list.every((campaign) => campaign.organization_id === 'org_growth'));
    } finally {
      down.child.kill();
    }
  });
});

describe('the Next.js app\'s origin secret', () => {
  test('without QV_ORIGIN_SECRET, the config\'s origin.demoSecret is sent only with QV_DEMO=1: otherwise none, and the origins refuse', async () => {
    const config = await loadEdgeConfig();
    const origins = await startRegionalOrigins({ secret: config.origin.demoSecret, dataDelayMs: 1 });
    try {
      config.router = routerConfigFor(origins.urls);
      config.cache = { ...config.cache, critical: [] };
      for (const [env, status] of [[{}, 401], [{ QV_DEMO: '1' }, 200]]) {
        const next = await startNext({ QV_EDGE_CONFIG_JSON: JSON.stringify(config), QV_ORIGIN_SECRET: undefined, ...env });
        try {
          for (const [, base] of RUNTIMES) {
            const response = await fetch(`${next.url}${base}/campaigns`, { headers: { 'x-api-key': 'qv_demo_growth' }, signal: AbortSignal.timeout(20_000) });
            assert.equal(response.status, status, `${base} with ${JSON.stringify(env)}`);
            const body = await response.json();
            if (status === 401) assert.match(body.message, /^x-qv-origin-secret: missing;/);
            else assert.ok(body.campaigns.every((campaign) => campaign.organization_id === 'org_growth'));
          }
        } finally {
          next.child.kill();
        }
      }
    } finally {
      await origins.close();
    }
  });
});

describe('the Next.js app without its configuration', () => {
  test('refuses to serve the demo config (public API keys) unless QV_DEMO=1', async () => {
    for (const [env, status] of [[{}, 500], [{ QV_DEMO: '1' }, 200]]) {
      const next = await startNext({ QV_EDGE_CONFIG_JSON: '', QV_CACHE_SECRET: '', ...env });
      try {
        for (const [, base] of RUNTIMES) {
          const response = await fetch(`${next.url}${base}/me`, { headers: { 'x-api-key': 'qv_demo_growth' }, signal: AbortSignal.timeout(20_000) });
          assert.equal(response.status, status, `${base} with ${JSON.stringify(env)}`);
          if (status === 500) {
            // The edge function's own error, as for any failure it logs, not Next's bare 500.
            assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
            assert.deepEqual(await response.json(), { error: 'internal', message: 'internal error (logged at the edge)' });
          } else {
            await response.arrayBuffer();
          }
        }
        if (status === 500) assert.match(next.output(), /QV_EDGE_CONFIG_JSON is not set/);
      } finally {
        next.child.kill();
      }
    }
  });
});

describe('the Next.js app with a setting that is wrong', () => {
  // Each answers the edge function's JSON 500 on the routes that read it, /healthz included
  // (the instance did not start), and the log names it.
  const demoKey = (tier) => JSON.stringify({ apiKeys: [{ sha256: '74bfada214572d503f0b4435e66f43f08124c9fa54a131f25c7b2e9d9e9fdd0f', organizationId: 'org_startup', tier }] });
  const cases = [
    ['QV_EDGE_CONFIG_JSON that is not an object', { QV_EDGE_CONFIG_JSON: '[]' }, RUNTIMES,
      /QV_EDGE_CONFIG_JSON: expected a JSON object \(the edge config\), got an array/],
    ['QV_EDGE_CONFIG_JSON with a field that is wrong (an API key of a tier the catalogue lacks)', { QV_EDGE_CONFIG_JSON: demoKey('growth') }, RUNTIMES,
      /QV_EDGE_CONFIG_JSON: apiKeys\[0\]\.tier: unknown tier 'growth'/],
    ['QV_REDIS_URL that is not a redis:// URL (the Node.js route reads it)', { QV_DEMO: '1', QV_REDIS_URL: '127.0.0.1:6379' }, [RUNTIMES[0]],
      /QV_REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL, got '127\.0\.0\.1:6379'/],
  ];
  for (const [what, env, routes, logged] of cases) {
    test(what, async () => {
      const next = await startNext({ QV_CACHE_SECRET: '', ...env });
      try {
        for (const [, base] of routes) {
          for (const path of [`${base}/me`, `${base.slice(0, -'/api'.length)}/healthz`]) {
            const response = await fetch(`${next.url}${path}`, { headers: { 'x-api-key': 'qv_demo_startup' }, signal: AbortSignal.timeout(20_000) });
            assert.equal(response.status, 500, `${path}: ${next.output()}`);
            assert.deepEqual(await response.json(), { error: 'internal', message: 'internal error (logged at the edge)' });
          }
        }
        assert.match(next.output(), logged);
      } finally {
        next.child.kill();
      }
    });
  }
});

describe('the Node.js route module (app/api/[[...path]]/route.js) on its own', () => {
  // The module as Next.js loads it, bundled with the package's entry points taken from dist/,
  // Next's after() a stub, and @quantum-voice/edge/kv-redis one that counts the connections
  // asked for (each given an in-memory KV).
  const dist = new URL('../dist/', import.meta.url);
  const stubs = {
    'next/server': 'export const after = (task) => { Promise.resolve(typeof task === "function" ? task() : task).catch(() => {}); };',
    '@quantum-voice/edge/kv-redis': `import { MemoryKv } from ${JSON.stringify(new URL('js/kv-memory.mjs', dist).href)};
export class RedisKv {
  static async connect(url, options) { globalThis.qvRedisConnects.push({ url, options }); return new MemoryKv(); }
}`,
  };
  async function bundledRoute() {
    const { exports } = JSON.parse(await readFile(new URL('package.json', dist), 'utf8'));
    const bundled = await build({
      entryPoints: [fileURLToPath(new URL('app/api/[[...path]]/route.js', app))],
      bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'warning',
      plugins: [{
        name: 'route-alone',
        setup(build) {
          build.onResolve({ filter: /^(next\/server|@quantum-voice\/edge\/kv-redis)$/ }, ({ path }) => ({ path, namespace: 'stub' }));
          build.onLoad({ filter: /.*/, namespace: 'stub' }, ({ path }) => ({ contents: stubs[path], loader: 'js' }));
          build.onResolve({ filter: /^file:/ }, ({ path }) => ({ path, external: true }));
          build.onResolve({ filter: /^@quantum-voice\/edge\// }, ({ path }) => {
            const entry = exports[`.${path.slice('@quantum-voice/edge'.length)}`];
            const target = new URL(typeof entry === 'string' ? entry : entry.node ?? entry.default, dist);
            return target.pathname.endsWith('.json') ? { path: fileURLToPath(target) } : { path: target.href, external: true };
          });
        },
      }],
    });
    return import(`data:text/javascript,${encodeURIComponent(bundled.outputFiles[0].text)}`);
  }

  test('connects QV_REDIS_URL when the instance starts, at its first request, not when imported (next build imports it)', async () => {
    const settings = ['QV_REDIS_URL', 'QV_DEMO', 'QV_EDGE_CONFIG_JSON', 'QV_KV_TIMEOUT_MS'];
    const saved = Object.fromEntries(settings.map((name) => [name, process.env[name]]));
    const url = 'redis://127.0.0.1:6379';
    Object.assign(process.env, { QV_REDIS_URL: url, QV_DEMO: '1' });
    delete process.env.QV_EDGE_CONFIG_JSON;
    delete process.env.QV_KV_TIMEOUT_MS;
    globalThis.qvRedisConnects = [];
    try {
      const route = await bundledRoute();
      assert.deepEqual(globalThis.qvRedisConnects, [], 'imported, no request yet');
      for (const path of ['/healthz', '/api/me']) {
        const response = await route.GET(new Request(`http://127.0.0.1${path}`, { headers: { 'x-api-key': 'qv_demo_growth' } }));
        assert.equal(response.status, 200, path);
        await response.arrayBuffer();
        // Once, at the first; not waiting for it (a Redis down degrades, as docs/admission.md says).
        assert.deepEqual(globalThis.qvRedisConnects, [{ url, options: { wait: false } }], path);
      }
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      delete globalThis.qvRedisConnects;
    }
  });
});

// What a bare specifier names: its package ('next' of 'next/server', '@a/b' of '@a/b/c').
const packageOf = (specifier) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
const importsOf = (text) => [...text.matchAll(/^\s*(?:import|export)\s+(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"\n]+)['"]/gm)]
  .map((match) => match[1]);

describe('the Next.js app as a project of its own', () => {
  test('declares every package its code reaches, through @quantum-voice/edge too (the optional peer redis of kv-redis)', async () => {
    const manifest = JSON.parse(await readFile(new URL('package.json', app), 'utf8'));
    const declared = new Set(Object.keys(manifest.dependencies ?? {}));
    const dist = new URL('../dist/', import.meta.url);
    const { exports } = JSON.parse(await readFile(new URL('package.json', dist), 'utf8'));
    const sources = (await readdir(app, { recursive: true }))
      .filter((path) => /^(?:(?:app|lib)\/.*|proxy)\.m?js$/.test(path)).map((path) => new URL(path, app));
    assert.ok(sources.length > 0);
    const seen = new Set();
    const needed = new Map(); // package -> the module that imports it
    const visit = async (file) => {
      if (seen.has(file.href)) return;
      seen.add(file.href);
      for (const specifier of importsOf(await readFile(file, 'utf8'))) {
        if (specifier.startsWith('.')) {
          if (/\.m?js$/.test(specifier)) await visit(new URL(specifier, file));
        } else if (specifier.startsWith('@quantum-voice/edge')) {
          needed.set('@quantum-voice/edge', file.pathname);
          const entry = exports[`.${specifier.slice('@quantum-voice/edge'.length)}`];
          const target = typeof entry === 'string' ? entry : entry.node ?? entry.default;
          if (/\.m?js$/.test(target)) await visit(new URL(target, dist));
        } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
          needed.set(packageOf(specifier), file.pathname);
        }
      }
    };
    for (const source of sources) await visit(source);
    assert.ok(needed.has('redis'), 'the Node.js route reaches kv-redis, which imports redis');
    for (const [name, importer] of needed) {
      assert.ok(declared.has(name), `${name} (imported by ${importer}) is not in edge/nextjs/package.json`);
    }
  });
});

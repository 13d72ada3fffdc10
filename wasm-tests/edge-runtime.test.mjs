// The shim and the modules inside Vercel's edge-runtime with code generation off and the
// bundle handed in precompiled, as production runs them: the behavioural vectors, the
// refusal to compile code, and the edge function's HTTP routes; and identity.mjs's checks of
// the key a request presents and of the config's keys, called directly.
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { maxHeaderSize } from 'node:http';
import { build } from 'esbuild';
import { FLAVOURS, loadModule } from '../dist/js/node.mjs';
import { createEdgeHandler } from '../edge/handler.mjs';
import { createEdgeRuntime, loadEdgeConfig, serveEdgeRuntime } from '../edge/runtime.mjs';
import { startRegionalOrigins, routerConfigFor } from '../edge/regional-origins.mjs';
import { loadVectorFiles } from './vector-files.mjs';
import { freePort } from './ports.mjs';
import { bytesToHex, digestKey, identify, indexApiKeys, parseApiKeys, presentedKey } from '../edge/identity.mjs';

const ORIGIN_SECRET = 'test-origin-secret'; // the demo origins serve only requests with it
const files = await loadVectorFiles();
const bundled = await build({
  entryPoints: [new URL('edge-vectors-entry.mjs', import.meta.url).pathname],
  bundle: true, format: 'iife', platform: 'neutral', target: 'es2022', write: false, logLevel: 'warning',
});
const vectorCode = bundled.outputFiles[0].text;

for (const flavour of FLAVOURS) {
  describe(`vectors inside edge-runtime on ${flavour}`, () => {
    let results;
    before(async () => {
      const runtime = await createEdgeRuntime({ flavour, code: vectorCode });
      results = await runtime.context.runVectors(files);
    });
    for (const { file, data } of files) {
      describe(file, () => {
        for (const testCase of data.cases) {
          test(testCase.name, () => {
            const result = results.find((r) => r.file === file && r.name === testCase.name);
            assert.ok(result, 'the case ran');
            assert.deepEqual([...result.problems], [], result.problems.join('\n'));
          });
        }
      });
    }
  });
}

describe('edge-runtime refuses code generation, as production does', () => {
  let runtime;
  before(async () => { runtime = await createEdgeRuntime({ code: vectorCode }); });

  test('compiling WebAssembly from bytes is refused', async () => {
    const bytes = await readFile(new URL('../dist/emscripten/qv.wasm', import.meta.url));
    runtime.context.BYTES = new Uint8Array(bytes);
    await assert.rejects(runtime.evaluate('WebAssembly.compile(BYTES)'), /Wasm code generation disallowed by embedder/);
  });

  test('eval is refused', () => {
    assert.throws(() => runtime.evaluate('eval("1 + 1")'), /Code generation from strings disallowed/);
  });
});

describe('edge function routes', () => {
  let server;
  before(async () => {
    // Served as npm start serves it (edge/server.mjs).
    server = await serveEdgeRuntime({ runtime: await createEdgeRuntime(), port: 0, host: '127.0.0.1' });
  });
  after(() => server?.close());

  // The demo config's key of the Startup organisation (edge/config/demo.json).
  const request = (path, init = {}) =>
    fetch(new URL(path, server.url), { ...init, headers: { 'x-api-key': 'qv_demo_startup', ...init.headers } });
  const history = [1, 2, 3].map((d) => ({ date: `2026-11-0${d}`, concurrentCalls: 45, apiRequestsPerSecond: 20, activeUsers: 10 }));

  test('GET /healthz', async () => {
    const response = await request('/healthz');
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  test('POST /api/tiers/evaluate answers the decision', async () => {
    const response = await request('/api/tiers/evaluate', {
      method: 'POST', body: JSON.stringify({ organizationId: 'org_1', currentTier: 'Startup', history }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    const decision = await response.json();
    assert.equal(decision.recommendedTier, 'Growth');
    assert.equal(decision.scaleUp, true);
  });

  test('a malformed body is a 400 naming the problem', async () => {
    const response = await request('/api/tiers/evaluate', { method: 'POST', body: '{"organizationId": ' });
    assert.equal(response.status, 400);
    const body = await response.json();
    assert.equal(body.error, 'invalid_input');
    assert.match(body.message, /^input: malformed JSON/);
  });

  test('a wrong type is a 400 naming the field', async () => {
    const response = await request('/api/tiers/evaluate', {
      method: 'POST', body: JSON.stringify({ organizationId: 'o', currentTier: 'Startup', history: [{ date: 20261101 }] }),
    });
    assert.equal(response.status, 400);
    assert.match((await response.json()).message, /history\[0\]\.date: expected a string, got a number/);
  });

  test('an empty body is a 400', async () => {
    const response = await request('/api/tiers/evaluate', { method: 'POST' });
    assert.equal(response.status, 400);
    assert.match((await response.json()).message, /empty body/);
  });

  test('a body above 1 MiB is a 413 saying so, sent with its length or chunked', async () => {
    const response = await request('/api/tiers/evaluate', { method: 'POST', body: 'x'.repeat((1 << 20) + 1) });
    assert.equal(response.status, 413);
    assert.deepEqual(await response.json(), { error: 'too_large', message: 'body: above the limit of 1048576 bytes' });
    // Chunked, the body is refused once what has come passes the limit, whatever more follows:
    // the message is not the count read so far.
    let sent = 0;
    const chunked = new ReadableStream({
      pull(controller) {
        if (sent >= 3_000_000) return controller.close();
        sent += 100_003;
        controller.enqueue(new Uint8Array(100_003).fill(0x20));
      },
    });
    const streamed = await request('/api/tiers/evaluate', { method: 'POST', body: chunked, duplex: 'half' });
    assert.equal(streamed.status, 413);
    assert.deepEqual(await streamed.json(), { error: 'too_large', message: 'body: above the limit of 1048576 bytes' });
  });

  test('a body with a Content-Encoding the edge does not decode is a 415 naming it; identity is read', async () => {
    const body = JSON.stringify({ organizationId: 'org_1', currentTier: 'Startup', history });
    for (const [path, encoding] of [['/api/tiers/evaluate', 'gzip'], ['/api/calls/start', 'br'], ['/api/calls/call-9/end', 'gzip, identity']]) {
      const response = await request(path, { method: 'POST', body: path.includes('calls') ? '{"callId":"call-9"}' : body, headers: { 'content-encoding': encoding } });
      assert.equal(response.status, 415, path);
      assert.equal(response.headers.get('accept-encoding'), 'identity');
      assert.deepEqual(await response.json(), {
        error: 'unsupported_media_type', message: `content-encoding: '${encoding}' is not decoded here; send the body as it is (identity)`,
      });
    }
    const ended = await request('/api/calls/call-9/end', { method: 'POST' });
    assert.equal((await ended.json()).wasActive, false, 'the refused start started nothing');
    const identity = await request('/api/tiers/evaluate', { method: 'POST', body, headers: { 'content-encoding': 'identity' } });
    assert.equal(identity.status, 200);
  });

  test('GET /api/tiers/:tier/features', async () => {
    const response = await request('/api/tiers/Startup/features');
    assert.equal(response.status, 200);
    assert.ok((await response.json()).features.includes('voiceAI'));
  });

  test('an unknown tier is a 404 naming the known ones', async () => {
    const response = await request('/api/tiers/Plat%C3%AFnum/features');
    assert.equal(response.status, 404);
    assert.match((await response.json()).message, /unknown tier 'Platïnum' \(known: Startup \(tier-1\), Growth \(tier-2\), Enterprise \(tier-3\)\)/);
  });

  test('a wrong method is a 405 with Allow', async () => {
    const response = await request('/api/tiers/evaluate');
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST');
    const put = await request('/api/me', { method: 'PUT' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'GET, HEAD');
  });

  test('HEAD is served wherever GET is: the same status and headers, no body', async () => {
    const get = await request('/api/me');
    const head = await request('/api/me', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), get.headers.get('content-type'));
    assert.equal(head.headers.get('cache-control'), get.headers.get('cache-control'));
    assert.equal(await head.text(), '');
  });

  test('without a router section, routing and the cached routes are 503 naming it', async () => {
    for (const path of ['/api/route', '/api/campaigns']) {
      const response = await request(path);
      assert.equal(response.status, 503, path);
      assert.match((await response.json()).message, /the edge config has no router section/, path);
    }
  });

  test('without a router section, a call start places no media: media null, and mediaReason in /api/route\'s words', async () => {
    const route = await (await request('/api/route')).json();
    const response = await request('/api/calls/start', { method: 'POST', body: '{"callId":"no-router"}' });
    assert.equal(response.status, 201);
    const answer = await response.json();
    assert.deepEqual([answer.admitted, answer.media, answer.mediaReason], [true, null, route.message]);
    assert.equal((await request('/api/calls/no-router/end', { method: 'POST' })).status, 200);
  });

  test('GET /api/calls/:id/media: region and node each once, not empty, node with its region; well formed, a 503 without a router section', async () => {
    const refused = {
      '?region=': 'region: empty (give the region the call is on, or leave it out)',
      '?region=eu-west-1&region=us-east-1': 'region: given twice',
      '?region=eu-west-1&node=': 'node: empty (give the node the call is on, or leave it out)',
      '?region=eu-west-1&node=a&node=b': 'node: given twice',
      '?node=eu-west-1-media-1': "node: needs region, the region the call's node is in",
      '?regoin=eu-west-1': 'regoin: unknown query parameter (expected region, node)',
    };
    for (const [query, message] of Object.entries(refused)) {
      const response = await request(`/api/calls/call-1/media${query}`);
      assert.equal(response.status, 400, query);
      assert.deepEqual(await response.json(), { error: 'invalid_input', message }, query);
    }
    // Well formed, it gets /api/route's 503: without a router section there are no nodes.
    const given = await request('/api/calls/call-1/media?region=eu-west-1');
    assert.equal(given.status, 503);
    assert.equal((await given.json()).message, (await (await request('/api/route')).json()).message);
  });

  test('a call start with a malformed geolocation header is a 400 naming it, as /media answers it, and starts nothing', async () => {
    const geo = { 'x-vercel-ip-latitude': 'north' };
    const message = "headers.x-vercel-ip-latitude: expected a latitude in degrees (-90 to 90), got 'north'";
    const media = await request('/api/calls/geo-refused/media', { headers: geo });
    assert.deepEqual([media.status, await media.json()], [400, { error: 'invalid_input', message }]);
    const start = await request('/api/calls/start', { method: 'POST', body: '{"callId":"geo-refused"}', headers: geo });
    assert.deepEqual([start.status, await start.json()], [400, { error: 'invalid_input', message }]);
    const heartbeat = await request('/api/calls/geo-refused/heartbeat', { method: 'POST' });
    assert.equal(heartbeat.status, 404, 'the refused start left the call active');
  });

  test('a URL above Node.js\'s header limit is a 431 in the JSON error shape, not a bare status line', async () => {
    const response = await request(`/api/${'a'.repeat(20_000)}`);
    assert.equal(response.status, 431);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(await response.json(), {
      error: 'too_large', message: `request line and headers: above the limit of ${maxHeaderSize} bytes (a URL or headers that long)`,
    });
    assert.equal((await request('/healthz')).status, 200, 'the server serves on');
  });

  // A request written byte for byte on a new connection: [status line, JSON body], the
  // connection closed by the server (it is a 400 each time, with connection: close).
  const raw = (text) => new Promise((resolve, reject) => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let received = '';
    socket.on('data', (chunk) => { received += chunk; });
    socket.on('error', reject);
    socket.on('close', () => {
      const at = received.indexOf('\r\n\r\n');
      const head = received.slice(0, at);
      let body = received.slice(at + 4);
      if (/^transfer-encoding: chunked$/im.test(head)) { // the chunks' data, joined
        let data = '';
        for (let size; (size = parseInt(body, 16)) > 0; body = body.slice(body.indexOf('\r\n') + 2 + size + 2)) {
          data += body.substr(body.indexOf('\r\n') + 2, size);
        }
        body = data;
      }
      resolve([head.split('\r\n')[0], body ? JSON.parse(body) : null]);
    });
  });

  test('a request line with a URL of another scheme is a 400: its path would be parsed by other rules', async () => {
    // Under foo: a '\\' is no separator: /api/x\\..\\models would pass the gates as it is and
    // reach the origin as /api/models.
    const [status, body] = await raw('GET foo://h/api/x\\..\\models HTTP/1.1\r\nhost: edge.test\r\nx-api-key: qv_demo_startup\r\nconnection: close\r\n\r\n');
    assert.equal(status, 'HTTP/1.1 400 Bad Request');
    assert.deepEqual(body, { error: 'invalid_input', message: "request: a 'foo:' URL; send a path, or an http: or https: URL" });
  });

  test('a Host header no URL can be made of is a 400, and the server serves on', async () => {
    const [status, body] = await raw('GET /healthz HTTP/1.1\r\nhost: a b\r\nconnection: close\r\n\r\n');
    assert.equal(status, 'HTTP/1.1 400 Bad Request');
    assert.equal(body.error, 'invalid_input');
    assert.equal((await request('/healthz')).status, 200);
  });

  test('a request without Host: under HTTP/1.1 a 400 in the JSON error shape; under HTTP/1.0 served, the URL\'s host this server\'s address', async () => {
    const [status, body] = await raw('GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n');
    assert.equal(status, 'HTTP/1.1 400 Bad Request');
    assert.deepEqual(body, { error: 'invalid_input', message: 'request: no Host header (HTTP/1.1 requires one)' });
    const [health, ok] = await raw('GET /healthz HTTP/1.0\r\n\r\n');
    assert.deepEqual([health, ok], ['HTTP/1.1 200 OK', { status: 'ok' }]);
    // What the URL's host reaches: the origin's x-forwarded-host, through a server with regions.
    const origins = await startRegionalOrigins({ secret: ORIGIN_SECRET });
    const config = await loadEdgeConfig();
    const routed = await serveEdgeRuntime({
      runtime: await createEdgeRuntime({ originSecret: ORIGIN_SECRET, config: { ...config, router: routerConfigFor(origins.urls), cache: { ...config.cache, critical: [] } } }),
      port: 0, host: '127.0.0.1',
    });
    try {
      const { port } = new URL(routed.url);
      const answer = await new Promise((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write('GET /api/agents HTTP/1.0\r\nx-api-key: qv_demo_growth\r\n\r\n'));
        let received = '';
        socket.on('data', (chunk) => { received += chunk; });
        socket.on('error', reject);
        socket.on('close', () => resolve(received));
      });
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).forwardedHost, `127.0.0.1:${port}`);
    } finally {
      await routed.close();
      await origins.close();
    }
  });

  test('a URL with credentials is a 400 and a method fetch cannot carry a 501, not an empty 200', async () => {
    const [withCredentials, refusedCredentials] = await raw('GET http://u:p@edge.test/api/campaigns HTTP/1.1\r\nhost: edge.test\r\nx-api-key: qv_demo_startup\r\nconnection: close\r\n\r\n');
    assert.equal(withCredentials, 'HTTP/1.1 400 Bad Request');
    assert.equal(refusedCredentials.message, 'request: a URL with a user name or password');
    const [trace, refusedTrace] = await raw('TRACE /healthz HTTP/1.1\r\nhost: edge.test\r\nconnection: close\r\n\r\n');
    assert.equal(trace, 'HTTP/1.1 501 Not Implemented');
    assert.equal(refusedTrace.error, 'not_implemented');
    assert.equal(refusedTrace.message, 'request: method TRACE is served for no resource');
    // CONNECT (which Node.js hands to a 'connect' listener) and TRACK (which its parser does not
    // know) are answered too, not dropped or a 400.
    const [connectStatus, refusedConnect] = await raw('CONNECT edge.test:443 HTTP/1.1\r\nhost: edge.test:443\r\n\r\n');
    assert.equal(connectStatus, 'HTTP/1.1 501 Not Implemented');
    assert.equal(refusedConnect.message, 'request: method CONNECT is served for no resource');
    const [trackStatus, refusedTrack] = await raw('TRACK /healthz HTTP/1.1\r\nhost: edge.test\r\nconnection: close\r\n\r\n');
    assert.equal(trackStatus, 'HTTP/1.1 501 Not Implemented');
    assert.equal(refusedTrack.error, 'not_implemented');
  });

  test('a body in a Transfer-Encoding the edge does not decode is a 415, as a Content-Encoding is', async () => {
    const [status, body] = await raw('POST /api/calls/start HTTP/1.1\r\nhost: edge.test\r\nx-api-key: qv_demo_startup\r\n'
      + 'transfer-encoding: gzip, chunked\r\nconnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
    assert.equal(status, 'HTTP/1.1 415 Unsupported Media Type');
    assert.equal(body.message, "transfer-encoding: 'gzip' is not decoded here; send the body chunked or with a length");
  });

  test('query parameters named like an object\'s own properties are unknown ones', async () => {
    for (const name of ['toString', '__proto__', 'constructor']) {
      const response = await request(`/api/calls/call-1/media?${name}=x`);
      assert.equal(response.status, 400, name);
      assert.equal((await response.json()).message, `${name}: unknown query parameter (expected region, node)`);
    }
  });

  test('an unknown route is a 404', async () => {
    const response = await request('/api/nothing-here');
    assert.equal(response.status, 404);
    assert.equal((await response.json()).error, 'not_found');
  });

  test('an /api/* path no route serves is a 401 without a known key, as a served one is: the 404 is only for a caller with a key', async () => {
    const refusals = [[{}, 'x-api-key: missing API key (or Authorization: Bearer)'], [{ 'x-api-key': 'qv_demo_guess' }, 'x-api-key: unknown API key']];
    for (const path of ['/api/nothing-here', '/api/me']) {
      for (const [headers, message] of refusals) {
        const response = await fetch(new URL(path, server.url), { headers });
        assert.equal(response.status, 401, `${path} ${message}`);
        assert.equal(response.headers.get('www-authenticate'), 'Bearer');
        assert.deepEqual(await response.json(), { error: 'unauthorized', message });
      }
    }
  });
});

describe('the edge config\'s fields (createEdgeHandler)', () => {
  test('a field it does not know stops the edge, named: a misspelt section is not left out without a word', async () => {
    const demo = JSON.parse(await readFile(new URL('../edge/config/demo.json', import.meta.url), 'utf8'));
    const wasmModule = await loadModule();
    const wrong = [
      // (Every feature route would be left out: the gated routes open to every tier.)
      [(c) => { c.featureroutes = c.featureRoutes; delete c.featureRoutes; }, 'config.featureroutes: unknown field (expected one of: apiKeys, featureRoutes, router, cache, origin)'],
      [(c) => { c.cache.critcal = c.cache.critical; delete c.cache.critical; }, 'config.cache.critcal: unknown field (expected one of: config, critical, demoSecret)'],
      [(c) => { c.apiKeys[1].operater = true; }, 'config.apiKeys[1].operater: unknown field (expected one of: sha256, organizationId, tier, name, operator)'],
      [(c) => { c.featureRoutes[2].tier = 'Enterprise'; }, 'config.featureRoutes[2].tier: unknown field (expected one of: pattern, feature)'],
      [(c) => { c.featureRoutes = c.featureRoutes[2]; }, 'config.featureRoutes: expected an array of {pattern, feature}'],
      [(c) => { c.cache = 'demo'; }, 'config.cache: expected an object {config, critical, demoSecret}'],
      [(c) => { c.origin.secret = c.origin.demoSecret; }, 'config.origin.secret: unknown field (expected one of: demoSecret)'],
      [(c) => { c.origin = 'demo'; }, 'config.origin: expected an object {demoSecret}'],
    ];
    for (const [change, message] of wrong) {
      const config = structuredClone(demo);
      change(config);
      await assert.rejects(createEdgeHandler({ wasmModule, config, log: () => {} }).ready(), { message });
    }
    await createEdgeHandler({ wasmModule, config: demo, log: () => {} }).ready(); // the demo's own fields, names included
  });
});

describe('identity (edge/identity.mjs): the key a request presents, the config\'s keys', () => {
  const keyOf = (headers) => presentedKey(new Request('http://edge.test/api/me', { headers }));

  test('x-api-key and Authorization: Bearer may both be sent only with the same key: two different keys are refused, neither chosen', () => {
    assert.deepEqual(keyOf({ 'x-api-key': 'qv_key_a', authorization: 'Bearer qv_key_b' }),
      { problem: 'x-api-key and Authorization: Bearer carry different keys (send one)' });
    assert.deepEqual(keyOf({ 'x-api-key': ' qv_key_a ', authorization: 'Bearer  qv_key_a' }), { key: 'qv_key_a', header: 'x-api-key' });
    assert.deepEqual(keyOf({ 'x-api-key': 'qv_key_a' }), { key: 'qv_key_a', header: 'x-api-key' });
    assert.equal(keyOf({}), null);
  });

  test('the Bearer scheme is matched in any case, as HTTP\'s authentication schemes are; another scheme is refused', () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      assert.deepEqual(keyOf({ authorization: `${scheme} qv_key_a` }), { key: 'qv_key_a', header: 'Authorization' }, scheme);
    }
    assert.deepEqual(keyOf({ authorization: 'Basic cXY6ZGVtbw==' }), { problem: "Authorization: expected 'Bearer <API key>' (another scheme, or none)" });
  });

  test('config.apiKeys[].operator is true or false, and false when left out', () => {
    const entry = { sha256: 'a'.repeat(64), organizationId: 'org_a', tier: 'Startup' };
    assert.throws(() => parseApiKeys([{ ...entry, operator: 'yes' }], ['Startup']),
      /^Error: config\.apiKeys\[0\]\.operator: expected true or false, got "yes"$/);
    assert.deepEqual(parseApiKeys([entry, { ...entry, sha256: 'b'.repeat(64), operator: true }], ['Startup']).map((key) => key.operator), [false, true]);
  });

  test('config.apiKeys may list a key once: the same digest again is refused, naming both entries', () => {
    const entry = { sha256: 'a'.repeat(64), organizationId: 'org_a', tier: 'Startup' };
    assert.throws(() => parseApiKeys([entry, { ...entry, sha256: 'b'.repeat(64) }, { ...entry, organizationId: 'org_b' }], ['Startup']),
      /^Error: config\.apiKeys\[2\]\.sha256: the same key as config\.apiKeys\[0\] \(a key stands for one caller\)$/);
  });

  test('identify finds each of many keys by its digest, and no entry for a key not listed or a digest given as the key', async () => {
    const presented = Array.from({ length: 500 }, (_, i) => `qv_key_${i}`);
    const entries = parseApiKeys(await Promise.all(presented.map(async (key, i) => ({ sha256: bytesToHex(await digestKey(key)), organizationId: `org_${i}`, tier: 'Startup' }))), ['Startup']);
    const index = indexApiKeys(entries);
    for (const i of [0, 1, 250, 499]) assert.equal((await identify(index, presented[i]))?.organizationId, `org_${i}`, presented[i]);
    assert.equal(await identify(index, 'qv_key_500'), null);
    assert.equal(await identify(index, entries[0].sha256), null);
  });
});

describe('npm start\'s server and a client that sends what is not HTTP', () => {
  test('the connection is closed after the refusal, so close() does not wait for the client', { timeout: 20_000 }, async () => {
    const server = await serveEdgeRuntime({ runtime: await createEdgeRuntime(), port: 0, host: '127.0.0.1' });
    const { port } = new URL(server.url);
    // allowHalfOpen: the client does not end its side when the server ends its own.
    const socket = connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true }, () => socket.write('GET / NOT HTTP\r\n\r\n'));
    try {
      let received = '';
      socket.on('data', (chunk) => { received += chunk; });
      await once(socket, 'end'); // the server's side is done; the client keeps its own open
      assert.match(received, /^HTTP\/1\.1 400 Bad Request\r\n/);
      await server.close(); // waited for that connection when the server only ended its side
    } finally {
      socket.destroy();
      await server.close(); // (after a failure too: an open server would keep the suite from ending)
    }
  });

  test('a request in flight when close() is called is answered with Connection: close, and its connection closed after', { timeout: 20_000 }, async () => {
    const server = await serveEdgeRuntime({ runtime: await createEdgeRuntime(), port: 0, host: '127.0.0.1' });
    const { port } = new URL(server.url);
    const socket = connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true });
    try {
      let received = '';
      socket.on('data', (chunk) => { received += chunk; });
      const history = [1, 2, 3].map((d) => ({ date: `2026-11-0${d}`, concurrentCalls: 45, apiRequestsPerSecond: 20, activeUsers: 10 }));
      const body = JSON.stringify({ organizationId: 'org_1', currentTier: 'Startup', history });
      // HTTP/1.1, so the connection is kept alive unless the server says otherwise. Expect:
      // 100-continue: the server says 100 Continue once the request is handed to the handler.
      socket.write(`POST /api/tiers/evaluate HTTP/1.1\r\nHost: localhost\r\nx-api-key: qv_demo_startup\r\n`
        + `content-type: application/json\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\n\r\n`);
      await once(socket, 'data');
      assert.match(received, /^HTTP\/1\.1 100 Continue\r\n/);
      const closed = server.close();
      socket.write(body); // the request's body, after close() was called
      await once(socket, 'end'); // the server ends the connection after the answer
      const answer = received.slice(received.indexOf('\r\n\r\n') + 4);
      assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(answer, /\r\nconnection: close\r\n/i);
      await closed;
    } finally {
      socket.destroy();
      await server.close();
    }
  });
});

describe('npm start (edge/server.mjs) with a port another process holds', () => {
  const held = createServer();
  before(() => new Promise((resolve) => held.listen(0, '127.0.0.1', resolve)));
  after(() => new Promise((resolve) => held.close(resolve)));
  const start = (env) => new Promise((resolve) => {
    execFile(process.execPath, [new URL('../edge/server.mjs', import.meta.url).pathname], {
      env: { ...process.env, QV_REDIS_URL: '', ...env }, timeout: 30_000, // (not the test Redis: in-memory KV)
    }, (error, stdout, stderr) => resolve({ code: error?.code ?? 0, stderr }));
  });

  test('PORT: stops with status 2, naming the setting and the port', async () => {
    const port = held.address().port;
    const { code, stderr } = await start({ PORT: String(port), QV_ORIGINS_PORT: '0' });
    assert.equal(code, 2);
    assert.equal(stderr.trim(), `PORT: port ${port} is in use (the edge server); choose another`);
  });

  test('QV_EDGE_CONFIG with a wrong API key entry or feature route, or not an object: stops with status 2, naming the field', async () => {
    const demo = JSON.parse(await readFile(new URL('../edge/config/demo.json', import.meta.url), 'utf8'));
    const dir = await mkdtemp(join(tmpdir(), 'qv-config-'));
    try {
      const wrong = [
        [(c) => { c.apiKeys[0].tier = 'Startupp'; }, /^edge config: apiKeys\[0\]\.tier: unknown tier 'Startupp'/],
        [(c) => { c.featureRoutes[0].pattern = '(['; }, /^edge config: featureRoutes\[0\]\.pattern: Invalid regular expression/],
        [(c) => { c.featureRoutes[1].feature = 'bulkOperation'; }, /^edge config: featureRoutes\[1\]\.feature: unknown feature 'bulkOperation' \(known: /],
        [(c) => { c.cache.critical[2].organizationId = 'org_nobody'; }, /^edge config: cache\.critical\[2\]\.organizationId: no key in config\.apiKeys is for 'org_nobody'/],
        [(c) => { c.featureroutes = c.featureRoutes; delete c.featureRoutes; }, /^edge config: featureroutes: unknown field \(expected one of: /],
      ];
      for (const [i, [change, message]] of wrong.entries()) {
        const config = structuredClone(demo);
        change(config);
        const path = join(dir, `config-${i}.json`);
        await writeFile(path, JSON.stringify(config));
        for (const origins of ['0', '1']) { // with the demo origins, and without
          const { code, stderr } = await start({ PORT: '0', QV_ORIGINS_PORT: '0', QV_DEMO_ORIGINS: origins, QV_EDGE_CONFIG: path });
          assert.equal(code, 2, stderr);
          assert.match(stderr.trim(), message);
        }
      }
      for (const [text, what] of [['null', 'null'], ['[1]', 'an array'], ['"demo"', '"demo"']]) {
        const path = join(dir, 'not-an-object.json');
        await writeFile(path, text);
        const { code, stderr } = await start({ PORT: '0', QV_ORIGINS_PORT: '0', QV_EDGE_CONFIG: path });
        assert.equal(code, 2, stderr);
        assert.equal(stderr.trim(), `QV_EDGE_CONFIG: edge config ${path}: expected a JSON object, got ${what}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('QV_REDIS_URL that is not a redis:// URL: stops with status 2, naming the setting', async () => {
    for (const url of ['notaurl', 'http://127.0.0.1:6379']) {
      const { code, stderr } = await start({ PORT: '0', QV_ORIGINS_PORT: '0', QV_REDIS_URL: url });
      assert.equal(code, 2, stderr);
      assert.equal(stderr.trim(), `QV_REDIS_URL: expected a redis:// or rediss:// URL, got '${url}'`);
    }
  });

  test('QV_FLAVOUR, QV_EDGE_CONFIG or ORIGIN_URL that is wrong: stops with status 2, naming the setting', async () => {
    const wrong = [
      [{ QV_FLAVOUR: 'wasm' }, "QV_FLAVOUR: expected one of emscripten, wasi, got 'wasm'"],
      [{ QV_EDGE_CONFIG: '/nonexistent/qv.json' }, /^QV_EDGE_CONFIG: edge config \/nonexistent\/qv\.json: ENOENT/],
      [{ ORIGIN_URL: 'origin.example' }, "ORIGIN_URL: expected an http:// or https:// URL, got 'origin.example'"],
      // Named without its credentials, which fetch() would refuse (quoting them) on every request.
      [{ ORIGIN_URL: 'ftp://alice:s3cret@origin.example/' }, "ORIGIN_URL: expected an http:// or https:// URL, got 'ftp://origin.example/'"],
      [{ ORIGIN_URL: 'http://alice:s3cret@origin.example/' }, 'ORIGIN_URL: http://origin.example/: the URL holds credentials (user:password@ before the host), which fetch() refuses'],
      // An empty origin secret would be no secret: the origins would serve anyone, or refuse the edge.
      [{ QV_ORIGIN_SECRET: '' }, "QV_ORIGIN_SECRET: empty; give the secret your origins expect, or leave it out for the edge config's origin.demoSecret"],
      [{ QV_ORIGIN_SECRET: ' ' }, "QV_ORIGIN_SECRET: empty; give the secret your origins expect, or leave it out for the edge config's origin.demoSecret"],
    ];
    for (const [env, message] of wrong) {
      const { code, stderr } = await start({ PORT: '0', QV_ORIGINS_PORT: '0', ...env });
      assert.equal(code, 2, stderr);
      if (typeof message === 'string') assert.equal(stderr.trim(), message);
      else assert.match(stderr.trim(), message);
    }
  });

  test('the demo origins with no origin secret to require (no QV_ORIGIN_SECRET, no origin.demoSecret): stops with status 2, naming the setting', async () => {
    const demo = JSON.parse(await readFile(new URL('../edge/config/demo.json', import.meta.url), 'utf8'));
    delete demo.origin;
    const dir = await mkdtemp(join(tmpdir(), 'qv-config-'));
    try {
      const path = join(dir, 'no-origin-secret.json');
      await writeFile(path, JSON.stringify(demo));
      const { code, stderr } = await start({ PORT: '0', QV_ORIGINS_PORT: '0', QV_EDGE_CONFIG: path });
      assert.equal(code, 2, stderr);
      assert.equal(stderr.trim(), 'QV_ORIGIN_SECRET: not set, and the edge config has no origin.demoSecret: the demo origins serve only requests that carry the secret');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('HOST that is no address of this machine: stops with status 2, naming the setting', async () => {
    // (.invalid never resolves, RFC 6761; 192.0.2.1 is TEST-NET-1, RFC 5737, on no interface here.)
    for (const host of ['qv.invalid', '192.0.2.1']) {
      const { code, stderr } = await start({ PORT: '0', QV_ORIGINS_PORT: '0', HOST: host });
      assert.equal(code, 2, stderr);
      assert.equal(stderr.trim(), `HOST: '${host}' is no address of this machine (the edge server listens there); choose another, or leave it out for all of them`);
    }
  });

  test('PORT that is empty: stops with status 2, naming the setting, rather than listening on a port the system picks', async () => {
    for (const value of ['', ' ']) {
      const { code, stderr } = await start({ PORT: value, QV_ORIGINS_PORT: '0' });
      assert.equal(code, 2, stderr);
      assert.equal(stderr.trim(), `PORT: expected a port number 0-65535, got an empty value ('${value}'); leave it out for 3000`);
    }
  });

  test('PORT that is no port number: stops with status 2, naming the setting, rather than with the listener\'s stack trace', async () => {
    for (const value of ['65536', '-1', '80.5', 'http']) {
      const { code, stderr } = await start({ PORT: value, QV_ORIGINS_PORT: '0' });
      assert.equal(code, 2, stderr);
      assert.equal(stderr.trim(), `PORT: expected a port number 0-65535, got '${value}'`);
    }
  });

  test('QV_ORIGINS_PORT: stops likewise, saying the demo origins take four ports', async () => {
    const port = held.address().port;
    const { code, stderr } = await start({ PORT: '0', QV_ORIGINS_PORT: String(port) });
    assert.equal(code, 2);
    assert.equal(stderr.trim(), `QV_ORIGINS_PORT: port ${port} is in use (the demo regional origins take ${port} to ${port + 3}); choose another`);
  });
});

describe('npm start (edge/server.mjs) stopping with a request in flight', () => {
  // The server, listening, with one request it is still reading (its body never comes).
  // (`child` at once: afterEach stops a server that failed to get that far too.)
  async function serving() {
    // (In-memory KV: its warming would write the demo organisations' keys into the test Redis.)
    child = spawn(process.execPath, [new URL('../edge/server.mjs', import.meta.url).pathname], {
      env: { ...process.env, PORT: '0', QV_ORIGINS_PORT: '0', QV_REDIS_URL: '' }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; });
    const exited = once(child, 'exit');
    const ended = once(child.stdout, 'end');
    // Until stdout says `pattern`; a server that ends first fails the test with what it said.
    const said = async (pattern) => {
      while (!pattern.test(stdout)) {
        if (await Promise.race([once(child.stdout, 'data').then(() => false), ended.then(() => true)])) {
          throw new Error(`the server ended without saying ${pattern}; it said: '${stdout}'`);
        }
      }
    };
    await said(/critical keys warmed/);
    const port = Number(/listening on http:\/\/localhost:(\d+)/.exec(stdout)[1]);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    // Expect: 100-continue: the server says 100 Continue once the request is handed to the handler.
    socket.write('POST /api/tiers/evaluate HTTP/1.1\r\nHost: localhost\r\nx-api-key: qv_demo_startup\r\n' +
      'content-type: application/json\r\ncontent-length: 100\r\nexpect: 100-continue\r\n\r\n{');
    const [continued] = await once(socket, 'data'); // the request reaches the handler
    assert.match(String(continued), /^HTTP\/1\.1 100 Continue\r\n/);
    const stopped = async () => {
      const [code] = await exited;
      socket.destroy();
      return { code, stdout };
    };
    return { child, stopped, said };
  }

  let child = null;
  afterEach(() => child?.kill('SIGKILL')); // (a server a failed test left running)

  test('a second SIGTERM stops at once, with 128 + 15', { timeout: 60_000 }, async () => {
    const server = await serving();
    child.kill('SIGTERM');
    await server.said(/stopping \(waiting up to 5 s/);
    child.kill('SIGTERM');
    const { code, stdout } = await server.stopped();
    assert.equal(code, 143);
    assert.match(stdout, /stopped without waiting for the work in flight/);
  });

  test('one SIGTERM waits for the request no longer than the grace, then stops with 0', { timeout: 60_000 }, async () => {
    const server = await serving();
    child.kill('SIGTERM');
    const { code, stdout } = await server.stopped();
    assert.equal(code, 0);
    assert.match(stdout, /work still in flight after 5 s, stopped anyway/);
  });
});

describe('npm start (edge/server.mjs) and its demo origins', () => {
  // Started with QV_ORIGIN_SECRET (given) or without it (the demo config's origin.demoSecret).
  async function started(env) {
    const environment = { ...process.env, PORT: '0', QV_ORIGINS_PORT: '0', HOST: '127.0.0.1', QV_REDIS_URL: '', ...env };
    if (env.QV_ORIGIN_SECRET === undefined) delete environment.QV_ORIGIN_SECRET;
    const child = spawn(process.execPath, [new URL('../edge/server.mjs', import.meta.url).pathname], { env: environment, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk; });
    const ended = once(child.stdout, 'end');
    while (!/critical keys warmed/.test(stdout)) {
      if (await Promise.race([once(child.stdout, 'data').then(() => false), ended.then(() => true)])) {
        throw new Error(`the server ended before it warmed its critical keys; it said: '${stdout}'`);
      }
    }
    return { child, stdout, edge: /listening on (http:\/\/\S+)/.exec(stdout)[1], origin: /us-east-1\s+(http:\/\/\S+)/.exec(stdout)[1] };
  }

  for (const [what, env, secret] of [
    ['the demo config\'s demo origin secret', {}, 'qv-demo-origin-secret: replace it with QV_ORIGIN_SECRET in production'],
    ['QV_ORIGIN_SECRET', { QV_ORIGIN_SECRET: 'npm-start-origin-secret' }, 'npm-start-origin-secret'],
  ]) {
    test(`the edge reaches them with ${what}; a request to one without it is refused`, { timeout: 60_000 }, async () => {
      const { child, stdout, edge, origin } = await started(env);
      try {
        assert.match(stdout, /cache: \d+ critical keys warmed\n/, 'every warm-up was served');
        const served = await fetch(`${edge}/api/agents`, { headers: { 'x-api-key': 'qv_demo_growth' } });
        assert.equal(served.status, 200);
        assert.equal((await served.json()).organizationId, 'org_growth');
        const bypass = { 'x-qv-organization-id': 'org_enterprise' };
        const refused = await fetch(`${origin}/api/campaigns`, { headers: bypass });
        assert.equal(refused.status, 401);
        assert.equal((await refused.json()).error, 'unauthorized');
        const other = await fetch(`${origin}/api/campaigns`, { headers: { ...bypass, 'x-qv-origin-secret': 'qv-demo-origin-secret' } });
        assert.equal(other.status, 401);
        await other.arrayBuffer();
        const right = await fetch(`${origin}/api/campaigns`, { headers: { ...bypass, 'x-qv-origin-secret': secret } });
        assert.equal(right.status, 200);
        await right.arrayBuffer();
      } finally {
        child.kill();
      }
    });
  }
});

describe('npm start (edge/server.mjs) with QV_REDIS_URL naming a Redis that does not answer', () => {
  test('it serves at once, on per-isolate limits, and says so, naming the URL without its credentials', { timeout: 30_000 }, async () => {
    const redisPort = await freePort(); // nothing listens there
    const child = spawn(process.execPath, [new URL('../edge/server.mjs', import.meta.url).pathname], {
      env: { ...process.env, PORT: '0', QV_ORIGINS_PORT: '0', HOST: '127.0.0.1', QV_REDIS_URL: `redis://alice:s3cret@127.0.0.1:${redisPort}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit'); // (awaited below also when it exited before listening)
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    try {
      const url = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not listening within 15 s; stdout: '${stdout}', stderr: '${stderr}'`)), 15_000);
        child.stdout.on('data', (chunk) => {
          stdout += chunk;
          const listening = /listening on (http:\S+)/.exec(stdout);
          if (listening) { clearTimeout(timer); resolve(listening[1]); }
        });
        child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code}: ${stderr}`)); });
      });
      assert.match(stderr, new RegExp(`QV_REDIS_URL: redis://127\\.0\\.0\\.1:${redisPort} does not answer`));
      assert.doesNotMatch(stderr, /alice|s3cret/);
      const started = await fetch(new URL('/api/calls/start', url), { method: 'POST', headers: { 'x-api-key': 'qv_demo_growth' } });
      assert.equal(started.status, 201);
      assert.equal((await started.json()).source, 'local');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

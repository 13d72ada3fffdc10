// The demo origins: one HTTP server per region, all in one Node.js process, serving one
// data set (edge/demo-origin.mjs: seeded data for the demo organisations), each with
// faults that can be injected while it runs (added latency, a failure rate, failing every
// request, hanging, refusing connections). For tests and for npm start: the router picks
// among them, and the cache's misses reach the data through them.
//
// Each region serves:
//   GET  /health                    200 {"region", "status": "ok"} (subject to its faults;
//                                   it says nothing of any organisation, and needs no secret)
//   Every /api/... request must carry the origin secret in x-qv-origin-secret, as the edge
//   sends it (QV_ORIGIN_SECRET): without it, or with another, a 401 and nothing served. The
//   identity headers the edge sets are trusted only on a request that has it.
//   GET  /api/<data path>           the demo data set's answer (DATA_PATHS in demo-origin.mjs),
//                                   after the data set's own delay (a database query)
//   *    /api/... (anything else)   an echo of the request (what the origin received)
//   With `upstream`, every /api/... request is forwarded there instead (ORIGIN_URL: your
//   own origin behind the four regional fronts). Every /api answer has x-served-by-region.
//   GET  /__qv/faults               every region's faults
//   POST /__qv/faults/<region>      {latencyMs?, jitterMs?, failureRate?, mode?} sets them
//                                   (mode: "up", "fail" = 503, "hang", "refuse")
//   GET  /__qv/stats                /api requests answered, per path and per region, and
//                                   those a hanging region held unanswered, per region
//
// Standalone: node edge/regional-origins.mjs [--port 4101] [--upstream URL] (or ORIGIN_URL);
// an upstream it cannot forward to (upstreamProblem) stops it with status 2. The secret:
// QV_ORIGIN_SECRET, else the demo config's origin.demoSecret (edge/config/demo.json), as
// npm start's edge sends it.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createDemoData, ORGANIZATION_HEADER } from './demo-origin.mjs';
import { ORIGIN_SECRET_HEADER } from './regional-proxy.mjs';
import { notModified } from './conditional.mjs';
import { withoutCredentials } from '../host-shims/js/host-ops.mjs';

/** The four regions of the spec. */
export const DEMO_REGIONS = Object.freeze(['us-east-1', 'eu-west-1', 'ap-southeast-1', 'sa-east-1']);

const MODES = ['up', 'fail', 'hang', 'refuse'];
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'host', 'content-length']);

/** A fault as given: {latencyMs, jitterMs, failureRate, mode}; errors name the field. */
export function checkFault(fault, where = 'fault') {
  if (fault === null || typeof fault !== 'object' || Array.isArray(fault)) throw new TypeError(`${where}: expected an object`);
  const known = ['latencyMs', 'jitterMs', 'failureRate', 'mode'];
  for (const key of Object.keys(fault)) {
    if (!known.includes(key)) throw new TypeError(`${where}.${key}: unknown field (expected one of: ${known.join(', ')})`);
  }
  for (const key of ['latencyMs', 'jitterMs']) {
    if (key in fault && !(Number.isFinite(fault[key]) && fault[key] >= 0 && fault[key] <= 600000)) {
      throw new TypeError(`${where}.${key}: expected milliseconds between 0 and 600000`);
    }
  }
  if ('failureRate' in fault && !(Number.isFinite(fault.failureRate) && fault.failureRate >= 0 && fault.failureRate <= 1)) {
    throw new TypeError(`${where}.failureRate: expected a number between 0 and 1`);
  }
  if ('mode' in fault && !MODES.includes(fault.mode)) {
    throw new TypeError(`${where}.mode: expected one of ${MODES.join(', ')}, got ${JSON.stringify(fault.mode)}`);
  }
  return fault;
}

// A small seeded generator (mulberry32): the failure rate draws the same sequence every run.
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function readBody(request) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function sendJsonText(response, status, json, headers = {}) {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  response.end(json);
}

function sendJson(response, status, body, headers = {}) {
  sendJsonText(response, status, JSON.stringify(body), headers);
}

/**
 * Why upstream cannot be forwarded to, naming it without its credentials; null when it can.
 * It must be an http:// or https:// URL without credentials (user:password@ before the host):
 * fetch() refuses one with them, quoting them, so every forwarded request would fail and its
 * 502 say them to the client.
 */
export function upstreamProblem(upstream) {
  if (!/^https?:$/.test(URL.canParse(upstream) ? new URL(upstream).protocol : '')) {
    return `expected an http:// or https:// URL, got '${withoutCredentials(upstream)}'`;
  }
  const { username, password } = new URL(upstream);
  if (username || password) {
    return `${withoutCredentials(upstream)}: the URL holds credentials (user:password@ before the host), which fetch() refuses`;
  }
  return null;
}

// Whether a request's origin secret is the one expected, compared in constant time (the
// digests of both, so that neither the length nor the first difference shows in the time).
function secretChecker(secret) {
  const digest = (text) => createHash('sha256').update(text, 'utf8').digest();
  const expected = digest(secret);
  return (given) => typeof given === 'string' && timingSafeEqual(digest(given), expected);
}

/**
 * Starts one origin per region. options: secret (required: the origin secret every /api/*
 * request must carry in x-qv-origin-secret, the edge's originSecret), regions (ids), host
 * (default 127.0.0.1), port
 * (first port; the others follow; 0: any free ports), upstream (URL that /api/* is
 * forwarded to instead of the demo data; one upstreamProblem finds is a TypeError naming it
 * 'upstream', before any origin starts), dataDelayMs (the demo data's time per answer,
 * default 20 ms, as a database query would take), seed. Resolves to {urls: {region: url},
 * faults(), set(region, fault), reset(), stats(), close()}.
 */
export async function startRegionalOrigins({ secret, regions = DEMO_REGIONS, host = '127.0.0.1', port = 0, upstream = null, dataDelayMs = 20, seed = 42 } = {}) {
  if (typeof secret !== 'string' || secret === '') {
    throw new TypeError('secret: expected the origin secret the edge sends (QV_ORIGIN_SECRET), a non-empty string');
  }
  const authentic = secretChecker(secret);
  const problem = upstream ? upstreamProblem(upstream) : null;
  if (problem) throw new TypeError(`upstream: ${problem}`);
  const upstreamUrl = upstream ? new URL(upstream) : null;
  const data = createDemoData();  // one data set behind every region
  const served = { byPath: new Map(), byRegion: new Map() };
  const held = new Map(); // /api requests a hanging region received and never answered
  const count = (map, key) => map.set(key, (map.get(key) ?? 0) + 1);
  const stats = () => ({
    served: Object.fromEntries(served.byPath),
    byRegion: Object.fromEntries(served.byRegion),
    total: [...served.byPath.values()].reduce((a, b) => a + b, 0),
    held: Object.fromEntries(held),
  });
  const state = new Map(regions.map((region, i) => [region, {
    fault: { latencyMs: 0, jitterMs: 0, failureRate: 0, mode: 'up' },
    random: generator(seed + i),
    server: null,
    port: 0,
    hanging: new Set(),
  }]));

  async function serve(region, request, response) {
    const entry = state.get(region);
    const { fault } = entry;
    if (fault.mode === 'refuse') {
      request.socket.destroy();  // a kept-alive connection opened before the fault
      return;
    }
    const url = new URL(request.url, 'http://origin');
    if (url.pathname === '/__qv/faults' && request.method === 'GET') {
      return sendJson(response, 200, Object.fromEntries([...state].map(([id, e]) => [id, e.fault])));
    }
    if (url.pathname === '/__qv/stats' && request.method === 'GET') return sendJson(response, 200, stats());
    const control = /^\/__qv\/faults\/([^/]+)$/.exec(url.pathname);
    if (control && request.method === 'POST') {
      try {
        let target;
        try {
          target = decodeURIComponent(control[1]);
        } catch {
          throw new TypeError(`region: malformed percent-encoding in the path ('${control[1]}')`);
        }
        if (!state.has(target)) throw new TypeError(`region: unknown region '${target}' (known: ${regions.join(', ')})`);
        let fault;
        try {
          fault = JSON.parse((await readBody(request)).toString('utf8') || '{}');
        } catch (failure) {
          throw new TypeError(`fault: malformed JSON (${failure.message})`);
        }
        // These endpoints are served by the regions' own listeners, which 'refuse' closes.
        const listening = regions.filter((id) => id !== target && state.get(id).fault.mode !== 'refuse');
        if (fault?.mode === 'refuse' && listening.length === 0) {
          throw new TypeError(`mode: refusing ${target} too would close the last listener that takes fault changes (use 'fail' or 'hang', or restore a region first)`);
        }
        if (target === region && fault?.mode === 'refuse') {
          // Refusing this listener's own region closes this connection: answer first.
          checkFault(fault);
          sendJson(response, 200, { region: target, fault: { ...entry.fault, ...fault } }, { connection: 'close' });
          if (!response.writableFinished) await new Promise((resolve) => response.once('finish', resolve));
          await set(target, fault);
          return;
        }
        await set(target, fault);
        return sendJson(response, 200, { region: target, fault: state.get(target).fault });
      } catch (failure) {
        return sendJson(response, 400, { error: 'invalid_input', message: failure.message });
      }
    }

    if (fault.mode === 'hang') {
      if (url.pathname.startsWith('/api/')) count(held, region);
      entry.hanging.add(response);
      response.on('close', () => entry.hanging.delete(response));
      return;
    }
    const delay = fault.latencyMs + fault.jitterMs * entry.random();
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (fault.mode === 'fail' || (fault.failureRate > 0 && entry.random() < fault.failureRate)) {
      return sendJson(response, 503, { error: 'unavailable', message: `region ${region}: injected failure` }, { 'x-served-by-region': region });
    }
    if (url.pathname === '/health') return sendJson(response, 200, { region, status: 'ok' });
    if (!url.pathname.startsWith('/api/')) return sendJson(response, 404, { error: 'not_found', message: `no route for ${url.pathname}` });
    // Only the edge may name the organisation: a request without its secret is refused
    // before anything is read, counted, forwarded or served.
    if (!authentic(request.headers[ORIGIN_SECRET_HEADER])) {
      const problem = request.headers[ORIGIN_SECRET_HEADER] === undefined ? 'missing' : 'not the origin secret';
      return sendJson(response, 401, {
        error: 'unauthorized',
        message: `${ORIGIN_SECRET_HEADER}: ${problem}; this origin serves only the edge, which sends the secret it is configured with (QV_ORIGIN_SECRET)`,
      }, { 'cache-control': 'no-store', 'x-served-by-region': region });
    }

    const body = await readBody(request);
    count(served.byPath, url.pathname);
    count(served.byRegion, region);
    if (upstreamUrl) {
      // Forwarded to one upstream (ORIGIN_URL): the regions front the same data.
      const headers = new Headers();
      for (const [name, value] of Object.entries(request.headers)) {
        if (!HOP_BY_HOP.has(name)) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      }
      try {
        const answer = await fetch(new URL(url.pathname + url.search, upstreamUrl), {
          method: request.method, headers, body: body.length ? body : undefined, redirect: 'manual',
        });
        const out = {};
        answer.headers.forEach((value, name) => { if (!HOP_BY_HOP.has(name) && name !== 'content-encoding') out[name] = value; });
        response.writeHead(answer.status, { ...out, 'x-served-by-region': region });
        response.end(Buffer.from(await answer.arrayBuffer()));
      } catch (failure) {
        sendJson(response, 502, { error: 'upstream_unavailable', message: `region ${region}: upstream ${upstreamUrl.origin}: ${failure.message}` });
      }
      return;
    }
    const answer = data.answer(request.method, url, request.headers[ORGANIZATION_HEADER]);
    if (answer) {
      if (dataDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, dataDelayMs));
      const headers = { ...answer.headers, 'x-served-by-region': region };
      if (answer.status === 200 && notModified({ get: (name) => request.headers[name] ?? null }, { etag: answer.headers.etag })) {
        response.writeHead(304, headers);
        return response.end();
      }
      return sendJsonText(response, answer.status, answer.json, headers);
    }
    sendJson(response, 200, {
      region,
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      search: url.search, // the query as it came, its form and order too
      organizationId: request.headers[ORGANIZATION_HEADER] ?? null,
      forwardedHost: request.headers['x-forwarded-host'] ?? null, // the host the client asked the edge for
      headers: Object.keys(request.headers).sort(),
      bodyBytes: body.length,
    }, { 'x-served-by-region': region });
  }

  function listen(region) {
    const entry = state.get(region);
    const server = createServer((request, response) => {
      serve(region, request, response).catch((failure) => {
        if (!response.headersSent) sendJson(response, 500, { error: 'internal', message: failure.message });
      });
    });
    entry.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(entry.port, host, () => {
        entry.port = server.address().port;
        server.off('error', reject);
        resolve();
      });
    });
  }

  function stop(region) {
    const entry = state.get(region);
    const server = entry.server;
    entry.server = null;
    for (const response of entry.hanging) response.destroy();
    entry.hanging.clear();
    if (!server) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  async function set(region, fault) {
    const entry = state.get(region);
    if (!entry) throw new TypeError(`region: unknown region '${region}' (known: ${regions.join(', ')})`);
    checkFault(fault);
    const before = entry.fault.mode;
    entry.fault = { ...entry.fault, ...fault };
    if (entry.fault.mode === 'refuse' && before !== 'refuse') await stop(region);  // connections refused
    if (entry.fault.mode !== 'refuse' && before === 'refuse') await listen(region);  // on the same port
    if (entry.fault.mode !== 'hang') {
      for (const response of entry.hanging) response.destroy();
      entry.hanging.clear();
    }
    return entry.fault;
  }

  let next = port;
  for (const region of regions) {
    state.get(region).port = next;
    await listen(region);
    if (port) next += 1;
  }

  const urls = Object.fromEntries(regions.map((region) => [region, `http://${host}:${state.get(region).port}`]));
  return {
    urls,
    faults: () => Object.fromEntries([...state].map(([id, e]) => [id, { ...e.fault }])),
    set,
    reset: () => Promise.all(regions.map((region) => set(region, { latencyMs: 0, jitterMs: 0, failureRate: 0, mode: 'up' }))),
    stats,
    close: () => Promise.all(regions.map(stop)),
  };
}

/** The router section of an edge config sending the four default regions to these origins. */
export function routerConfigFor(urls, extra = {}) {
  return { ...extra, regions: Object.entries(urls).map(([id, origin]) => ({ id, origin })) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const option = (name) => {
    const at = args.indexOf(name);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const port = Number(option('--port') ?? process.env.QV_ORIGINS_PORT ?? 4101);
  const upstream = option('--upstream') ?? (process.env.ORIGIN_URL || process.env.QV_ORIGIN_UPSTREAM || null);
  const problem = upstream ? upstreamProblem(upstream) : null;
  if (problem) {
    const flag = option('--upstream') !== undefined ? '--upstream' : process.env.ORIGIN_URL ? 'ORIGIN_URL' : 'QV_ORIGIN_UPSTREAM';
    console.error(`${flag}: ${problem}`);
    process.exit(2);
  }
  if (process.env.QV_ORIGIN_SECRET?.trim() === '') {
    console.error('QV_ORIGIN_SECRET: empty; give the secret the edge sends, or leave it out for the demo config\'s origin.demoSecret');
    process.exit(2);
  }
  const secret = process.env.QV_ORIGIN_SECRET
    ?? JSON.parse(await readFile(new URL('config/demo.json', import.meta.url), 'utf8')).origin.demoSecret;
  const origins = await startRegionalOrigins({ secret, port, upstream });
  for (const [region, url] of Object.entries(origins.urls)) console.log(`${region.padEnd(15)} ${url}`);
  console.log(`inject a fault: curl -X POST ${origins.urls['us-east-1']}/__qv/faults/us-east-1 -d '{"mode":"fail"}'`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, async () => { await origins.close(); process.exit(0); });
}

// Node.js side of the local edge: an EdgeRuntime (Vercel's edge-runtime) running the
// bundled edge function with code generation off, the WebAssembly bundle compiled here
// and handed in, as a production edge runtime does; and the HTTP server npm start serves
// it with.
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer, maxHeaderSize, STATUS_CODES } from 'node:http';
import { EdgeRuntime, createHandler } from 'edge-runtime';
import { loadModule } from '../dist/js/node.mjs';

/** Code generation as production edge runtimes allow it: none from strings or bytes. */
export const STRICT_CODE_GENERATION = Object.freeze({ strings: false, wasm: false });

/** The edge config of npm start: demo API keys and feature routes (edge/config/demo.json). */
export async function loadEdgeConfig(path = new URL('config/demo.json', import.meta.url)) {
  let config;
  try {
    config = JSON.parse(await readFile(path, 'utf8'));
  } catch (failure) {
    throw new Error(`edge config ${path}: ${failure.message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new Error(`edge config ${path}: expected a JSON object, got ${Array.isArray(config) ? 'an array' : JSON.stringify(config)}`);
  }
  return config;
}

/**
 * Creates an EdgeRuntime with the edge function loaded. options.flavour: 'emscripten'
 * (default) or 'wasi'; options.code: the script to run (default dist/edge/handler.js);
 * options.config: the edge config (default: edge/config/demo.json); options.kv: a KV the
 * isolate shares with others (default: its own in-memory KV); options.cacheSecret: the
 * invalidation webhook's secret; options.originSecret: the secret the edge's requests to
 * origins carry (x-qv-origin-secret); options.globals: more globals for the context.
 */
export async function createEdgeRuntime({ flavour = 'emscripten', code, config, kv, cacheSecret, originSecret, globals = {} } = {}) {
  const wasmModule = await loadModule(flavour);
  const defaultConfig = config ?? await loadEdgeConfig();
  const initialCode = code ?? await readFile(new URL('../dist/edge/handler.js', import.meta.url), 'utf8');
  return new EdgeRuntime({
    initialCode,
    codeGeneration: STRICT_CODE_GENERATION,
    extend: (context) => Object.assign(context, {
      QV_WASM_MODULE: wasmModule,
      QV_EDGE_CONFIG: config ?? defaultConfig,
      ...(kv ? { QV_KV: kv } : {}),
      ...(cacheSecret ? { QV_CACHE_SECRET: cacheSecret } : {}),
      ...(originSecret ? { QV_ORIGIN_SECRET: originSecret } : {}),
      ...globals,
    }),
  });
}

// The refusals Node.js's own handler tells apart, by error code: [status, error, message].
const PARSER_REFUSALS = {
  HPE_HEADER_OVERFLOW: [431, 'too_large', `request line and headers: above the limit of ${maxHeaderSize} bytes (a URL or headers that long)`],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'too_large', 'body: chunk extensions above the limit'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'timeout', 'request: not received in time'],
  HPE_INVALID_METHOD: [501, 'not_implemented', 'request: a method this server does not recognise (TRACK, or none HTTP names)'],
};

// Answers on a raw socket, in the edge's JSON error shape, and closes the connection.
function answerRaw(socket, status, error, message) {
  const body = JSON.stringify({ error, message });
  socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n`
    + `cache-control: no-store\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

// A request Node.js's HTTP parser refuses before any handler runs (request line and headers
// above maxHeaderSize, or not HTTP) is answered in the edge's JSON error shape rather than
// with Node's bare status line (its 'clientError' hook; the connection is closed after).
// As Node.js's own: nothing is written into a response already under way on the connection,
// and the connection is destroyed after (ended alone, a client could hold it open, and with it
// the server's close()).
function answerClientError(failure, socket) {
  if (socket.writable && failure.code !== 'ECONNRESET' && !socket._httpMessage?._headerSent) {
    answerRaw(socket, ...(PARSER_REFUSALS[failure.code]
      ?? [400, 'invalid_input', `request: not valid HTTP/1.1 (${failure.code ?? failure.message})`]));
  }
  socket.destroy();
}

// The methods fetch's Request cannot carry (the Fetch standard's forbidden ones) are served
// for no resource, so a 501 (a 405 would have to list the methods allowed on the path):
// TRACE in the handler below, CONNECT here (Node.js hands it to a 'connect' listener and
// otherwise drops it without a word); Node.js's parser refuses TRACK (PARSER_REFUSALS).
const servedForNoResource = (method) => `request: method ${method} is served for no resource`;
function answerConnect(request, socket) {
  answerRaw(socket, 501, 'not_implemented', servedForNoResource('CONNECT'));
  socket.destroy();
}

// edge-runtime's handler, guarded. It makes the request's URL from the request line and the
// Host header, and a request it cannot make (a Host such as 'a b', a URL with credentials, a
// TRACE) it answers with an empty 200 and a rejection no one catches, which would end the
// process: such a request is a 400 (501) here, before the handler. Anything else the handler
// throws is logged, not fatal.
function guarded(handler) {
  const fail = (response, status, error, message) => {
    if (response.headersSent) {
      response.destroy();
      return;
    }
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
    response.end(JSON.stringify({ error, message }));
  };
  return async (request, response) => {
    // Without Host: HTTP/1.1 requires one (Node.js's own refusal is a bare 400, so the server
    // takes such requests here); under HTTP/1.0 the URL's authority is this server's address
    // (RFC 9112 section 3.3), not 'undefined' (edge-runtime's URL, and the origin's
    // x-forwarded-host).
    if (request.headers.host === undefined) {
      if (request.httpVersion !== '1.0') {
        fail(response, 400, 'invalid_input', `request: no Host header (HTTP/${request.httpVersion} requires one)`);
        return;
      }
      const { localAddress, localPort } = request.socket;
      request.headers.host = `${localAddress.includes(':') ? `[${localAddress}]` : localAddress}:${localPort}`;
    }
    let url;
    try {
      url = new URL(String(request.url), `http://${String(request.headers.host)}`); // as edge-runtime's getURL
    } catch {
      fail(response, 400, 'invalid_input', 'request: no URL can be made of its request line and Host header');
      return;
    }
    // What fetch's Request refuses to be made of (edge-runtime would answer it an empty 200).
    if (url.username || url.password) {
      fail(response, 400, 'invalid_input', 'request: a URL with a user name or password');
      return;
    }
    if (request.method === 'TRACE') {
      fail(response, 501, 'not_implemented', servedForNoResource('TRACE'));
      return;
    }
    try {
      await handler(request, response);
    } catch (failure) {
      console.error('edge server:', failure);
      fail(response, 500, 'internal', 'internal error');
    }
  };
}

/**
 * Serves runtime over HTTP on port (0: a free one) and host, as edge-runtime's runServer
 * does, and answers requests Node.js's parser refuses in the edge's JSON error shape.
 * Resolves to {url, close()}; close() waits for the requests in flight and their background
 * work: each is answered with Connection: close and its connection closed after it, so no
 * connection kept alive for more requests holds the stop (Node.js's close() closes only the
 * connections idle at that moment).
 */
export async function serveEdgeRuntime({ runtime, port = 0, host }) {
  const { handler, waitUntil } = createHandler({ runtime });
  const server = createServer({ requireHostHeader: false }); // (guarded answers it)
  let closing = false;
  const answering = new Set(); // the responses under way
  server.on('request', (request, response) => {
    answering.add(response);
    if (closing) response.shouldKeepAlive = false;
    response.on('close', () => {
      answering.delete(response);
      if (closing) server.closeIdleConnections(); // (one whose head had gone out before close())
    });
  });
  server.on('request', guarded(handler));
  server.on('clientError', answerClientError);
  server.on('connect', answerConnect);
  server.listen({ port, host });
  await once(server, 'listening');
  const { address, family, port: bound } = server.address();
  return {
    url: `http://${family === 'IPv6' ? `[${address}]` : address}:${bound}`,
    close: () => {
      closing = true;
      for (const response of answering) response.shouldKeepAlive = false; // (its head still to go out)
      return Promise.all([waitUntil(), new Promise((resolve) => server.close(resolve))]).then(() => undefined);
    },
  };
}

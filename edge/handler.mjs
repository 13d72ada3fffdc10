// The edge function: HTTP routes over the WebAssembly bundle. Written for edge runtimes
// (Vercel Edge, Next.js middleware, workerd, edge-runtime) and Node.js alike: it gets the
// bundle as a WebAssembly.Module and never compiles code, reads files or requires.
//
//   GET  /healthz                    the instance is up and answers a module call
//   POST /api/tiers/evaluate         a metrics history -> the scaling decision
//   GET  /api/tiers/:tier/features   the tier's features

import { instantiate } from '../host-shims/js/qv.mjs';

/** Largest request body accepted; the module refuses more than this too. */
export const MAX_BODY_BYTES = 1 << 20;

// Module status -> HTTP status.
const HTTP_STATUS = {
  ok: 200, invalid_input: 400, not_found: 404, too_large: 413, unavailable: 503, timeout: 504,
};

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

function error(status, code, message, headers) {
  return json(status, { error: code, message }, headers);
}

// Reads the body as text, refusing more than MAX_BODY_BYTES without reading it all.
async function readBody(request) {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) return { tooLarge: declared };
  if (!request.body) return { text: '' };
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      return { tooLarge: size };
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
}

/**
 * Makes the request handler. options.wasmModule: the bundle as a WebAssembly.Module;
 * the other options go to the shim's instantiate() (kv, now, log, ...).
 */
export function createEdgeHandler({ wasmModule, ...shimOptions }) {
  if (!wasmModule) throw new Error('createEdgeHandler: wasmModule is required (the qv.wasm bundle as a WebAssembly.Module)');
  let instance = null; // Promise<QvInstance>, one per isolate

  function module() {
    // A module that aborted is discarded; the next request gets a fresh instance.
    if (!instance) instance = instantiate(wasmModule, shimOptions);
    return instance.then((qv) => {
      if (!qv.failed) return qv;
      instance = null;
      return module();
    });
  }

  async function invoke(method, input) {
    const { status, body } = await (await module()).invoke(method, input);
    return json(HTTP_STATUS[status] ?? 500, body);
  }

  const routes = [
    {
      pattern: /^\/healthz$/, methods: ['GET'],
      run: async () => {
        const { status } = await (await module()).invoke('tiers.catalogue', {});
        return status === 'ok' ? json(200, { status: 'ok' }) : error(503, 'unavailable', 'module not ready');
      },
    },
    {
      pattern: /^\/api\/tiers\/evaluate$/, methods: ['POST'],
      run: async (request) => {
        let body;
        try {
          body = await readBody(request);
        } catch {
          return error(400, 'invalid_input', 'body: not valid UTF-8');
        }
        if (body.tooLarge) return error(413, 'too_large', `body: ${body.tooLarge} bytes is above the limit of ${MAX_BODY_BYTES} bytes`);
        if (!body.text.trim()) return error(400, 'invalid_input', 'body: expected a JSON object, got an empty body');
        return invoke('tiers.evaluate', body.text);
      },
    },
    {
      pattern: /^\/api\/tiers\/([^/]+)\/features$/, methods: ['GET'],
      run: async (request, match) => {
        let tier;
        try {
          tier = decodeURIComponent(match[1]);
        } catch {
          return error(400, 'invalid_input', 'tier: malformed percent-encoding in the path');
        }
        return invoke('tiers.features', { tier });
      },
    },
  ];

  return async function handle(request) {
    const url = new URL(request.url);
    for (const route of routes) {
      const match = route.pattern.exec(url.pathname);
      if (!match) continue;
      if (!route.methods.includes(request.method)) {
        return error(405, 'method_not_allowed', `${request.method} ${url.pathname}: use ${route.methods.join(', ')}`,
          { allow: route.methods.join(', ') });
      }
      try {
        return await route.run(request, match);
      } catch (failure) {
        return error(500, 'internal', `internal error: ${failure?.message ?? failure}`);
      }
    }
    return error(404, 'not_found', `no route for ${request.method} ${url.pathname}`);
  };
}

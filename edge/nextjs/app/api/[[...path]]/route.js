// /api/* on the Node.js runtime (a Vercel Function): the bundle is compiled from its file
// once per process; QV_REDIS_URL=redis://... gives the instances one shared KV (rate limits,
// call slots, the cache's L2), else each process keeps an in-memory KV.
import { loadModule } from '@quantum-voice/edge/node';
import { RedisKv } from '@quantum-voice/edge/kv-redis';
import { edgeFunctionRoutes } from '../../../lib/edge-function.js';

export const runtime = 'nodejs';

// Connected when the instance starts, at its first request, not when this module is imported
// (next build imports it too, to read its settings). Not waiting for the connection: while
// Redis is down, KV operations fail fast and the modules degrade as they do in any outage,
// rather than requests waiting for it. A URL the client cannot take fails the instance's
// start, naming QV_REDIS_URL.
function sharedKv() {
  const url = process.env.QV_REDIS_URL;
  if (!url) return undefined;
  const kv = RedisKv.connect(url, { wait: false }).catch((failure) => { throw new Error(`QV_REDIS_URL: ${failure.message}`); });
  kv.catch(() => {}); // reported by the requests that wait for it
  return kv;
}

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = edgeFunctionRoutes(loadModule(), { kv: sharedKv });

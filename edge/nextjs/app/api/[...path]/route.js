// /api/* on the Node.js runtime (a Vercel Function): the bundle is compiled from its file
// once per process; QV_REDIS_URL=redis://... gives the instances one shared KV (rate limits,
// call slots, the cache's L2), else each process keeps an in-memory KV.
import { loadModule } from '@quantum-voice/edge/node';
import { RedisKv } from '@quantum-voice/edge/kv-redis';
import { edgeFunctionRoutes } from '../../../lib/edge-function.js';

export const runtime = 'nodejs';

// Not waiting for the connection: while Redis is down, KV operations fail fast and the
// modules degrade as they do in any outage, rather than requests waiting for it.
const kv = process.env.QV_REDIS_URL ? RedisKv.connect(process.env.QV_REDIS_URL, { wait: false }) : undefined;

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = edgeFunctionRoutes(loadModule(), { kv });

// /api/* on the Node.js runtime (a Vercel Function): the bundle is compiled from its file
// once per process; QV_REDIS_URL=redis://... gives the instances one shared KV (rate limits,
// call slots, the cache's L2), else each process keeps an in-memory KV.
import { readFile } from 'node:fs/promises';
import { RedisKv } from '../../../../../host-shims/js/kv-redis.mjs';
import { edgeFunctionRoutes } from '../../../lib/edge-function.js';

export const runtime = 'nodejs';

// Read here, by a path the bundler can follow (node.mjs's loadModule builds its path at run
// time, relative to dist/js/).
const wasmModule = readFile(new URL('../../../../../dist/emscripten/qv.wasm', import.meta.url))
  .then((bytes) => WebAssembly.compile(bytes));
// Not waiting for the connection: while Redis is down, KV operations fail fast and the
// modules degrade as they do in any outage, rather than requests waiting for it.
const kv = process.env.QV_REDIS_URL ? RedisKv.connect(process.env.QV_REDIS_URL, { wait: false }) : undefined;

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = edgeFunctionRoutes(wasmModule, { kv });

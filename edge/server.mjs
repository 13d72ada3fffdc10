// The local edge server: the edge function on Vercel's edge-runtime with the in-memory
// KV, at http://localhost:3000 (PORT and HOST override; QV_FLAVOUR=wasi picks the WASI
// bundle). Ctrl-C stops it.
import { runServer } from 'edge-runtime';
import { createEdgeRuntime } from './runtime.mjs';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT: expected a port number 0-65535, got '${process.env.PORT}'`);
  process.exit(2);
}
const flavour = process.env.QV_FLAVOUR ?? 'emscripten';

const runtime = await createEdgeRuntime({ flavour });
const server = await runServer({ runtime, port, host: process.env.HOST });
const shown = process.env.HOST ? server.url : `http://localhost:${new URL(server.url).port}`;
console.log(`qv edge server (${flavour} bundle on edge-runtime) listening on ${shown}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('qv edge server: stopping');
    await server.close();
    process.exit(0);
  });
}

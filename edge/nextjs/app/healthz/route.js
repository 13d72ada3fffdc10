// GET /healthz on the Node.js runtime, as npm start serves it: the edge function's own health
// route (200 {"status": "ok"} once the bundle answers a module call), from the handlers /api/*
// runs on, so it reports on the instance that serves the API.
export { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } from '../api/[[...path]]/route.js';

export const runtime = 'nodejs';

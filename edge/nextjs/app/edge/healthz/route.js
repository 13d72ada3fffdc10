// GET /edge/healthz on the edge runtime: the edge function's /healthz, from the handlers
// /edge/api/* runs on (the /edge prefix is taken off as there).
export { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } from '../api/[[...qvEdgePath]]/route.js';

export const runtime = 'edge';

// The routes import the edge function (edge/), the JS shim (host-shims/js/) and the bundle
// (dist/) from the repository around the app: Turbopack's root, and the file tracing's for
// a deployment, is the repository.
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default { turbopack: { root }, outputFileTracingRoot: root };

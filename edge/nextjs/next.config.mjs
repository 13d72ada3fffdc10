// The app takes the edge function, the shim and the bundles from the @quantum-voice/edge
// package (here linked to the repository's dist/, as `npm install` of the package would put
// them in node_modules). On the Node.js runtime the package stays external: Node.js loads it
// from node_modules, so its loader finds the .wasm beside it; the edge runtime bundles it,
// and the .wasm is imported as a WebAssembly.Module (`?module`). Turbopack's root, and the
// file tracing's for a deployment, is the repository, which holds the linked dist/.
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export default {
  serverExternalPackages: ['@quantum-voice/edge'],
  turbopack: { root },
  outputFileTracingRoot: root,
};

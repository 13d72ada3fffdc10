// Types of handler.mjs: the edge function over the WebAssembly bundle.
import type { ShimOptions } from '../host-shims/js/qv.mjs';

/** The largest request body a route reads (1 MiB); larger ones are 413. */
export declare const MAX_BODY_BYTES: number;

/** An API key (its SHA-256, hex) and whom it stands for. */
export interface ApiKey {
  name?: string;
  sha256: string;
  organizationId: string;
  tier: string;
  /** May also read what counts every organisation's traffic (GET /api/cache/stats). */
  operator?: boolean;
}

/** The edge configuration: the format of edge/config/demo.json. */
export interface EdgeConfig {
  apiKeys?: ApiKey[];
  /** Paths (regular expressions) gated by a tier feature. */
  featureRoutes?: { pattern: string; feature: string }[];
  /** The router module's configuration (regions and their origins; docs/router.md). */
  router?: Record<string, unknown>;
  cache?: {
    /** The cache module's configuration (docs/cache.md). */
    config?: Record<string, unknown>;
    /** Keys warmed at start. */
    critical?: { organizationId: string; path: string; query?: string }[];
    /**
     * A demo secret for the invalidation webhook (demo configurations only). The handler never
     * reads it: a host passes it as `cacheSecret` when it has no secret of its own, as
     * edge/server.mjs and edge/nextjs/lib/edge-function.js do.
     */
    demoSecret?: string;
  };
  origin?: {
    /**
     * A demo origin secret (demo configurations only). The handler never reads it: a host
     * passes it as `originSecret` when it has no secret of its own, as edge/server.mjs and
     * edge/nextjs/lib/edge-function.js do.
     */
    demoSecret?: string;
  };
}

export interface EdgeHandlerOptions extends ShimOptions {
  /** The bundle (qv.wasm) as a WebAssembly.Module. */
  wasmModule: WebAssembly.Module;
  config?: EdgeConfig;
  /** Reaches the origins (default globalThis.fetch). */
  originFetch?: typeof fetch;
  /** The shared secret of POST /api/cache/invalidate (HMAC-SHA256 of the body). */
  cacheSecret?: string;
  /**
   * The secret every request to an origin carries in `x-qv-origin-secret` (proxied requests,
   * cache fills, health checks). An origin must serve only requests that carry it: it trusts
   * the `x-qv-organization-id` they set.
   */
  originSecret?: string;
}

/** What the platform hands a request's background work to (Vercel's waitUntil). */
export interface EdgeEvent {
  waitUntil?: (promise: Promise<unknown>) => void;
}

/** The edge function: identity and admission, the cached routes, the router's proxy. */
export interface EdgeHandler {
  (request: Request, event?: EdgeEvent): Promise<Response>;
  /** Resolves once the edge config is read and applied; rejects naming the field that is wrong. */
  ready(): Promise<void>;
  /** Resolves once the configured critical keys were warmed (at once when there are none). */
  warmed(): Promise<{ warmed: number; failed: Array<{ path: string; organizationId: string; message?: string }> }>;
}

export declare function createEdgeHandler(options: EdgeHandlerOptions): EdgeHandler;

/**
 * The edge function's 400 for an /api/* path it refuses (naming the problem), or null: for a
 * host that must answer such a path before the function sees it (Next.js, for a path it cannot
 * decode).
 */
export declare function refusedPath(pathname: string): Response | null;

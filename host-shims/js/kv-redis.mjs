// A KV on a Redis server (Redis 7, or any Redis-compatible store reached over TCP), for
// Node.js hosts: the shared L2 that every isolate and region sees. Uses the npm `redis`
// client. A store that is down makes operations fail fast (no offline queue), so the
// shim turns them into `unavailable` results instead of waiting.

import { createClient, commandOptions } from 'redis';

export class RedisKv {
  #client;
  #prefix;

  /** Use RedisKv.connect(). */
  constructor(client, prefix) {
    this.#client = client;
    this.#prefix = prefix;
  }

  /**
   * Connects to url (redis://host:port). options.prefix is put before every key (default
   * ''), options.connectTimeoutMs bounds a connection attempt (default 1000).
   */
  static async connect(url, options = {}) {
    const client = createClient({
      url,
      disableOfflineQueue: true, // fail now rather than queue while the store is down
      socket: {
        connectTimeout: options.connectTimeoutMs ?? 1000,
        reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000),
      },
    });
    client.on('error', () => {}); // failures surface per operation; reconnects go on
    await client.connect();
    return new RedisKv(client, options.prefix ?? '');
  }

  get connected() {
    return this.#client.isReady;
  }

  async get(key) {
    const value = await this.#client.get(commandOptions({ returnBuffers: true }), this.#prefix + key);
    return value == null ? null : new Uint8Array(value.buffer, value.byteOffset, value.length);
  }

  async set(key, value, ttlMs = 0) {
    const bytes = typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
    await this.#client.set(this.#prefix + key, bytes, ttlMs > 0 ? { PX: ttlMs } : undefined);
  }

  /** INCRBY and, for a key without expiry, PEXPIRE ... NX: one round trip (MULTI). */
  async incr(key, delta = 1, ttlMs = 0) {
    const k = this.#prefix + key;
    if (!(ttlMs > 0)) return Number(await this.#client.incrBy(k, delta));
    const [value] = await this.#client.multi()
      .incrBy(k, delta)
      .addCommand(['PEXPIRE', k, String(ttlMs), 'NX'])
      .exec();
    return Number(value);
  }

  async del(key) {
    return Number(await this.#client.del(this.#prefix + key));
  }

  async close() {
    await this.#client.disconnect().catch(() => {});
  }
}

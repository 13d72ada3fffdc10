// Starts and stops a throw-away redis-server on a free loopback port, for tests that need
// a store they may stop and start again.
import { spawn } from 'node:child_process';
import { saidListening, startOnFreePort } from './ports.mjs';

export class RedisServer {
  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.process = null;
  }

  // On a free port, another if something took it first (options: startOnFreePort's).
  static start(options) {
    return startOnFreePort(async (port) => {
      const server = new RedisServer(port);
      await server.start();
      return server;
    }, options);
  }

  // On this server's port (again, after stop()); throws PortTaken if something holds it.
  async start() {
    this.process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await saidListening(this.process, { name: `redis-server on port ${this.port}`, ready: /Ready to accept connections/, taken: /Address already in use/ });
  }

  async stop() {
    // (A server stopped before was killed by a signal: its exitCode is null, its signalCode set.)
    if (!this.process || this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGKILL');
    await exited;
  }
}

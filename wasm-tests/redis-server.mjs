// Starts and stops a throw-away redis-server on a free loopback port, for tests that need
// a store they may stop and start again.
import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';

export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function reachable(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

export class RedisServer {
  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.process = null;
  }

  static async start(port) {
    const server = new RedisServer(port ?? await freePort());
    await server.start();
    return server;
  }

  async start() {
    this.process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    for (let i = 0; i < 100; i++) {
      if (await reachable(this.port)) return;
      if (this.process.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.process.kill('SIGKILL');
    await exited;
    throw new Error(`redis-server did not start on port ${this.port}`);
  }

  async stop() {
    // (A server stopped before was killed by a signal: its exitCode is null, its signalCode set.)
    if (!this.process || this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGKILL');
    await exited;
  }
}

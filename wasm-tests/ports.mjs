// Ports for the servers tests and benchmarks start. A server of the test's own process, or a
// child that can be told port 0 and says which port it got (`next start -p 0`), listens on
// port 0: nothing can take its port first. A child that must be given its ports
// (redis-server, nginx) is started through startOnFreePort on ports freePort found free;
// between freePort closing one and the child binding it, anything on the machine can take
// it (an outgoing connection takes its local port from the same range), and
// startOnFreePort then tries others.
import { createServer } from 'node:net';

export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// What a start function throws when its child could not bind a port: something else holds it.
export class PortTaken extends Error {
  name = 'PortTaken';
}

// start(...ports), with `ports` distinct ports from pickPort; when it throws PortTaken, again
// on others, `attempts` times in all. Any other error is the start's own, thrown at once.
export async function startOnFreePort(start, { ports: count = 1, attempts = 5, pickPort = freePort } = {}) {
  const tried = [];
  for (;;) {
    const ports = [];
    while (ports.length < count) {
      const port = await pickPort();
      if (!ports.includes(port)) ports.push(port);
    }
    tried.push(ports.join(' and '));
    try {
      return await start(...ports);
    } catch (error) {
      if (!(error instanceof PortTaken)) throw error;
      if (tried.length === attempts) {
        throw new Error(`no free port after ${attempts} tries (ports ${tried.join(', ')}): each time something took ` +
          `one before the child could bind it; the last: ${error.message}`);
      }
    }
  }
}

// Resolves once `child` (spawned with stdout and stderr piped) says `ready` on either. It
// rejects with PortTaken when the child exits having said `taken` (it could not bind a
// port), and otherwise, when it exits or says neither within timeoutMs, with an Error
// quoting what it said; a child still running then is killed first. `name` names the child
// and its ports in those messages.
export function saidListening(child, { name, ready, taken, timeoutMs = 10_000 }) {
  return new Promise((resolve, reject) => {
    let output = '';
    const settle = () => {
      clearTimeout(timer);
      for (const stream of [child.stdout, child.stderr]) stream.off('data', said).resume(); // (drained from now on)
      child.off('close', closed).off('error', failed);
    };
    const said = (chunk) => {
      output += chunk;
      if (ready.test(output)) { settle(); resolve(); }
    };
    const closed = (code, signal) => {
      settle();
      const saidTaken = output.split('\n').findLast((line) => taken.test(line));
      if (saidTaken) reject(new PortTaken(`${name}: ${saidTaken.trim()}`));
      else reject(new Error(`${name} exited (${code ?? signal}) before it listened: ${output.trim()}`));
    };
    const failed = (error) => { settle(); reject(error); };
    const timer = setTimeout(() => {
      settle();
      child.once('close', () => reject(new Error(`${name} did not listen within ${timeoutMs} ms: ${output.trim()}`)));
      child.kill('SIGKILL');
    }, timeoutMs);
    for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', said);
    child.once('close', closed).once('error', failed);
  });
}

// startOnFreePort: a child that cannot bind the port it was given, because something took
// it after freePort found it free, is started on another; the tests hold the port first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createClient } from 'redis';
import { freePort, startOnFreePort } from './ports.mjs';
import { RedisServer } from './redis-server.mjs';

async function holdPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, release: () => new Promise((resolve) => server.close(resolve)) };
}

test('a redis-server whose port was taken is started on another, and answers there', async () => {
  const held = await holdPort();
  const picked = [];
  const pickPort = async () => {
    picked.push(picked.length === 0 ? held.port : await freePort());
    return picked.at(-1);
  };
  try {
    const server = await RedisServer.start({ pickPort });
    try {
      assert.equal(picked.length, 2);
      assert.equal(server.port, picked[1]);
      const client = createClient({ url: server.url });
      await client.connect();
      try {
        // The server answering there is the one started, not another.
        assert.equal(/process_id:(\d+)/.exec(await client.info('server'))[1], String(server.process.pid));
      } finally {
        await client.quit();
      }
    } finally {
      await server.stop();
    }
  } finally {
    await held.release();
  }
});

test('when every port tried is taken, the error names them', async () => {
  const held = [await holdPort(), await holdPort()];
  let picks = 0;
  try {
    await assert.rejects(RedisServer.start({ attempts: 2, pickPort: async () => held[picks++].port }), {
      message: new RegExp(`^no free port after 2 tries \\(ports ${held[0].port}, ${held[1].port}\\): each time something took one before the child ` +
        `could bind it; the last: redis-server on port ${held[1].port}: .*Address already in use$`),
    });
  } finally {
    for (const { release } of held) await release();
  }
});

test('a start that fails for another reason is not tried again', async () => {
  let picks = 0;
  const failing = async () => { throw new Error('not a port problem'); };
  await assert.rejects(startOnFreePort(failing, { pickPort: async () => { picks++; return 1; } }), { message: 'not a port problem' });
  assert.equal(picks, 1);
});

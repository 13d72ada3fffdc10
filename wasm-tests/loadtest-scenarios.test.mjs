// The load tester's built-in scenarios (`qv loadtest run --scenario NAME`, native) against the
// local edge server as `npm start` runs it: the edge function on edge-runtime in front of the
// router and the demo regional origins, with a demo API key. Every request must succeed and
// every check on a status must pass; the scenarios' latency thresholds are not asserted (a
// timing is the machine's, not the behaviour's).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runServer } from 'edge-runtime';
import { createEdgeRuntime, loadEdgeConfig } from '../edge/runtime.mjs';
import { startRegionalOrigins, routerConfigFor } from '../edge/regional-origins.mjs';

const QV = new URL('../build/native/qv', import.meta.url).pathname;
const ORIGIN_SECRET = 'test-origin-secret'; // the demo origins serve only requests with it
const SCENARIOS = ['voice-api-load', 'dashboard-load', 'api-crud-load'];

let origins;
let server;
let dir;
before(async () => {
  origins = await startRegionalOrigins({ secret: ORIGIN_SECRET, dataDelayMs: 1 });
  const config = await loadEdgeConfig();
  const runtime = await createEdgeRuntime({ originSecret: ORIGIN_SECRET, config: { ...config, router: routerConfigFor(origins.urls) } });
  server = await runServer({ runtime, port: 0, host: '127.0.0.1' });
  dir = await mkdtemp(join(tmpdir(), 'qv-loadtest-scenarios-'));
});
after(async () => {
  await server?.close();
  await origins?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const name of SCENARIOS) {
  test(`the built-in scenario ${name} passes its status checks against the local edge server`, async () => {
    const summaryFile = join(dir, `${name}.json`);
    // Exit 99 (a latency threshold crossed on a slow machine) is read like 0: the summary decides.
    await promisify(execFile)(QV, ['loadtest', 'run', '--scenario', name, '--intensity', 'low',
      '--base-url', server.url.replace(/\/$/, ''), '-H', 'x-api-key: qv_demo_enterprise', '--duration', '4s',
      '--summary-json', summaryFile, '-q']).catch((error) => { if (error.code !== 99) throw error; });
    const summary = JSON.parse(await readFile(summaryFile, 'utf8'));
    const requests = summary.metrics.http_reqs.values.count;
    assert.ok(requests > 0, 'requests were sent');
    assert.equal(summary.metrics.http_req_failed.values.passes, 0, `failed requests: ${JSON.stringify(summary.errors)}`);
    const statusChecks = summary.checks.filter((check) => check.name.startsWith('status'));
    assert.ok(statusChecks.length >= 3, 'the scenario checks statuses');
    for (const check of statusChecks) {
      assert.deepEqual([check.request, check.name, check.fails], [check.request, check.name, 0]);
      assert.ok(check.passes > 0, `${check.request}: ${check.name} ran`);
    }
  });
}

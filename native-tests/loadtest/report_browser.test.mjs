// qv loadtest's HTML report as a user sees it: opened from disk in a real browser (Debian's
// chromium-headless-shell, driven by puppeteer-core), on a desktop and on a phone. CTest runs
// it with QV_BINARY (native-tests/CMakeLists.txt); QV_BROWSER names another Chromium.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import puppeteer from 'puppeteer-core';

const qv = process.env.QV_BINARY;
const browserPath = process.env.QV_BROWSER || '/usr/bin/chromium-headless-shell';
const dir = mkdtempSync(join(tmpdir(), 'qv-report-'));
let server;
let browser;
let reportUrl;
let summary;

// A service that answers every tenth request 503, so that the error plot and table have data.
function startServer() {
  let count = 0;
  server = http.createServer((request, response) => {
    const busy = ++count % 10 === 0;
    response.writeHead(busy ? 503 : 200, { 'content-type': 'application/json' });
    response.end(busy ? '{"error":"busy"}' : '{"campaigns":[]}');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

before(async () => {
  assert.ok(qv, 'QV_BINARY is not set: run the test through ctest (ctest --preset native)');
  assert.ok(existsSync(browserPath), `${browserPath} is missing: bash scripts/setup installs it`);
  const port = await startServer();
  const scenario = join(dir, 'scenario.json');
  writeFileSync(scenario, JSON.stringify({
    name: 'dashboard <report> & "checks"', // escaped in the page
    baseUrl: `http://127.0.0.1:${port}`,
    executor: 'constant-arrival-rate',
    rate: 200,
    duration: '1s',
    preAllocatedVUs: 4,
    threads: 1,
    requests: [
      { name: 'campaigns.list', url: '/api/campaigns', weight: 3,
        checks: { 'status is 2xx': 'status < 300' } },
      { name: 'leads.list', url: '/api/leads' },
    ],
  }));
  await promisify(execFile)(qv, ['loadtest', 'run', scenario, '-q',
    '--report', join(dir, 'report.html'), '--summary-json', join(dir, 'summary.json'),
    '--threshold', 'http_req_duration:p(99)<60000', '--threshold', 'http_req_failed:rate<0.01']).catch(
    (error) => assert.equal(error.code, 99, `qv failed: ${error.stderr}`)); // the failed threshold
  reportUrl = pathToFileURL(join(dir, 'report.html')).href;
  summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
  browser = await puppeteer.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

// A cell giving `count` bytes as the report writes it (format_bytes in
// tools/qv/loadtest/units.cpp): in B, kB, MB, GB or TB, to 3 significant figures at most.
function assertBytes(cell, count, what) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let unit = 0;
  let value = count;
  while (value >= 1000 && unit < 4) value /= 1000, ++unit;
  const decimals = unit === 0 ? 0 : value < 10 ? 2 : 1;
  const [number, written] = cell.split(' ');
  assert.equal(written, units[unit], `${what}: ${cell} for ${count} bytes`);
  // Rounded to its decimals (a tie may go either way).
  assert.ok(Math.abs(Number(number) - value) <= 0.5 * 10 ** -decimals + 1e-9,
    `${what}: ${cell} for ${count} bytes`);
}

// Opens the report at a viewport; returns the page and what the browser said and fetched.
async function open(width, height) {
  const page = await browser.newPage();
  const messages = [];
  const requests = [];
  page.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => messages.push(`error: ${error.message}`));
  page.on('request', (request) => requests.push(request.url()));
  await page.setViewport({ width, height });
  await page.goto(reportUrl, { waitUntil: 'load' });
  return { page, messages, requests };
}

test('the page loads alone: no request beyond itself, no console message, no script', async () => {
  const { page, messages, requests } = await open(1280, 800);
  assert.deepEqual(requests, [reportUrl]);
  assert.deepEqual(messages, []);
  const policy = await page.$eval('meta[http-equiv="Content-Security-Policy"]', (m) => m.content);
  assert.match(policy, /default-src 'none'/);
  // The policy is in force: a script added to the page does not run.
  const ran = await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.ranInline = true';
    document.body.append(script);
    return window.ranInline === true;
  });
  assert.equal(ran, false);
  await page.close();
});

test('the tables show the run the JSON summary describes', async () => {
  const { page } = await open(1280, 800);
  const text = await page.evaluate(() => ({
    title: document.title,
    headings: [...document.querySelectorAll('h2')].map((h) => h.textContent),
    tables: Object.fromEntries([...document.querySelectorAll('h2')]
      .filter((h) => h.nextElementSibling?.querySelector('table'))
      .map((h) => [h.textContent, [...h.nextElementSibling.querySelectorAll('tr')]
        .map((row) => [...row.cells].map((cell) => cell.textContent))])),
  }));
  assert.equal(text.title, 'qv loadtest: dashboard <report> & "checks"');
  assert.deepEqual(text.headings, ['Thresholds', 'Requests', 'Phases', 'Totals', 'Errors by class', 'Checks',
    'Over time', 'Percentile spectrum', 'Recommendations']);

  const metrics = summary.metrics;
  const columns = text.tables.Requests[0];
  assert.deepEqual(columns.slice(0, 6), ['name', 'requests', 'req/s', 'failed', 'received', 'sent']);
  const requests = Object.fromEntries(text.tables.Requests.slice(1).map((row) => [row[0], row]));
  for (const [name, tag] of [['campaigns.list', '{name:campaigns.list}'],
    ['leads.list', '{name:leads.list}'], ['all', '']]) {
    assert.equal(Number(requests[name][1]), metrics[`http_reqs${tag}`].values.count, name);
    for (const data of ['received', 'sent']) {
      assertBytes(requests[name][columns.indexOf(data)], metrics[`data_${data}${tag}`].values.count,
        `${name} ${data}`);
    }
  }
  assert.ok(metrics['data_sent{name:leads.list}'].values.count > 0);
  assert.ok(metrics.http_reqs.values.count > 100);

  const thresholds = text.tables.Thresholds.slice(1).map((row) => [row[1], row[3]]);
  assert.deepEqual(thresholds, [['p(99)<60000', 'pass'], ['rate<0.01', 'FAIL']]);

  const [header, totals] = text.tables.Totals;
  assert.equal(Number(totals[header.indexOf('iterations')]), metrics.iterations.values.count);
  assertBytes(totals[header.indexOf('data received')], metrics.data_received.values.count,
    'data received');
  assert.equal(Number(totals[header.indexOf('delayed')]), metrics.delayed_iterations.values.count);
  const [classes, errors] = text.tables['Errors by class'];
  assert.equal(Number(errors[classes.indexOf('http_5xx')]), metrics.http_req_failed.values.passes);
  assert.ok(metrics.http_req_failed.values.passes > 0);

  const check = text.tables.Checks.find((row) => row[0] === 'campaigns.list: status is 2xx');
  assert.deepEqual(check.slice(1).map(Number),
    [summary.checks[0].passes, summary.checks[0].fails]);

  // The summary embedded in the page is the one --summary-json wrote.
  const embedded = await page.$eval('#qv-summary', (element) => JSON.parse(element.textContent));
  assert.deepEqual(embedded, summary);
  await page.close();
});

test('every plot is drawn inside its frame, with its title and series', async () => {
  const { page } = await open(1280, 800);
  // On a desktop nothing needs its own scrolling: every table and plot fits its box.
  const overflowing = await page.evaluate(() => [...document.querySelectorAll('.scroll')]
    .filter((box) => box.scrollWidth > box.clientWidth).map((box) => box.firstChild.tagName));
  assert.deepEqual(overflowing, []);
  const plots = await page.evaluate(() => [...document.querySelectorAll('svg')].map((svg) => {
    const frame = svg.viewBox.baseVal;
    const box = svg.getBoundingClientRect();
    // A series is a path, or a dot when it has one point (a run of one second).
    const lines = [...svg.querySelectorAll('path, circle')].map((line) => {
      const b = line.getBBox();
      return { label: line.querySelector('title').textContent,
        length: line.tagName === 'circle' ? line.r.baseVal.value : line.getTotalLength(),
        x: b.x, y: b.y, right: b.x + b.width, bottom: b.y + b.height };
    });
    return { title: svg.getAttribute('aria-label'), width: box.width, height: box.height,
      frame: { width: frame.width, height: frame.height }, lines };
  }));
  assert.deepEqual(plots.map((plot) => plot.title), ['Latency percentiles per second',
    'Throughput and errors per second', 'Active VUs', 'Latency by percentile']);
  assert.deepEqual(plots.map((plot) => plot.lines.map((line) => line.label)), [
    ['p50', 'p90', 'p99', 'max', 'p99 uncorrected'], ['requests/s', 'errors/s'], ['VUs'],
    ['all (corrected)', 'all (uncorrected)', 'campaigns.list', 'leads.list']]);
  for (const plot of plots) {
    assert.ok(plot.width > 800 && plot.height > 200, `${plot.title}: ${plot.width}×${plot.height}`);
    assert.ok(plot.lines.length > 0, `${plot.title}: no series drawn`);
    for (const line of plot.lines) {
      assert.ok(line.length > 0, `${plot.title}: ${line.label} draws nothing`);
      assert.ok(line.x >= 0 && line.y >= 0 && line.right <= plot.frame.width &&
        line.bottom <= plot.frame.height, `${plot.title}: a series outside the frame`);
    }
  }
  await page.close();
});

test('on a phone the page never scrolls sideways; wide tables and plots scroll in their box', async () => {
  const { page } = await open(390, 844);
  const layout = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    boxes: [...document.querySelectorAll('table, svg')].map((element) => {
      const box = element.parentElement;
      return { tag: element.tagName, width: element.getBoundingClientRect().width,
        box: box.clientWidth, scrolls: getComputedStyle(box).overflowX === 'auto' };
    }),
  }));
  assert.ok(layout.page <= layout.viewport, `the page is ${layout.page} px wide in ${layout.viewport}`);
  for (const box of layout.boxes) {
    if (box.width > box.box) assert.ok(box.scrolls, `a ${box.tag} wider than its box does not scroll`);
  }
  // Plots keep a width at which their labels stay readable.
  for (const box of layout.boxes.filter((b) => b.tag === 'svg')) assert.ok(box.width >= 600);
  await page.close();
});

// Renders docs/images/loadtest-report.png, the picture of qv loadtest's HTML report that
// docs/loadtest.md shows: a 22-second ramping-arrival-rate run of two requests against a
// test service started here, its report opened in Chromium at 1,000 px and captured whole.
//
//   node scripts/render-report-image.mjs [OUT.png]
//
// Needs build/native/qv (npm run build -- native) and Chromium (scripts/setup installs
// /usr/bin/chromium-headless-shell; QV_BROWSER names another). The figures differ from run to
// run (they are measured); the service's shape does not: most answers fast, the list of leads
// slower, one in 170 a 503, one in 200 delayed by 80 ms, so that every table and plot has data.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import puppeteer from 'puppeteer-core';

const root = fileURLToPath(new URL('..', import.meta.url));
const qv = join(root, 'build/native/qv');
const browserPath = process.env.QV_BROWSER || '/usr/bin/chromium-headless-shell';
const out = process.argv[2] ?? join(root, 'docs/images/loadtest-report.png');
for (const [path, how] of [[qv, 'npm run build -- native'], [browserPath, 'bash scripts/setup']]) {
  if (!existsSync(path)) {
    console.error(`render-report-image: ${path} is missing: ${how} makes it`);
    process.exit(1);
  }
}

let count = 0;
const service = http.createServer((request, response) => {
  const n = ++count;
  const ms = (request.url.startsWith('/api/leads') ? 25 : 8) + (n % 200 === 0 ? 80 : 0);
  setTimeout(() => {
    const busy = n % 170 === 0;
    response.writeHead(busy ? 503 : 200, { 'content-type': 'application/json' });
    response.end(busy ? '{"error":"busy"}' : '{"items":[]}');
  }, ms);
});
await new Promise((resolve) => service.listen(0, '127.0.0.1', resolve));

const dir = mkdtempSync(join(tmpdir(), 'qv-report-image-'));
let browser;
try {
  const scenario = join(dir, 'dashboard.json');
  writeFileSync(scenario, JSON.stringify({
    name: 'dashboard',
    baseUrl: `http://127.0.0.1:${service.address().port}`,
    executor: 'ramping-arrival-rate',
    startRate: 50,
    timeUnit: '1s',
    stages: [{ duration: '8s', target: 400 }, { duration: '10s', target: 400 }, { duration: '4s', target: 100 }],
    preAllocatedVUs: 4,
    maxVUs: 40,
    threads: 2,
    requests: [
      { name: 'campaigns.list', url: '/api/campaigns', weight: 3, checks: { 'status is 2xx': 'status < 300' } },
      { name: 'leads.list', url: '/api/leads', checks: { 'status is 2xx': 'status < 300' } },
    ],
    thresholds: { http_req_duration: ['p(95)<200'], http_req_failed: ['rate<0.01'] },
  }));
  const report = join(dir, 'report.html');
  await promisify(execFile)(qv, ['loadtest', 'run', scenario, '-q', '--report', report]).catch((error) => {
    if (error.code !== 99) throw error; // 99: a threshold failed, and the report still shows it
  });
  browser = await puppeteer.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 800 });
  await page.goto(pathToFileURL(report).href, { waitUntil: 'load' });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`render-report-image: wrote ${out}`);
} finally {
  await browser?.close();
  service.close();
  rmSync(dir, { recursive: true, force: true });
}

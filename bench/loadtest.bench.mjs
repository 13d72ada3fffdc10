// Benchmark `loadtest`: requests per second of `qv loadtest run` against wrk (Debian's) on
// the same nginx on loopback, same connections, threads and duration, alternated round by
// round; the same over https (nginx's TLS server, a self-signed certificate); then
// autocannon (npm, with as many worker threads) the same way; then the peak memory (max RSS)
// of qv and wrk holding 10,000 open connections. Every comparison is a ratio measured in
// this run.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { alternateRounds, mid } from './rounds.mjs';
import { saidListening, startOnFreePort } from '../wasm-tests/ports.mjs';

// Not lib.mjs: that imports the WebAssembly shim from dist/, which this benchmark never uses.
const root = new URL('../', import.meta.url);
function nativeBinary(name) {
  const path = new URL(`build/native/${name}`, root).pathname;
  if (!existsSync(path)) throw new Error(`${name} not built: run npm run build -- native`);
  return path;
}

const CONNECTIONS = 50;
const THREADS = 2;
const DURATION_S = 3;
const ROUNDS = 7;
const TLS_ROUNDS = 3;
const MANY_CONNECTIONS = 10_000;

async function startNginx() {
  const prefix = mkdtempSync(join(tmpdir(), 'qv-bench-nginx-'));
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '2', '-subj', '/CN=qv bench', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(prefix, 'key.pem'), '-out', join(prefix, 'cert.pem')], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl req: ${made.stderr}`);
  // The page nginx serves by default, about 600 bytes: a small static response, as wrk's own examples use.
  writeFileSync(join(prefix, 'index.html'), '<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body>' +
    '<h1>Welcome to nginx!</h1>' + '<p>If you see this page, the nginx web server is successfully installed and working.</p>'.repeat(4) +
    '</body></html>\n');
  // nginx says "start worker processes" once it holds its ports (its log at notice, on stderr);
  // a port taken since freePort found it free: both again on others.
  const { child, port, tlsPort } = await startOnFreePort(async (port, tlsPort) => {
    writeFileSync(join(prefix, 'nginx.conf'), `
worker_processes 1;
user root;
error_log stderr notice;
worker_rlimit_nofile 40000;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port} backlog=16384;
    root ${prefix};
  }
  server {
    listen 127.0.0.1:${tlsPort} ssl backlog=16384;
    ssl_certificate ${prefix}/cert.pem;
    ssl_certificate_key ${prefix}/key.pem;
    root ${prefix};
  }
}
`);
    const child = spawn('/usr/sbin/nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', `daemon off; pid ${prefix}/nginx.pid;`],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    await saidListening(child, { name: `nginx on ports ${port} and ${tlsPort}`, ready: /start worker processes/, taken: /Address already in use/ });
    return { child, port, tlsPort };
  }, { ports: 2 });
  const url = `http://127.0.0.1:${port}/index.html`;
  const httpsUrl = `https://127.0.0.1:${tlsPort}/index.html`;
  return { url, httpsUrl, stop: () => { child.kill('SIGTERM'); rmSync(prefix, { recursive: true, force: true }); } };
}

// Runs a command to its end; resolves to stdout, stderr, the max RSS in KiB and the CPU
// seconds (user + system) it used, from GNU time.
function runTimed(command, args) {
  return new Promise((resolve, reject) => {
    const timeFile = join(tmpdir(), `qv-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      const [maxRssKiB, user, system] = existsSync(timeFile)
        ? readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number) : [NaN, NaN, NaN];
      rmSync(timeFile, { force: true });
      resolve({ code, stdout, stderr, maxRssKiB, cpuSeconds: user + system });
    });
  });
}

async function qvRun(qv, url, connections, threads, seconds, extra = []) {
  const summaryFile = join(tmpdir(), `qv-bench-summary-${process.pid}.json`);
  const args = ['loadtest', 'run', '--url', url, '-c', String(connections), '-t', String(threads), '-d', `${seconds}s`, ...extra, '-q', '--summary-json', summaryFile];
  const result = await runTimed(qv, args);
  if (result.code !== 0) throw new Error(`qv failed (${result.code}): ${result.stderr}`);
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
  rmSync(summaryFile, { force: true });
  return {
    command: `build/native/qv ${args.slice(0, -2).join(' ')}`,
    rps: summary.metrics.http_reqs.values.rate,
    requests: summary.metrics.http_reqs.values.count,
    errors: summary.metrics.http_req_failed.values.passes,
    vusMax: summary.metrics.vus_max.values.value,
    p99ms: summary.metrics.http_req_duration.values['p(99)'],
    maxRssKiB: result.maxRssKiB,
    cpuMicrosPerRequest: result.cpuSeconds * 1e6 / summary.metrics.http_reqs.values.count,
    selfReportedPeakRssKiB: summary.state.peakRssKiB,
  };
}

async function wrkRun(url, connections, threads, seconds) {
  const args = ['-c', String(connections), '-t', String(threads), '-d', `${seconds}s`, '--timeout', '10s', url];
  const result = await runTimed('wrk', args);
  const match = result.stdout.match(/Requests\/sec:\s+([\d.]+)/);
  if (result.code !== 0 || !match) throw new Error(`wrk failed: ${result.stdout}${result.stderr}`);
  const errors = result.stdout.match(/Socket errors: (.*)/);
  const requests = Number(result.stdout.match(/(\d+) requests in/)[1]);
  return {
    command: `wrk ${args.join(' ')}`, rps: Number(match[1]), requests, maxRssKiB: result.maxRssKiB,
    cpuMicrosPerRequest: result.cpuSeconds * 1e6 / requests, socketErrors: errors ? errors[1] : 'none',
  };
}

async function autocannonRun(url, connections, workers, seconds) {
  const bin = new URL('node_modules/.bin/autocannon', root).pathname;
  const args = ['-c', String(connections), '-w', String(workers), '-d', String(seconds), '--json', url];
  const result = await runTimed(bin, args);
  if (result.code !== 0) throw new Error(`autocannon failed: ${result.stderr}`);
  const report = JSON.parse(result.stdout);
  return { command: `autocannon ${args.join(' ')}`, rps: report.requests.total / (report.duration || seconds), errors: report.errors + report.non2xx };
}

// qv and wrk on one URL, alternated round by round; each round's figures and the medians.
async function alternate(qv, url, count, qvOptions = []) {
  const rounds = await alternateRounds({
    qv: () => qvRun(qv, url, CONNECTIONS, THREADS, DURATION_S, qvOptions),
    wrk: () => wrkRun(url, CONNECTIONS, THREADS, DURATION_S),
  }, count, (entry) => {
    entry.ratio = entry.qv.rps / entry.wrk.rps;
    // CPU the client spent per request: what the tool itself costs, less swayed by
    // whatever else the shared machine runs than requests per second are.
    entry.cpuRatio = entry.wrk.cpuMicrosPerRequest / entry.qv.cpuMicrosPerRequest;
    console.log(`round ${entry.round}: qv ${entry.qv.rps.toFixed(0).padStart(7)} req/s   wrk ${entry.wrk.rps.toFixed(0).padStart(7)} req/s   qv/wrk ${entry.ratio.toFixed(2)}` +
      `   client CPU per request: qv ${entry.qv.cpuMicrosPerRequest.toFixed(1)} µs, wrk ${entry.wrk.cpuMicrosPerRequest.toFixed(1)} µs`);
  });
  return {
    rounds,
    qvRps: mid(rounds, (r) => r.qv.rps),
    wrkRps: mid(rounds, (r) => r.wrk.rps),
    ratioQvToWrk: mid(rounds, (r) => r.ratio),
    ratioCpuPerRequestWrkToQv: mid(rounds, (r) => r.cpuRatio),
  };
}

export async function run() {
  const qv = nativeBinary('qv');
  const nginx = await startNginx();
  const figures = { connections: CONNECTIONS, threads: THREADS, durationSeconds: DURATION_S, rounds: ROUNDS, nginx: spawnSync('/usr/sbin/nginx', ['-v'], { encoding: 'utf8' }).stderr.trim() };
  try {
    console.log(`qv loadtest vs wrk vs autocannon on nginx (1 worker) at ${nginx.url}: -c ${CONNECTIONS} -t ${THREADS} -d ${DURATION_S}s, ${ROUNDS} rounds, alternated`);
    const plain = await alternate(qv, nginx.url, ROUNDS);
    console.log(`median: qv ${plain.qvRps.toFixed(0)} req/s, wrk ${plain.wrkRps.toFixed(0)} req/s, qv/wrk ${plain.ratioQvToWrk.toFixed(2)} (goal >= 1.0); ` +
      `wrk's CPU per request / qv's ${plain.ratioCpuPerRequestWrkToQv.toFixed(2)}`);

    // https: wrk does not check certificates, so qv runs with -k (--insecure) too.
    console.log(`the same over https (${nginx.httpsUrl}, TLS 1.2 (nginx 1.22's default protocols), qv with -k as wrk checks no certificate), ${TLS_ROUNDS} rounds`);
    const tls = await alternate(qv, nginx.httpsUrl, TLS_ROUNDS, ['-k']);
    console.log(`median: qv ${tls.qvRps.toFixed(0)} req/s, wrk ${tls.wrkRps.toFixed(0)} req/s, qv/wrk ${tls.ratioQvToWrk.toFixed(2)}; ` +
      `wrk's CPU per request / qv's ${tls.ratioCpuPerRequestWrkToQv.toFixed(2)}`);

    // autocannon with as many worker threads as qv has threads, the same connections and
    // duration, alternated with qv.
    const cannonRounds = await alternateRounds({
      qv: () => qvRun(qv, nginx.url, CONNECTIONS, THREADS, DURATION_S),
      autocannon: () => autocannonRun(nginx.url, CONNECTIONS, THREADS, DURATION_S),
    }, TLS_ROUNDS, (entry) => {
      entry.ratio = entry.qv.rps / entry.autocannon.rps;
      console.log(`round ${entry.round}: qv ${entry.qv.rps.toFixed(0).padStart(7)} req/s   autocannon ${entry.autocannon.rps.toFixed(0).padStart(7)} req/s   qv/autocannon ${entry.ratio.toFixed(2)}`);
    });
    const cannon = {
      qvRps: mid(cannonRounds, (r) => r.qv.rps), autocannonRps: mid(cannonRounds, (r) => r.autocannon.rps),
      ratioQvToAutocannon: mid(cannonRounds, (r) => r.ratio), command: cannonRounds[0].autocannon.command, rounds: cannonRounds,
    };
    console.log(`median: qv ${cannon.qvRps.toFixed(0)} req/s, autocannon ${cannon.autocannonRps.toFixed(0)} req/s, qv/autocannon ${cannon.ratioQvToAutocannon.toFixed(2)}`);

    // Peak memory holding 10,000 open keep-alive connections for DURATION_S.
    const manyQv = await qvRun(qv, nginx.url, MANY_CONNECTIONS, THREADS, DURATION_S);
    const manyWrk = await wrkRun(nginx.url, MANY_CONNECTIONS, THREADS, DURATION_S);
    console.log(`${MANY_CONNECTIONS} connections: qv max RSS ${(manyQv.maxRssKiB / 1024).toFixed(1)} MiB (VUs ${manyQv.vusMax}, ${manyQv.errors} failed requests, ${manyQv.rps.toFixed(0)} req/s); ` +
      `wrk max RSS ${(manyWrk.maxRssKiB / 1024).toFixed(1)} MiB (${manyWrk.rps.toFixed(0)} req/s, socket errors: ${manyWrk.socketErrors})`);
    Object.assign(figures, {
      rounds: plain.rounds,
      median: { qvRps: plain.qvRps, wrkRps: plain.wrkRps, ratioQvToWrk: plain.ratioQvToWrk, ratioCpuPerRequestWrkToQv: plain.ratioCpuPerRequestWrkToQv },
      https: tls,
      autocannon: cannon,
      tenThousandConnections: { qv: manyQv, wrk: manyWrk, ratioRss: manyQv.maxRssKiB / manyWrk.maxRssKiB },
    });
  } finally {
    nginx.stop();
  }
  return figures;
}

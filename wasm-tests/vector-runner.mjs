// Runs behavioural test vectors (docs/test-vectors.md) through the JS shim. Pure ES
// module with no Node.js imports, so the same runner works in Node.js and, bundled,
// inside edge-runtime.

import { instantiate } from '../host-shims/js/qv.mjs';
import { MemoryKv } from '../host-shims/js/kv-memory.mjs';

export const DEFAULT_NOW_MS = 1764115200000; // 2025-11-26T00:00:00Z

const decoder = new TextDecoder();

function close(a, b) {
  const scale = Math.max(1, Math.abs(a), Math.abs(b));
  return Math.abs(a - b) <= 1e-9 * scale;
}

// Differences between expected and actual; `subset` lets actual objects have extra keys.
export function compareJson(expected, actual, subset, path = '', problems = []) {
  const where = path || '(root)';
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (!close(expected, actual)) problems.push(`${where}: expected ${expected}, got ${actual}`);
  } else if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      problems.push(`${where}: expected an array of ${expected.length}, got ${JSON.stringify(actual)}`);
    } else {
      expected.forEach((item, i) => compareJson(item, actual[i], subset, `${path}[${i}]`, problems));
    }
  } else if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
      problems.push(`${where}: expected an object, got ${JSON.stringify(actual)}`);
    } else {
      for (const key of Object.keys(expected)) {
        const child = path ? `${path}.${key}` : key;
        if (!(key in actual)) problems.push(`${child}: missing`);
        else compareJson(expected[key], actual[key], subset, child, problems);
      }
      if (!subset) {
        for (const key of Object.keys(actual)) {
          if (!(key in expected)) problems.push(`${path ? `${path}.` : ''}${key}: unexpected`);
        }
      }
    }
  } else if (expected !== actual) {
    problems.push(`${where}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
  return problems;
}

// A case's `origin` as a fetch function: its answers in order, each a Response whose Headers
// were given the answer's header lines one by one, so a field on several lines reaches the
// module as fetch() hands it over, joined into one with ", " (Set-Cookie aside), where the
// native runner gives it line by line. An answer's `request` names headers its request must
// carry (a string) or must not (null); `problems` collects what differed.
function originOf(answers, problems) {
  let taken = 0;
  const fetch = async (url, init) => {
    if (taken === answers.length) throw new TypeError('the case gives no more origin answers');
    const answer = answers[taken];
    const where = `origin[${taken++}].request.`;
    const sent = new Headers(init?.headers);
    for (const [name, want] of Object.entries(answer.request ?? {})) {
      const got = sent.get(name);
      if (got !== want) problems.push(`${where}${name}: expected ${want === null ? 'none' : JSON.stringify(want)}, got ${got === null ? 'none' : JSON.stringify(got)}`);
    }
    const headers = new Headers();
    // As on the wire: a value's UTF-8 bytes, one char each (what Headers hold).
    const wire = (value) => String.fromCharCode(...new TextEncoder().encode(value));
    for (const [name, value] of answer.headers ?? []) headers.append(name, wire(value));
    const status = answer.status ?? 200;
    const empty = status === 204 || status === 304;
    return new Response(empty ? null : answer.body ?? '', { status, headers });
  };
  return { fetch, taken: () => taken };
}

/** Runs one case on a fresh instance of module; resolves to a list of problems (empty: pass). */
export async function runCase(module, testCase) {
  const now = () => testCase.nowMs ?? DEFAULT_NOW_MS;
  const kv = new MemoryKv({ now });
  for (const [key, value] of Object.entries(testCase.kv ?? {})) await kv.set(key, value);
  // Random bytes count up from 1 (1, 2, ..., 255, 1, ...), as the native runner's do.
  let next = 0;
  const randomBytes = (buffer) => { for (let i = 0; i < buffer.length; i++) buffer[i] = next = (next % 255) + 1; };
  const problems = [];
  const origin = originOf(testCase.origin ?? [], problems);
  const qv = await instantiate(module, { kv, now, log: () => {}, randomBytes, fetch: origin.fetch });
  for (const step of testCase.setup ?? []) {
    const { status, body } = await qv.invoke(step.method, step.input ?? {});
    if (status !== 'ok') problems.push(`setup ${step.method}: ${status}: ${body?.message}`);
  }
  if (problems.length) return problems;
  if (!('input' in testCase) && !('inputText' in testCase)) return ['case has neither input nor inputText'];
  const input = 'inputText' in testCase ? testCase.inputText : JSON.stringify(testCase.input);
  const { status, body } = await qv.invoke(testCase.method, input);
  const expect = testCase.expect ?? {};
  if (expect.status !== status) {
    problems.push(`status: expected ${expect.status}, got ${status} (${JSON.stringify(body)})`);
  }
  if ('output' in expect) compareJson(expect.output, body, false, '', problems);
  if ('outputIncludes' in expect) compareJson(expect.outputIncludes, body, true, '', problems);
  if ('messageContains' in expect && !String(body?.message ?? '').includes(expect.messageContains)) {
    problems.push(`message: expected to contain ${JSON.stringify(expect.messageContains)}, got ${JSON.stringify(body?.message)}`);
  }
  if (origin.taken() !== (testCase.origin ?? []).length) {
    problems.push(`origin: ${origin.taken()} of its ${testCase.origin.length} answers were fetched`);
  }
  for (const [key, value] of Object.entries(testCase.expectKv ?? {})) {
    const stored = await kv.get(key);
    const text = stored == null ? null : decoder.decode(stored);
    if (text !== value) problems.push(`kv ${key}: expected ${JSON.stringify(value)}, got ${JSON.stringify(text)}`);
  }
  return problems;
}

/** Runs every case of every file: [{file, name, problems}]. */
export async function runVectorFiles(module, files) {
  const results = [];
  for (const { file, data } of files) {
    for (const testCase of data.cases) {
      let problems;
      try {
        problems = await runCase(module, testCase);
      } catch (error) {
        problems = [`threw: ${error?.stack ?? error}`];
      }
      results.push({ file, name: testCase.name, problems });
    }
  }
  return results;
}

// The behavioural vectors through the JS shim, on both WebAssembly flavours in Node.js.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadModule, FLAVOURS } from '../dist/js/node.mjs';
import { runCase } from './vector-runner.mjs';
import { loadVectorFiles } from './vector-files.mjs';

const files = await loadVectorFiles();

for (const flavour of FLAVOURS) {
  describe(`vectors on ${flavour}`, () => {
    let module;
    before(async () => { module = await loadModule(flavour); });
    for (const { file, data } of files) {
      describe(file, () => {
        for (const testCase of data.cases) {
          test(testCase.name, async () => {
            const problems = await runCase(module, testCase);
            assert.deepEqual(problems, [], problems.join('\n'));
          });
        }
      });
    }
  });
}

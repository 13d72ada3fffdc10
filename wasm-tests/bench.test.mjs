// The benchmarks' own arithmetic, with the processes they time replaced by given figures:
// which side runs when, and how a ratio between two sides is taken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAVOURS } from '../dist/js/node.mjs';
import { coldStarts } from '../bench/startup.bench.mjs';

test('startup: the rows alternate process by process, and the cold ratio is the median of the rounds\' ratios', async () => {
  const [a, b] = FLAVOURS;
  const rows = [{ name: a }, { name: b }, { name: 'eager' }];
  // Cold start (instantiate + 1st call) per round: the medians are equal (20 ms each),
  // the rounds' ratios b/a are 3, 0.5 and 2/3.
  const cold = { [a]: [10, 20, 30], [b]: [30, 10, 20], eager: [5, 5, 5] };
  const order = [];
  const seen = { [a]: 0, [b]: 0, eager: 0 };
  const figures = await coldStarts(rows, ({ name }) => {
    order.push(name);
    const ms = cold[name][seen[name]++];
    return { compile: 2 * ms, instantiate: 1, first_call: ms - 1, warm_call: 0.5 };
  }, 3);

  assert.deepEqual(order, [a, b, 'eager', 'eager', b, a, a, b, 'eager']);
  assert.equal(figures.processes, 3);
  assert.equal(figures.cold_ratio, 2 / 3);
  assert.equal(figures.flavours[a].cold_ms, 20);
  assert.equal(figures.flavours[b].cold_ms, 20);
  assert.equal(figures.flavours[b].cold_start_in_warm_calls, 40);
  assert.equal(figures.flavours[a].compile_ms, 40);
  assert.deepEqual(figures.flavours.eager.samples.map((s) => s.instantiate + s.first_call), [5, 5, 5]);
});

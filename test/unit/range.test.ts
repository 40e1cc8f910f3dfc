import t from 'tap';
import { UsageError } from '../../plugins/runtime/errors.ts';
import { parseRange, rangeAlerts } from '../../plugins/runtime/range.ts';

// Every row of the guidelines' range table, with values at, inside and beyond each endpoint.
const table: [string, number[], number[]][] = [
  // range, values that alert, values that do not
  ['10', [-1, -0.001, 10.001, 11], [0, 5, 10]],
  ['10:', [-1, 9.999], [10, 11, 1e9]],
  ['~:10', [10.001, 1e9], [-1e9, 0, 10]],
  ['10:20', [9.999, 20.001, -5], [10, 15, 20]],
  ['@10:20', [10, 15, 20], [9.999, 20.001]],
  ['5.5', [5.6, -0.1], [0, 5.5]],
  ['-10:-5', [-11, -4.9, 0], [-10, -7, -5]],
  ['@0', [0], [-0.1, 0.1]],
  ['~:', [], [-1e9, 0, 1e9]],
  [':5', [5.1, -1], [0, 5]],
  ['@~:0', [-5, 0], [0.001]],
];

for (const [text, alerting, quiet] of table) {
  t.test(`range ${text}`, async (t) => {
    const range = parseRange(text);
    for (const v of alerting) t.ok(rangeAlerts(range, v), `${v} alerts`);
    for (const v of quiet) t.notOk(rangeAlerts(range, v), `${v} does not alert`);
    t.equal(range.text, text);
  });
}

t.test('malformed ranges are usage errors with a clear message', async (t) => {
  for (const bad of ['', 'abc', '10:5', '@20:10', '1:2:3', '10::', '~', '@', '5x', '--1', '1e3']) {
    t.throws(() => parseRange(bad), UsageError, `'${bad}' is refused`);
  }
  t.throws(() => parseRange('10:5'), /start 10 is greater than end 5/);
});

import t from 'tap';
import { evaluateScalar } from '../../plugins/runtime/context.ts';
import { printable, renderOutcome } from '../../plugins/runtime/outcome.ts';
import { parseRange } from '../../plugins/runtime/range.ts';
import { CRITICAL, OK, UNKNOWN, WARNING, worst, parseStateName } from '../../plugins/runtime/state.ts';

t.test('first line, perfdata separator and long output', async (t) => {
  const outcome = { state: OK, text: 'all good', perfdata: [{ label: 'time', value: 0.5, uom: 's' as const }], details: ['detail one', 'detail two'] };
  t.equal(renderOutcome('SSH', outcome, { perfSeparator: ' | ' }), 'SSH OK - all good | time=0.5s\ndetail one\ndetail two\n');
  t.equal(renderOutcome('FTP', { ...outcome, details: [] }), 'FTP OK - all good|time=0.5s\n');
  t.equal(renderOutcome('FTP', { ...outcome, state: CRITICAL, perfdata: [], details: [] }), 'FTP CRITICAL - all good\n');
});

t.test('text from a server cannot break the line or start perfdata', async (t) => {
  t.equal(printable('220 ok|x\r\nnext\x07'), '220 ok\\x7cx\\r\\nnext\\x07');
  const out = renderOutcome('FTP', { state: WARNING, text: 'a|b\nc', perfdata: [], details: [] });
  t.equal(out.split('\n').length, 2, 'one line');
  t.notOk(out.includes('|'), 'no perfdata separator');
  t.match(printable('A'.repeat(1000), 256), /^A{256}\.\.\. \(1000 chars\)$/);
});

t.test('output is capped', async (t) => {
  const out = renderOutcome('SSH', { state: OK, text: 'x', perfdata: [], details: Array.from({ length: 500 }, (_, i) => `line ${i} ${'y'.repeat(40)}`) });
  t.ok(Buffer.byteLength(out) <= 4096, `${Buffer.byteLength(out)} bytes`);
  t.match(out, /^SSH OK - x\n/);
  t.match(out, /\(truncated\)\n$/);
});

t.test('scalar context: critical before warning, perfdata from the same ranges', async (t) => {
  const metric = { name: 'time', value: 3, uom: 's' as const, min: 0 };
  const both = evaluateScalar(metric, { warning: parseRange('1'), critical: parseRange('2') });
  t.equal(both.state, CRITICAL);
  t.equal(both.perfdata.warn, '1');
  t.equal(both.perfdata.crit, '2');
  t.equal(evaluateScalar(metric, { warning: parseRange('1'), critical: parseRange('5') }).state, WARNING);
  t.equal(evaluateScalar(metric, { warning: parseRange('@2:4') }).state, WARNING);
  t.equal(evaluateScalar(metric, {}).state, OK);
});

t.test('states', async (t) => {
  t.equal(worst(OK, WARNING), WARNING);
  t.equal(worst(CRITICAL, UNKNOWN), UNKNOWN);
  t.equal(parseStateName('Crit'), CRITICAL);
  t.equal(parseStateName('UNKNOWN'), UNKNOWN);
  t.equal(parseStateName('bogus'), undefined);
});

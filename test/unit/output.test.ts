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

t.test('perfdata across lines: first line as before, the rest after a | on the last long-output line', async (t) => {
  const outcome = {
    state: OK,
    text: 'logged in',
    perfdata: [{ label: 'time', value: 0.25, uom: 's' as const, decimals: 6, min: 0, max: 10 }],
    details: ['connect: 0.001 s', 'login: 0.002 s'],
    longPerfdata: [{ label: 'connect', value: 0.001, uom: 's' as const }, { label: 'login', value: 0.002, uom: 's' as const }],
  };
  t.equal(
    renderOutcome('FTP', outcome),
    'FTP OK - logged in|time=0.250000s;;;0.000000;10.000000\nconnect: 0.001 s\nlogin: 0.002 s|connect=0.001s login=0.002s\n',
  );
  // no long-output line to carry it: the continuation is a line of its own, still after a |
  t.equal(renderOutcome('FTP', { ...outcome, details: [] }), 'FTP OK - logged in|time=0.250000s;;;0.000000;10.000000\n|connect=0.001s login=0.002s\n');
  t.equal(renderOutcome('FTP', { ...outcome, longPerfdata: [] }).split('\n').length, 4, 'no continuation, no | on the long lines');
});

t.test('a | or a line break inside long output cannot start perfdata or a line', async (t) => {
  const out = renderOutcome('SSH', {
    state: WARNING,
    text: 'banner a|b',
    perfdata: [],
    details: ['server said x|y=1', 'two\nlines\r\nhere', 'bell\x07'],
    longPerfdata: [{ label: 'kex', value: 1 }],
  });
  t.equal(out, 'SSH WARNING - banner a\\x7cb\nserver said x\\x7cy=1\ntwo lines here\nbell\\x07|kex=1\n');
  t.equal(out.split('|').length, 2, 'exactly one |: the one before the continued perfdata');
});

t.test('the cap drops long-output lines, never a perfdata item or the first line', async (t) => {
  const details = Array.from({ length: 200 }, (_, i) => `phase ${i} ${'z'.repeat(30)}`);
  const longPerfdata = Array.from({ length: 20 }, (_, i) => ({ label: `phase_${i}`, value: i / 1000, uom: 's' as const, decimals: 6, min: 0 }));
  const outcome = { state: OK, text: 'ok', perfdata: [{ label: 'time', value: 1, uom: 's' as const }], details, longPerfdata };
  const out = renderOutcome('FTP', outcome);
  t.ok(Buffer.byteLength(out) <= 4096, `${Buffer.byteLength(out)} bytes`);
  const lines = out.split('\n');
  t.equal(lines[0], 'FTP OK - ok|time=1s');
  t.equal(lines[lines.length - 1], '', 'ends with a newline');
  t.match(lines[lines.length - 2], /^\(truncated\)\|phase_0=0\.000000s;;;0\.000000 .* phase_19=0\.019000s;;;0\.000000$/, 'all 20 perfdata items after the marker');
  t.ok(lines.slice(1, -2).every((l, i) => l === details[i]), 'the lines kept are the first ones, whole');
  // a first line over the cap: its text is shortened, its perfdata kept
  const huge = renderOutcome('FTP', { state: WARNING, text: 'ä'.repeat(3000), perfdata: [{ label: 'time', value: 2, uom: 's' as const }], details: ['x'], longPerfdata: [{ label: 'a', value: 1 }] }, { maxBytes: 1024 });
  t.ok(Buffer.byteLength(huge) <= 1024, `${Buffer.byteLength(huge)} bytes`);
  t.match(huge, /^FTP WARNING - ä+\.\.\.\|time=2s\n\(truncated\)\n$/);
  t.notOk(huge.includes('\uFFFD'), 'no character cut in half');
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

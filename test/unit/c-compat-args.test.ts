// The command lines monitoring-plugins' own test files (plugins/t/check_ftp.t, check_ssh.t,
// check_tcp.t of 2.3.3 and 3.0) give the C plugins, and what ours make of them before any network
// traffic; and the two output forms of monitoring-plugins 3 (--output-format).
import t from 'tap';
import { checkFtpPlugin } from '../../plugins/ftp/definition.ts';
import { InvalidHost } from '../../plugins/runtime/errors.ts';
import type { Outcome } from '../../plugins/runtime/outcome.ts';
import { parseOutputFormat, renderMultiLine, renderTestJson } from '../../plugins/runtime/output-format.ts';
import { type PluginDefinition, parsePluginArgs } from '../../plugins/runtime/plugin.ts';
import { CRITICAL, OK, UNKNOWN, WARNING } from '../../plugins/runtime/state.ts';
import { checkSshPlugin } from '../../plugins/ssh/definition.ts';

function parse<O>(definition: PluginDefinition<O>, argv: string[]) {
  const parsed = parsePluginArgs(definition, argv, {});
  if (typeof parsed === 'string') throw new Error(`got ${parsed}`);
  return parsed;
}

t.test('check_ftp: the old -wt, -ct and -to, and the host as first bare argument', async (t) => {
  const { options, common } = parse(checkFtpPlugin, ['localhost', '-wt', '300', '-ct', '600']);
  t.equal(options.host, 'localhost');
  t.equal(options.port, 21, 'the FTP port when none is given');
  t.equal(common.warning?.end, 300);
  t.equal(common.critical?.end, 600);
  const quick = parse(checkFtpPlugin, ['10.0.0.1', '-wt', '0', '-ct', '0', '-to', '1']);
  t.equal(quick.common.deadline.seconds, 1, '-to is -t, not -t with the value "o"');
  t.equal(quick.common.critical?.end, 0);
  // check_tcp.t: a port beside them, and -6
  const six = parse(checkFtpPlugin, ['localhost', '-p', '81', '-wt', '0', '-ct', '0', '-to', '1', '-6']);
  t.match(six.options, { host: 'localhost', port: 81, family: 6 });
  t.equal(parse(checkFtpPlugin, ['-to', '5', 'backend-2']).options.host, 'backend-2', 'the host may follow the options');
  t.equal(parse(checkFtpPlugin, ['-H', 'a', '-to', '5']).options.host, 'a');
  // only a whole argument is an old spelling: `-tout` stays -t with the value "out"
  t.throws(() => parse(checkFtpPlugin, ['-H', 'a', '-tout']), /Timeout interval must be a positive number of seconds - out/);
});

t.test('check_ssh: -to, and HOST [PORT] as bare arguments', async (t) => {
  t.equal(parse(checkSshPlugin, ['-H', 'localhost', '-to', '2']).common.deadline.seconds, 2);
  t.match(parse(checkSshPlugin, ['localhost']).options, { host: 'localhost', port: 22 });
  t.match(parse(checkSshPlugin, ['localhost', '2222']).options, { host: 'localhost', port: 2222 });
  t.throws(() => parse(checkSshPlugin, ['localhost', 'ssh']), /Port number must be an integer/, 'a second bare argument must be a port');
  t.throws(() => parse(checkSshPlugin, ['-p', '22', 'localhost', '2222']), /unexpected argument '2222'/, 'not a second port');
  t.throws(() => parse(checkSshPlugin, ['-H', '127.0.0.1;id']), InvalidHost, 'a malformed host is found before anything runs');
});

t.test('how each plugin answers a host it cannot use, as its C peer', async (t) => {
  t.same(checkFtpPlugin.hostError?.('nosuchhost'), { state: CRITICAL, text: 'Invalid hostname, address or socket: nosuchhost', perfdata: [], details: [] });
  t.match(checkSshPlugin.hostError?.('nosuchhost'), { state: UNKNOWN, text: 'Invalid hostname/address - nosuchhost', usage: true });
});

t.test('--output-format: the names monitoring-plugins 3 knows, in any case', async (t) => {
  t.equal(parseOutputFormat('multi-line'), 'multi-line');
  t.equal(parseOutputFormat('MP-Test-JSON'), 'mp-test-json');
  for (const bad of ['', 'json', 'one-line', 'icinga-json', 'summary-only', 'multi-line ']) {
    t.throws(() => parseOutputFormat(bad), /^Invalid output format: /, JSON.stringify(bad));
  }
  t.equal(parse(checkSshPlugin, ['-H', 'h', '--output-format', 'mp-test-json']).common.outputFormat, 'mp-test-json');
  t.equal(parse(checkSshPlugin, ['-H', 'h']).common.outputFormat, undefined, 'our own form by default');
});

const time = { label: 'time', value: 0.0123, uom: 's' as const, decimals: 6, warn: '5.000000', crit: '~:9', min: 0, max: 10 };

t.test('multi-line: summary, one line per subcheck, the perfdata of all after a |', async (t) => {
  const outcome: Outcome = {
    state: OK,
    text: 'ignored in this form',
    perfdata: [time],
    details: [],
    checks: [
      { state: OK, output: 'The answer of the server matched the expectation' },
      { state: OK, output: 'Connection time 0.012300s is within thresholds', perfdata: [time] },
    ],
  };
  t.equal(
    renderMultiLine(outcome, 'Connection succeeded'),
    '[OK] - Connection succeeded\n\t\\_[OK] - The answer of the server matched the expectation\n\t\\_[OK] - Connection time 0.012300s is within thresholds|time=0.012300s;5.000000;~:9;0.000000;10.000000\n',
  );
  // the first of the worst subchecks is the summary; CRITICAL outranks UNKNOWN, which outranks WARNING
  const mixed: Outcome = {
    state: CRITICAL,
    text: 'x',
    perfdata: [],
    details: ['a -v line'],
    checks: [
      { state: WARNING, output: 'slow' },
      { state: UNKNOWN, output: 'odd' },
      { state: CRITICAL, output: 'first critical | with a bar' },
      { state: CRITICAL, output: 'second critical' },
    ],
  };
  t.equal(renderMultiLine(mixed, 'fine'), '[CRITICAL] - first critical   with a bar\n\t\\_[WARNING] - slow\n\t\\_[UNKNOWN] - odd\n\t\\_[CRITICAL] - first critical   with a bar\n\t\\_[CRITICAL] - second critical\na -v line\n');
  // an outcome without subchecks: its own line is the one subcheck
  t.equal(renderMultiLine({ state: CRITICAL, text: 'connect to address h and port 21: Connection refused', perfdata: [], details: [] }, 'fine'), '[CRITICAL] - connect to address h and port 21: Connection refused\n\t\\_[CRITICAL] - connect to address h and port 21: Connection refused\n');
});

t.test('mp-test-json: the object monitoring-plugins 3 tests decode', async (t) => {
  const outcome: Outcome = { state: WARNING, text: 'slow', perfdata: [], details: ['not in the JSON'], checks: [{ state: WARNING, output: 'Connection time 6s exceeded warning threshold (5)', perfdata: [time] }, { state: OK, output: 'Connection to h on port 21 was a SUCCESS' }] };
  const json = JSON.parse(renderTestJson(outcome, 'fine'));
  t.same(json, {
    state: 'WARNING',
    summary: 'Connection time 6s exceeded warning threshold (5)',
    checks: [
      {
        output: 'Connection time 6s exceeded warning threshold (5)',
        state: 'WARNING',
        perfdata: [
          {
            label: 'time',
            value: { type: 'double', value: '0.012300' },
            uom: 's',
            warn: { alert_on_inside: false, end: { type: 'double', value: '5.000000' }, start: { type: 'double', value: '0.000000' } },
            crit: { alert_on_inside: false, end: { type: 'double', value: '9.000000' }, start: 'inf' },
            min: { type: 'double', value: '0.000000' },
            max: { type: 'double', value: '10.000000' },
          },
        ],
      },
      { output: 'Connection to h on port 21 was a SUCCESS', state: 'OK' },
    ],
  });
  t.equal(renderTestJson(outcome, 'fine').split('\n').length, 2, 'one line');
  t.equal(JSON.parse(renderTestJson({ ...outcome, state: OK, checks: [{ state: OK, output: 'x' }] }, 'SSH check was successful')).summary, 'SSH check was successful');
});

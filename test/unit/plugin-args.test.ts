import t from 'tap';
import { UsageError } from '../../plugins/runtime/errors.ts';
import { validateHost } from '../../plugins/runtime/host.ts';
import { checkFtpPlugin } from '../../plugins/ftp/definition.ts';
import { integrationFor, MISC_DYNAMIC, miscDynamicWeight, parseMiscDynamic } from '../../plugins/runtime/integration.ts';
import { helpText, parsePort, parseTimeout } from '../../plugins/runtime/plugin.ts';
import { checkSshPlugin } from '../../plugins/ssh/definition.ts';
import { checkTftpPlugin } from '../../plugins/tftp/definition.ts';
import { CRITICAL, OK, UNKNOWN, WARNING } from '../../plugins/runtime/state.ts';

t.test('timeouts, with the timeout state override', async (t) => {
  t.same(parseTimeout('10'), { seconds: 10, state: CRITICAL });
  t.same(parseTimeout('2.5'), { seconds: 2.5, state: CRITICAL });
  t.same(parseTimeout('10:UNKNOWN'), { seconds: 10, state: UNKNOWN });
  t.same(parseTimeout('5:ok'), { seconds: 5, state: OK });
  for (const bad of ['0', '-1', 'abc', '10:maybe', '', '1:2:3', '99999999']) t.throws(() => parseTimeout(bad), UsageError, bad);
});

t.test('ports', async (t) => {
  t.equal(parsePort('22'), 22);
  for (const bad of ['0', '70000', 'abc', '-1', '22x', '']) t.throws(() => parsePort(bad), UsageError, bad);
});

t.test('host names are checked before anything runs', async (t) => {
  for (const good of ['127.0.0.1', '::1', '[::1]', 'backend-1.example.org', 'host_1', 'localhost.', '/run/sshd.sock']) {
    t.doesNotThrow(() => validateHost(good), good);
  }
  t.equal(validateHost('[::1]'), '::1');
  for (const bad of ['x;rm -rf /', '$(reboot)', 'a b', '`id`', '-oProxyCommand=x', '', 'a'.repeat(300), 'host|cat', '../etc/passwd']) {
    t.throws(() => validateHost(bad), /Invalid hostname\/address/, JSON.stringify(bad));
  }
});

t.test('--misc-dynamic: each state as the exit status keepalived misc_dynamic reads', async (t) => {
  // keepalived's reading, the same function lbguard's command check uses: 0 configured, 1 down, 2..255 weight-2
  const asKeepalived = (code: number) => (code === 0 ? 'configured' : code === 1 ? 'down' : `weight ${miscDynamicWeight(code)}`);
  const exits = (flag: string) => {
    const integration = integrationFor([flag, '-H', '127.0.0.1']);
    t.equal(integration.problem, undefined, flag);
    t.same(integration.argv, ['-H', '127.0.0.1'], `${flag} is not passed on to the option parser`);
    return [OK, WARNING, CRITICAL, UNKNOWN].map((s) => asKeepalived(integration.finish('X OK - text\n', s).code));
  };
  t.same(exits('--misc-dynamic=10,3'), ['weight 10', 'weight 3', 'down', 'down']);
  t.same(exits('--misc-dynamic=10'), ['weight 10', 'weight 1', 'down', 'down'], 'WARNWEIGHT left out: weight 1');
  t.same(exits('--misc-dynamic=0'), ['weight 0', 'weight 0', 'down', 'down'], 'WEIGHT 0: a warning does not raise it');
  t.same(exits('--misc-dynamic=,3'), ['configured', 'weight 3', 'down', 'down'], 'WEIGHT left out: OK keeps the configured weight');
  t.same(exits('--misc-dynamic'), ['configured', 'weight 1', 'down', 'down']);
  t.same(exits('--misc-dynamic=253,253'), ['weight 253', 'weight 253', 'down', 'down'], 'the largest weight: exit 255');
  const integration = integrationFor(['--misc-dynamic=5', '-H', 'x']);
  t.equal(integration.finish('FTP OK - fine|time=1s\nphase\n', OK).stdout, 'FTP OK - fine|time=1s\nphase\n', 'the Nagios output is printed as it is');
  t.equal(integration.mode, 'misc-dynamic');
});

t.test('--misc-dynamic: bad weights are usage errors that keepalived reads as down (1), never as up', async (t) => {
  for (const bad of ['254', '-1', 'ten', '5,6', '1,2,3', '', ',', '5,', '3.5', '0x10', ',254']) {
    const integration = integrationFor([`--misc-dynamic=${bad}`, '-H', '127.0.0.1']);
    t.match(integration.problem, /--misc-dynamic/, `--misc-dynamic=${bad}: ${integration.problem}`);
    t.equal(integration.finish('FTP UNKNOWN - usage\n', UNKNOWN).code, 1, `--misc-dynamic=${bad}: exit 1`);
  }
  t.throws(() => parseMiscDynamic('5,6'), /WARNWEIGHT 6 is above WEIGHT 5/);
  const both = integrationFor(['--misc-dynamic=5', '--nanny', '-H', '127.0.0.1']);
  t.equal(both.problem, '--misc-dynamic and --nanny exclude each other');
  t.equal(both.finish('', OK).code, 1);
  t.same(parseMiscDynamic(undefined), { ok: undefined, warning: 1 });
  t.equal(miscDynamicWeight(0), undefined);
  t.equal(miscDynamicWeight(1), undefined);
  t.equal(miscDynamicWeight(256), undefined);
});

t.test('--help: the output layout and every load-balancer mode it names, each one the plugins take', async (t) => {
  const helps = { check_ftp: helpText(checkFtpPlugin), check_ssh: helpText(checkSshPlugin), check_tftp: helpText(checkTftpPlugin) };
  for (const [name, help] of Object.entries(helps)) {
    const added = help.slice(help.indexOf('\nOutput:\n'), help.indexOf('\nExit codes:'));
    const modes = added.slice(added.indexOf('\nModes for load balancers'));
    t.match(added, /^\nOutput:\n The first line is SERVICE STATE - text\|perfdata, .*\n(?: .*\n)*? .*perfdata after a \| on\n/, `${name}: the Output section`);
    t.same([...modes.matchAll(/^ (\S.*)$/gm)].map((m) => m[1]), ['--nanny[=TEXT]', '--misc-dynamic[=[WEIGHT][,WARNWEIGHT]]', 'VIP VPORT RIP RPORT'], `${name}: three modes`);
    t.ok(help.endsWith('\nExit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad arguments, help, version).\n'), `${name}: ends with the exit codes`);
    t.ok(added.split('\n').every((line) => line.length <= 100), `${name}: output and modes sections within 100 columns`);
  }
  // what the help names is what integrationFor recognises
  t.equal(integrationFor(['--nanny=UP', '-H', 'x']).mode, 'nanny');
  t.equal(integrationFor(['--misc-dynamic=10,3', '-H', 'x']).mode, 'misc-dynamic');
  t.equal(integrationFor(['192.0.2.10', '21', '127.0.0.1', '2121']).mode, 'ldirectord');
  t.match(helpText(checkFtpPlugin), `weights 0..${MISC_DYNAMIC.maxWeight}`);
});

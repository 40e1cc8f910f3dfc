// `lbguard render farmguardian`: the command line must survive Farm Guardian's text substitution and
// sh's word splitting and arrive at our plugin as the options the farm's check has.
import t from 'tap';
import { substituteTarget, splitShellWords } from '../../orchestrator/checks/command-line.ts';
import { validateConfig } from '../../orchestrator/config/load.ts';
import type { FarmConfig } from '../../orchestrator/config/schema.ts';
import { parsePluginArgs } from '../../plugins/runtime/plugin.ts';
import { checkFtpPlugin } from '../../plugins/ftp/definition.ts';
import { checkTftpPlugin } from '../../plugins/tftp/definition.ts';
import { farmGuardianCommand, farmGuardianObject, renderFarmGuardian, shellWord } from '../../zevenet-adapters/farmguardian/render.ts';

function farm(check: Record<string, unknown>, service = 'ftp'): FarmConfig {
  const config = validateConfig({
    farms: [{ name: 'f1', service, virtual: { address: '192.0.2.10', ports: [service === 'tftp' ? 69 : 21] }, check, backends: [{ name: 'b1', address: '10.0.0.1' }] }],
  });
  return config.farms[0]!;
}

/** What the plugin receives on the appliance: substituted as text, split as sh splits. */
function onAppliance(command: string, address: string, port: number): string[] {
  return substituteTarget('farmguardian', splitShellWords(command), { address, port }).slice(1);
}

t.test('a built-in FTP check becomes lbguard_check_ftp with HOST, PORT, its timeout and its options', async (t) => {
  const f = farm({ probe: 'ftp', options: { user: 'anonymous', get: 'pub/check me.txt', 'expect-content': "it's OK" }, interval: '5s', timeout: '3s' });
  const command = farmGuardianCommand(f);
  t.equal(command, `lbguard_check_ftp -H HOST -p 'PORT' -t 3 --user=anonymous '--get=pub/check me.txt' '--expect-content=it'\\''s OK'`);
  const parsed = parsePluginArgs(checkFtpPlugin, onAppliance(command, '10.0.0.7', 2121));
  t.not(parsed, 'help');
  const { options, common } = parsed as Exclude<typeof parsed, 'help' | 'version'>;
  t.match(common, { host: '10.0.0.7', port: 2121, deadline: { seconds: 3 } });
  t.match(options, { session: { user: 'anonymous', get: { path: 'pub/check me.txt', expectContent: "it's OK" } } });
});

t.test('TFTP: the plugin reads the farm file and expects the content', async (t) => {
  const f = farm({ probe: 'tftp', options: { file: 'pxelinux.0', 'expect-size': 42 }, timeout: '2s' }, 'tftp');
  const parsed = parsePluginArgs(checkTftpPlugin, onAppliance(farmGuardianCommand(f), '10.0.0.8', 69));
  const { options, common } = parsed as Exclude<typeof parsed, 'help' | 'version'>;
  t.match(common, { host: '10.0.0.8', port: 69, deadline: { seconds: 2 } });
  t.match(options, { filename: 'pxelinux.0', expectSize: 42 });
});

t.test('the Farm Guardian object: a timeout above the command\'s -t, sessions kept', async (t) => {
  t.same(farmGuardianObject(farm({ probe: 'ftp', interval: '10s', timeout: '3s' })), {
    name: 'lbguard-f1',
    description: 'lbguard ftp check of farm f1 (ftp)',
    command: "lbguard_check_ftp -H HOST -p 'PORT' -t 3",
    interval: 10,
    timeout: 4,
    cut_conns: 'false',
    log: 'true',
  });
  t.match(farmGuardianObject(farm({ probe: 'ftp', interval: '500ms', timeout: '400ms' })), { interval: 1, timeout: 2, command: /-t 1$/ });
  t.match(farmGuardianObject(farm({ probe: 'ssh', interval: '30s', timeout: '2500ms' }, 'sftp')), { interval: 30, timeout: 4, command: "lbguard_check_ssh -H HOST -p 'PORT' -t 3" });
});

t.test('judging modes are dropped: Farm Guardian reads the exit code only', async (t) => {
  const f = farm({ probe: 'ftp', options: { nanny: true, 'misc-dynamic': '10,3', user: 'x' } });
  t.equal(farmGuardianCommand(f), "lbguard_check_ftp -H HOST -p 'PORT' -t 3 --user=x");
  t.match(renderFarmGuardian(f), /^# --nanny, --misc-dynamic dropped: Farm Guardian reads the exit code only \(0 = up\)$/m);
});

t.test('external commands: bare names, HOST/PORT for nanny and keepalived tokens, a -t where the plugin takes one', async (t) => {
  t.equal(farmGuardianCommand(farm({ probe: 'command', command: 'check_ftp -H HOST -p PORT -w 2' })), "check_ftp -H HOST -p 'PORT' -w 2 -t 3", 'the C check_ftp gets its -t');
  t.equal(farmGuardianCommand(farm({ probe: 'command', command: 'check_ftp -H HOST -t 9' })), 'check_ftp -H HOST -t 9', 'a -t given is kept');
  const nanny = farm({ probe: 'command', style: 'nanny', command: '/usr/local/bin/ftp_check %h %p' });
  t.equal(farmGuardianCommand(nanny), "ftp_check HOST 'PORT'", 'a path becomes its bare name');
  const text = renderFarmGuardian(nanny);
  t.match(text, /^# \/usr\/local\/bin\/ftp_check became ftp_check: Farm Guardian runs every command from \/usr\/lib\/nagios\/plugins/m);
  t.match(text, /^# ftp_check gets no -t: give it a deadline of its own/m);
  t.equal(farmGuardianCommand(farm({ probe: 'command', style: 'keepalived', command: `/bin/check "a b" %h` })), `check 'a b' HOST`);
});

t.test('a farm whose Farm Guardian name the appliance refuses is not rendered', async (t) => {
  const f = validateConfig({ farms: [{ name: 'ftp.main', service: 'ftp', virtual: { address: '192.0.2.10', ports: [21] }, check: { probe: 'ftp' }, backends: [{ name: 'b1', address: '10.0.0.1' }] }] }).farms[0]!;
  t.throws(() => renderFarmGuardian(f), /farm ftp.main: the Farm Guardian name "lbguard-ftp.main" would be refused/);
});

t.test('an option value holding HOST or PORT is pointed out: Farm Guardian would rewrite it', async (t) => {
  const text = renderFarmGuardian(farm({ probe: 'ftp', options: { get: 'PORTAL/check.txt' } }));
  t.match(text, /WARNING: Farm Guardian will also replace HOST\/PORT inside --get=PORTAL\/check.txt/);
  t.match(text, /^command: lbguard_check_ftp -H HOST -p 'PORT' -t 3 --get=PORTAL\/check.txt$/m);
  t.match(text, /^# POST \/zapi\/v4.0\/zapi.cgi\/monitoring\/fg \{"name":"lbguard-f1"\}$/m, 'created by name');
  t.match(text, /^\{"description":"lbguard ftp check of farm f1 \(ftp\)","command":"lbguard_check_ftp [^"]*","interval":5,"timeout":4,"cut_conns":"false","log":"true"\}$/m, 'then set (PUT body)');
});

t.test('shellWord: what sh gives back unchanged', async (t) => {
  for (const word of ['plain', 'a b', "it's", '$HOME', '`x`', 'a"b', '*', '']) t.same(splitShellWords(shellWord(word)), [word], word);
});


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

t.test('a built-in FTP check becomes check_ftp with HOST, PORT, its timeout and its options', async (t) => {
  const f = farm({ probe: 'ftp', options: { user: 'anonymous', get: 'pub/check me.txt', 'expect-content': "it's OK" }, interval: '5s', timeout: '3s' });
  const command = farmGuardianCommand(f);
  t.equal(command, `check_ftp -H HOST -p PORT -t 3 --user=anonymous '--get=pub/check me.txt' '--expect-content=it'\\''s OK'`);
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

t.test('the Farm Guardian object: interval never shorter than the timeout, sessions kept', async (t) => {
  t.same(farmGuardianObject(farm({ probe: 'ftp', interval: '10s', timeout: '3s' })), {
    name: 'lbguard-f1',
    description: 'lbguard ftp check of farm f1 (ftp)',
    command: 'check_ftp -H HOST -p PORT -t 3',
    interval: 10,
    cut_conns: 'false',
    log: 'true',
  });
  t.equal(farmGuardianObject(farm({ probe: 'ftp', interval: '500ms', timeout: '400ms' })).interval, 1);
});

t.test('external commands: Farm Guardian lines kept as written, nanny and keepalived tokens become HOST/PORT', async (t) => {
  t.equal(farmGuardianCommand(farm({ probe: 'command', command: 'check_ftp -H HOST -p PORT -w 2' })), 'check_ftp -H HOST -p PORT -w 2');
  t.equal(farmGuardianCommand(farm({ probe: 'command', style: 'nanny', command: '/usr/local/bin/ftp_check %h %p' })), '/usr/local/bin/ftp_check HOST PORT');
  t.equal(farmGuardianCommand(farm({ probe: 'command', style: 'keepalived', command: `/bin/check "a b" %h` })), `/bin/check 'a b' HOST`);
});

t.test('an option value holding HOST or PORT is pointed out: Farm Guardian would rewrite it', async (t) => {
  const text = renderFarmGuardian(farm({ probe: 'ftp', options: { get: 'PORTAL/check.txt' } }));
  t.match(text, /WARNING: Farm Guardian will also replace HOST\/PORT inside --get=PORTAL\/check.txt/);
  t.match(text, /^command: check_ftp -H HOST -p PORT -t 3 --get=PORTAL\/check.txt$/m);
  t.match(text, /^# POST \/zapi\/v4.0\/zapi.cgi\/monitoring\/fg \{"name":"lbguard-f1"\}$/m, 'created by name');
  t.match(text, /^\{"description":"lbguard ftp check of farm f1 \(ftp\)","command":"check_ftp [^"]*","interval":5,"cut_conns":"false","log":"true"\}$/m, 'then set (PUT body)');
});

t.test('shellWord: what sh gives back unchanged', async (t) => {
  for (const word of ['plain', 'a b', "it's", '$HOME', '`x`', 'a"b', '*', '']) t.same(splitShellWords(shellWord(word)), [word], word);
});


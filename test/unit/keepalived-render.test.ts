import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_OPTIONS, farmsFromKeepalived, renderKeepalived } from '../../lvs-adapters/keepalived/keepalived.ts';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { keepalivedExample } from '../helpers/keepalived-example.ts';
import { ROOT } from '../helpers/processes.ts';

const config = keepalivedExample;

t.test('import keepalived.conf: the rendered file reads back into the same farms', async (t) => {
  const text = renderKeepalived(config);
  const { config: imported } = farmsFromKeepalived(text);
  const again = validateConfig(imported);
  t.same(again.farms.map((f) => [f.name, f.virtual, f.scheduler, f.persistence, f.dataplane, f.check['on-failure'], f.check.fall, f.check.dynamic]),
    config.farms.map((f) => [f.name, f.virtual, f.scheduler, f.persistence, f.dataplane, f.check['on-failure'], f.check.fall, f.check.dynamic]));
  t.equal(again.farms[0]?.check.command, '/usr/local/bin/check_ftp -H %h -p %p -t 5 --get check.txt --expect-content OK', 'the address and port become %h/%p again');
  t.equal(renderKeepalived(again).replace(/^ {4}real_server.*\n {8}weight \d+\n( {8}uthreshold \d+\n)?/gm, ''), text.replace(/^ {4}real_server.*\n {8}weight \d+\n( {8}uthreshold \d+\n)?/gm, ''), 'rendering the imported farms gives the same checks');
  t.same(again.farms[0]?.backends.map((b) => [b.address, b.port, b.weight, b['max-conns']]), [['10.0.0.11', undefined, 10, 200], ['10.0.0.12', 2121, 0, undefined]], 'uthreshold reads back as max-conns');
});

t.test('import the keepalived.conf of docs/keepalived.md', async (t) => {
  const doc = /```text file=keepalived\.conf\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, 'docs', 'keepalived.md'), 'utf8'))?.[1] ?? '';
  const { config: imported, notes } = farmsFromKeepalived(doc);
  const farms = validateConfig(imported).farms;
  t.same(farms.map((f) => [f.service, f.virtual.ports?.[0]?.from ?? `fwmark ${f.virtual.fwmark}`, f.dataplane.type === 'ipvsadm' && f.dataplane.method, f.check.probe, f.check.dynamic]), [
    ['ftp', 21, 'nat', 'command', true],
    ['tftp', 'fwmark 1', 'dr', 'command', false],
    ['sftp', 22, 'nat', 'command', false],
  ]);
  t.match(farms[0]?.check.command, /check_ftp .*-H %h -p %p -w 0\.5 -t 5$/, 'the address and port of the misc_path become %h/%p');
  t.match(notes.join('\n'), /fwmark virtual_server has no address/);
});

t.test('a nanny send_program cannot become a MISC_CHECK; nanny-check is dropped', async (t) => {
  const nanny = (command: string) =>
    validateConfig({ farms: [{ name: 'sftp', service: 'sftp', virtual: { address: '192.0.2.10', ports: [22] }, check: { probe: 'command', style: 'nanny', expect: 'OK', command }, backends: [{ name: 'sftp1', address: '10.0.0.31' }] }] });
  t.match(renderKeepalived(nanny('/usr/local/lib/lbguard/nanny-check /usr/local/bin/check_ssh -H %h -p %p -t 3')), 'misc_path "/usr/local/bin/check_ssh -H 10.0.0.31 -p 22 -t 3"');
  t.match(renderKeepalived(nanny('/usr/local/bin/check_ssh --nanny -H %h -p %p -t 3')), 'misc_path "/usr/local/bin/check_ssh -H 10.0.0.31 -p 22 -t 3"', '--nanny dropped');
  t.throws(() => renderKeepalived(nanny('/usr/local/bin/my-check %h')), /farm sftp: a nanny send_program is judged by its output/);
});

t.test('misc_dynamic with the C check_tcp is refused: its CRITICAL would read as up at weight 0', async (t) => {
  const tcp = (dynamic: boolean) =>
    validateConfig({ farms: [{ name: 'web', service: 'tcp', virtual: { address: '192.0.2.10', ports: [80] }, check: { probe: 'tcp', dynamic }, backends: [{ name: 'w1', address: '10.0.0.41' }] }] });
  t.match(renderKeepalived(tcp(false)), 'misc_path "/usr/lib/nagios/plugins/check_tcp -H 10.0.0.41 -p 80 -t 3"');
  t.throws(() => renderKeepalived(tcp(true)), /farm web: dynamic \(misc_dynamic\) needs a probe whose plugin has --misc-dynamic/);
});

t.test('lbguard render keepalived / import keepalived.conf', async (t) => {
  const { importLvs, renderLvs } = await import('../../lvs-adapters/cli.ts');
  const { stringify } = await import('yaml');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-keepalived-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'farms.yaml'), stringify({ farms: [{ name: 'ssh', service: 'sftp', virtual: { address: '192.0.2.10', ports: [22] }, check: { probe: 'ssh' }, backends: [{ name: 'a', address: '10.0.0.31' }] }] }));
  const rendered = renderLvs('keepalived', join(dir, 'farms.yaml'));
  t.equal(rendered.code, 0, rendered.stderr);
  t.match(rendered.stdout, 'misc_path "/usr/local/bin/check_ssh -H 10.0.0.31 -p 22 -t 3"');
  writeFileSync(join(dir, 'keepalived.conf'), rendered.stdout);
  const imported = importLvs('keepalived.conf', join(dir, 'keepalived.conf'));
  t.equal(imported.code, 0, imported.stderr);
  t.match(imported.stdout, 'command: /usr/local/bin/check_ssh -H %h -p %p -t 3\n');
});

t.test('import: groups and other checkers are named in the notes', async (t) => {
  const text = `virtual_server group web {\n  lvs_sched rr\n}\nvirtual_server 192.0.2.5 80 {\n  delay_loop 5\n  lb_algo wrr\n  lb_kind DR\n  protocol TCP\n  real_server 10.0.0.5 80 {\n    weight 2\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n}\n`;
  const { config: imported, notes } = farmsFromKeepalived(text);
  const [farm] = validateConfig(imported).farms;
  t.same([farm?.scheduler, farm?.dataplane, farm?.check.probe, farm?.backends[0]?.weight], ['wrr', { type: 'ipvsadm', method: 'dr', ipvsadm: '/sbin/ipvsadm' }, 'tcp', 2], 'lb_algo / lb_kind, the legacy names');
  t.match(notes.join('\n'), /line 1: virtual_server group web is not imported/);
  t.match(notes.join('\n'), /line 4: virtual_server without MISC_CHECK \(TCP_CHECK\): imported with lbguard's TCP check/);
});

const vrrpFarms = (vrrp: Record<string, unknown>) => validateConfig({ vrrp, farms: [{ name: 'sftp', service: 'sftp', virtual: { address: '192.0.2.10', ports: [22] }, dataplane: { type: 'ipvsadm' }, check: { probe: 'ssh' }, backends: [{ name: 'a', address: '10.0.0.31' }] }] });

t.test('vrrp: the password from a file; errors say where it was looked for, never what it is', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-vrrp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'pass'), 'pa55word\n');
  t.match(renderKeepalived(vrrpFarms({ interface: 'eth0', 'virtual-router-id': 7, 'auth-password-file': join(dir, 'pass') })), '        auth_pass pa55word\n', 'one line, its newline dropped');
  writeFileSync(join(dir, 'long'), 'much-too-long-secret\n');
  const long = (() => { try { renderKeepalived(vrrpFarms({ interface: 'eth0', 'virtual-router-id': 7, 'auth-password-file': join(dir, 'long') })); return ''; } catch (e) { return (e as Error).message; } })();
  t.match(long, /vrrp.auth-password-file .*long: keepalived's PASS authentication takes 1 to 8 characters, the password has 20/);
  t.notMatch(long, 'much-too-long-secret');
  t.throws(() => renderKeepalived(vrrpFarms({ interface: 'eth0', 'virtual-router-id': 7, 'auth-password-env': 'LBG_NOT_SET_ANYWHERE' }), { ...DEFAULT_OPTIONS, env: {} }), /vrrp.auth-password-env LBG_NOT_SET_ANYWHERE: the variable is not set/);
  t.throws(() => renderKeepalived(vrrpFarms({ interface: 'eth0', 'virtual-router-id': 7, 'auth-password-file': join(dir, 'missing') })), /cannot read it \(ENOENT\)/);
  t.throws(() => renderKeepalived(vrrpFarms({ interface: 'eth0', 'virtual-router-id': 7, 'auth-password-env': 'P' }), { ...DEFAULT_OPTIONS, env: { P: 'a b' } }), /one word/);
});

t.test('vrrp: a strict section, errors with their path', async (t) => {
  t.throws(() => vrrpFarms({ interface: 'eth0', 'virtual-router-id': 51, prority: 3 }), /vrrp\.prority: unknown key/);
  t.throws(() => vrrpFarms({ interface: 'eth0', 'virtual-router-id': 256 }), /vrrp\.virtual-router-id: expected 1\.\.255, got 256/);
  t.throws(() => vrrpFarms({ interface: 'eth0', 'virtual-router-id': 5, priority: 255 }), /vrrp\.priority: expected 1\.\.254, got 255/);
  t.throws(() => vrrpFarms({ interface: 'eth0' }), /vrrp\.virtual-router-id: missing/);
  t.throws(() => vrrpFarms({ interface: 'eth0', 'virtual-router-id': 5, state: 'master' }), /vrrp\.state/);
  t.throws(() => vrrpFarms({ interface: 'eth0', 'virtual-router-id': 5, 'auth-password-file': '/a', 'auth-password-env': 'B' }), /vrrp: give auth-password-file or auth-password-env, not both/);
  t.throws(() => vrrpFarms({ interface: 'eth0', 'virtual-router-id': 5, 'virtual-ipaddress': ['192.0.2.1/24 dev eth0', 'x y'] }), /vrrp\.virtual-ipaddress\[1\]: expected "ADDRESS/);
  t.throws(() => vrrpFarms({ interface: 'eth0', 'virtual-router-id': 5, password: 'x' }), /vrrp\.password: unknown key/, 'no password key: it would end up in files and logs');
});

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { DEFAULT_OPTIONS, farmsFromKeepalived, renderKeepalived } from '../../lvs-adapters/keepalived/keepalived.ts';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { docExample } from '../helpers/docs-examples.ts';
import { requireBinary, ROOT, runCommand } from '../helpers/processes.ts';

const config = validateConfig({
  farms: [
    {
      name: 'ftp', service: 'ftp', virtual: { address: '192.0.2.10', ports: [21] }, scheduler: 'wlc', persistence: { timeout: 300 },
      dataplane: { type: 'ipvsadm', method: 'nat' },
      check: { probe: 'ftp', options: { get: 'check.txt', 'expect-content': 'OK' }, interval: '10s', timeout: '5s', fall: 3, 'on-failure': 'quiesce' },
      sorry: { address: '10.0.0.99' },
      backends: [{ name: 'ftp1', address: '10.0.0.11', weight: 10, 'max-conns': 200 }, { name: 'ftp2', address: '10.0.0.12', port: 2121, maintenance: true }],
    },
    {
      name: 'tftp', service: 'tftp', virtual: { address: '192.0.2.11', fwmark: 69 }, scheduler: 'sh', persistence: { timeout: 45, netmask: '255.255.255.0' },
      dataplane: { type: 'ipvsadm', method: 'dr' },
      check: { probe: 'tftp', dynamic: true, interval: '6s', timeout: '3s' },
      backends: [{ name: 'tftp1', address: '10.0.0.21', port: 69 }],
    },
    {
      name: 'sftp', service: 'sftp', virtual: { address: '192.0.2.10', ports: [22] }, scheduler: 'rr',
      dataplane: { type: 'ipvsadm', method: 'tun' },
      check: { probe: 'command', style: 'keepalived', command: "/usr/local/bin/check_ssh -H %h -p %p -t 3 -r 'OpenSSH_9.2p1 Debian'", interval: '5s', timeout: '4s' },
      backends: [{ name: 'sftp1', address: '10.0.0.31' }],
    },
  ],
});

t.test('render keepalived: virtual_servers with our plugins as MISC_CHECK, accepted by keepalived --config-test', async (t) => {
  const text = renderKeepalived(config);
  t.match(text, 'virtual_server 192.0.2.10 21 {\n    delay_loop 10\n    lvs_sched wlc\n    lvs_method NAT\n    protocol TCP\n    persistence_timeout 300\n    quorum 1\n    sorry_server 10.0.0.99 21\n    inhibit_on_failure\n    retry 2\n');
  t.match(text, '    real_server 10.0.0.11 21 {\n        weight 10\n        uthreshold 200\n        MISC_CHECK {\n            misc_path "/usr/local/bin/check_ftp -H 10.0.0.11 -p 21 -t 5 --get check.txt --expect-content OK"\n            misc_timeout 6\n        }\n');
  t.match(text, '    real_server 10.0.0.12 2121 {\n        weight 0\n', 'a backend in maintenance is weight 0 on its own port');
  t.match(text, 'virtual_server fwmark 69 {\n    delay_loop 6\n    lvs_sched sh\n    lvs_method DR\n    persistence_timeout 45\n    persistence_granularity 255.255.255.0\n');
  t.match(text, '    real_server 10.0.0.21 {\n        weight 1\n        MISC_CHECK {\n            misc_path "/usr/local/bin/check_tftp --misc-dynamic -H 10.0.0.21 -p 69 -t 3"\n            misc_timeout 4\n            misc_dynamic\n', 'misc_dynamic runs the plugin in its --misc-dynamic mode: CRITICAL (2) must not read as "up, weight 0"');
  t.match(text, `misc_path "/usr/local/bin/check_ssh -H 10.0.0.31 -p 22 -t 3 -r 'OpenSSH_9.2p1 Debian'"`, 'a keepalived-style command with the address written in, quoting kept');
  t.notMatch(text, 'vrrp_instance', 'no vrrp: in the farms file, no vrrp_instance (keepalived has no default interface or router id)');

  const keepalived = requireBinary('/usr/sbin/keepalived', 'keepalived');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-keepalived-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'keepalived.conf'), text);
  const test = await runCommand(keepalived, ['--config-test', '-f', join(dir, 'keepalived.conf')]);
  t.equal(test.code, 0, 'keepalived --config-test accepts it');
  t.same(test.stderr.split('\n').filter((l) => l && !/script|security|executable|not found|SECURITY/i.test(l)), [], 'and has nothing to say about the LVS part');
});

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

t.test('vrrp: from the farms file into vrrp_instance, keepalived --config-test accepts it, import reads it back', async (t) => {
  // keepalived --config-test refuses an interface this machine lacks (exit 5, "Non-existent interface")
  const eth = Object.keys(networkInterfaces()).find((name) => name !== 'lo') ?? 'lo';
  const config = vrrpFarms({ interface: eth, 'virtual-router-id': 42, priority: 150, state: 'MASTER', 'advert-int': 2, 'auth-password-env': 'LBG_VRRP_PASS', 'virtual-ipaddress': [`192.0.2.10/24 dev ${eth} label ${eth}:0`, `192.0.2.11/24 dev ${eth}`] });
  const text = renderKeepalived(config, { ...DEFAULT_OPTIONS, env: { LBG_VRRP_PASS: 's3cr3t' } });
  t.match(text, [
    'vrrp_instance lbguard {', '    state MASTER', `    interface ${eth}`, '    virtual_router_id 42', '    priority 150', '    advert_int 2',
    '    authentication {', '        auth_type PASS', '        auth_pass s3cr3t', '    }',
    '    virtual_ipaddress {', `        192.0.2.10/24 dev ${eth} label ${eth}:0`, `        192.0.2.11/24 dev ${eth}`, '    }', '}', '',
  ].join('\n'));
  const keepalived = requireBinary('/usr/sbin/keepalived', 'keepalived');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-vrrp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'keepalived.conf'), text);
  const test = await runCommand(keepalived, ['--config-test', '-f', join(dir, 'keepalived.conf')]);
  t.equal(test.code, 0, `keepalived --config-test accepts the vrrp_instance ${test.stderr}`);
  t.same(test.stderr.split('\n').filter((l) => /vrrp|auth|virtual_ipaddress|interface|router/i.test(l) && !/script|security/i.test(l)), [], 'and has nothing to say about it');

  const { config: imported, notes } = farmsFromKeepalived(text);
  t.same(validateConfig(imported).vrrp, { interface: eth, 'virtual-router-id': 42, priority: 150, state: 'MASTER', version: 2, 'advert-int': 2, keepalived: '/usr/sbin/keepalived', 'virtual-ipaddress': [`192.0.2.10/24 dev ${eth} label ${eth}:0`, `192.0.2.11/24 dev ${eth}`] }, 'everything but the password reads back');
  t.match(notes.join('\n'), /auth_pass is not imported; put it in a file readable by root only and set vrrp.auth-password-file/);
  t.notMatch(JSON.stringify(imported) + notes.join('\n'), 's3cr3t', 'the password is neither in the imported farms file nor in the notes');

  const defaults = renderKeepalived(vrrpFarms({ interface: 'eth0', 'virtual-router-id': 51 }));
  t.match(defaults, 'vrrp_instance lbguard {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority 100\n    advert_int 1\n    virtual_ipaddress {\n        192.0.2.10\n    }\n}\n', "keepalived's own defaults (BACKUP, priority 100, advert_int 1); the farms' addresses when none are listed");
});

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

t.test('docs/keepalived.md: the farms file with vrrp: renders a configuration keepalived --config-test accepts', async (t) => {
  const eth = Object.keys(networkInterfaces()).find((name) => name !== 'lo') ?? 'lo';
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-vrrp-doc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'vrrp.pass'), 'Ab12cd34\n', { mode: 0o600 });
  const example = docExample('keepalived.md', 'farms-vrrp.yaml').replaceAll('eth0', eth).replace('/etc/lbguard/vrrp.pass', join(dir, 'vrrp.pass'));
  const text = renderKeepalived(validateConfig(parse(example)));
  t.match(text, `vrrp_instance lbguard {\n    state MASTER\n    interface ${eth}\n    virtual_router_id 51\n    priority 150\n    advert_int 1\n    authentication {\n        auth_type PASS\n        auth_pass Ab12cd34\n    }\n    virtual_ipaddress {\n        192.0.2.10/24 dev ${eth}\n    }\n}\n`);
  t.match(text, '    real_server 10.0.0.31 22 {\n        weight 1\n        uthreshold 500\n');
  writeFileSync(join(dir, 'keepalived.conf'), text);
  const test = await runCommand(requireBinary('/usr/sbin/keepalived', 'keepalived'), ['--config-test', '-f', join(dir, 'keepalived.conf')]);
  t.equal(test.code, 0, `keepalived --config-test accepts it ${test.stderr}`);
});

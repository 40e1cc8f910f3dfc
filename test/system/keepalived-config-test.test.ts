// keepalived --config-test on what `lbguard render keepalived` writes (the real keepalived, so a system test).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { DEFAULT_OPTIONS, farmsFromKeepalived, renderKeepalived } from '../../lvs-adapters/keepalived/keepalived.ts';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { docExample } from '../helpers/docs-examples.ts';
import { keepalivedExample } from '../helpers/keepalived-example.ts';
import { requireBinary, runCommand } from '../helpers/processes.ts';

const config = keepalivedExample;

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

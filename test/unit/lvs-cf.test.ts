import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { farmsFromLvsCf, lvsCfFromConfig } from '../../lvs-adapters/lvs-cf/farms.ts';
import { type LvsCf, parseLvsCf, renderLvsCf } from '../../lvs-adapters/lvs-cf/lvs-cf.ts';
import { ROOT } from '../helpers/processes.ts';

// piranha's sample.cf, condensed (piranha 0.8.6 sample.cf)
const SAMPLE = `serial_no = 42
primary = 207.175.44.150
service = lvs
backup_active = 1
backup = 207.175.44.196
heartbeat = 1
heartbeat_port = 1050
keepalive = 6
deadtime = 18
network = nat
nat_router = 192.168.10.100 eth1:1
nat_nmask = 255.255.255.255
virtual server1 {
	address = 207.175.44.252 eth0:1
	vip_nmask = 255.255.255.255
	fwmark = 100
	active = 1
	load_monitor = uptime
	timeout = 5
	reentry = 10
	port = http
	send = "GET / HTTP/1.0\\r\\n\\r\\n"
	expect = "HTTP"
	scheduler = wlc
	persistent = 60
	pmask = 255.255.255.255
	protocol = tcp
	server Real1 {
		address = 192.168.10.2
		active = 1
		weight = 1
	}
}
`;

/** The lvs.cf of docs/piranha.md (the TFTP example of the LVS knowledge base, with our plugins). */
const DOCS = /```text file=lvs\.cf\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, 'docs', 'piranha.md'), 'utf8'))?.[1] ?? '';

const withoutLines = (cf: LvsCf) => JSON.parse(JSON.stringify(cf, (k, v) => (k === 'line' ? undefined : v)));

t.test('parse -> render -> parse loses nothing', async (t) => {
  for (const [name, text] of [['sample.cf', SAMPLE], ['docs/piranha.md', DOCS]] as const) {
    const cf = parseLvsCf(text);
    t.ok(cf.blocks.length > 0, `${name}: ${cf.blocks.length} virtual(s)`);
    const rendered = renderLvsCf(cf);
    t.same(withoutLines(parseLvsCf(rendered)), withoutLines(cf), `${name}: same after a round trip`);
    t.equal(renderLvsCf(parseLvsCf(rendered)), rendered, `${name}: rendering is stable`);
  }
  const cf = parseLvsCf(SAMPLE);
  t.same(cf.blocks[0]?.entries.find((e) => e.key === 'send')?.values, ['"GET / HTTP/1.0\\r\\n\\r\\n"'], 'a quoted value is one token and keeps its quotes, as lvsconfig.c stores it');
  t.same(cf.globals.find((e) => e.key === 'nat_router')?.values, ['192.168.10.100', 'eth1:1']);
});

t.test('what pulse rejects is rejected, with the line', async (t) => {
  const cases: [string, RegExp][] = [
    ['serial_no = 1\nnetwork=nat\n', /line 2: expected "network = value": lvs.cf needs blanks around "="/],
    ['serial_no = 1\nvirtual v {\n\tadress = 10.0.0.1 eth0:1\n}\n', /line 3: unknown key "adress" in a virtual block/],
    ['virtual v {\n\tscheduler = sed\n}\n', /line 2: scheduler must be one of lc, rr, wlc, wrr, lblc, lblcr, dh, sh, got "sed"/],
    ['virtual v {\n\taddress = 10.0.0.1\n}\n', /line 2: address needs two values/],
    ['virtual v {\n\tsend_program = /bin/check -H %h\n}\n', /line 2: send_program takes one value; quote a value that has blanks/],
    ['virtual v{\n}\n', /line 1: expected "virtual NAME {"/],
    ['virtual v {\n\tactive = yes\n}\n', /line 2: active must be 0 or 1/],
    ['virtual v {\n\ttimeout = 10s\n}\n', /line 2: timeout must be a number/],
    ['virtual v {\n\texpect = "OK\n}\n', /line 2: the value opened with " is not closed/],
    ['virtual v {\n\tserver a {\n\t\tweight = 1\n\t}\n', /line 1: the virtual block opened here is never closed/],
    ['}\n', /line 1: "}" closes no block/],
    ['heartbeat_port = 539\nscheduler = wlc\n', /line 2: unknown key "scheduler" in the global section/],
  ];
  for (const [text, error] of cases) t.throws(() => parseLvsCf(text), error, error.source);
  t.same(parseLvsCf('virtual v {\n\tfwmark = 0x10\n}\n').blocks[0]?.entries[0]?.values, ['0x10'], 'numbers as strtol(…, 0) reads them');
});

t.test('import: the docs example becomes a valid farms file', async (t) => {
  const { config, notes } = farmsFromLvsCf(parseLvsCf(DOCS));
  const valid = validateConfig(config);
  t.same(valid.farms.map((f) => [f.name, f.service, f.virtual.ports?.[0]?.from ?? `fwmark ${f.virtual.fwmark}`, f.scheduler, f.persistence?.timeout]), [
    ['ftp', 'ftp', 21, 'wlc', 300],
    ['tftp', 'tftp', 'fwmark 1', 'wlc', 45],
    ['sftp', 'sftp', 22, 'wlc', undefined],
  ]);
  const tftp = valid.farms[1];
  t.same(tftp?.dataplane, { type: 'ipvsadm', method: 'nat', ipvsadm: '/sbin/ipvsadm' });
  // our plugin in its nanny mode is the native probe: same target (-H %h -p %p), same -t
  t.match(tftp?.check, { probe: 'tftp', options: {}, interval: 6000, timeout: 3000, rise: 1, fall: 1, reentry: 15000, 'on-failure': 'quiesce' });
  t.equal(tftp?.check.command, undefined);
  t.match(notes.join('\n'), /send_program "\/usr\/local\/bin\/check_tftp --nanny -H %h -p %p -t 3" is lbguard's tftp probe: checked in-process, same target and -t 3/);
  t.same(tftp?.backends.map((b) => [b.name, b.address, b.port]), [['tftp1', '10.0.0.21', 69]]);
  t.match(notes.join('\n'), /primary \(pulse\/heartbeat setting\) is not imported/);
});

t.test('render: farms -> lvs.cf that pulse parses, and import of it gives the farms back', async (t) => {
  const first = validateConfig(farmsFromLvsCf(parseLvsCf(DOCS)).config);
  const text = renderLvsCf(lvsCfFromConfig(first));
  const again = validateConfig(farmsFromLvsCf(parseLvsCf(text)).config);
  t.same(again, first, 'lvs.cf -> farms -> lvs.cf -> farms: the same farms');
  t.match(text, /\tport = 21\n[\s\S]*\tserver ftp1 \{/, 'port comes before the server blocks');
  t.match(text, /\tsend_program = "\/usr\/local\/bin\/check_ftp --nanny -H %h -p %p -t 5"\n/);
});

t.test('render: built-in probes run in their nanny mode; what pulse cannot hold is refused', async (t) => {
  const config = validateConfig({
    farms: [{
      name: 'ftp', service: 'ftp', virtual: { address: '192.0.2.10', fwmark: 21 }, scheduler: 'rr', persistence: { timeout: 300, netmask: '255.255.255.0' },
      dataplane: { type: 'ipvsadm', method: 'dr' },
      check: { probe: 'ftp', options: { get: 'check.txt', 'expect-content': 'OK' }, interval: '5s', timeout: '3s', 'on-failure': 'quiesce' },
      backends: [{ name: 'a', address: '10.0.0.2' }, { name: 'b', address: '10.0.0.3', weight: 0, maintenance: true }],
    }],
  });
  const text = renderLvsCf(lvsCfFromConfig(config));
  t.match(text, 'network = direct\n');
  t.match(text, '\tsend_program = "/usr/local/bin/check_ftp --nanny -H %h -p %p -t 3 --get check.txt --expect-content OK"\n\texpect = "OK"\n');
  t.match(text, '\tfwmark = 21\n');
  t.match(text, '\tpersistent = 300\n\tpmask = 255.255.255.0\n');
  t.match(text, '\tserver b {\n\t\taddress = 10.0.0.3\n\t\tactive = 0\n\t\tweight = 0\n\t}\n');
  t.doesNotThrow(() => parseLvsCf(text));
  const sed = validateConfig({ farms: [{ ...config.farms[0], scheduler: 'sed', check: { probe: 'ftp' } }] });
  t.throws(() => lvsCfFromConfig(sed), /farm ftp: pulse knows the schedulers .*, not "sed"/);
  const webFarm = (check: object) => validateConfig({ farms: [{ name: 'web', service: 'tcp', virtual: { address: '192.0.2.20', ports: [8080] }, check, backends: [{ name: 'w1', address: '10.0.0.41' }] }] });
  const web = webFarm({ probe: 'tcp' });
  const plain = renderLvsCf(lvsCfFromConfig(web));
  t.notMatch(plain, /send_program|expect|nanny-check/, 'a TCP probe is nanny\'s own connect check: no program');
  t.match(farmsFromLvsCf(parseLvsCf(plain)).config.farms[0]?.check, { probe: 'tcp' }, 'and reads back as one');
  const withOptions = webFarm({ probe: 'tcp', options: { send: 'x' } });
  t.throws(() => lvsCfFromConfig(withOptions), /farm web: nanny's own TCP check takes no options/);
});

t.test('lbguard import lvs.cf / render lvs.cf', async (t) => {
  const { dir, imported, importLvs, renderLvs } = await importInScratch(t, DOCS);
  t.equal(imported.code, 0, imported.stderr);
  t.match(imported.stdout, '    check:\n      probe: ftp\n', 'a known plugin is the native probe');
  t.match(imported.stderr, /line 2: primary \(pulse\/heartbeat setting\) is not imported/);
  writeFileSync(join(dir, 'farms.yaml'), imported.stdout);
  const rendered = renderLvs('lvs.cf', join(dir, 'farms.yaml'));
  t.equal(rendered.code, 0, rendered.stderr);
  t.same(withoutLines(parseLvsCf(rendered.stdout)).blocks.map((b: { name: string }) => b.name), ['ftp', 'tftp', 'sftp']);
  writeFileSync(join(dir, 'limited.yaml'), 'farms:\n  - name: ftp\n    service: ftp\n    virtual: {address: 192.0.2.10, ports: [21]}\n    dataplane: {type: ipvsadm}\n    check: {probe: ftp}\n    backends:\n      - {name: a, address: 10.0.0.2, max-conns: 200}\n');
  const limited = renderLvs('lvs.cf', join(dir, 'limited.yaml'));
  t.equal(limited.code, 0, limited.stderr);
  t.match(limited.stderr, /farm ftp backend a: max-conns 200 not rendered \(lvs.cf has no connection limit/, 'what pulse cannot hold is said, not dropped silently');
  writeFileSync(join(dir, 'bad.cf'), 'serial_no = 1\nvirtual x {\n\tport=21\n}\n');
  t.same(importLvs('lvs.cf', join(dir, 'bad.cf')), { code: 1, stdout: '', stderr: `lbguard: ${join(dir, 'bad.cf')}: lvs.cf line 3: expected "port = value": lvs.cf needs blanks around "="\n` });
});

const PAIR_CF = [
  'serial_no = 1', 'primary = 192.168.1.10', 'service = lvs', 'backup_active = 1', 'backup = 192.168.1.11', 'heartbeat = 1',
  'heartbeat_port = 539', 'keepalive = 6', 'deadtime = 18', 'network = direct',
  'virtual tftp {', '\tactive = 1', '\taddress = 192.168.1.100 eth0:1', '\tvip_nmask = 255.255.255.0', '\tfwmark = 1', '\tport = 69',
  '\tpersistent = 45', '\texpect = "OK - answer from server"', '\tuse_regex = 0', '\tsend_program = "/usr/local/bin/check_tftp --connect %h"',
  '\tload_monitor = none', '\tscheduler = wlc', '\tprotocol = udp', '\ttimeout = 6', '\treentry = 15', '\tquiesce_server = 1',
  '\tserver tftp1 {', '\t\taddress = 10.0.0.2', '\t\tactive = 1', '\t\tweight = 1', '\t}',
  '\tserver tftp2 {', '\t\taddress = 10.0.0.3', '\t\tactive = 1', '\t\tweight = 1', '\t}', '}', '',
].join('\n');

t.test('import: a pulse pair (the LVS TFTP article) becomes vrrp.peers, its check the native probe; keepalived renders it', async (t) => {
  const { config, notes } = farmsFromLvsCf(parseLvsCf(PAIR_CF));
  const valid = validateConfig(config);
  t.same(valid.vrrp, {
    interface: 'eth0', 'virtual-router-id': 51, state: 'BACKUP', version: 2, 'advert-int': 6, keepalived: '/usr/sbin/keepalived',
    peers: [{ name: 'primary', address: '192.168.1.10', priority: 150 }, { name: 'backup', address: '192.168.1.11', priority: 100 }],
  }, 'primary and backup are the peers, keepalive the advert interval, the device eth0:1 the interface');
  t.match(valid.farms[0]?.check, { probe: 'tftp', options: { answer: true }, interval: 6000, timeout: 5900 }, 'check_tftp --connect %h: the native probe with --answer, nanny\'s timeout');
  const text = notes.join('\n');
  t.match(text, /line 9: deadtime 18 is kept: keepalived's backup takes over after 3 adverts \(18 s\)/);
  t.match(text, /heartbeat_port 539 is not used: VRRP is IP protocol 112/);
  t.notMatch(text, /(primary|backup|keepalive|deadtime) \(pulse\/heartbeat setting\) is not imported/, 'the pair is not reported as dropped');
  const other = farmsFromLvsCf(parseLvsCf(PAIR_CF.replace('deadtime = 18', 'deadtime = 10'))).notes.join('\n');
  t.match(other, /deadtime 10 cannot be kept: keepalived's backup takes over after 3 adverts \(18 s with advert-int 6\).*set advert-int to about 3/);
  const single = farmsFromLvsCf(parseLvsCf(PAIR_CF.replace('backup_active = 1', 'backup_active = 0')));
  t.equal((single.config as { vrrp?: unknown }).vrrp, undefined, 'backup_active = 0: one director');
  t.match(single.notes.join('\n'), /the backup is not active/);

  const { dir, imported, renderLvs } = await importInScratch(t, PAIR_CF);
  writeFileSync(join(dir, 'farms.yaml'), imported.stdout);
  const primary = renderLvs('keepalived', join(dir, 'farms.yaml'));
  t.equal(primary.code, 0, primary.stderr);
  t.match(primary.stdout, 'misc_path "/usr/local/bin/check_tftp -H 10.0.0.2 -p 69 -t 5 --answer"', 'MISC_CHECK runs the plugin with the same target');
  t.match(primary.stdout, /vrrp_instance lbguard \{[^}]*priority 150\n    advert_int 6\n/);
  t.match(primary.stderr, /rendered for primary \(priority 150\), as no peer's address is on this host; give --node NAME/);
  const backup = renderLvs('keepalived', join(dir, 'farms.yaml'), 'backup');
  t.match(backup.stdout, /priority 100\n/, '--node backup: its priority');
  t.equal(backup.stderr, '');
  t.match(renderLvs('keepalived', join(dir, 'farms.yaml'), 'third'), { code: 1, stderr: /--node third: no such peer in vrrp.peers \(primary, backup\)/ });
});

t.test('send_program: known plugins become native probes, anything else stays a command', async (t) => {
  const { nativeCheck } = await import('../../lvs-adapters/lvs-cf/send-program.ts');
  t.same(nativeCheck('/usr/local/bin/check_tftp --connect %h'), { probe: 'tftp', options: { answer: true } });
  t.same(nativeCheck('/usr/local/bin/check_tftp --get %h pxelinux.0 26828 -t 4'), { probe: 'tftp', options: { file: 'pxelinux.0', 'expect-size': 26828 }, timeoutSeconds: 4 });
  t.same(nativeCheck('/usr/lib/nagios/plugins/check_ftp -H %h -t 5'), { probe: 'ftp', options: {}, timeoutSeconds: 5 });
  t.same(nativeCheck('/usr/local/bin/check_ftp --nanny -H %h -p %p -t 5'), { probe: 'ftp', options: {}, timeoutSeconds: 5 });
  t.same(nativeCheck('check_ssh %h'), { probe: 'ssh', options: {} });
  t.same(nativeCheck('/usr/lib/nagios/plugins/check_tcp -H %h -p %p'), { probe: 'tcp', options: {} });
  for (const kept of [
    '/usr/local/bin/check_tftp --connect 10.0.0.9', // another target
    '/usr/lib/nagios/plugins/check_ftp -H %h -e "220 ProFTPD"', // an option the native probe takes otherwise
    '/usr/lib/nagios/plugins/check_tcp -H %h -p 8080', // a fixed port, not the real server's
    '/usr/local/bin/check_tftp --get %h pxelinux.0', // the classic form without its size
    '/usr/local/bin/my_check %h', // unknown
    '/usr/local/bin/nanny-check /usr/local/bin/check_ftp -H %h', // a wrapper
  ]) t.equal(nativeCheck(kept), undefined, kept);
});

/** Writes TEXT as lvs.cf in a scratch folder (removed at teardown) and runs `lbguard import` on it. */
async function importInScratch(t: Test, text: string) {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { importLvs, renderLvs } = await import('../../lvs-adapters/cli.ts');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-lvscf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'lvs.cf'), text);
  return { dir, imported: importLvs('lvs.cf', join(dir, 'lvs.cf')), importLvs, renderLvs };
}

t.test('expect: nanny\'s escapes are read on import and written back on render', async (t) => {
  const cf = (expect: string) => `serial_no = 1
primary = 10.0.0.1
service = lvs
network = nat
virtual ftp {
     active = 1
     address = 192.0.2.10 eth0:1
     port = 21
     send_program = "/usr/local/bin/probe %h"
     expect = "${expect}"
     scheduler = wlc
     protocol = tcp
     timeout = 6
     server a {
         address = 10.0.0.11
         active = 1
     }
}
`;
  const imported = validateConfig(farmsFromLvsCf(parseLvsCf(cf('OK\\n\\tdone \\\\ \\q'))).config);
  const check = imported.farms[0]!.check;
  t.equal(check.expect, 'OK\n\tdone \\ \\q', 'nanny compares with the characters: \\n, \\t and \\\\ are turned into them, \\q stays');
  const rendered = renderLvsCf(lvsCfFromConfig(imported));
  t.match(rendered, /^\s*expect = "OK\\n\\tdone \\\\ \\\\q"$/m, 'rendered back as escapes, on one line');
  t.equal(validateConfig(farmsFromLvsCf(parseLvsCf(rendered)).config).farms[0]!.check.expect, check.expect, 'and imported again to the same text');
});

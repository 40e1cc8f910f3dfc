// vrrp.sync: what the farms file accepts and refuses, the conntrackd.conf lbguard writes, the
// commands it runs on each role (against a stand-in conntrackd that records its arguments), its
// supervision, and the pick-up guard table.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { renderConntrackdConf, syncedHelpers } from '../../orchestrator/vrrp/conntrackd-conf.ts';
import { ConntrackdProcess } from '../../orchestrator/vrrp/conntrackd-process.ts';
import { renderPickupGuard } from '../../orchestrator/vrrp/pickup-guard.ts';
import { farmFields } from '../../zevenet-adapters/nftlb/farm.ts';
import { until } from '../helpers/processes.ts';

const vip = '10.96.0.100';
const nftlb = { type: 'nftlb', start: true, 'source-address': vip };
const backends = [{ name: 'a', address: '10.96.0.11' }];
const farms = [
  { name: 'ftp', service: 'ftp', virtual: { address: vip, ports: [21] }, dataplane: nftlb, check: { probe: 'ftp' }, backends },
  { name: 'tftp', service: 'tftp', virtual: { address: vip, ports: [69] }, dataplane: nftlb, check: { probe: 'tftp' }, backends },
];
const peers = [
  { name: 'd1', address: '10.96.0.1', priority: 254, 'sync-address': '10.96.9.1' },
  { name: 'd2', address: '10.96.0.2', priority: 250, 'sync-address': '10.96.9.2' },
];
const sync = { engine: 'conntrackd', interface: 'sync0' };
const pair = (vrrp: Record<string, unknown> = {}, farmList: unknown[] = farms) =>
  validateConfig({ vrrp: { interface: 'e0', 'virtual-router-id': 7, 'virtual-ipaddress': [`${vip}/24`], peers, sync, ...vrrp }, farms: farmList });

t.test('vrrp.sync: what the schema accepts and refuses, with the path', async (t) => {
  t.match(pair().vrrp?.sync, { engine: 'conntrackd', interface: 'sync0', port: 3780, conntrackd: '/usr/sbin/conntrackd' }, 'defaults: UDP port 3780, /usr/sbin/conntrackd');
  t.throws(() => pair({ sync: { ...sync, interface: 'e0' } }), /vrrp.sync.interface: conntrackd reads the interface name "e0" as a number: rename the link/);
  t.throws(() => pair({ sync: { ...sync, interface: 'eth 0' } }), /vrrp.sync.interface: expected a network interface name/);
  t.throws(() => pair({ sync: { ...sync, engine: 'keepalived' } }), /vrrp.sync.engine: expected conntrackd or ipvs, got "keepalived"/);
  t.throws(() => pair({ sync: { ...sync, expectations: ['irc'] } }), /vrrp.sync.expectations\[0\]/);
  t.throws(() => pair({ peers: [...peers, { name: 'd3', address: '10.96.0.4', priority: 200 }] }), /vrrp.sync: conntrackd syncs two directors: give exactly two vrrp.peers/);
  t.throws(() => pair({ peers: undefined, priority: 100 }), /vrrp.sync: conntrackd syncs two directors/);
  t.throws(() => pair({ peers: [peers[0], { ...peers[1], 'sync-address': '10.96.9.1' }] }), /vrrp.peers: the peers need distinct sync-address/);
  const userspace = farms.map((f) => ({ ...f, dataplane: { type: 'userspace' } }));
  t.throws(() => pair({}, userspace), /vrrp.sync: conntrackd syncs the kernel's connection tracking: no farm uses the nftlb data plane/);
  const masquerade = farms.map((f) => ({ ...f, dataplane: { type: 'nftlb' } }));
  t.throws(() => pair({}, masquerade), /farms\[0\].dataplane.source-address: farm ftp: with vrrp.sync, give source-address: one of the pair's addresses \(10.96.0.100\)/);
  const fixed = farms.map((f) => ({ ...f, dataplane: { ...nftlb, 'source-address': '10.96.0.1' } }));
  t.throws(() => pair({}, fixed), /farm ftp: source-address 10.96.0.1 does not move with the pair \(10.96.0.100\)/);
  t.ok(pair({ 'virtual-ipaddress': undefined }), 'without virtual-ipaddress, the farms\' virtual addresses are the pair\'s');
  const dnat = farms.map((f) => ({ ...f, dataplane: { type: 'nftlb', mode: 'dnat' } }));
  t.ok(pair({}, dnat), 'dnat farms need no source-address (the backends route through the pair)');
  t.throws(() => validateConfig({ farms: [{ ...farms[0], dataplane: { ...nftlb, mode: 'dnat' } }] }), /source-address is the snat mode's/);
  t.throws(() => validateConfig({ farms: [{ ...farms[0], dataplane: { ...nftlb, 'source-address': 'vip.example' } }] }), /dataplane.source-address: expected an IP address/);
});

t.test('nftlb farms carry source-addr when given', async (t) => {
  const spec = { farm: 'ftp', service: 'ftp' as const, protocol: 'tcp' as const, address: vip, ports: [{ from: 21, to: 21 }], scheduler: 'rr' as const };
  t.equal(farmFields(spec, 'snat', vip)['source-addr'], vip);
  t.notOk('source-addr' in farmFields(spec, 'snat'), 'absent: nftlb masquerades');
});

t.test('conntrackd.conf: FT-FW over UDP between the sync addresses, the expectations, the ignored addresses', async (t) => {
  const config = pair();
  const text = renderConntrackdConf(config, config.vrrp!.peers![1]!, { lockFile: '/run/lbguard/sync-7-d2/conntrackd.lock', socket: '/run/lbguard/sync-7-d2/conntrackd.ctl' });
  t.match(text, '\tMode FTFW {\n');
  t.match(text, '\tUDP {\n\t\tIPv4_address 10.96.9.2\n\t\tIPv4_Destination_Address 10.96.9.1\n\t\tPort 3780\n\t\tInterface sync0\n');
  t.match(text, '\t\tExpectationSync {\n\t\t\tftp\n\t\t\ttftp\n\t\t}\n');
  t.match(text, '\tLockFile /run/lbguard/sync-7-d2/conntrackd.lock\n\tUNIX {\n\t\tPath /run/lbguard/sync-7-d2/conntrackd.ctl\n');
  for (const address of ['127.0.0.1', vip, '10.96.0.1', '10.96.0.2', '10.96.9.1', '10.96.9.2']) t.match(text, `\t\t\tIPv4_address ${address}\n`, `${address} is ignored (the directors' own traffic)`);
  t.match(text, '\t\t\tIPv6_address ::1\n');
  t.notMatch(text, '10.96.0.11', 'the backends are not ignored');
  t.same(syncedHelpers(pair({ sync: { ...sync, expectations: ['ftp'] } })), ['ftp'], 'the list given');
  t.same(syncedHelpers(pair({}, [farms[0]])), ['ftp'], 'else the helpers of the nftlb farms');
  const v6 = pair({ peers: [{ ...peers[0], 'sync-address': 'fd00::1' }, { ...peers[1], 'sync-address': 'fd00::2' }] });
  t.match(renderConntrackdConf(v6, v6.vrrp!.peers![0]!, { lockFile: '/l', socket: '/s' }), '\t\tIPv6_address fd00::1\n\t\tIPv6_Destination_Address fd00::2\n');
  const mixed = pair({ peers: [{ ...peers[0], 'sync-address': 'fd00::1' }, peers[1]] });
  t.throws(() => renderConntrackdConf(mixed, mixed.vrrp!.peers![0]!, { lockFile: '/l', socket: '/s' }), /fd00::1 and 10.96.9.2 are not of one address family/);
});

t.test('the pick-up guard: mid-stream TCP to the virtual addresses only; nft accepts it', async (t) => {
  const text = renderPickupGuard([vip, 'fd00::100']);
  t.match(text, 'type filter hook prerouting priority mangle; policy accept;');
  t.match(text, `ip daddr { ${vip} } tcp flags & (syn | rst) == 0 ct state new counter drop`);
  t.match(text, 'ip6 daddr { fd00::100 } tcp flags & (syn | rst) == 0 ct state new counter drop');
  t.notMatch(renderPickupGuard([vip]), 'ip6 daddr', 'no IPv6 rule without an IPv6 address');
  if (existsSync('/usr/sbin/nft')) {
    // --check: parsed and validated by the kernel, nothing applied
    t.doesNotThrow(() => execFileSync('/usr/sbin/nft', ['--check', '-f', '-'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] }), 'nft --check accepts it');
  }
});

/**
 * A stand-in conntrackd: as a daemon (`-C FILE` alone) it creates the control socket named in FILE
 * and waits; as a client (`-C FILE -x`) it appends its argument to calls.log and exits with the
 * code calls.fail names for it (0 otherwise). FAIL_AT_START makes the daemon exit at once.
 */
function fakeConntrackd(dir: string): string {
  const path = join(dir, 'conntrackd');
  writeFileSync(path, `#!${process.execPath}
const fs = require('node:fs');
const path = require('node:path');
const args = process.argv.slice(2);
const conf = fs.readFileSync(args[1], 'utf8');
const dir = ${JSON.stringify(dir)};
if (args.length === 2) {
  if (fs.existsSync(path.join(dir, 'fail-at-start'))) { console.log('[ERROR] parsing config file in line (9), symbol: syntax error'); process.exit(1); }
  const socket = /Path (\\S+)/.exec(conf)[1];
  fs.writeFileSync(socket, '');
  fs.appendFileSync(path.join(dir, 'calls.log'), 'daemon\\n');
  setInterval(() => {}, 1000);
  process.on('SIGTERM', () => process.exit(0));
} else {
  fs.appendFileSync(path.join(dir, 'calls.log'), args[2] + '\\n');
  let fail = '';
  try { fail = fs.readFileSync(path.join(dir, 'calls.fail'), 'utf8').trim(); } catch {}
  if (fail === args[2]) { console.error('cannot connect to the daemon'); process.exit(1); }
}
`);
  chmodSync(path, 0o755);
  return path;
}

t.test('conntrackd supervised: the commands of each role in order, failures said, restarted when it dies', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const calls = () => readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n');
  const logger = pino({ level: 'silent' });
  const config = pair();
  const node = config.vrrp!.peers![0]!;
  const sync = new ConntrackdProcess({ conntrackd: fakeConntrackd(dir), logger, id: `test-${process.pid}`, render: (paths) => renderConntrackdConf(config, node, paths), restartDelayMs: 50 });
  t.teardown(() => sync.stop());
  await sync.start();
  t.match(sync.status(), { engine: 'conntrackd', running: true, restarts: 0 });
  t.equal((await import('node:fs')).statSync(join(sync.dir, 'conntrackd.conf')).mode & 0o777, 0o600, 'conntrackd.conf is written mode 600');

  sync.onRole('BACKUP');
  sync.onRole('MASTER');
  sync.onRole('STOP'); // nothing to run
  await sync.settled();
  t.same(calls(), ['daemon', '-t', '-n', '-c', '-f', '-R', '-B'], 'BACKUP: -t -n; then MASTER: -c -f -R -B (primary-backup.sh)');
  t.match(sync.status().lastRole, { state: 'MASTER', ok: true });

  writeFileSync(join(dir, 'calls.fail'), '-f');
  writeFileSync(join(dir, 'calls.log'), '');
  sync.onRole('MASTER');
  await sync.settled();
  t.same(calls(), ['-c', '-f'], 'a failed command stops the sequence');
  t.match(sync.status().lastRole, { state: 'MASTER', ok: false, error: /^conntrackd -f: exit 1: cannot connect to the daemon$/ });
  rmSync(join(dir, 'calls.fail'));

  // conntrackd killed: started again, and the current role's commands refill its caches
  writeFileSync(join(dir, 'calls.log'), '');
  process.kill(sync.status().pid!, 'SIGKILL');
  await until('conntrackd restarted', () => (sync.status().restarts === 1 && sync.status().running ? true : undefined), 20_000);
  await until('the MASTER commands run again', () => (calls().includes('-B') ? true : undefined), 20_000).catch((error: Error) => {
    throw new Error(`${error.message}: ran ${calls().join(' ')}`);
  });
  t.same(calls(), ['daemon', '-c', '-f', '-R', '-B'], 'a new conntrackd, then the MASTER commands again');

  const runtime = sync.dir;
  const pid = sync.status().pid!;
  await sync.stop();
  t.throws(() => process.kill(pid, 0), 'stop ends conntrackd');
  t.notOk(existsSync(runtime), 'and removes its runtime directory');
});

t.test('a conntrackd that cannot start refuses the start with what it said', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'fail-at-start'), '');
  const config = pair();
  const sync = new ConntrackdProcess({ conntrackd: fakeConntrackd(dir), logger: pino({ level: 'silent' }), id: `test-bad-${process.pid}`, render: (paths) => renderConntrackdConf(config, config.vrrp!.peers![0]!, paths) });
  await t.rejects(sync.start(), /vrrp.sync: conntrackd exited at start: \[ERROR\] parsing config file in line \(9\)/);
  await sync.stop();
  const missing = new ConntrackdProcess({ conntrackd: join(dir, 'nothing'), logger: pino({ level: 'silent' }), id: `test-none-${process.pid}`, render: (paths) => renderConntrackdConf(config, config.vrrp!.peers![0]!, paths) });
  await t.rejects(missing.start(), /not found \(Debian: apt-get install conntrackd\)/);
});

t.test('lbguard status says what conntrackd did on the last role', async (t) => {
  const { formatStatusTable } = await import('../../orchestrator/status/table.ts');
  const vrrp = { node: 'd2', state: 'MASTER' as const, since: '2026-12-05T12:00:00.000Z', keepalived: { running: true, restarts: 0 } };
  const ok = formatStatusTable({ at: '', farms: [], transitions: [], vrrp: { ...vrrp, sync: { engine: 'conntrackd', running: true, restarts: 0, lastRole: { state: 'MASTER', at: '2026-12-05T12:00:00.010Z', ok: true } } } });
  t.match(ok.split('\n')[1], /^vrrp.sync: conntrackd running; as MASTER \(2026-12-05T12:00:00.010Z\): its commands ran$/);
  const failed = formatStatusTable({ at: '', farms: [], transitions: [], vrrp: { ...vrrp, sync: { engine: 'conntrackd', running: false, restarts: 2, lastRole: { state: 'MASTER', at: 'T', ok: false, error: 'conntrackd -c: exit 1' } } } });
  t.match(failed.split('\n')[1], /^vrrp.sync: conntrackd not running, restarted 2 times; as MASTER \(T\): conntrackd -c: exit 1$/);
});

t.test('docs/director-pair.md: the vrrp.sync example is a valid farms file', async (t) => {
  const { parse } = await import('yaml');
  const page = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'director-pair.md'), 'utf8');
  const block = [...page.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('engine: conntrackd'));
  t.ok(block, 'the page has the example');
  const config = validateConfig(parse(block!));
  t.match(config.vrrp?.sync, { engine: 'conntrackd', interface: 'eth1', port: 3780 });
  t.match(renderConntrackdConf(config, config.vrrp!.peers![0]!, { lockFile: '/l', socket: '/s' }), 'IPv4_address 198.51.100.1\n\t\tIPv4_Destination_Address 198.51.100.2\n');
});

t.test('vrrp.sync engine ipvs: the IPVS sync daemon per role, as keepalived\'s lvs_sync_daemon sets it', async (t) => {
  const { IpvsSync, ipvsSyncCommands, ipvsSyncOptions, ipvsSyncStopCommands } = await import('../../orchestrator/vrrp/ipvs-sync.ts');
  const ipvsFarms = [{ ...farms[0], dataplane: { type: 'ipvsadm', ipvsadm: '/usr/sbin/ipvsadm' } }];
  const config = pair({ sync: { engine: 'ipvs', interface: 'eth1' } }, ipvsFarms);
  t.throws(() => pair({ sync: { engine: 'ipvs', interface: 'eth1' } }), /vrrp.sync: the IPVS sync daemon syncs IPVS connections: no farm uses the ipvsadm data plane/);
  t.throws(() => pair({ sync: { engine: 'ipvs', interface: 'eth1', syncid: 256 } }, ipvsFarms), /vrrp.sync.syncid: expected 0..255, got 256/);
  t.ok(validateConfig({ vrrp: { interface: 'e0', 'virtual-router-id': 7, priority: 100, sync: { engine: 'ipvs', interface: 'e0' } }, farms: ipvsFarms }), 'the single-node form and any interface name are fine for ipvs');
  const logger = pino({ level: 'silent' });
  t.match(ipvsSyncOptions(config, logger), { ipvsadm: '/usr/sbin/ipvsadm', interface: 'eth1', syncid: 7 }, 'defaults: the farms\' ipvsadm, the virtual-router-id as sync id');
  t.same(ipvsSyncCommands('MASTER', 'eth1', 7).start, ['--start-daemon', 'master', '--mcast-interface', 'eth1', '--syncid', '7']);
  t.same(ipvsSyncCommands('FAULT', 'eth1', 7).start, ['--start-daemon', 'backup', '--mcast-interface', 'eth1', '--syncid', '7']);
  t.same(ipvsSyncCommands('STOP', 'eth1', 7), { stops: [] }, 'keepalived stopped: the daemon is left as it is');
  t.same(ipvsSyncStopCommands(), [['--stop-daemon', 'master'], ['--stop-daemon', 'backup']], 'lbguard stopping: both daemons');
  t.same(ipvsSyncCommands('BACKUP', 'eth1', 7).stops, ipvsSyncStopCommands(), 'a role first stops both');

  // a stand-in ipvsadm: records its arguments; a stop of a daemon that is not running fails as the kernel says
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-ipvs-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'ipvsadm');
  writeFileSync(fake, `#!${process.execPath}
const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(join(dir, 'calls.log'))}, args.join(' ') + '\\n');
if (args[0] === '--stop-daemon') { console.error('No such process'); process.exit(255); }
if (fs.existsSync(${JSON.stringify(join(dir, 'fail'))})) { console.error('Invalid argument'); process.exit(255); }
`);
  chmodSync(fake, 0o755);
  const calls = () => readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n');
  const ipvs = new IpvsSync({ ...ipvsSyncOptions(config, logger), ipvsadm: fake });
  ipvs.onRole('BACKUP');
  ipvs.onRole('MASTER');
  await ipvs.settled();
  t.same(calls(), [
    '--stop-daemon master', '--stop-daemon backup', '--start-daemon backup --mcast-interface eth1 --syncid 7',
    '--stop-daemon master', '--stop-daemon backup', '--start-daemon master --mcast-interface eth1 --syncid 7',
  ], 'BACKUP then MASTER: both stopped (failures ignored), then the role\'s daemon started');
  t.match(ipvs.status(), { engine: 'ipvs', running: true, daemon: 'master', lastRole: { state: 'MASTER', ok: true } });
  writeFileSync(join(dir, 'fail'), '');
  ipvs.onRole('BACKUP');
  await ipvs.settled();
  t.match(ipvs.status(), { running: false, lastRole: { state: 'BACKUP', ok: false, error: /ipvsadm --start-daemon backup --mcast-interface eth1 --syncid 7: the kernel refused it \(exit 255\): Invalid argument/ } }, 'a refused start is said with ipvsadm\'s words');
  writeFileSync(join(dir, 'calls.log'), '');
  await ipvs.stop();
  t.same(calls(), ['--stop-daemon master', '--stop-daemon backup'], 'stop: both daemons stopped');
  const { formatStatusTable } = await import('../../orchestrator/status/table.ts');
  const line = formatStatusTable({ at: '', farms: [], transitions: [], vrrp: { state: 'MASTER', since: 'S', keepalived: { running: true, restarts: 0 }, sync: { engine: 'ipvs', running: true, daemon: 'master', restarts: 0 } } }).split('\n')[1];
  t.equal(line, 'vrrp.sync: IPVS sync daemon master', 'lbguard status names the daemon');
});

t.test('the pick-up guard without nft says what is missing', async (t) => {
  const { installPickupGuard } = await import('../../orchestrator/vrrp/pickup-guard.ts');
  await t.rejects(installPickupGuard([vip], pino({ level: 'silent' }), '/nonexistent/nft'), /^vrrp.sync: the pick-up guard table: \/nonexistent\/nft not found \(Debian: apt-get install nftables\)$/);
});

import t from 'tap';
import { IpvsadmAdapter } from '../../lvs-adapters/ipvsadm/adapter.ts';
import { diffFarms } from '../../orchestrator/dataplane/diff.ts';
import type { FarmState, RealServerSpec } from '../../orchestrator/dataplane/types.ts';
import { FakeIpvsadm } from '../helpers/fake-ipvsadm.ts';

const IPVSADM = '/fake/ipvsadm';

/** A fresh fake kernel table, a fake nft that records its scripts (both in this process), and an adapter on both. */
function setup(options: { batchAbove?: number } = {}) {
  const fake = new FakeIpvsadm();
  const adapter = new IpvsadmAdapter({ ipvsadm: IPVSADM, nft: '/fake/nft', method: 'nat', run: fake.run, ...options });
  return {
    fake,
    adapter,
    save: () => fake.save(),
    ipvsadm: (...argv: string[]) => fake.ipvsadm(argv),
    /** the commands that changed the table (the reads left out) */
    calls: () => fake.calls.filter((l) => l !== '-Sn' && l !== '-Ln --thresholds'),
    nftScripts: () => fake.nftScripts,
  };
}

const server = (name: string, address: string, port: number, weight = 1): RealServerSpec => ({ name, address, port, weight });
const ftp = (servers: RealServerSpec[]): FarmState => ({
  service: { farm: 'ftp', service: 'ftp', protocol: 'tcp', address: '192.0.2.10', fwmark: 21, scheduler: 'wlc', persistence: { timeoutSeconds: 300, netmask: '255.255.255.255' } },
  servers,
});
const sftp = (servers: RealServerSpec[], port = 22): FarmState => ({
  service: { farm: 'sftp', service: 'sftp', protocol: 'tcp', address: '192.0.2.10', ports: [{ from: port, to: port }], scheduler: 'rr' },
  servers,
});
const tftp = (servers: RealServerSpec[]): FarmState => ({
  service: { farm: 'tftp', service: 'tftp', protocol: 'udp', address: '192.0.2.11', fwmark: 69, scheduler: 'wlc', persistence: { timeoutSeconds: 45, netmask: '24' } },
  servers,
});

/** One reconcile pass, as the Reconciler runs it: observe, diff, apply handed what was observed. */
async function converge(adapter: IpvsadmAdapter, desired: FarmState[]): Promise<void> {
  const managed = new Set(desired.map((f) => f.service.farm));
  const observed = await adapter.observe();
  await adapter.apply(diffFarms(desired, observed, managed), observed);
}

t.test('declares fwmark and port services with their real servers, marks in nftables', async (t) => {
  const { adapter, save, nftScripts } = setup();
  const desired = [ftp([server('a', '10.0.1.2', 21), server('b', '10.0.1.3', 21, 2)]), sftp([server('s1', '10.0.1.2', 2222)]), tftp([server('t1', '10.0.1.4', 69)])];
  await converge(adapter, desired);
  t.equal(save(), [
    '-A -f 21 -s wlc -p 300',
    '-a -f 21 -r 10.0.1.2:0 -m -w 1',
    '-a -f 21 -r 10.0.1.3:0 -m -w 2',
    '-A -t 192.0.2.10:22 -s rr',
    '-a -t 192.0.2.10:22 -r 10.0.1.2:2222 -m -w 1',
    '-A -f 69 -s wlc -p 45 -M 255.255.255.0',
    '-a -f 69 -r 10.0.1.4:0 -m -w 1',
    '',
  ].join('\n'));
  const [script] = nftScripts();
  t.match(script, 'ip daddr 192.0.2.10 tcp dport { 20-21, 1024-65535 } meta mark set 0x00000015 comment "farm ftp"');
  t.match(script, 'ip daddr 192.0.2.11 udp dport { 69, 1024-65535 } meta mark set 0x00000045 comment "farm tftp"');
  t.match(script, 'ip saddr 10.0.1.4 udp sport 1024-65535 snat ip to 192.0.2.11', 'TFTP under NAT: the first DATA packet of a transfer leaves as the VIP');
  t.match(script, /^table inet lbguard_ipvs \{\}\ndelete table inet lbguard_ipvs\ntable inet lbguard_ipvs \{/, 'replaced as a whole, in one transaction');
  t.same(diffFarms(desired, await adapter.observe(), new Set(['ftp', 'sftp', 'tftp'])), [], 'observe reads back what was asked');
  await converge(adapter, desired);
  t.equal(nftScripts().length, 1, 'unchanged marks are not written again');
});

t.test('quiesce is one -e with the full spec; remove and add are single commands', async (t) => {
  const { adapter, calls } = setup();
  await converge(adapter, [ftp([server('a', '10.0.1.2', 21), server('b', '10.0.1.3', 21)])]);
  const before = calls().length;
  await converge(adapter, [ftp([server('a', '10.0.1.2', 21, 0), server('c', '10.0.1.5', 21)])]);
  t.same(calls().slice(before), ['-d -f 21 -r 10.0.1.3:0', '-e -f 21 -r 10.0.1.2:0 -m -w 0 -x 0', '-a -f 21 -r 10.0.1.5:0 -m -w 1']);
});

t.test('max-conns: -x on -a and -e, read back from -Ln --thresholds, no drift; an update without it lifts the limit', async (t) => {
  const { adapter, calls, ipvsadm } = setup();
  const limited = [sftp([{ ...server('s1', '10.0.1.2', 22), maxConnections: 50 }, server('s2', '10.0.1.3', 22)])];
  await converge(adapter, limited);
  t.same(calls(), ['-A -t 192.0.2.10:22 -s rr', '-a -t 192.0.2.10:22 -r 10.0.1.2:22 -m -w 1 -x 50', '-a -t 192.0.2.10:22 -r 10.0.1.3:22 -m -w 1']);
  t.same((await adapter.observe())[0]?.servers.map((s) => [s.name, s.maxConnections]), [['s1', 50], ['s2', undefined]], 'observe reports the limit the kernel holds, none where there is none');
  t.same(diffFarms(limited, await adapter.observe(), new Set(['sftp'])), [], 'so the reconciler sees no drift');
  ipvsadm('-e', '-t', '192.0.2.10:22', '-r', '10.0.1.2:22', '-m', '-w', '1', '-x', '7');
  t.same(diffFarms(limited, await adapter.observe(), new Set(['sftp'])).map((c) => [c.kind, 'server' in c ? c.server.maxConnections : '']), [['update-server', 50]], 'a limit changed by hand is drift');
  let before = calls().length;
  await converge(adapter, limited);
  t.same(calls().slice(before), ['-e -t 192.0.2.10:22 -r 10.0.1.2:22 -m -w 1 -x 50'], 'and is put back with the full spec');
  before = calls().length;
  const lifted = [sftp([server('s1', '10.0.1.2', 22), { ...server('s2', '10.0.1.3', 22), maxConnections: 3 }])];
  await converge(adapter, lifted);
  t.same(calls().slice(before).sort(), ['-e -t 192.0.2.10:22 -r 10.0.1.2:22 -m -w 1 -x 0', '-e -t 192.0.2.10:22 -r 10.0.1.3:22 -m -w 1 -x 3']);
  t.same((await adapter.observe())[0]?.servers.map((s) => [s.name, s.maxConnections]), [['s1', undefined], ['s2', 3]]);
});

t.test('a reconcile pass reads the kernel once: apply() handed what observe() returned plans on the table it read', async (t) => {
  const { adapter, fake } = setup();
  const log = () => fake.calls;
  await converge(adapter, [sftp([server('s1', '10.0.1.2', 22)])]);
  const before = log().length;
  await converge(adapter, [sftp([server('s1', '10.0.1.2', 22, 0), server('s2', '10.0.1.3', 22)])]);
  const pass = log().slice(before);
  t.same(pass.slice(0, 2).sort(), ['-Ln --thresholds', '-Sn'], 'one -Sn and one -Ln --thresholds, side by side');
  t.same(pass.slice(2), ['-e -t 192.0.2.10:22 -r 10.0.1.2:22 -m -w 0 -x 0', '-a -t 192.0.2.10:22 -r 10.0.1.3:22 -m -w 1'], 'then the two commands, and no read-back');
  const observed = await adapter.observe();
  let mark = log().length;
  await adapter.apply(diffFarms([sftp([server('s1', '10.0.1.2', 22)])], observed, new Set(['sftp'])), observed);
  t.same(log().slice(mark).filter((l) => l === '-Sn'), [], 'handed the observation: no read');
  mark = log().length;
  await adapter.apply([{ kind: 'update-server', farm: 'sftp', server: server('s1', '10.0.1.2', 22, 3) }], observed);
  t.same(log().slice(mark).filter((l) => l === '-Sn'), ['-Sn'], 'the same observation again: read afresh, it is used once');
  mark = log().length;
  await adapter.apply([{ kind: 'update-server', farm: 'sftp', server: server('s1', '10.0.1.2', 22, 2) }]);
  t.same(log().slice(mark).filter((l) => l === '-Sn'), ['-Sn'], 'no observation handed: the adapter reads the table itself');
});

t.test('drift made by hand is repaired; a restarted adapter runs nothing when the kernel already agrees', async (t) => {
  const { adapter, ipvsadm, calls, save, fake } = setup();
  const desired = [sftp([server('s1', '10.0.1.2', 22), server('s2', '10.0.1.3', 22)])];
  await converge(adapter, desired);
  ipvsadm('-d', '-t', '192.0.2.10:22', '-r', '10.0.1.3:22');
  ipvsadm('-e', '-t', '192.0.2.10:22', '-r', '10.0.1.2:22', '-g', '-w', '1'); // someone switched it to DR
  t.same(diffFarms(desired, await adapter.observe(), new Set(['sftp'])).map((c) => c.kind), ['update-server', 'add-server']);
  await converge(adapter, desired);
  t.match(save(), '-a -t 192.0.2.10:22 -r 10.0.1.2:22 -m -w 1\n-a -t 192.0.2.10:22 -r 10.0.1.3:22 -m -w 1');
  const restarted = new IpvsadmAdapter({ ipvsadm: IPVSADM, method: 'nat', run: fake.run });
  const before = calls().length;
  await converge(restarted, desired);
  t.same(calls().slice(before), [], 'add-farm of a service the kernel already holds: nothing to run');
});

t.test('services lbguard does not own are left alone; a moved port deletes the old service', async (t) => {
  const { adapter, ipvsadm, save } = setup();
  ipvsadm('-A', '-u', '10.9.9.9:53', '-s', 'rr');
  await converge(adapter, [sftp([server('s1', '10.0.1.2', 22)])]);
  await converge(adapter, [sftp([server('s1', '10.0.1.2', 22)], 2022)]);
  t.equal(save(), '-A -u 10.9.9.9:53 -s rr\n-A -t 192.0.2.10:2022 -s rr\n-a -t 192.0.2.10:2022 -r 10.0.1.2:22 -m -w 1\n');
  await adapter.apply([{ kind: 'remove-farm', farm: 'sftp' }]);
  t.equal(save(), '-A -u 10.9.9.9:53 -s rr\n');
});

t.test('a farm on two ports whose second service was deleted by hand is out of step and applied again', async (t) => {
  const { adapter, ipvsadm, save } = setup();
  const twoPorts: FarmState = { ...sftp([server('s1', '10.0.1.2', 22)]), service: { ...sftp([]).service, ports: [{ from: 22, to: 22 }, { from: 2222, to: 2222 }] } };
  await converge(adapter, [twoPorts]);
  const whole = save();
  t.match(whole, '-A -t 192.0.2.10:2222 -s rr', 'both ports declared');
  t.same((await adapter.observe())[0]?.outOfStep, undefined, 'in step');
  ipvsadm('-D', '-t', '192.0.2.10:2222');
  const observed = await adapter.observe();
  t.same([observed[0]?.outOfStep, observed[0]?.service.scheduler], [true, 'rr'], 'out of step, the scheduler as the kernel has it');
  t.same(diffFarms([twoPorts], observed, new Set(['sftp'])).map((c) => c.kind), ['update-farm'], 'the diff applies the farm again');
  await converge(adapter, [twoPorts]);
  t.equal(save(), whole, 'the second port is back');
});

t.test('a refused command fails with what ipvsadm said and what it means', async (t) => {
  const { adapter, fake } = setup();
  fake.refuse = '-a -t';
  await t.rejects(converge(adapter, [sftp([server('s1', '10.0.1.2', 22)])]), /ipvsadm -a -t 192.0.2.10:22 -r 10.0.1.2:22 -m -w 1: the kernel refused it \(exit 255\): Memory allocation problem/);
  fake.refuse = undefined;
  const bad = { ...sftp([server('s1', '10.0.1.2', 22)]), service: { ...sftp([]).service, scheduler: 'bogus' } };
  await t.rejects(converge(new IpvsadmAdapter({ ipvsadm: IPVSADM, run: fake.run }), [bad]), /Scheduler or persistence engine not found — the kernel has no such scheduler module/);
  await t.rejects(new IpvsadmAdapter({ ipvsadm: '/nonexistent/ipvsadm' }).observe(), /\/nonexistent\/ipvsadm not found \(install ipvsadm/);
});

t.test('1,000 real servers go in one ipvsadm -R batch and are verified by reading back', async (t) => {
  const { adapter, calls, save, fake } = setup();
  const servers = Array.from({ length: 1000 }, (_, i) => server(`rs${i}`, `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, 21));
  const started = performance.now();
  await converge(adapter, [ftp(servers)]);
  const ms = performance.now() - started;
  t.same(calls(), ['-R'], 'one batch');
  t.equal((save()).split('\n').filter((l) => l.startsWith('-a ')).length, 1000);
  const { planMs, readMs, runMs, verifyMs } = adapter.lastApply;
  t.comment(`applied in ${ms.toFixed(0)} ms with the in-process fake ipvsadm: our own work (record, map, plan) ${planMs.toFixed(1)} ms; reads ${readMs.toFixed(0)} + ${verifyMs.toFixed(0)} ms and the batch ${runMs.toFixed(0)} ms are the fake's; the real kernel's figures are in test/system/ipvs-vm.test.ts`);
  fake.refuse = '10.1.3.250';
  await t.rejects(converge(adapter, [ftp(servers.map((s) => ({ ...s, weight: 0 })))]), /kernel table differs from what was asked for in -f 21; ipvsadm -R said: .*Memory allocation problem/);
});

t.test('DR: a backend on another port is declared on the service port and observed under its name', async (t) => {
  const { save, fake } = setup();
  const adapter = new IpvsadmAdapter({ ipvsadm: IPVSADM, method: 'dr', run: fake.run });
  const desired = [sftp([server('s1', '10.0.1.2', 2222)])];
  await converge(adapter, desired);
  t.match(save(), '-a -t 192.0.2.10:22 -r 10.0.1.2:22 -g -w 1\n');
  t.same(diffFarms(desired, await adapter.observe(), new Set(['sftp'])), [], 'converged: nothing more to do');
});

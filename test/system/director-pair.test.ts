// A director pair from one farms file (test/helpers/director-pair.ts: two directors, a client and two
// backends in namespaces of this test joined by a bridge). Each director runs `lbguard run --node dN`,
// which runs keepalived (VRRP version 2, advert-int 1) and the userspace data plane. The master dies
// twice - its link goes down, then lbguard's process group is killed with SIGKILL - and each time the
// first passive FTP, active FTP and TFTP transfer through the virtual address is timed from the death
// (figures in the output; the 4 s target in `npm run bench`): keepalived must move the role, and the
// backup, already listening on the address, must serve as soon as it has it.
// Also: /status and `lbguard status` show the role, keepalived is restarted when it dies, and a
// SIGHUP gives keepalived the new priorities.
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { assertFailover, type DirectorProcess, directorPair } from '../helpers/director-pair.ts';
import { until } from '../helpers/processes.ts';

const alive = (pid: number | undefined) => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.setTimeout(300_000); // the pair starts, fails over and recovers several times

t.test('director pair, VRRPv2 advert-int 1: role shown, keepalived supervised, failover timed', async (t) => {
  const pair = directorPair();
  t.teardown(() => pair.remove());
  const file = pair.farmsFile({ version: 2, advertInt: 1 });
  const [d1, d2] = (await pair.startBoth(file)) as [DirectorProcess, DirectorProcess];

  const s1 = await pair.status(0);
  const s2 = await pair.status(1);
  t.match(s1.vrrp, { node: 'd1', state: 'MASTER', priority: 254, keepalived: { running: true, restarts: 0 } }, '/status of d1: MASTER');
  t.match(s2.vrrp, { node: 'd2', state: 'BACKUP', priority: 250, keepalived: { running: true, restarts: 0 } }, '/status of d2: BACKUP');
  t.match((await pair.table(0)).split('\n')[0], /^vrrp: MASTER on d1 since \d{4}-\d\d-\d\dT/, 'lbguard status says the role first');
  t.ok(pair.holdsVip(0) && !pair.holdsVip(1), 'only the master holds the virtual address');
  t.match(d2.output(), /"event":"nonlocal-bind"/, 'lbguard set ip_nonlocal_bind in its namespace');
  t.same(await pair.listening(1), ['10.96.0.100:21 tcp', '10.96.0.100:69 udp'], 'the backup already listens on the VIP it does not hold');
  t.match([await pair.ftp(false), await pair.ftp(true), await pair.tftp()], [/^backend\d$/, /^backend\d$/, /^tftp-backend\d$/], 'FTP (passive, active) and TFTP through the VIP');

  // keepalived dies on the backup: lbguard starts it again, and it comes back as BACKUP
  const keepalivedPid = s2.vrrp?.keepalived.pid;
  process.kill(keepalivedPid!, 'SIGKILL');
  await until('keepalived restarted on d2', async () => {
    const s = await pair.status(1);
    return (s.vrrp?.keepalived.restarts ?? 0) >= 1 && s.vrrp?.keepalived.running && s.vrrp.state === 'BACKUP' ? s : undefined;
  }, 20_000);
  t.not((await pair.status(1)).vrrp?.keepalived.pid, keepalivedPid, 'a new keepalived');
  t.match(d2.output(), /"event":"keepalived-exited".*SIGKILL/, 'the death is logged');

  // link down on the master
  let death = Date.now();
  const masterSince = s1.vrrp?.since;
  pair.linkDown(0);
  assertFailover(t, await pair.firstServed(death, 15_000, 1, d2), 6000, 10_000, 'link down');
  const after = await pair.status(1);
  t.equal(after.vrrp?.state, 'MASTER', 'd2 is MASTER');
  t.ok(Date.parse(after.vrrp!.since) > Date.parse(masterSince!), 'and says since when');
  await pair.waitState(0, 'FAULT', 10_000);
  t.pass('d1, its link down, is FAULT');

  // the link back: d1 (higher priority) takes the addresses back
  pair.linkUp(0);
  await pair.waitState(0, 'MASTER');
  await pair.waitState(1, 'BACKUP');
  t.ok(pair.holdsVip(0), 'd1 holds the VIP again');

  // SIGHUP with swapped priorities: keepalived reloads and d2 takes over, no restart
  const before = (await pair.status(1)).vrrp?.keepalived;
  writeFileSync(file, readFileSync(pair.farmsFile({ version: 2, advertInt: 1 }, [250, 254]), 'utf8'));
  process.kill(d1.pid, 'SIGHUP');
  process.kill(d2.pid, 'SIGHUP');
  await pair.waitState(1, 'MASTER');
  await pair.waitState(0, 'BACKUP');
  const reloaded = await pair.status(1);
  t.match(reloaded.vrrp, { priority: 254, keepalived: { running: true } }, 'd2 MASTER at priority 254 after the reload');
  t.same([reloaded.vrrp?.keepalived.pid, reloaded.vrrp?.keepalived.restarts], [before?.pid, before?.restarts], 'the same keepalived, reloaded (SIGHUP), not restarted');
  writeFileSync(file, readFileSync(pair.farmsFile({ version: 2, advertInt: 1 }), 'utf8'));
  process.kill(d1.pid, 'SIGHUP');
  process.kill(d2.pid, 'SIGHUP');
  await pair.waitState(0, 'MASTER');
  await pair.waitState(1, 'BACKUP');

  // lbguard on the master killed with its process group (keepalived with it)
  const d1Keepalived = (await pair.status(0)).vrrp?.keepalived.pid;
  death = Date.now();
  await d1.killGroup();
  assertFailover(t, await pair.firstServed(death, 15_000, 1, d2), 6000, 10_000, 'lbguard killed');
  t.notOk(alive(d1Keepalived), "d1's keepalived died with its group");
  t.equal((await pair.status(1)).vrrp?.state, 'MASTER', 'd2 is MASTER');

  // stopped cleanly, a director gives the addresses up and its keepalived ends
  const d2Keepalived = (await pair.status(1)).vrrp?.keepalived.pid;
  await d2.stop();
  t.notOk(alive(d2Keepalived), 'SIGTERM to lbguard stops its keepalived');
  t.notOk(pair.holdsVip(1), 'and the VIP is released');
});

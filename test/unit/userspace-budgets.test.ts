// The userspace balancer's budgets: a farm's fair share of max-sessions and of the descriptors, a
// client address's sessions, and the descriptor limit read from /proc.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DescriptorBudget, descriptorReserve, openFileLimit } from '../../lvs-adapters/userspace/descriptors.ts';
import { FairShare } from '../../lvs-adapters/userspace/fair-share.ts';
import { ServerPool, SessionBudget } from '../../lvs-adapters/userspace/pool.ts';

const service = (farm: string) => ({ farm, service: 'tcp' as const, protocol: 'tcp' as const, address: '127.0.0.1', ports: [{ from: 1, to: 1 }], scheduler: 'rr' });

t.test('fair share: a flood on one member leaves every other member its share', async (t) => {
  const share = new FairShare(100);
  const [a, b, c] = [share.join(), share.join(), share.join()];
  let taken = 0;
  while (share.take(a, 1)) taken++;
  t.equal(taken, 34, 'a gets its 33 and borrows only what b and c do not need (100 - 2 x 33)');
  for (let i = 0; i < 33; i++) share.take(b, 1);
  t.equal(b.used, 33, 'b still gets its whole share');
  t.equal(share.take(b, 1), false, 'and no more while c has not used its share');
  t.ok(share.take(c, 33), 'c gets its share at once');
  t.equal(share.used, 100);
  share.give(a, 10);
  t.ok(share.take(b, 1), 'freed places may be borrowed again once no share is owed');
  share.leave(c);
  t.equal(share.share, 50, 'a member that left no longer counts for the shares');
  share.give(c, 33);
  t.equal(share.used, 58, 'what it held comes back when its sessions close');
  t.ok(share.refused > 0);
});

t.test('fair share: one member alone may use everything; taking more than is free is refused', async (t) => {
  const share = new FairShare(10);
  const only = share.join();
  t.ok(share.take(only, 10));
  t.notOk(share.take(only, 1));
  share.capacity = 4; // descriptors measured lower
  share.give(only, 7);
  t.notOk(share.take(only, 2), 'capacity 4 with 3 used: 1 free');
  t.ok(share.take(only, 1));
});

t.test('pool: client-sessions bounds one address; another address and another farm still open', async (t) => {
  const budget = new SessionBudget(100);
  const descriptors = new FairShare(1000);
  const pool = new ServerPool(service('f'), budget, undefined, { clientSessions: 3, descriptors });
  const other = new ServerPool(service('g'), budget, undefined, { clientSessions: 3, descriptors });
  for (const p of [pool, other]) p.setServer({ name: 'a', address: '127.0.0.1', port: 1, weight: 1 });
  const leases = [1, 2, 3].map(() => pool.open('192.0.2.1'));
  t.ok(leases.every(Boolean));
  t.equal(pool.open('192.0.2.1'), undefined, 'the fourth from one address is refused');
  t.equal(pool.errors.get('client-limit'), 1);
  t.ok(pool.open('192.0.2.2'), 'another address opens');
  t.ok(other.open('192.0.2.1'), 'the same address on another farm opens');
  leases[0]!.close();
  t.ok(pool.open('192.0.2.1'), 'a closed session gives its place back');
  t.equal(descriptors.used, 10, '5 sessions x 2 descriptors');
  t.equal(pool.clientSessions('192.0.2.1'), 3);
});

t.test('pool: max-sessions is shared fairly between farms; descriptors likewise; refusals counted by kind', async (t) => {
  const budget = new SessionBudget(10);
  const flooded = new ServerPool(service('flooded'), budget);
  const quiet = new ServerPool(service('quiet'), budget);
  for (const p of [flooded, quiet]) p.setServer({ name: 'a', address: '127.0.0.1', port: 1, weight: 1 });
  let opened = 0;
  for (let i = 0; i < 100; i++) if (flooded.open(`10.0.0.${i}`)) opened++;
  t.equal(opened, 5, 'the flooded farm stops at its share');
  t.equal(flooded.errors.get('farm-share'), 95);
  for (let i = 0; i < 5; i++) t.ok(quiet.open('10.1.0.1'), `the quiet farm opens session ${i + 1} of its share`);
  t.equal(quiet.open('10.1.0.2'), undefined);
  t.equal(quiet.errors.get('max-sessions'), 1, 'all of max-sessions used: counted as max-sessions');
  const descriptors = new FairShare(9);
  const pool = new ServerPool(service('d'), new SessionBudget(100), undefined, { descriptors });
  pool.setServer({ name: 'a', address: '127.0.0.1', port: 1, weight: 1 });
  const lease = pool.open('10.2.0.1', undefined, undefined, 2)!;
  t.ok(lease.takeDescriptors(6), 'a session may take more (an FTP data connection)');
  t.equal(pool.open('10.2.0.2', undefined, undefined, 2), undefined, 'then the next session finds none');
  t.equal(pool.errors.get('descriptors'), 1);
  lease.close();
  t.equal(descriptors.used, 0, 'its close gives all of them back');
  pool.retire();
});

t.test('descriptor limit from /proc/self/limits; the reserve; the measured count taken off', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'limits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'limits');
  writeFileSync(file, 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n');
  t.equal(openFileLimit(file), 1024);
  writeFileSync(file, 'Max open files            unlimited            unlimited            files\n');
  t.equal(openFileLimit(file), undefined);
  t.equal(openFileLimit(join(dir, 'none')), undefined);
  t.ok((openFileLimit() ?? 0) > 0, 'this process has one');
  t.equal(descriptorReserve(400), 100);
  t.equal(descriptorReserve(100), 64);
  t.equal(descriptorReserve(1_048_576), 1024);
  let open = 50;
  const budget = new DescriptorBudget(1000, 250, async () => open);
  await budget.measure();
  t.equal(budget.sessions.capacity, 700, '1000 less the reserve less 50 open outside sessions');
  const member = budget.sessions.join();
  budget.sessions.take(member, 100);
  open = 160;
  await budget.measure();
  t.equal(budget.sessions.capacity, 690, 'what sessions hold is not taken off twice');
  t.match(budget.describe(), /^descriptors: 1000 \(RLIMIT_NOFILE\); 250 kept for health checks, the status page and the state file; userspace sessions refused beyond 750/);
});

t.test('fair share: a member within its share gets what is free even after the capacity shrank under a borrower', async (t) => {
  const share = new FairShare(300);
  const [borrower, quiet] = [share.join(), share.join()];
  t.ok(share.take(borrower, 150));
  share.capacity = 200; // descriptors measured: less room than when it borrowed
  t.ok(share.take(quiet, 2), 'the quiet member takes from its share (100) while 50 are free');
  t.notOk(share.take(borrower, 2), 'the borrower gets nothing more');
});

import t from 'tap';
import { RoleQueue } from '../../orchestrator/vrrp/role-queue.ts';

const tick = () => new Promise((resolve) => setImmediate(resolve));

t.test('one role\'s sequence at a time, in the order the roles came', async (t) => {
  const roles = new RoleQueue();
  const seen: string[] = [];
  let release: () => void = () => {};
  roles.enqueue('MASTER', async () => {
    seen.push('MASTER begins');
    await new Promise<void>((resolve) => (release = resolve));
    seen.push('MASTER ends');
  });
  roles.enqueue('BACKUP', async () => {
    seen.push('BACKUP begins');
  });
  await tick();
  await tick();
  t.same(seen, ['MASTER begins'], 'BACKUP waits while MASTER\'s commands still run');
  t.equal(roles.last, undefined, 'nothing finished yet');
  release();
  await roles.settled();
  t.same(seen, ['MASTER begins', 'MASTER ends', 'BACKUP begins']);
  t.match(roles.last, { state: 'BACKUP', ok: true, at: /^\d{4}-\d\d-\d\dT/ });
  t.notOk(roles.last && 'error' in roles.last, 'no error on success');
});

t.test('the last outcome says what failed; a throw fails the role and the queue goes on', async (t) => {
  const roles = new RoleQueue();
  roles.enqueue('MASTER', async () => {
    throw new Error('conntrackd -c: exit 1');
  });
  await roles.settled();
  t.same(roles.last && [roles.last.state, roles.last.ok, roles.last.error], ['MASTER', false, 'conntrackd -c: exit 1']);
  roles.enqueue('FAULT', async () => {
    throw new Error('spawn EMFILE');
  });
  let ran = false;
  roles.enqueue('BACKUP', async () => {
    ran = true;
    throw new Error('ipvsadm --start-daemon backup: exit 255');
  });
  await roles.settled();
  t.ok(ran, 'the role after a throw still ran');
  t.same(roles.last && [roles.last.state, roles.last.ok, roles.last.error], ['BACKUP', false, 'ipvsadm --start-daemon backup: exit 255']);
});

t.test('a throw of something not an Error is recorded as text; a role after it succeeds', async (t) => {
  const roles = new RoleQueue();
  roles.enqueue('FAULT', async () => {
    throw 'spawn EMFILE';
  });
  await t.resolves(roles.settled(), 'settled() never rejects');
  t.same(roles.last && [roles.last.state, roles.last.ok, roles.last.error], ['FAULT', false, 'spawn EMFILE']);
  roles.enqueue('BACKUP', async () => undefined);
  await roles.settled();
  t.same(roles.last && [roles.last.state, roles.last.ok, 'error' in roles.last], ['BACKUP', true, false]);
});

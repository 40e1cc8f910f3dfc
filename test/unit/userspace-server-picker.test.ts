import t from 'tap';
import { LineSplitter, parseClientCommand } from '../../lvs-adapters/userspace/ftp-control.ts';
import { PersistenceTable } from '../../lvs-adapters/userspace/persistence.ts';
import { ServerPool, SessionBudget } from '../../lvs-adapters/userspace/pool.ts';
import { ServerPicker } from '../../lvs-adapters/userspace/server-picker.ts';

const servers = (...weights: number[]) => weights.map((weight, i) => ({ name: `s${i + 1}`, weight, active: 0 }));
const picks = (scheduler: ServerPicker, list: ReturnType<typeof servers>, n: number, client = '192.0.2.1') =>
  Array.from({ length: n }, () => scheduler.pick(list, client)?.name).join(' ');

t.test('rr cycles, skipping quiesced servers', async (t) => {
  t.equal(picks(new ServerPicker('rr'), servers(1, 0, 5), 4), 's1 s3 s1 s3');
});

t.test('wrr follows weights smoothly', async (t) => {
  t.equal(picks(new ServerPicker('wrr'), servers(3, 1), 8), 's1 s1 s2 s1 s1 s1 s2 s1');
});

t.test('lc and wlc pick the least loaded (relative to weight for wlc)', async (t) => {
  const list = [{ name: 'a', weight: 1, active: 2 }, { name: 'b', weight: 4, active: 4 }];
  t.equal(new ServerPicker('lc').pick(list, '')?.name, 'a');
  t.equal(new ServerPicker('wlc').pick(list, '')?.name, 'b');
});

t.test('sh sends one address to one server; nothing when all are quiesced', async (t) => {
  const sh = new ServerPicker('sh');
  t.equal(new Set(picks(sh, servers(1, 1, 1), 10, '10.1.2.3').split(' ')).size, 1);
  t.equal(sh.pick(servers(0, 0), 'x'), undefined);
});

t.test('persistence: netmask groups clients, entries expire', async (t) => {
  const table = new PersistenceTable(1000, '255.255.255.0');
  table.remember('10.0.0.1', 's2', 0);
  t.equal(table.lookup('10.0.0.77', 500), 's2');
  t.equal(table.lookup('10.0.1.1', 500), undefined);
  t.equal(table.lookup('10.0.0.1', 1000), undefined);
  t.equal(new PersistenceTable(1000, '16').key('::ffff:10.9.8.7'), '10.9.0.0');
});

t.test('pool: persistence holds, a quiesced server takes no new sessions, max-sessions refuses', async (t) => {
  const budget = new SessionBudget(3);
  const pool = new ServerPool({ farm: 'f', service: 'tcp', protocol: 'tcp', address: '127.0.0.1', ports: [{ from: 1, to: 1 }], scheduler: 'rr', persistence: { timeoutSeconds: 60, netmask: '255.255.255.255' } }, budget);
  pool.setServer({ name: 'a', address: '127.0.0.1', port: 1, weight: 1 });
  pool.setServer({ name: 'b', address: '127.0.0.1', port: 2, weight: 1 });
  const first = pool.open('192.0.2.9')!;
  t.equal(pool.open('192.0.2.9')?.server.name, first.server.name, 'same client, same server');
  pool.setServer({ ...first.server.spec, weight: 0 });
  const third = pool.open('192.0.2.9')!;
  t.not(third.server.name, first.server.name, 'quiesced: persistence gives way');
  t.equal(pool.open('192.0.2.10'), undefined, 'max-sessions reached');
  t.equal(pool.errors.get('max-sessions'), 1);
  third.close();
  third.close();
  t.equal(budget.active, 2, 'a lease closes once');
});

t.test('FTP control: PORT and EPRT parsed, bad ones flagged, long lines refused', async (t) => {
  t.same(parseClientCommand('PORT 127,0,0,1,4,1'), { kind: 'port', host: '127.0.0.1', port: 1025 });
  t.same(parseClientCommand('eprt |2|::1|2000|'), { kind: 'port', host: '::1', port: 2000 });
  t.same(parseClientCommand('PORT 1,2,3,4,5'), { kind: 'bad-port' });
  t.same(parseClientCommand('EPRT |1|::1|2000|'), { kind: 'bad-port' });
  t.same(parseClientCommand('AUTH TLS'), { kind: 'auth' });
  const lines = new LineSplitter(10);
  t.same(lines.push(Buffer.from('USER a\r\nPA')), ['USER a']);
  t.same(lines.push(Buffer.from('SS b\r\n')), ['PASS b']);
  t.equal(lines.push(Buffer.alloc(1 << 20, 65)), false, 'a 1 MB line is refused');
});

t.test('pool: a removed server keeps its open sessions, or has them cut (cut-connections)', async (t) => {
  const pool = new ServerPool({ farm: 'f', service: 'tcp', protocol: 'tcp', address: '127.0.0.1', ports: [{ from: 1, to: 1 }], scheduler: 'rr' }, new SessionBudget(10));
  pool.setServer({ name: 'a', address: '127.0.0.1', port: 1, weight: 1 });
  let cut = 0;
  const kept = pool.open('192.0.2.1', () => cut++)!;
  pool.removeServer('a');
  t.equal(cut, 0, 'kept');
  t.same(pool.specs(), [], 'no longer offered');
  t.equal(pool.open('192.0.2.1'), undefined, 'no new session');
  pool.setServer({ name: 'a', address: '127.0.0.1', port: 1, weight: 1 });
  const second = pool.open('192.0.2.1', () => cut++)!;
  pool.removeServer('a', true);
  t.equal(cut, 1, 'the open session of the re-added server is cut');
  kept.close();
  second.close();
});

t.test('persistence: an entry holds while a session of the client is open, then lives timeout more', async (t) => {
  const table = new PersistenceTable(1000, '32');
  table.opened('10.0.0.1', 's1', 0);
  t.equal(table.lookup('10.0.0.1', 60_000), 's1', 'open session: no expiry');
  table.closed('10.0.0.1', 's1', 60_000);
  t.equal(table.lookup('10.0.0.1', 60_999), 's1');
  t.equal(table.lookup('10.0.0.1', 61_000), undefined, 'expired timeout after the last session');
});

t.test('schedulers pass over a server at its max-conns; 0 or absent is no limit', async (t) => {
  const list = [{ name: 'a', weight: 1, active: 2, maxConnections: 2 }, { name: 'b', weight: 1, active: 5 }, { name: 'c', weight: 1, active: 0, maxConnections: 0 }];
  t.equal(picks(new ServerPicker('rr'), list, 4), 'b c b c');
  t.equal(picks(new ServerPicker('wrr'), list, 2), 'b c');
  t.equal(new ServerPicker('lc').pick(list, '')?.name, 'c');
  t.equal(new ServerPicker('wlc').pick(list.slice(0, 2), '')?.name, 'b', 'the least loaded is full: the next one');
  const sh = new ServerPicker('sh');
  const free = [{ name: 'a', weight: 1, active: 0, maxConnections: 1 }, { name: 'b', weight: 1, active: 0, maxConnections: 1 }];
  const home = sh.pick(free, '10.1.2.3')!;
  const full = free.map((s) => (s === home ? { ...s, active: 1 } : s));
  t.not(sh.pick(full, '10.1.2.3')?.name, home.name, 'sh: a full server passes the client on');
  t.equal(sh.pick(full.map((s) => ({ ...s, active: 1 })), '10.1.2.3'), undefined, 'sh: all full');
});

t.test('pool: max-conns sends new sessions elsewhere, persistence included, then refuses as over-limit', async (t) => {
  const budget = new SessionBudget(100);
  const pool = new ServerPool({ farm: 'f', service: 'tcp', protocol: 'tcp', address: '127.0.0.1', ports: [{ from: 1, to: 1 }], scheduler: 'rr', persistence: { timeoutSeconds: 60, netmask: '32' } }, budget);
  pool.setServer({ name: 'a', address: '127.0.0.1', port: 1, weight: 1, maxConnections: 2 });
  pool.setServer({ name: 'b', address: '127.0.0.1', port: 2, weight: 1, maxConnections: 1 });
  const sticky = [pool.open('192.0.2.9')!, pool.open('192.0.2.9')!];
  t.same(sticky.map((l) => l.server.name), ['a', 'a'], 'persistence keeps the client on a');
  const third = pool.open('192.0.2.9')!;
  t.equal(third.server.name, 'b', 'a is full: persistence gives way to the limit');
  t.equal(pool.open('192.0.2.10'), undefined, 'both full: refused');
  t.equal(pool.errors.get('over-limit'), 1, 'counted as over-limit');
  t.equal(pool.errors.get('no-server'), undefined);
  t.same(pool.specs().map((s) => s.maxConnections), [2, 1], 'reported back as applied');
  sticky[0]!.close();
  t.equal(pool.open('192.0.2.10')?.server.name, 'a', 'a place freed on a takes the next one');
  pool.setServer({ name: 'b', address: '127.0.0.1', port: 2, weight: 1 });
  t.equal(pool.open('192.0.2.11')?.server.name, 'b', 'an update without max-conns lifts the limit');
  t.same(pool.specs().map((s) => s.maxConnections), [2, undefined]);
  t.equal(third.server.active, 2, 'existing sessions untouched');
});

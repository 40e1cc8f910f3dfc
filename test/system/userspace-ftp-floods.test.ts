// FTP floods and hostile peers against the userspace balancer (in this process, so its descriptors
// are this process's): PASV and PORT floods hold one passive port or listener per control session,
// released when replaced or when the session ends; one client address holds at most a quarter of the
// passive range; a malicious backend's unsolicited, third-party or garbled 227 replies reserve
// nothing; refused connections (421) do not keep their descriptor; hostile control lines get a reply
// code and a count; a client that never reads its replies raises no MaxListenersExceededWarning.
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import type { VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { ftpControl } from '../helpers/ftp-replies.ts';
import { freePort, freePortRange, requireBinary, runCommand, until } from '../helpers/processes.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const VIP = '127.0.0.2';
const curl = requireBinary('/usr/bin/curl', 'curl');
let vsftpd: Vsftpd;
let adapter: UserspaceAdapter;
const ports = { ftp: 0, evil: 0, none: 0 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const openDescriptors = () => readdirSync('/proc/self/fd').length;
const errors = (farm: string, kind: string) => adapter.counters().find((c) => c.farm === farm && c.errorKind === kind)?.errors ?? 0;

/** What the malicious backend answers to PASV: a third party's address, or a 227 nobody can read. */
let evilPasv = '227 Entering Passive Mode (192,0,2,7,4,1).';
/** replies it sends after its greeting that nobody asked for */
let unsolicited = 0;
const evil: Server = createServer((socket) => {
  socket.on('error', () => undefined);
  socket.write('220 evil\r\n');
  socket.write('227 Entering Passive Mode (127,0,0,1,4,1).\r\n'.repeat(unsolicited));
  let buffer = '';
  socket.on('data', (d) => {
    buffer += d;
    for (let end; (end = buffer.indexOf('\n')) >= 0; buffer = buffer.slice(end + 1)) {
      const verb = buffer.slice(0, end).trim().split(' ')[0]!.toUpperCase();
      socket.write(verb === 'PASV' ? `${evilPasv}\r\n` : verb === 'USER' ? '331 ok\r\n' : verb === 'PASS' ? '230 ok\r\n' : '200 ok\r\n');
    }
  });
});

t.before(async () => {
  vsftpd = await startVsftpd();
  writeFileSync(join(vsftpd.dir, 'anon', 'who.txt'), 'ftp\n');
  chmodSync(join(vsftpd.dir, 'anon', 'who.txt'), 0o644);
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
  [ports.ftp, ports.evil, ports.none] = [await freePort(), await freePort(), await freePort()];
  const passive = await freePortRange(8);
  // 8 passive ports: one client address may hold 2
  adapter = new UserspaceAdapter({ type: 'userspace', 'passive-ports': { from: passive, to: passive + 7 }, 'idle-timeout': 30_000 });
  const farm = (name: string, port: number, backendPort: number, weight = 1) => ({
    service: { farm: name, service: 'ftp', protocol: 'tcp', address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' } as VirtualServiceSpec,
    servers: [{ name: 'b', address: '127.0.0.1', port: backendPort, weight }],
  });
  await adapter.apply([
    { kind: 'add-farm', farm: farm('ftp', ports.ftp, vsftpd.port) },
    { kind: 'add-farm', farm: farm('evil', ports.evil, (evil.address() as { port: number }).port) },
    { kind: 'add-farm', farm: farm('none', ports.none, vsftpd.port, 0) },
  ]);
});
t.teardown(async () => {
  await adapter?.close();
  evil.close();
  await vsftpd?.stop();
});

/** A raw control session from `from`: command() sends a line and returns the final reply. */
const session = (to = ports.ftp, from = '127.0.0.1') => ftpControl(to, VIP, { localAddress: from });
const curlWho = async (from: string) => {
  const run = await runCommand(curl, ['-sS', '--max-time', '15', '--interface', from, `ftp://${VIP}:${ports.ftp}/who.txt`], { timeoutMs: 20_000 });
  return run.code === 0 ? run.stdout.trim() : `curl ${run.code}: ${run.stderr.trim()}`;
};

t.test('100 PASV on one connection hold one passive port, given back when the session ends', async (t) => {
  const s = await session();
  const answers = [];
  for (let i = 0; i < 100; i++) answers.push((await s.command(i % 2 ? 'EPSV' : 'PASV')).slice(0, 3));
  t.same(new Set(answers), new Set(['227', '229']), 'each answered');
  t.equal(await adapter.passiveReservations(), 1, 'each PASV replaced the last one');
  t.equal(await curlWho('127.0.0.3'), 'ftp', 'another client transfers in passive mode');
  s.close();
  await until('the reservation released', async () => ((await adapter.passiveReservations()) === 0 ? true : undefined));
  t.pass('the closed session holds no passive port');
});

t.test('one client address holds at most a quarter of the passive range; others are not starved', async (t) => {
  // the malicious backend answers every PASV (vsftpd's own passive range here is two ports)
  const sessions = await Promise.all([1, 2, 3, 4, 5].map(() => session(ports.evil, '127.0.0.4')));
  const replies = [];
  for (const s of sessions) replies.push(await s.command('PASV'));
  t.same(replies.map((r) => r.slice(0, 3)), ['227', '227', '425', '425', '425'], 'two ports of eight, then 425');
  t.equal(errors('evil', 'passive-client-limit'), 3, 'counted');
  t.equal(await curlWho('127.0.0.5'), 'ftp', 'another address still transfers');
  for (const s of sessions) s.close();
  await until('every reservation released', async () => ((await adapter.passiveReservations()) === 0 ? true : undefined));
  const again = await session(ports.evil, '127.0.0.4');
  t.match(await again.command('PASV'), /^227 /, 'once its sessions ended the address gets a port again');
  again.close();
});

t.test('2,000 PORT commands on one connection keep one listener open; the session end closes it', async (t) => {
  const before = openDescriptors();
  const s = await session();
  let ok = 0;
  for (let i = 0; i < 2000; i++) if ((await s.command(`PORT 127,0,0,1,${4 + (i % 200)},1`)).startsWith('200')) ok++;
  t.equal(ok, 2000, 'each PORT accepted');
  t.ok(openDescriptors() - before <= 4, `descriptors: ${before} before, ${openDescriptors()} after (2 control sockets, 1 listener)`);
  s.close();
  await until('all closed', () => (openDescriptors() <= before ? true : undefined));
  t.pass('nothing left open');
});

t.test('a malicious backend: unsolicited 227s reserve nothing, a third-party address is not used, a garbled 227 gets 425', async (t) => {
  unsolicited = 300;
  const s = await session(ports.evil);
  unsolicited = 0;
  t.notMatch(s.seen(), /227/, 'the 300 unsolicited 227 replies never reached the client');
  await until('all 300 counted', () => (errors('evil', 'unsolicited-passive') === 300 ? true : undefined));
  t.equal(await adapter.passiveReservations(), 0, 'and reserved nothing');
  const third = await s.command('PASV');
  t.match(third, new RegExp(`^227 Entering Passive Mode \\(127,0,0,2,\\d+,\\d+\\)\\.`), 'a third party\'s address becomes the balancer\'s own');
  evilPasv = `227 Entering Passive Mode (${'9'.repeat(3000)}).`;
  t.match(await s.command('PASV'), /^425 /, 'an unreadable 227 gets 425');
  t.equal(errors('evil', 'bad-passive-reply'), 1);
  evilPasv = `227 ${'x'.repeat(10_000)}`;
  s.socket.write('PASV\r\n');
  await new Promise<void>((resolve) => s.socket.once('close', () => resolve()));
  t.match(s.seen(), /421 The server sent a reply line too long/, 'a 227 longer than 4 KiB ends the session with 421');
  t.equal(errors('evil', 'line-too-long'), 1);
  await until('released', async () => ((await adapter.passiveReservations()) === 0 ? true : undefined));
  t.pass('no passive port left reserved');
});

t.test('hostile control lines: NUL bytes, out-of-range PORT and EPRT get 501 and are counted', async (t) => {
  const s = await session();
  for (const line of ['RETR who\0.txt', 'PORT 127,0,0,1,256,1', 'PORT 127,0,0,1,0,0', 'PORT 999,0,0,1,4,1', 'EPRT |1|127.0.0.1|70000|', 'EPRT |1|127.0.0.1|0|', 'EPRT |3|x|1|']) {
    t.match(await s.command(line), /^501 /, JSON.stringify(line));
  }
  t.equal(errors('ftp', 'bad-command'), 1);
  t.equal(errors('ftp', 'bad-port'), 6);
  t.match(await s.command('NOOP'), /^200 /, 'the session goes on');
  s.close();
});

t.test('refused connections (421) do not keep their descriptors while the clients keep theirs open', async (t) => {
  const before = openDescriptors();
  const clients: Socket[] = [];
  t.teardown(() => { for (const c of clients) c.destroy(); });
  const greetings: string[] = [];
  for (let i = 0; i < 300; i++) {
    const c = connect({ port: ports.none, host: VIP, allowHalfOpen: true });
    c.on('error', () => undefined);
    c.on('data', (d) => greetings.push(String(d)));
    clients.push(c);
  }
  await until('every greeting', () => (greetings.length >= 300 ? true : undefined), 10_000);
  t.ok(greetings.every((g) => g.startsWith('421 ')), 'each got 421');
  // the clients' own 300 sockets stay open in this process; the balancer's sides must go
  await until('the balancer closed its sides', () => (openDescriptors() - before <= 300 + 5 ? true : undefined), 10_000);
  t.ok(openDescriptors() - before <= 305, `${openDescriptors() - before} descriptors more than before, for 300 half-open clients`);
});

t.test('a client that never reads its replies raises no MaxListenersExceededWarning', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.teardown(() => { process.off('warning', onWarning); });
  const s = await session();
  s.socket.pause();
  for (let i = 0; i < 2000; i++) s.socket.write(`HELP ${'x'.repeat(1000)}\r\n`);
  await sleep(2000);
  s.close();
  await sleep(100);
  t.same(warnings.filter((w) => /MaxListeners/.test(w)), [], 'no warning');
  t.equal(await curlWho('127.0.0.6'), 'ftp', 'the farm serves');
});

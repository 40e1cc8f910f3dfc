// The userspace balancer in front of two real vsftpd backends, with curl as the client in passive
// (EPSV and PASV) and active (EPRT and PORT) mode. Each backend serves a `who.txt` naming itself, so
// every transfer shows which backend served it. The virtual service is 127.0.0.2; backends and the
// client are on 127.0.0.1, so addresses in rewritten replies and commands differ as they would.
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import type { VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { ftpControl } from '../helpers/ftp-replies.ts';
import { freePort, freePortRange, requireBinary, runCommand } from '../helpers/processes.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const VIP = '127.0.0.2';
const curl = requireBinary('/usr/bin/curl', 'curl');
const BIG = [randomBytes(3 << 20), randomBytes(3 << 20)];
let backends: Vsftpd[] = [];
let adapter: UserspaceAdapter;
let port: number;
let service: VirtualServiceSpec;

t.before(async () => {
  backends = await Promise.all([startVsftpd(), startVsftpd()]);
  backends.forEach((b, i) => {
    for (const [name, content] of [['who.txt', `ftp-${i + 1}\n`], ['big.bin', BIG[i]!]] as const) {
      writeFileSync(join(b.dir, 'anon', name), content);
      chmodSync(join(b.dir, 'anon', name), 0o644);
    }
  });
  port = await freePort();
  const passive = await freePortRange(16);
  adapter = new UserspaceAdapter({ type: 'userspace', 'passive-ports': { from: passive, to: passive + 15 }, 'idle-timeout': 30_000 });
  service = { farm: 'ftp', service: 'ftp', protocol: 'tcp', address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' };
  await adapter.apply([{ kind: 'add-farm', farm: { service, servers: backends.map((b, i) => ({ name: `ftp-${i + 1}`, address: '127.0.0.1', port: b.port, weight: 1 })) } }]);
});
t.teardown(async () => {
  await adapter?.close();
  await Promise.all(backends.map((b) => b.stop()));
});

const get = async (file: string, ...args: string[]) => {
  const run = await runCommand(curl, ['-sS', '--max-time', '20', ...args, `ftp://${VIP}:${port}/${file}`], { timeoutMs: 30_000 });
  if (run.code !== 0) throw new Error(`curl ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
  return run.stdout;
};
const who = async (...args: string[]) => (await get('who.txt', ...args)).trim();

t.test('passive mode, EPSV and PASV: round robin over both backends, every byte through the balancer', async (t) => {
  t.same([await who(), await who(), await who(), await who()], ['ftp-1', 'ftp-2', 'ftp-1', 'ftp-2']);
  t.same([await who('--disable-epsv'), await who('--disable-epsv')], ['ftp-1', 'ftp-2'], 'PASV (227) rewritten too');
});

t.test('active mode, EPRT and PORT: the backend connects to the balancer, which connects on to the client', async (t) => {
  t.same([await who('-P', '127.0.0.1'), await who('-P', '127.0.0.1')], ['ftp-1', 'ftp-2']);
  t.same([await who('-P', '127.0.0.1', '--disable-eprt'), await who('-P', '127.0.0.1', '--disable-eprt')], ['ftp-1', 'ftp-2']);
});

t.test('a client on IPv6: EPSV and EPRT through the balancer to IPv4 backends; PASV, which cannot carry an IPv6 address, is refused with 425', async (t) => {
  const v6port = await freePort();
  const v6: VirtualServiceSpec = { ...service, farm: 'ftp6', address: '::1', ports: [{ from: v6port, to: v6port }] };
  await adapter.apply([{ kind: 'add-farm', farm: { service: v6, servers: backends.map((b, i) => ({ name: `ftp-${i + 1}`, address: '127.0.0.1', port: b.port, weight: 1 })) } }]);
  t.teardown(() => adapter.apply([{ kind: 'remove-farm', farm: 'ftp6' }]));
  const url = `ftp://[::1]:${v6port}/`;
  const over6 = (file: string, ...args: string[]) => runCommand(curl, ['-sS', '--max-time', '20', ...args, url + file], { timeoutMs: 30_000 });
  const epsv = await over6('who.txt');
  t.equal(epsv.code, 0, epsv.stderr);
  t.match(epsv.stdout, /^ftp-[12]\n$/, 'EPSV: served by a backend');
  const file = join(backends[0]!.dir, 'v6-big.bin');
  const big = await over6('big.bin', '-o', file);
  t.equal(big.code, 0, big.stderr);
  t.ok(BIG.some((b) => readFileSync(file).equals(b)), '3 MiB intact through the IPv6 side');
  const eprt = await over6('who.txt', '-P', '::1');
  t.equal(eprt.code, 0, eprt.stderr);
  t.match(eprt.stdout, /^ftp-[12]\n$/, 'EPRT: the backend connects to the balancer, which connects on to the client over IPv6');
  // curl always uses EPSV over IPv6: PASV from a raw control session
  const raw = await session('::1', v6port);
  t.equal(await raw.command('PASV'), '425 Cannot open passive connection: PASV has no IPv6 address, use EPSV.', 'a clear answer, not a 227 with an IPv6 address in it');
  t.match(await raw.command('EPSV'), /^229 Entering Extended Passive Mode \(\|\|\|\d+\|\)$/, 'the same session goes on with EPSV');
  raw.close();
});

/** A raw control session, logged in anonymously: command() sends a line and returns the final reply. */
const session = (host = VIP, to = port) => ftpControl(to, host);

async function control(lines: string[]): Promise<string[]> {
  const s = await session();
  const replies: string[] = [];
  for (const line of lines) replies.push(await s.command(line));
  s.close();
  return replies;
}

t.test('FTP bounce: PORT or EPRT naming another host is refused with 504 and counted', async (t) => {
  const replies = await control(['PORT 127,0,0,9,4,1', 'EPRT |1|192.0.2.7|2000|', 'PORT 127,0,0,1,4,1']);
  t.match(replies[0], /^504 /);
  t.match(replies[1], /^504 /);
  t.match(replies[2], /^200 /, "the client's own address is accepted");
  const bounce = adapter.counters().find((c) => c.errorKind === 'bounce');
  t.equal(bounce?.errors, 2);
});

t.test('a 1 MB control line is refused, not buffered; the service goes on', async (t) => {
  const socket = connect(port, VIP);
  let received = '';
  socket.on('data', (d) => (received += d));
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.write(Buffer.alloc(1 << 20, 65));
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  t.match(received, /500 Command line too long/);
  t.equal(adapter.counters().find((c) => c.errorKind === 'line-too-long')?.errors, 1);
  t.match(await who(), /^ftp-\d$/);
});

t.test('persistence: one client stays on one backend', async (t) => {
  await adapter.apply([{ kind: 'update-farm', service: { ...service, persistence: { timeoutSeconds: 60, netmask: '255.255.255.255' } } }]);
  const seen = [await who(), await who('-P', '127.0.0.1'), await who(), await who('--disable-epsv')];
  t.equal(new Set(seen).size, 1, seen.join(' '));
  await adapter.apply([{ kind: 'update-farm', service }]);
});

t.test('drain: weight 0 takes no new sessions while its running transfer completes', async (t) => {
  // a client that reads its download only when told to: the transfer is running while the backend is drained
  const slow = await session();
  await slow.command('TYPE I');
  const pasv = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(await slow.command('PASV'))!;
  t.equal(pasv.slice(1, 5).join('.'), VIP, 'PASV names the virtual address');
  const data = connect(Number(pasv[5]) * 256 + Number(pasv[6]), VIP);
  data.pause();
  const chunks: Buffer[] = [];
  data.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => data.once('end', () => resolve()));
  t.match(await slow.command('RETR big.bin'), /^150 /);
  const busy = adapter.counters().find((c) => c.activeSessions === 1);
  t.ok(busy, 'the transfer is running');
  const name = busy!.backend;
  const other = name === 'ftp-1' ? 'ftp-2' : 'ftp-1';
  const index = Number(name.slice(-1)) - 1;
  await adapter.apply([{ kind: 'update-server', farm: 'ftp', server: { name, address: '127.0.0.1', port: backends[index]!.port, weight: 0 } }]);
  t.same([await who(), await who('-P', '127.0.0.1'), await who()], [other, other, other], 'new sessions avoid the drained backend');
  data.resume();
  await ended;
  t.match(await slow.command('NOOP'), /^(226|200) /);
  slow.close();
  t.equal(Buffer.compare(Buffer.concat(chunks), BIG[index]!), 0, `the running transfer from ${name} completed`);
  await adapter.apply([{ kind: 'update-server', farm: 'ftp', server: { name, address: '127.0.0.1', port: backends[index]!.port, weight: 1 } }]);
});

t.test('AUTH TLS: the control channel passes unread; data follows on the same passive port of the same backend', async (t) => {
  // as with an LVS fwmark over the passive range, the balancer's range must equal the backend's
  const backend = backends[0]!;
  const tlsAdapter = new UserspaceAdapter({ type: 'userspace', 'passive-ports': { from: backend.pasvPorts[0], to: backend.pasvPorts[1] } });
  const tlsPort = await freePort();
  try {
    const spec = { ...service, farm: 'ftps', ports: [{ from: tlsPort, to: tlsPort }], persistence: { timeoutSeconds: 60, netmask: '32' } };
    await tlsAdapter.apply([{ kind: 'add-farm', farm: { service: spec, servers: [{ name: 'ftp-1', address: '127.0.0.1', port: backend.port, weight: 1 }] } }]);
    for (const args of [[], ['--disable-epsv']]) {
      const run = await runCommand(curl, ['-sS', '--max-time', '20', '--ssl-reqd', '-k', ...args, `ftp://${VIP}:${tlsPort}/who.txt`], { timeoutMs: 30_000 });
      t.equal(run.stdout, 'ftp-1\n', `explicit FTPS ${args.join(' ')} through the balancer ${run.stderr}`);
    }
    const counters = tlsAdapter.counters().find((c) => c.backend === 'ftp-1');
    t.equal(counters?.sessions, 2);
  } finally {
    await tlsAdapter.close();
  }
});

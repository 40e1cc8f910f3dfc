// The userspace balancer in front of two real tftpd-hpa backends, with tftp-hpa's client: every
// transfer shows which backend served it (`who.txt` names it), 1 MiB files arrive intact, many at
// once; a stray packet to a session port gets ERROR 5; malformed requests are dropped and counted.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import { createMetrics } from '../../orchestrator/metrics.ts';
import { decodePacket, encodeAck, encodeRequest } from '../../plugins/tftp/codec.ts';
import { requireBinary, runCommand } from '../helpers/processes.ts';
import { freeUdpPort, startTftpdHpa, TFTP_CLIENT, type TftpServerDir } from '../helpers/tftp-daemons.ts';

const VIP = '127.0.0.2';
const client = requireBinary(TFTP_CLIENT, 'tftp-hpa');
const BIG = [randomBytes(1 << 20), randomBytes(1 << 20)];
let backends: TftpServerDir[] = [];
let adapter: UserspaceAdapter;
let port: number;
let out: string;

t.before(async () => {
  backends = await Promise.all([0, 1].map((i) => startTftpdHpa({ 'who.txt': `tftp-${i + 1}\n`, 'big.bin': BIG[i]! })));
  port = await freeUdpPort(VIP);
  out = mkdtempSync(join(tmpdir(), 'lbguard-userspace-tftp-'));
  adapter = new UserspaceAdapter({ type: 'userspace', 'idle-timeout': 5000 });
  const service = { farm: 'tftp', service: 'tftp' as const, protocol: 'udp' as const, address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' };
  await adapter.apply([{ kind: 'add-farm', farm: { service, servers: backends.map((b, i) => ({ name: `tftp-${i + 1}`, address: '127.0.0.1', port: b.port, weight: 1 })) } }]);
});
t.teardown(async () => {
  await adapter?.close();
  await Promise.all(backends.map((b) => b.stop()));
  if (out) rmSync(out, { recursive: true, force: true });
});

let downloads = 0;
async function get(file: string): Promise<Buffer> {
  const target = join(out, `${downloads++}-${file}`);
  const run = await runCommand(client, ['-m', 'binary', VIP, String(port), '-c', 'get', file, target], { timeoutMs: 30_000 });
  if (run.code !== 0 || /Error|Transfer timed out/i.test(run.stdout + run.stderr)) throw new Error(`tftp get ${file} failed: ${run.stdout}${run.stderr}`);
  return readFileSync(target);
}
const errors = (kind: string) => adapter.counters().find((c) => c.errorKind === kind)?.errors ?? 0;

t.test('round robin over both backends; 1 MiB arrives intact from the backend that served it', async (t) => {
  const names = [];
  for (let i = 0; i < 4; i++) names.push((await get('who.txt')).toString().trim());
  t.same(names, ['tftp-1', 'tftp-2', 'tftp-1', 'tftp-2']);
  const first = await get('big.bin');
  const second = await get('big.bin');
  t.ok(first.equals(BIG[0]!), 'tftp-1 content');
  t.ok(second.equals(BIG[1]!), 'tftp-2 content');
});

t.test('options (OACK, blksize 1468) with atftp: 1 MiB intact', async (t) => {
  const atftp = requireBinary('/usr/bin/atftp', 'atftp');
  for (const i of [0, 1]) {
    const target = join(out, `atftp-${i}`);
    const run = await runCommand(atftp, ['--option', 'blksize 1468', '--get', '-r', 'big.bin', '-l', target, VIP, String(port)], { timeoutMs: 30_000 });
    t.equal(run.code, 0, `atftp exit 0 ${run.stderr.trim()}`);
    const got = readFileSync(target);
    t.ok(got.equals(BIG[0]!) || got.equals(BIG[1]!), `file ${i} intact (${got.length} bytes)`);
  }
});

t.test('20 concurrent 1 MiB gets: all intact, both backends used', async (t) => {
  const files = await Promise.all(Array.from({ length: 20 }, () => get('big.bin')));
  const from = files.map((f) => (f.equals(BIG[0]!) ? 1 : f.equals(BIG[1]!) ? 2 : 0));
  t.notOk(from.includes(0), 'every file is one backend\'s');
  t.equal(from.filter((n) => n === 1).length, 10);
});

function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
}
const nextMessage = (socket: Socket, ms = 3000) =>
  new Promise<{ message: Buffer; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer')), ms);
    socket.once('message', (message, from) => {
      clearTimeout(timer);
      resolve({ message, port: from.port });
    });
  });

t.test('a packet from an unknown port to a session port gets ERROR 5 and goes nowhere', async (t) => {
  const real = await bound();
  const stranger = await bound();
  try {
    real.send(encodeRequest('RRQ', 'big.bin', 'octet'), port, VIP);
    const first = await nextMessage(real);
    t.same(decodePacket(first.message).op, 'DATA');
    t.not(first.port, port, 'DATA comes from a session port, not the service port');
    const before = errors('stray');
    stranger.send(encodeAck(1), first.port, VIP);
    const answer = decodePacket((await nextMessage(stranger)).message);
    t.same(answer.op === 'ERROR' && answer.code, 5);
    real.send(encodeAck(1), first.port, VIP);
    t.same(decodePacket((await nextMessage(real)).message), { op: 'DATA', block: 2, data: BIG[0]!.subarray(512, 1024) }, 'the real client goes on');
    t.equal(errors('stray'), before + 1, 'stray counted');
  } finally {
    real.close();
    stranger.close();
  }
});

t.test('malformed packets to the service port are dropped and counted; the service goes on', async (t) => {
  const socket = await bound();
  try {
    for (const junk of [Buffer.from([0, 9, 1, 2]), Buffer.from([0, 1, 0x41]), Buffer.alloc(600, 1), Buffer.from([0])]) socket.send(junk, port, VIP);
    await new Promise((r) => setTimeout(r, 200));
    t.equal(errors('malformed'), 4);
    const text = await createMetrics(() => adapter.counters()).registry.metrics();
    t.match(text, /lbguard_dataplane_traffic_errors_total\{farm="tftp",backend="",kind="malformed"\} 4/, 'in /metrics');
    t.match(text, /lbguard_dataplane_sessions_total\{farm="tftp",backend="tftp-1",kind=""\} \d+/);
    t.match((await get('who.txt')).toString(), /^tftp-\d\n$/);
  } finally {
    socket.close();
  }
});

t.test('sessions end after their last block (no session left open)', async (t) => {
  const until = Date.now() + 15_000;
  while (Date.now() < until && adapter.counters().some((c) => (c.activeSessions ?? 0) > 0)) await new Promise((r) => setTimeout(r, 250));
  t.same(adapter.counters().filter((c) => (c.activeSessions ?? 0) > 0), []);
});

t.test('a running session adds its bytes to the counters once a second, not only at its end', async (t) => {
  const bytesOut = () => adapter.counters().reduce((sum, c) => sum + (c.bytesOut ?? 0), 0);
  // after the test above no other session is open: what moves now is this one's
  // a client that takes a block every 100 ms: 2.5 s for the first 25 blocks of big.bin
  const slow = await bound();
  try {
    const before = bytesOut();
    slow.send(encodeRequest('RRQ', 'big.bin', 'octet'), port, VIP);
    let block = 0;
    let sessionPort = 0;
    for (; block < 25; ) {
      const got = await nextMessage(slow);
      const packet = decodePacket(got.message);
      if (packet.op !== 'DATA') throw new Error(`expected DATA, got ${packet.op}`);
      sessionPort = got.port;
      block = packet.block;
      await new Promise((r) => setTimeout(r, 100));
      slow.send(encodeAck(block), sessionPort, VIP);
    }
    t.ok(adapter.counters().some((c) => (c.activeSessions ?? 0) > 0), 'the session is still open');
    // 25 blocks taken, a block or two sent ahead: what this session sent the client so far
    const counted = bytesOut() - before;
    t.ok(counted >= 512 * 10 && counted <= 512 * 30, `counted while it runs: ${counted} bytes to the client`);
    // the client gives up: ERROR ends the session, and what is left is added then
    slow.send(Buffer.from([0, 5, 0, 0, 0x73, 0x74, 0x6f, 0x70, 0]), sessionPort, VIP);
  } finally {
    slow.close();
  }
});

t.test('max-conns holds for TFTP sessions: a full backend is passed over, a full farm answers ERROR', async (t) => {
  const limited = new UserspaceAdapter({ type: 'userspace' });
  t.teardown(() => limited.close());
  const vport = await freeUdpPort(VIP);
  const service = { farm: 'tftp-limited', service: 'tftp' as const, protocol: 'udp' as const, address: VIP, ports: [{ from: vport, to: vport }], scheduler: 'wrr' };
  await limited.apply([{ kind: 'add-farm', farm: { service, servers: backends.map((b, i) => ({ name: `tftp-${i + 1}`, address: '127.0.0.1', port: b.port, weight: i === 0 ? 100 : 1, maxConnections: 1 })) } }]);
  const sockets = await Promise.all([bound(), bound(), bound()]);
  t.teardown(() => sockets.forEach((s) => s.close()));
  // each read stays open: its first block is never ACKed (the session lives until the idle timeout)
  const first = async (socket: Socket) => {
    socket.send(encodeRequest('RRQ', 'who.txt', 'octet'), vport, VIP);
    const packet = decodePacket((await nextMessage(socket)).message);
    return packet.op === 'DATA' ? packet.data.toString().trim() : packet.op === 'ERROR' ? `ERROR ${packet.message}` : packet.op;
  };
  t.equal(await first(sockets[0]!), 'tftp-1', 'the first session goes to the heavy backend');
  t.equal(await first(sockets[1]!), 'tftp-2', 'it is full: the second goes to the other');
  t.equal(await first(sockets[2]!), 'ERROR No server available', 'both full: the third is refused with an ERROR');
  t.equal(limited.counters().find((c) => c.errorKind === 'over-limit')?.errors, 1, 'counted as over-limit');
});

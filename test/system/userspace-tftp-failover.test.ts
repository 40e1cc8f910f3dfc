// TFTP through the userspace balancer when a tftpd dies. Three real tftpd-hpa serve the same 30 MiB
// file; a get is started (tftp-hpa's client, then atftp with blksize 1468) and once a few MiB have
// arrived the process group of the tftpd serving it is killed (SIGKILL, its per-transfer child
// included). The balancer asks another server for the same file and drops the blocks already
// delivered: the client finishes with exit 0 and the file's sha256 is the original's. A request
// that its server does not answer goes to the next one; a write whose server stops answering gets
// an ERROR at once (nothing can resume it), not the client's own timeout.
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import type { RealServerSpec } from '../../orchestrator/dataplane/types.ts';
import { decodePacket, encodeAck } from '../../plugins/tftp/codec.ts';
import { childPids, requireBinary, runCommand, until } from '../helpers/processes.ts';
import { freeUdpPort, startTftpdHpa, TFTP_CLIENT, type TftpServerDir } from '../helpers/tftp-daemons.ts';

const VIP = '127.0.0.2';
const tftp = requireBinary(TFTP_CLIENT, 'tftp-hpa');
const atftp = requireBinary('/usr/bin/atftp', 'atftp');
const BIG = randomBytes(30 << 20);
const SMALL = randomBytes(1 << 20);
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
// two 30 MiB gets through the balancer take a while on a loaded machine
t.setTimeout(300_000);
const out = mkdtempSync(join(tmpdir(), 'lbguard-tftp-failover-'));
t.teardown(() => rmSync(out, { recursive: true, force: true }));

let backends: TftpServerDir[] = [];
t.before(async () => {
  backends = await Promise.all([0, 1, 2].map(() => startTftpdHpa({ 'big.bin': BIG, 'small.bin': SMALL }, [], '127.0.0.1', true)));
});
t.teardown(() => Promise.all(backends.map((b) => b.stop())));

async function balancer(t: Test, servers: RealServerSpec[]): Promise<{ adapter: UserspaceAdapter; port: number }> {
  const port = await freeUdpPort(VIP);
  const adapter = new UserspaceAdapter({ type: 'userspace' });
  t.teardown(() => adapter.close());
  const service = { farm: 'tftp', service: 'tftp' as const, protocol: 'udp' as const, address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' };
  await adapter.apply([{ kind: 'add-farm', farm: { service, servers } }]);
  return { adapter, port };
}

const resumes = (adapter: UserspaceAdapter) => adapter.counters().find((c) => c.backend === '' && c.errorKind === 'tftp-resume')?.errors ?? 0;

for (const client of ['tftp-hpa', 'atftp'] as const) {
  t.test(`${client}: the tftpd serving a 30 MiB get is killed mid-way; the get completes intact from another`, async (t) => {
    const alive = backends.filter((b) => b.daemon.running());
    const { adapter, port } = await balancer(t, alive.map((b, i) => ({ name: `tftp-${i + 1}`, address: '127.0.0.1', port: b.port, weight: 1 })));
    const target = join(out, `${client}.bin`);
    const args = client === 'tftp-hpa' ? ['-m', 'binary', VIP, String(port), '-c', 'get', 'big.bin', target] : ['--option', 'blksize 1468', '--get', '-r', 'big.bin', '-l', target, VIP, String(port)];
    const started = Date.now();
    const run = runCommand(client === 'tftp-hpa' ? tftp : atftp, args, { timeoutMs: 120_000 });
    const serving = await until('the tftpd serving it', () => alive.find((b) => childPids(b.daemon.pid).length > 0), 10_000);
    await until('5 MiB arrived', () => {
      try {
        return statSync(target).size >= 5 << 20 ? true : undefined;
      } catch {
        return undefined;
      }
    }, 60_000);
    const sizeAtKill = statSync(target).size;
    process.kill(-serving.daemon.pid, 'SIGKILL');
    const done = await run;
    t.equal(done.code, 0, `${client} exit 0 (${done.stderr.trim() || done.stdout.trim()}) after ${Date.now() - started} ms`);
    const got = readFileSync(target);
    t.equal(got.length, BIG.length, `30 MiB (${sizeAtKill} bytes when its server was killed)`);
    t.equal(sha256(got), sha256(BIG), 'sha256 intact');
    t.equal(resumes(adapter), 1, 'one resume counted');
  });
}

t.test('a request its server does not answer goes to the next server', async (t) => {
  const mute = createSocket('udp4');
  await new Promise<void>((resolve) => mute.bind(0, '127.0.0.1', resolve));
  t.teardown(() => mute.close());
  const live = backends.find((b) => b.daemon.running())!;
  const { adapter, port } = await balancer(t, [
    { name: 'mute', address: '127.0.0.1', port: mute.address().port, weight: 1 },
    { name: 'live', address: '127.0.0.1', port: live.port, weight: 1 },
  ]);
  for (let i = 0; i < 2; i++) {
    const target = join(out, `request-${i}.bin`);
    const started = Date.now();
    const run = await runCommand(tftp, ['-m', 'binary', VIP, String(port), '-c', 'get', 'small.bin', target], { timeoutMs: 60_000 });
    t.equal(run.code, 0, `get ${i + 1}: exit 0 after ${Date.now() - started} ms ${run.stderr.trim()}`);
    t.equal(sha256(readFileSync(target)), sha256(SMALL), `get ${i + 1}: intact`);
  }
  const mutes = adapter.counters().find((c) => c.backend === 'mute');
  t.equal(mutes?.sessions, 1, 'rr gave the mute server one of the two');
  t.equal(mutes?.errors, 1, 'its silence counted against it');
});

t.test('a lone server slow to answer requests (2.5 s): each get waits for it and is served; error-limit does not take it out', async (t) => {
  // answers each request after 2.5 s (past the balancer's 1-2 s judgement) from a port of its own,
  // with a one-block file, as an RFC 1350 server (no OACK)
  const slow = createSocket('udp4');
  await new Promise<void>((resolve) => slow.bind(0, '127.0.0.1', resolve));
  const answering = new Set<ReturnType<typeof createSocket>>();
  t.teardown(() => {
    slow.close();
    for (const socket of answering) socket.close();
  });
  slow.on('message', (message, from) => {
    if (message.readUInt16BE(0) !== 1) return;
    setTimeout(() => {
      const session = createSocket('udp4');
      answering.add(session);
      session.bind(0, '127.0.0.1', () => session.send(Buffer.concat([Buffer.from([0, 3, 0, 1]), Buffer.from('slow but here\n')]), from.port, from.address));
    }, 2500);
  });
  const { adapter, port } = await balancer(t, [{ name: 'slow', address: '127.0.0.1', port: slow.address().port, weight: 1 }]);
  // before, each get got ERROR 'No server available' after 1-2 s, and three took the server out (error-limit 3)
  for (let i = 0; i < 4; i++) {
    const target = join(out, `slow-${i}.txt`);
    const run = await runCommand(tftp, ['-m', 'binary', VIP, String(port), '-c', 'get', 'one.txt', target], { timeoutMs: 30_000 });
    t.equal(run.code === 0 && !/Error/.test(run.stdout + run.stderr) ? readFileSync(target, 'utf8') : run.stdout + run.stderr, 'slow but here\n', `get ${i + 1} served`);
  }
  t.notOk(adapter.counters().some((c) => c.errorKind === 'error-limit' || c.errorKind === 'no-server'), 'never taken out, no request refused');
});

t.test('a write whose server stops answering: ERROR to the client at once', async (t) => {
  // a server that takes the WRQ and 3 blocks, then says nothing more (as a tftpd that died)
  const server = createSocket('udp4');
  const transfer = createSocket('udp4');
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => transfer.bind(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.close();
    transfer.close();
  });
  let blocks = 0;
  server.on('message', (m, from) => {
    if (decodePacket(m).op === 'WRQ') transfer.send(encodeAck(0), from.port, from.address);
  });
  transfer.on('message', (m, from) => {
    if (m.readUInt16BE(0) === 3 && ++blocks <= 3) transfer.send(encodeAck(m.readUInt16BE(2)), from.port, from.address);
  });
  const { port } = await balancer(t, [{ name: 'dying', address: '127.0.0.1', port: server.address().port, weight: 1 }]);
  const source = join(out, 'upload.bin');
  writeFileSync(source, randomBytes(64 << 10));
  const started = Date.now();
  const run = await runCommand(tftp, ['-m', 'binary', VIP, String(port), '-c', 'put', source, 'upload.bin'], { timeoutMs: 60_000 });
  const took = Date.now() - started;
  t.match(`${run.stdout}${run.stderr}`, /write cannot be resumed/, 'the client is told why');
  t.ok(took < 4000, `ended ${took} ms after it began (the client's own timeout: 25 s)`);
});

// Every session path of the userspace balancer closes what it opened. The balancer runs alone in a
// process (test/helpers/userspace-runner.ts); 300 sessions of each outcome go through it and its
// open descriptors (/proc/PID/fd) must come back to what they were before: the FTP "421 no server"
// answer to clients that send USER and leave, a backend that refuses, one that accepts and never
// speaks (idle timeout), one that resets, a half-close passed on both ways, a client that leaves
// first; FTP against a real vsftpd. Afterwards SIGTERM still stops the balancer.
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import type { FarmState } from '../../orchestrator/dataplane/types.ts';
import { fakeTcpServer, type FakeServer, silent } from '../helpers/fake-servers.ts';
import { freePortRange, freePorts, ROOT, startDaemon, until } from '../helpers/processes.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const VIP = '127.0.0.2';
const SESSIONS = 300;
const PARALLEL = 50;

const descriptors = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** One client session; resolves with what it read once its socket closed (10 s at most). */
function session(port: number, act: 'ftp-user' | 'half-close' | 'leave-first' | 'wait'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: VIP, allowHalfOpen: true });
    let read = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${read}[client timed out]`);
    }, 10_000);
    socket.on('data', (d: Buffer) => (read += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('end', () => socket.end()); // the balancer's half-close seen: this side ends too
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(read);
    });
    socket.on('connect', () => {
      if (act === 'ftp-user') socket.end('USER anonymous\r\n');
      else if (act === 'half-close') socket.end('ping');
      else if (act === 'leave-first') setTimeout(() => socket.resetAndDestroy(), 20);
    });
  });
}

async function sessions(port: number, act: Parameters<typeof session>[1], count = SESSIONS): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i += PARALLEL) out.push(...(await Promise.all(Array.from({ length: Math.min(PARALLEL, count - i) }, () => session(port, act)))));
  return out;
}

let vsftpd: Vsftpd;
const fakes: FakeServer[] = [];
t.before(async () => {
  vsftpd = await startVsftpd();
});
t.teardown(async () => {
  await Promise.all(fakes.map((f) => f.close()));
  await vsftpd?.stop();
});

t.test('300 sessions of each outcome leave no descriptor behind; SIGTERM stops the balancer after them', { timeout: 240_000 }, async (t) => {
  const echo = await fakeTcpServer((s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
  });
  const reset = await fakeTcpServer((s) => s.resetAndDestroy());
  const mute = await silent();
  const slow = await fakeTcpServer(() => undefined); // answers nothing: the client leaves first
  fakes.push(echo, reset, mute, slow);
  // distinct ports: two farms given the same one would share its listener (the later takes it over)
  const [closed, ftpNone, ftpRefused, ftpLeave, refused, resetPort, silentPort, echoPort, leave] = (await freePorts(9)) as [number, number, number, number, number, number, number, number, number];
  const passive = await freePortRange(4);
  const ports = { ftpNone, ftpRefused, ftpLeave, refused, reset: resetPort, silent: silentPort, echo: echoPort, leave };
  const tcp = (farm: string, port: number, backendPort: number, service: 'tcp' | 'ftp' = 'tcp', weight = 1): FarmState => ({
    service: { farm, service, protocol: 'tcp', address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' },
    servers: [{ name: `${farm}-1`, address: '127.0.0.1', port: backendPort, weight }],
  });
  const farms = [
    tcp('ftp-none', ports.ftpNone, vsftpd.port, 'ftp', 0),
    tcp('ftp-refused', ports.ftpRefused, closed, 'ftp'),
    tcp('ftp-leave', ports.ftpLeave, vsftpd.port, 'ftp'),
    tcp('refused', ports.refused, closed),
    tcp('reset', ports.reset, reset.port),
    tcp('silent', ports.silent, mute.port),
    tcp('echo', ports.echo, echo.port),
    tcp('leave', ports.leave, slow.port),
  ];
  const settings = { 'passive-ports': { from: passive, to: passive + 3 }, 'idle-timeout': 1000 };
  const balancer = startDaemon(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'helpers', 'userspace-runner.ts'), JSON.stringify(farms), JSON.stringify(settings)]);
  t.teardown(() => balancer.stop());
  await until('the balancer ready', () => (balancer.output().includes('ready') ? true : undefined), 10_000);

  const outcomes: [string, number, Parameters<typeof session>[1], (read: string) => boolean][] = [
    ['421 no server, client sends USER and leaves', ports.ftpNone, 'ftp-user', (r) => r.startsWith('421 ')],
    ['FTP backend refuses', ports.ftpRefused, 'ftp-user', (r) => !r.includes('timed out')],
    ['FTP client leaves first', ports.ftpLeave, 'leave-first', () => true],
    ['TCP backend refuses', ports.refused, 'wait', (r) => r === ''],
    ['TCP backend resets', ports.reset, 'wait', (r) => r === ''],
    ['TCP backend silent: idle timeout', ports.silent, 'wait', (r) => r === ''],
    ['half-close passed on both ways', ports.echo, 'half-close', (r) => r === 'ping'],
    ['TCP client leaves first', ports.leave, 'leave-first', () => true],
  ];
  // warm-up: the first sessions of a kind allocate what stays (timers, the passive range is already open)
  for (const [, port, act] of outcomes) await sessions(port, act, 3);
  await new Promise((r) => setTimeout(r, 1500));
  const before = descriptors(balancer.pid);
  for (const [what, port, act, expected] of outcomes) {
    const reads = await sessions(port, act);
    const unexpected = reads.filter((r) => !expected(r));
    t.same(unexpected.slice(0, 3), [], `${what}: every client saw the expected end`);
    if (unexpected.length) t.comment(balancer.output());
    const after = await until(`${what}: descriptors back to ${before}`, () => {
      const now = descriptors(balancer.pid);
      return now <= before + 2 ? now : undefined;
    }, 8000).catch(() => descriptors(balancer.pid));
    t.ok(after <= before + 2, `${what}: ${before} descriptors before, ${after} after ${SESSIONS} sessions`);
  }
  const stopped = Date.now();
  await balancer.stop();
  // stop() sends SIGTERM and a SIGKILL 3 s later: under 2.5 s, the balancer went on its own
  t.ok(Date.now() - stopped < 2500, `SIGTERM stopped the balancer in ${Date.now() - stopped} ms`);
});

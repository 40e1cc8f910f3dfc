// TFTP with `workers: 3`: the main process reads the requests on the service port and hands two
// thirds of them to the worker processes, whose sessions then run on sockets of their own. In front
// of two real tftpd-hpa backends with tftp-hpa's client: concurrent 1 MiB gets arrive intact from the
// backend that served them, every process serves some and the counters add up; a request that finds
// no server is answered from the service port whichever process took it; a worker killed
// (SIGKILL) mid-transfer loses only its own transfers, is started again and serves; the main
// process holds no more descriptors once the sessions are over.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import type { DataPlaneCounters, VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { requireBinary, runCommand, until } from '../helpers/processes.ts';
import { freeUdpPort, startTftpdHpa, TFTP_CLIENT, type TftpServerDir } from '../helpers/tftp-daemons.ts';

const VIP = '127.0.0.2';
const client = requireBinary(TFTP_CLIENT, 'tftp-hpa');
const BIG = [randomBytes(1 << 20), randomBytes(1 << 20)];
// big enough that a transfer is still under way when its worker is killed
const HUGE = randomBytes(16 << 20);
let backends: TftpServerDir[] = [];
let adapter: UserspaceAdapter;
let service: VirtualServiceSpec;
let out: string;
const servers = () => backends.map((b, i) => ({ name: `tftp-${i + 1}`, address: '127.0.0.1', port: b.port, weight: 1 }));

t.before(async () => {
  backends = await Promise.all([0, 1].map((i) => startTftpdHpa({ 'who.txt': `tftp-${i + 1}\n`, 'big.bin': BIG[i]!, 'huge.bin': HUGE })));
  const port = await freeUdpPort(VIP);
  out = mkdtempSync(join(tmpdir(), 'lbguard-tftp-workers-'));
  service = { farm: 'tftp', service: 'tftp', protocol: 'udp', address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' };
  adapter = new UserspaceAdapter({ type: 'userspace', workers: 3 });
  await adapter.apply([{ kind: 'add-farm', farm: { service, servers: servers() } }]);
  await workersUp();
});
t.teardown(async () => {
  await adapter?.close();
  await Promise.all(backends.map((b) => b.stop()));
  if (out) rmSync(out, { recursive: true, force: true });
});

/**
 * Both workers running and ready. whenReady() alone can resolve on a worker that was killed for
 * starting too slowly (10 s: tsx compiling the sources on a loaded machine) and is being restarted.
 */
async function workersUp(): Promise<void> {
  const workers = adapter.workers!;
  await until('two workers that took their farms', async () => {
    const pids = workers.pids;
    await workers.whenReady();
    return pids.length === 2 && workers.pids.join() === pids.join() ? true : undefined;
  }, 60_000);
}

let downloads = 0;
/** A tftp-hpa get through the balancer: the file's bytes, or what the client said when it failed. */
async function get(file: string): Promise<Buffer | string> {
  const target = join(out, `${downloads++}-${file}`);
  const run = await runCommand(client, ['-m', 'binary', VIP, String(service.ports![0]!.from), '-c', 'get', file, target], { timeoutMs: 60_000 });
  const said = (run.stdout + run.stderr).trim();
  if (run.code !== 0 || /Error|timed out/i.test(said)) return said || `exit ${run.code}`;
  return readFileSync(target);
}

const sessions = (counters: DataPlaneCounters[]) => counters.filter((c) => c.farm === 'tftp' && c.backend !== '').reduce((sum, c) => sum + (c.sessions ?? 0), 0);
const sockets = (pid: number) => {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
};
const descriptors = () => readdirSync('/proc/self/fd').length;

t.test('30 concurrent 1 MiB gets: intact, from the backend that served them, spread over the processes; counters add up', async (t) => {
  const before = descriptors();
  t.equal(adapter.workers!.pids.length, 2, 'two workers');
  const files = await Promise.all(Array.from({ length: 30 }, () => get('big.bin')));
  const from = files.map((f) => (typeof f === 'string' ? f : f.equals(BIG[0]!) ? 'tftp-1' : f.equals(BIG[1]!) ? 'tftp-2' : 'corrupt'));
  t.same(from.filter((f) => f !== 'tftp-1' && f !== 'tftp-2'), [], 'every file is one backend\'s, intact');
  t.ok(from.includes('tftp-1') && from.includes('tftp-2'), 'both backends served');
  const own = sessions(adapter.pool('tftp')!.counters());
  t.ok(own > 0 && own < 30, `the main process served ${own} of 30, the workers the rest`);
  // the workers report once a second
  const total = await until('all sessions counted', () => (sessions(adapter.counters()) === 30 ? 30 : undefined), 5000).catch(() => sessions(adapter.counters()));
  t.equal(total, 30, 'the sessions of every process add up');
  const bytesOut = await until('bytes counted', () => {
    const sum = adapter.counters().filter((c) => c.farm === 'tftp').reduce((s, c) => s + (c.bytesOut ?? 0), 0);
    return sum >= 30 * (1 << 20) ? sum : undefined;
  });
  t.ok(bytesOut >= 30 * (1 << 20), `bytes to the clients counted in every process (${bytesOut})`);
  await until('sessions over', () => (adapter.pool('tftp')!.counters().every((c) => !c.activeSessions) ? true : undefined), 5000);
  // a closed socket's descriptor goes at the next turn of the event loop
  const after = await until('descriptors back', () => (descriptors() <= before ? descriptors() : undefined), 3000).catch(() => descriptors());
  t.ok(after <= before, `the main process's descriptors back to ${before} (${after})`);
});

t.test('no server: every request gets ERROR "No server available" from the service port, whichever process took it', async (t) => {
  await adapter.apply(servers().map((server) => ({ kind: 'remove-server' as const, farm: 'tftp', server })));
  try {
    const said = await Promise.all(Array.from({ length: 12 }, () => get('who.txt')));
    for (const s of said) t.match(s, /No server available/, 'the client was told');
  } finally {
    await adapter.apply(servers().map((server) => ({ kind: 'add-server' as const, farm: 'tftp', server })));
  }
  t.same(typeof (await get('who.txt')), 'object', 'served again once servers are back');
});

t.test('a worker killed (SIGKILL) mid-transfer: only its transfers fail; it is started again and serves', async (t) => {
  const workers = adapter.workers!;
  const pids = workers.pids;
  t.equal(pids.length, 2, 'two workers');
  // the sessions of the tests before have ended (they linger 2 s after their last block) in every process
  await until('no session left', () => (adapter.counters().every((c) => !c.activeSessions) ? true : undefined), 10_000);
  const idle = new Map(pids.map((pid) => [pid, sockets(pid)]));
  const transfers = Array.from({ length: 8 }, () => get('huge.bin'));
  // a worker holding sessions (two sockets each)
  const victim = await until('a worker with sessions', () => pids.find((pid) => sockets(pid) >= idle.get(pid)! + 2), 10_000);
  // past the request (a client whose request went unanswered sends it again, and another process takes it)
  await new Promise((resolve) => setTimeout(resolve, 500));
  process.kill(victim, 'SIGKILL');
  const files = await Promise.all(transfers);
  const intact = files.filter((f) => typeof f !== 'string' && f.equals(HUGE)).length;
  const failed = files.filter((f) => typeof f === 'string');
  t.equal(intact + failed.length, 8, 'no transfer ends with wrong bytes: intact, or the client says it failed');
  t.ok(failed.length >= 1, `the killed worker's transfers failed (${failed.length}: ${failed[0]})`);
  t.ok(intact >= 1, `the other processes' transfers finished (${intact})`);
  await until('a new worker', () => (workers.pids.length === 2 && !workers.pids.includes(victim) ? true : undefined), 10_000);
  await workersUp();
  const again = await Promise.all(Array.from({ length: 12 }, () => get('big.bin')));
  t.same(again.filter((f) => typeof f === 'string' || !(f.equals(BIG[0]!) || f.equals(BIG[1]!))), [], 'every get after the restart intact');
});

t.test('a TFTP farm with persistence stays on the main process: one table of client groups', async (t) => {
  const port = await freeUdpPort(VIP);
  const sticky = { ...service, farm: 'sticky', ports: [{ from: port, to: port }], persistence: { timeoutSeconds: 300, netmask: '255.255.255.255' } };
  await adapter.apply([{ kind: 'add-farm', farm: { service: sticky, servers: servers() } }]);
  try {
    const said = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const run = await runCommand(client, ['-m', 'binary', VIP, String(port), '-c', 'get', 'who.txt', join(out, `sticky-${i}`)], { timeoutMs: 30_000 });
        return run.code === 0 ? readFileSync(join(out, `sticky-${i}`), 'utf8').trim() : `exit ${run.code}`;
      }),
    );
    t.equal(new Set(said).size, 1, `every get from the one client address on one backend: ${[...new Set(said)].join(', ')}`);
    t.equal(sessions(adapter.pool('sticky')!.counters().map((c) => ({ ...c, farm: 'tftp' }))), 12, 'all 12 sessions in the main process');
  } finally {
    await adapter.apply([{ kind: 'remove-farm', farm: 'sticky' }]);
  }
});

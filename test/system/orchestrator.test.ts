// The orchestrator in-process against real sshd backends: a backend killed is taken out within
// fall x interval + timeout, brought back after rise; flapping does not flap the data plane; drift
// made by hand on the data plane is repaired.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { Orchestrator } from '../../orchestrator/daemon.ts';
import { MemoryAdapter } from '../../orchestrator/dataplane/memory.ts';
import { fakeTcpServer } from '../helpers/fake-servers.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

const INTERVAL = 300;
const TIMEOUT = 250;
const FALL = 2;
const RISE = 2;

function quietLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _e, done) { lines.push(JSON.parse(chunk.toString())); done(); } }));
  return { logger, lines };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

function weights(adapter: MemoryAdapter, farm: string): Record<string, number> {
  return Object.fromEntries((adapter.farms.get(farm)?.servers ?? []).map((s) => [s.name, s.weight]));
}

let sshds: Sshd[] = [];
t.before(async () => {
  sshds = [await startSshd(), await startSshd()];
});
t.teardown(async () => {
  for (const s of sshds) await s.stop();
});

function sftpFarm(onFailure: 'remove' | 'quiesce', backends = sshds.map((s, i) => ({ name: `sshd-${i + 1}`, address: '127.0.0.1', port: s.port }))) {
  return {
    name: 'sftp', service: 'sftp', virtual: { address: '192.0.2.22', ports: [22] },
    check: { probe: 'ssh', interval: INTERVAL, timeout: TIMEOUT, rise: RISE, fall: FALL, 'on-failure': onFailure },
    backends,
  };
}

t.test('a killed backend leaves the data plane within fall x interval + timeout, and comes back after rise', async (t) => {
  const adapter = new MemoryAdapter();
  const { logger, lines } = quietLogger();
  const config = validateConfig({ farms: [{ ...sftpFarm('remove'), check: { ...sftpFarm('remove').check, interval: `${INTERVAL}ms`, timeout: `${TIMEOUT}ms` } }] });
  const orchestrator = new Orchestrator(config, { logger, adapterFor: () => adapter, reconcilePeriodMs: 5000 });
  await orchestrator.start();
  t.teardown(() => orchestrator.stop());
  await waitFor('both backends up', () => Object.keys(weights(adapter, 'sftp')).length === 2, 3000);
  t.same(weights(adapter, 'sftp'), { 'sshd-1': 1, 'sshd-2': 1 });

  const victim = sshds[1]!;
  await victim.kill();
  const killedAt = Date.now();
  await waitFor('sshd-2 removed', () => !('sshd-2' in weights(adapter, 'sftp')), 5000);
  const tookMs = Date.now() - killedAt;
  const bound = FALL * INTERVAL + TIMEOUT + INTERVAL; // + one interval: the kill lands anywhere in a period
  t.ok(tookMs <= bound, `removed after ${tookMs} ms (bound ${bound} ms)`);
  t.same(weights(adapter, 'sftp'), { 'sshd-1': 1 }, 'the healthy one keeps serving');
  const down = lines.find((l) => l.event === 'transition' && l.backend === 'sshd-2' && l.to === 'down');
  t.match(down?.line, /^SSH CRITICAL - connect to address 127\.0\.0\.1 and port \d+: Connection refused/, 'the transition is logged with the check line');

  await victim.start();
  const startedAt = Date.now();
  await waitFor('sshd-2 back', () => weights(adapter, 'sftp')['sshd-2'] === 1, 5000);
  const backMs = Date.now() - startedAt;
  t.ok(backMs >= (RISE - 1) * INTERVAL, `back after ${backMs} ms: not before ${RISE} passing checks`);
  t.ok(backMs <= RISE * INTERVAL + INTERVAL + TIMEOUT, `back after ${backMs} ms`);
  const states = orchestrator.snapshot().farms[0]!.backends.map((b) => b.state);
  t.same(states, ['up', 'up']);
});

t.test('quiesce keeps a failed backend at weight 0; flapping does not flap the data plane', async (t) => {
  // every other connection is refused-by-close: OK, FAIL, OK, FAIL... never two failures in a row
  let n = 0;
  const flapper = await fakeTcpServer((socket) => (n++ % 2 === 0 ? socket.end('SSH-2.0-Flappy_1.0\r\n') : socket.destroy()));
  t.teardown(() => flapper.close());
  const adapter = new MemoryAdapter();
  const { logger } = quietLogger();
  const farm = sftpFarm('quiesce', [
    { name: 'steady', address: '127.0.0.1', port: sshds[0]!.port },
    { name: 'flappy', address: '127.0.0.1', port: flapper.port },
  ]);
  const config = validateConfig({ farms: [{ ...farm, check: { ...farm.check, interval: `${INTERVAL}ms`, timeout: `${TIMEOUT}ms` } }] });
  const orchestrator = new Orchestrator(config, { logger, adapterFor: () => adapter, reconcilePeriodMs: 5000 });
  await orchestrator.start();
  t.teardown(() => orchestrator.stop());
  await waitFor('both serving', () => weights(adapter, 'sftp').steady === 1 && weights(adapter, 'sftp').flappy === 1, 3000);
  const appliedBefore = adapter.applied;
  await new Promise((r) => setTimeout(r, INTERVAL * 8));
  t.ok(n >= 6, `${n} checks of the flapping backend`);
  t.equal(adapter.applied, appliedBefore, 'no data plane change while it flaps');
  t.equal(weights(adapter, 'sftp').flappy, 1);

  await flapper.close();
  await waitFor('flappy quiesced', () => weights(adapter, 'sftp').flappy === 0, 3000);
  t.same(weights(adapter, 'sftp'), { steady: 1, flappy: 0 }, 'quiesced, not removed');
});

t.test('drift on the data plane is repaired; maintenance drains a backend', async (t) => {
  const adapter = new MemoryAdapter();
  const { logger } = quietLogger();
  const farm = sftpFarm('remove');
  const config = validateConfig({ farms: [{ ...farm, check: { ...farm.check, interval: '1s', timeout: '500ms' } }] });
  const orchestrator = new Orchestrator(config, { logger, adapterFor: () => adapter, reconcilePeriodMs: 200 });
  await orchestrator.start();
  t.teardown(() => orchestrator.stop());
  await waitFor('both up', () => Object.keys(weights(adapter, 'sftp')).length === 2, 3000);
  // someone deletes a real server by hand (ipvsadm -d)
  const current = adapter.farms.get('sftp')!;
  adapter.farms.set('sftp', { ...current, servers: current.servers.filter((s) => s.name !== 'sshd-1') });
  const repairedIn = await waitFor('drift repaired', () => weights(adapter, 'sftp')['sshd-1'] === 1, 2000);
  t.ok(repairedIn < 1000, `repaired in ${repairedIn} ms`);

  t.ok(orchestrator.setMaintenance('sftp', 'sshd-1', true));
  await waitFor('drained', () => weights(adapter, 'sftp')['sshd-1'] === 0, 1000);
  t.equal(orchestrator.snapshot().farms[0]!.backends[0]!.state, 'maintenance');
  t.ok(orchestrator.setMaintenance('sftp', 'sshd-1', false));
  await waitFor('back', () => weights(adapter, 'sftp')['sshd-1'] === 1, 1000);
  t.notOk(orchestrator.setMaintenance('sftp', 'nope', true), 'unknown backend');
});

t.test('a data plane that fails is retried with backoff and reported, never crashing the daemon', async (t) => {
  const adapter = new MemoryAdapter();
  let failures = 2;
  const flaky = Object.assign(Object.create(adapter) as MemoryAdapter, {
    type: 'flaky',
    apply: async (changes: Parameters<MemoryAdapter['apply']>[0]) => {
      if (failures-- > 0) throw new Error('connection refused by the data plane');
      return adapter.apply(changes);
    },
    observe: () => adapter.observe(),
  });
  const { logger, lines } = quietLogger();
  const farm = sftpFarm('remove');
  const config = validateConfig({ farms: [{ ...farm, check: { ...farm.check, interval: '1s', timeout: '500ms' } }] });
  const orchestrator = new Orchestrator(config, { logger, adapterFor: () => flaky, reconcilePeriodMs: 60_000 });
  await orchestrator.start();
  t.teardown(() => orchestrator.stop());
  await waitFor('error reported', () => orchestrator.snapshot().farms[0]!.dataplane.ok === false, 3000);
  t.match(orchestrator.snapshot().farms[0]!.dataplane.error, 'connection refused by the data plane');
  await waitFor('applied after retries', () => Object.keys(weights(adapter, 'sftp')).length === 2, 5000);
  t.equal(orchestrator.snapshot().farms[0]!.dataplane.ok, true);
  t.ok(lines.filter((l) => l.event === 'dataplane-error').length >= 2, 'each failure logged');
  t.match(await orchestrator.metrics.registry.getSingleMetricAsString('lbguard_dataplane_errors_total'), /lbguard_dataplane_errors_total\{dataplane="flaky"\} [2-9]/);
});

t.test('a hanging external check is killed at its timeout with its process group; nothing is left behind', async (t) => {
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { ROOT } = await import('../helpers/processes.ts');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-hang-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pidFile = join(dir, 'pids');
  const adapter = new MemoryAdapter();
  const { logger } = quietLogger();
  const config = validateConfig({
    farms: [{
      name: 'legacy', service: 'ftp', virtual: { address: '192.0.2.30', ports: [21] },
      check: { probe: 'command', style: 'keepalived', command: [join(ROOT, 'test', 'fixtures', 'commands', 'hang.sh'), pidFile], interval: '500ms', timeout: '300ms', rise: 1, fall: 1, 'on-failure': 'quiesce' },
      backends: [{ name: 'stuck', address: '127.0.0.1', port: 21 }],
    }],
  });
  const orchestrator = new Orchestrator(config, { logger, adapterFor: () => adapter, reconcilePeriodMs: 5000 });
  await orchestrator.start();
  await waitFor('two checks timed out', () => (orchestrator.snapshot().farms[0]!.backends[0]!.last?.line ?? '').startsWith('timed out after 300 ms') && readFileSync(pidFile, 'utf8').trim().split('\n').length >= 4, 4000);
  await orchestrator.stop();
  t.equal(orchestrator.snapshot().farms[0]!.backends[0]!.state, 'down');
  t.same(weights(adapter, 'legacy'), { stuck: 0 });
  const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
  // a killed process whose parent died is reaped by init: a zombie (state Z) counts as gone
  const alive = () => pids.filter((pid) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  });
  t.same(alive(), [], `none of the ${pids.length} processes the checks started is running once stop() returns`);
});

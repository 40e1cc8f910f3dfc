// The userspace balancer with `workers: 3`: two worker processes accept beside the main one on the
// same listening sockets, in front of two real nginx backends that each answer their own name. Every
// request is served, both backends by rr, the counters of all processes add up, a 2 MiB body arrives
// intact; a removed backend gets nothing once apply() returns; a farm with persistence stays on the
// main process; a killed worker is started again while the others serve on; close() leaves none.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import type { DataPlaneCounters, VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { childPids, type Daemon, freePort, requireBinary, ROOT, startDaemon, until, waitForTcp } from '../helpers/processes.ts';

const VIP = '127.0.0.2';
const nginx = requireBinary('/usr/sbin/nginx', 'nginx-light');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-workers-'));
const big = randomBytes(2 << 20);
writeFileSync(join(dir, 'big.bin'), big);

interface Web {
  readonly name: string;
  readonly port: number;
  readonly daemon: Daemon;
}
const webs: Web[] = [];

async function startNginx(name: string): Promise<Web> {
  const port = await freePort();
  const conf = join(dir, `${name}.conf`);
  writeFileSync(conf, `daemon off; master_process off; pid ${dir}/${name}.pid; error_log stderr;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen 127.0.0.1:${port}; root ${dir}; location = / { return 200 "${name}"; } } }
`);
  const daemon = startDaemon(nginx, ['-c', conf, '-e', 'stderr']);
  await waitForTcp(port);
  return { name, port, daemon };
}

/** One HTTP/1.0 request through the balancer on a new connection: its status and body. */
function get(port: number, path = '/'): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: VIP, port, path, agent: false, headers: { connection: 'close' }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** `count` requests, `parallel` at a time: the body of each (the backend's name). */
async function names(port: number, count: number, parallel = 20): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = await Promise.all(Array.from({ length: Math.min(parallel, count - i) }, () => get(port)));
    out.push(...batch.map((r) => (r.status === 200 ? r.body.toString() : `HTTP ${r.status}`)));
  }
  return out;
}

const tally = (list: string[]) => Object.fromEntries([...new Set(list)].sort().map((n) => [n, list.filter((x) => x === n).length]));
const sessions = (counters: DataPlaneCounters[], farm: string) => counters.filter((c) => c.farm === farm && c.backend !== '').reduce((sum, c) => sum + (c.sessions ?? 0), 0);
/** running, not a zombie (an orphan's exit may wait for a reaper that is slow to come) */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};


let adapter: UserspaceAdapter;
let port: number;
let service: VirtualServiceSpec;
const servers = () => webs.map((w) => ({ name: w.name, address: '127.0.0.1', port: w.port, weight: 1 }));

t.before(async () => {
  webs.push(await startNginx('web-1'), await startNginx('web-2'));
  port = await freePort();
  service = { farm: 'web', service: 'tcp', protocol: 'tcp', address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' };
  adapter = new UserspaceAdapter({ type: 'userspace', workers: 3 });
  await adapter.apply([{ kind: 'add-farm', farm: { service, servers: servers() } }]);
  // apply() does not wait for workers still starting; the tests below want them serving
  await adapter.workers!.whenReady();
});
t.teardown(async () => {
  await adapter?.close();
  await Promise.all(webs.map((w) => w.daemon.stop()));
  rmSync(dir, { recursive: true, force: true });
});

t.test('two workers accept beside the main process; every request served, by both backends; counters add up', async (t) => {
  const pids = adapter.workers!.pids;
  t.equal(pids.length, 2, 'two worker processes');
  for (const pid of pids) {
    t.ok(alive(pid), `worker ${pid} runs`);
    t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /userspace.worker\.(ts|mjs)/, 'running the worker entry');
    t.match(readFileSync(`/proc/${pid}/environ`, 'utf8'), /(^|\0)GLIBC_TUNABLES=([^\0]*:)?glibc\.malloc\.trim_threshold=33554432/, 'with the malloc setting');
  }
  const got = await names(port, 300);
  const counts = tally(got);
  t.same(Object.keys(counts), ['web-1', 'web-2'], `only the backends' answers: ${JSON.stringify(counts)}`);
  t.ok(counts['web-1']! >= 100 && counts['web-2']! >= 100, 'rr in each process spreads them over both');
  // workers report once a second: every session of every process is counted
  const total = await until('the workers to report 300 sessions', () => (sessions(adapter.counters(), 'web') === 300 ? 300 : undefined));
  t.equal(total, 300);
  const own = sessions(adapter.pool('web')!.counters(), 'web');
  t.ok(own < 300, `the workers served ${300 - own} of the 300`);
});

t.test('a 2 MiB body through the workers arrives intact', async (t) => {
  const digest = createHash('sha256').update(big).digest('hex');
  const bodies = await Promise.all(Array.from({ length: 8 }, () => get(port, '/big.bin')));
  for (const body of bodies) t.equal(createHash('sha256').update(body.body).digest('hex'), digest);
});

t.test('a removed backend gets no new connection from any process once apply() returns', async (t) => {
  await adapter.apply([{ kind: 'remove-server', farm: 'web', server: servers()[1]! }]);
  t.same(tally(await names(port, 100)), { 'web-1': 100 });
  await adapter.apply([{ kind: 'add-server', farm: 'web', server: servers()[1]! }]);
  t.same(Object.keys(tally(await names(port, 40))), ['web-1', 'web-2'], 'and all take it back');
});

t.test('a farm with persistence stays on the main process', async (t) => {
  const stickyPort = await freePort();
  await adapter.apply([{ kind: 'add-farm', farm: { service: { ...service, farm: 'sticky', ports: [{ from: stickyPort, to: stickyPort }], persistence: { timeoutSeconds: 300, netmask: '255.255.255.255' } }, servers: servers() } }]);
  const got = await names(stickyPort, 60);
  t.equal(new Set(got).size, 1, `one client, one backend: ${JSON.stringify(tally(got))}`);
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(sessions(adapter.pool('sticky')!.counters(), 'sticky'), 60, 'the main process took all 60');
  t.equal(sessions(adapter.counters(), 'sticky'), 60, 'and no worker reports any');
  await adapter.apply([{ kind: 'remove-farm', farm: 'sticky' }]);
});

t.test('a killed worker is started again; the service goes on; totals do not go back', async (t) => {
  const before = sessions(adapter.counters(), 'web');
  const [victim, other] = adapter.workers!.pids;
  process.kill(victim!, 'SIGKILL');
  const during = await names(port, 60);
  t.same(Object.keys(tally(during)), ['web-1', 'web-2'], 'served while it is down');
  const pids = await until('a new worker', () => {
    const now = adapter.workers!.pids;
    return now.length === 2 && !now.includes(victim!) ? now : undefined;
  });
  t.ok(pids.includes(other!), 'the other worker ran on');
  await adapter.workers!.whenReady();
  t.notOk(alive(victim!), 'the killed one is gone');
  t.same(Object.keys(tally(await names(port, 60))), ['web-1', 'web-2'], 'served with the new worker');
  const after = await until('the counters', () => {
    const n = sessions(adapter.counters(), 'web');
    return n >= before + 120 ? n : undefined;
  });
  t.ok(after >= before + 120, `${before} sessions before, ${after} after`);
  t.same(adapter.counters().find((c) => c.farm === 'web' && c.errorKind === 'worker-exit'), { farm: 'web', backend: '', errorKind: 'worker-exit', errors: 1 });
  t.same(workerChildren().sort(), adapter.workers!.pids.sort(), 'and no other worker runs');
});

/** the running children of `parent` that run the worker entry (source or built) */
const workersOf = (parent: number) => childPids(parent).filter((pid) => alive(pid) && /userspace.worker\.(ts|mjs)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')));
const workerChildren = () => workersOf(process.pid);

t.test('a farm added while a worker is down starts one in its place, and its restart then none', async (t) => {
  const [victim] = adapter.workers!.pids;
  process.kill(victim!, 'SIGKILL');
  await until('the exit to be seen', () => (adapter.workers!.pids.length === 1 ? true : undefined));
  const secondPort = await freePort();
  await adapter.apply([{ kind: 'add-farm', farm: { service: { ...service, farm: 'second', ports: [{ from: secondPort, to: secondPort }] }, servers: servers() } }]);
  t.equal(adapter.workers!.pids.length, 2, 'the farm started the missing worker');
  // the restart planned at the exit (1-4 s later) must find the slot taken
  for (let waited = 0; waited < 5000; waited += 250) {
    await new Promise((r) => setTimeout(r, 250));
    if (workerChildren().length > 2) break;
  }
  t.same(workerChildren().sort(), adapter.workers!.pids.sort(), 'no worker beyond the two it knows');
  await adapter.workers!.whenReady();
  t.same(Object.keys(tally(await names(secondPort, 40))), ['web-1', 'web-2']);
  await adapter.apply([{ kind: 'remove-farm', farm: 'second' }]);
});

t.test('connections that come while workers are still starting are all served', async (t) => {
  // a worker given a listening socket before it listens for messages would take connections and
  // never relay them; this adapter's workers start while the requests below already run
  const fresh = new UserspaceAdapter({ type: 'userspace', workers: 3 });
  t.teardown(() => fresh.close());
  const freshPort = await freePort();
  await fresh.apply([{ kind: 'add-farm', farm: { service: { ...service, farm: 'fresh', ports: [{ from: freshPort, to: freshPort }] }, servers: servers() } }]);
  const during = names(freshPort, 400, 10);
  await fresh.workers!.whenReady();
  const got = await during;
  t.same(Object.keys(tally(got)), ['web-1', 'web-2'], `all 400 answered by a backend: ${JSON.stringify(tally(got))}`);
  const total = await until('the workers to report', () => (sessions(fresh.counters(), 'fresh') === 400 ? 400 : undefined));
  t.equal(total, 400);
});

t.test('close() ends every worker', async (t) => {
  const pids = adapter.workers!.pids;
  await adapter.close();
  t.same(adapter.workers!.pids, []);
  for (const pid of pids) t.notOk(alive(pid), `worker ${pid} is gone`);
  await t.rejects(get(port), 'nothing listens any more');
});

/** `lbguard run` from the build with a farms file of one TCP farm, `workers: 2`; its worker's pid. */
async function startLbguard(t: Test): Promise<{ lbguard: Daemon; worker: number; vport: number; statusPort: number; file: string }> {
  const vport = await freePort();
  const statusPort = await freePort();
  const file = join(dir, `farms-${vport}.yaml`);
  writeFileSync(file, `status: {listen: "127.0.0.1:${statusPort}"}
farms:
  - name: web
    service: tcp
    virtual: {address: ${VIP}, ports: [${vport}]}
    scheduler: rr
    dataplane: {type: userspace, workers: 2}
    check: {probe: tcp, interval: 300ms, timeout: 250ms, rise: 1, fall: 1}
    backends:
${webs.map((w) => `      - {name: ${w.name}, address: 127.0.0.1, port: ${w.port}}`).join('\n')}
`);
  const lbguard = startDaemon(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), 'run', '-c', file]);
  t.teardown(() => lbguard.stop());
  const worker = await until('the worker process', () => workersOf(lbguard.pid).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/userspace-worker.mjs')), 10_000).catch((e: Error) => {
    throw new Error(`${e.message}; lbguard said: ${lbguard.output()}`);
  });
  return { lbguard, worker, vport, statusPort, file };
}

t.test('lbguard run from the build: workers fork dist/userspace-worker.mjs and serve; SIGTERM ends all', async (t) => {
  const { lbguard, worker, vport, statusPort } = await startLbguard(t);
  const served: string[] = [];
  const deadline = Date.now() + 10_000;
  const failures = new Set<string>();
  while (Date.now() < deadline && new Set(served).size < 2) served.push(...(await names(vport, 10).catch((e: Error) => (failures.add(e.message), []))));
  t.same([...new Set(served)].sort(), ['web-1', 'web-2'], 'both backends through the daemon');
  if (new Set(served).size < 2) t.comment(`served ${JSON.stringify(tally(served))}; failures: ${[...failures].join('; ')}`, lbguard.output());
  const metrics = await (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text();
  t.match(metrics, /lbguard_dataplane_sessions_total\{[^}]*farm="web"/);
  await lbguard.stop();
  t.notOk(alive(worker), 'the worker ended with the daemon');
});

t.test('SIGHUP with workers: 3 instead of 2: the new data plane takes the port once the old one let go', async (t) => {
  const { lbguard, worker, vport, file } = await startLbguard(t);
  await until('the backends in the data plane', () => (/added web-2/.test(lbguard.output()) && /added web-1/.test(lbguard.output()) ? true : undefined), 10_000).catch(() => undefined);
  writeFileSync(file, readFileSync(file, 'utf8').replace('workers: 2', 'workers: 3'));
  const before = lbguard.output().length;
  process.kill(lbguard.pid, 'SIGHUP');
  const after = () => lbguard.output().slice(before);
  await until('the new data plane', () => (/declared web with/.test(after()) ? true : undefined), 10_000);
  t.notMatch(after(), /dataplane-error|EADDRINUSE/, 'no failed attempt on the port the old data plane still held');
  const workers = await until('two new workers', () => {
    const pids = workersOf(lbguard.pid);
    return pids.length === 2 && !pids.includes(worker) ? pids : undefined;
  });
  t.equal(workers.length, 2, 'workers: 3 = the main process and two workers');
  // the old worker leaves once it let go of its port and its sessions (none here): within seconds
  const gone = await until('the old data plane\'s worker gone', () => (alive(worker) ? undefined : true), 5000).catch(() => false);
  t.ok(gone, 'the old data plane\'s worker is gone');
  t.same(Object.keys(tally(await names(vport, 20))), ['web-1', 'web-2'], 'served after the reload');
});

t.test('a worker whose daemon was killed (SIGKILL) does not outlive it', async (t) => {
  const { lbguard, worker } = await startLbguard(t);
  process.kill(lbguard.pid, 'SIGKILL');
  await until('the worker to end', () => (alive(worker) ? undefined : true), 5000);
  t.notOk(alive(worker), 'gone');
});

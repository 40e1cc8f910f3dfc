// 2,000 backends (local TCP listeners in a child process) checked every 2 s by the orchestrator
// in-process, next to the keepalived MISC_CHECK way: spawning monitoring-plugins' check_tcp for every
// check, on the same schedule and the same scheduler, in the same run. Then both at full speed
// (interval far below what either can sustain) to compare capacity. Then the built daemon as an
// operator runs it (`node dist/lbguard.mjs run -c farms.json`, `npm run build` first) with 2,000 and
// 10,000 backends every 2 s, after 1 backend for the floor (BENCH_DAEMON_BACKENDS; BENCH_ORCHESTRATOR=daemon runs only those;
// BENCH_BASELINE=another build's lbguard.mjs runs it too, beside this one at each size), read from its own /metrics (checks, start
// lateness histogram) and /proc (RSS); BENCH_PROF=DIR: --cpu-prof into DIR. Bounded: fixed durations.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { validateConfig } from '../orchestrator/config/load.ts';
import { Orchestrator } from '../orchestrator/daemon.ts';
import { MemoryAdapter } from '../orchestrator/dataplane/memory.ts';
import { Scheduler } from '../orchestrator/scheduler.ts';
import { cPlugin, ROOT } from '../test/helpers/processes.ts';
import { heading, median } from './lib.ts';

const BACKENDS = Number(process.env.BENCH_BACKENDS ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 12);

const LISTENERS = `
const net = require('net');
const n = Number(process.argv[1]);
const ports = [];
let open = 0;
for (let i = 0; i < n; i++) {
  const s = net.createServer((c) => c.on('error', () => {}).end());
  s.listen(0, '127.0.0.1', () => { ports.push(s.address().port); if (++open === n) process.stdout.write(JSON.stringify(ports) + '\\n'); });
}`;

async function startListeners(n: number): Promise<{ ports: number[]; stop: () => void }> {
  const child = spawn(process.execPath, ['-e', LISTENERS, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out) as number[]);
    });
    child.once('exit', () => reject(new Error('listeners exited')));
  });
  return { ports, stop: () => child.kill('SIGKILL') };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Run {
  readonly name: string;
  readonly checksPerSecond: number;
  readonly failed: number;
  readonly p99LateMs: number;
  readonly maxRssMb: number;
}

async function inProcess(ports: number[], intervalMs: number, name: string): Promise<Run> {
  const late: number[] = [];
  const config = validateConfig({
    concurrency: 256,
    farms: [{
      name: 'bench', service: 'tcp', virtual: { address: '192.0.2.1', ports: [80] }, dataplane: { type: 'none' },
      check: { probe: 'tcp', interval: `${intervalMs}ms`, timeout: `${Math.min(1000, intervalMs - 1)}ms`, rise: 1, fall: 1 },
      backends: ports.map((port, i) => ({ name: `b${i}`, address: '127.0.0.1', port })),
    }],
  });
  const logger = pino({ level: 'warn' }, new Writable({ write: (_c, _e, done) => done() }));
  const orchestrator = new Orchestrator(config, { logger, adapterFor: () => new MemoryAdapter(), reconcilePeriodMs: 60_000, onCheckStart: (ms) => late.push(ms) });
  let maxRss = 0;
  const sampler = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 200);
  await orchestrator.start();
  // measure after one interval, once every backend has had its first (spread) start
  await new Promise((r) => setTimeout(r, intervalMs));
  late.length = 0;
  const before = await counts(orchestrator);
  const started = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const after = await counts(orchestrator);
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  await orchestrator.stop();
  return { name, checksPerSecond: (after.ok + after.fail - before.ok - before.fail) / elapsed, failed: after.fail - before.fail, p99LateMs: percentile(late, 99), maxRssMb: maxRss / 2 ** 20 };
}

async function counts(orchestrator: Orchestrator): Promise<{ ok: number; fail: number }> {
  const metric = await orchestrator.metrics.checks.get();
  const of = (result: string) => metric.values.filter((v) => v.labels.result === result).reduce((n, v) => n + v.value, 0);
  return { ok: of('ok'), fail: of('fail') };
}

async function spawnPath(ports: number[], intervalMs: number, name: string): Promise<Run> {
  const checkTcp = cPlugin('check_tcp');
  const late: number[] = [];
  let done = 0;
  let failed = 0;
  let counting = false;
  const scheduler = new Scheduler({ concurrency: 256, onStart: (ms) => counting && late.push(ms) });
  for (const port of ports) {
    scheduler.add({
      id: String(port),
      intervalMs,
      run: (signal) => new Promise<void>((resolve) => {
        const child = spawn(checkTcp, ['-H', '127.0.0.1', '-p', String(port), '-t', '1'], { stdio: 'ignore', signal });
        child.once('error', () => resolve());
        child.once('exit', (code) => {
          if (counting) {
            done++;
            if (code !== 0) failed++;
          }
          resolve();
        });
      }),
    });
  }
  await new Promise((r) => setTimeout(r, intervalMs));
  counting = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const elapsed = (performance.now() - started) / 1000;
  counting = false;
  await scheduler.stop();
  return { name, checksPerSecond: done / elapsed, failed, p99LateMs: percentile(late, 99), maxRssMb: NaN };
}

/** CPU seconds (user + system) a process has used */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** the sum of a metric's samples whose labels match, from a Prometheus text page */
function metricSum(page: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of page.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** The start-lateness histogram's cumulative counts by bucket (upper bound in seconds). */
function latenessBuckets(page: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const m of page.matchAll(/^lbguard_check_start_lateness_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)) buckets.set(Number(m[1] === '+Inf' ? Infinity : m[1]), Number(m[2]));
  return buckets;
}

/**
 * `lbguard run` of the built bundle over `ports`, every `intervalMs`, from a farms file; measured
 * between two scrapes of its /metrics SECONDS apart, once every backend had its first check and a
 * second went by with no check started more than 100 ms late (the time to that is reported). The
 * p99 of start lateness is the histogram bucket it falls in ('<= 0.1' passes a 100 ms target).
 */
/** readStatus: GET /status once a second while measured, as the live page does (its answer times, in ms) */
async function daemonRun(ports: number[], intervalMs: number, bundle: string, readStatus = false): Promise<Run & { caughtUpS: number; p99Bucket: string; peakRssMb: number; usPerCheck: number; cores: number; statusMs: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-bench-orchestrator-'));
  // below the ephemeral range (32768-60999 here), where the listeners' ports are
  const statusPort = 20000 + (process.pid % 12000);
  const file = join(dir, 'farms.json');
  writeFileSync(file, JSON.stringify({
    status: { listen: `127.0.0.1:${statusPort}` },
    farms: [{
      name: 'bench', service: 'tcp', virtual: { address: '192.0.2.1', ports: [80] }, dataplane: { type: 'none' },
      check: { probe: 'tcp', interval: `${intervalMs}ms`, timeout: '1000ms', rise: 1, fall: 1 },
      backends: ports.map((port, i) => ({ name: `b${i}`, address: '127.0.0.1', port })),
    }],
  }));
  const { GLIBC_TUNABLES: _unset, ...env } = process.env;
  const prof = process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROF] : [];
  const child = spawn(process.execPath, [...prof, bundle, 'run', '-c', file, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  const spawned = performance.now();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const scrape = async () => (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text();
  const rssMb = (field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024;
  try {
    // every backend checked once (first checks spread over one interval)
    const deadline = Date.now() + 60_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      if (Date.now() > deadline) throw new Error(`lbguard run did not check ${ports.length} backends within 60 s`);
      const page = await scrape().catch(() => '');
      if (metricSum(page, 'lbguard_checks_total') >= ports.length) break;
      // a scrape of 10,000 backends' gauges costs the daemon too: not more than one a second
      await new Promise((r) => setTimeout(r, 500));
    }
    // then until it has caught up: the first round costs more than the later ones (each backend's
    // first result changes its state), and at 10,000 backends the daemon can start it seconds
    // behind and work the backlog off for ten seconds or more. Measured is the steady state that
    // follows, the first second with no check started more than 100 ms late; how long that took
    // is its own column.
    let last = await scrape();
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const page = await scrape();
      const [b0, b1] = [latenessBuckets(last), latenessBuckets(page)];
      const late = (b1.get(Infinity) ?? 0) - (b0.get(Infinity) ?? 0) - ((b1.get(0.1) ?? 0) - (b0.get(0.1) ?? 0));
      last = page;
      if (late === 0 || performance.now() - spawned > 60_000) break;
    }
    const caughtUpS = (performance.now() - spawned) / 1000;
    const before = await scrape();
    const cpuBefore = cpuSeconds(child.pid!);
    const started = performance.now();
    let maxRss = 0;
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, rssMb('VmRSS'))), 200);
    const statusMs: number[] = [];
    const measuredUntil = Date.now() + SECONDS * 1000;
    while (readStatus && Date.now() < measuredUntil - 1000) {
      const asked = performance.now();
      await (await fetch(`http://127.0.0.1:${statusPort}/status`)).text();
      statusMs.push(performance.now() - asked);
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (performance.now() - asked))));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, measuredUntil - Date.now())));
    clearInterval(sampler);
    const cpuUsed = cpuSeconds(child.pid!) - cpuBefore;
    const after = await scrape();
    const elapsed = (performance.now() - started) / 1000;
    const checks = metricSum(after, 'lbguard_checks_total') - metricSum(before, 'lbguard_checks_total');
    const failed = metricSum(after, 'lbguard_checks_total', 'result="fail"') - metricSum(before, 'lbguard_checks_total', 'result="fail"');
    const [b0, b1] = [latenessBuckets(before), latenessBuckets(after)];
    const total = (b1.get(Infinity) ?? 0) - (b0.get(Infinity) ?? 0);
    const p99 = [...b1.keys()].sort((a, b) => a - b).find((le) => (b1.get(le) ?? 0) - (b0.get(le) ?? 0) >= 0.99 * total);
    return { name: 'lbguard run (built daemon)', caughtUpS, checksPerSecond: checks / elapsed, failed, p99LateMs: NaN, p99Bucket: p99 === undefined ? '-' : `<= ${p99 * 1000}`, maxRssMb: maxRss, peakRssMb: rssMb('VmHWM'), usPerCheck: (cpuUsed * 1e6) / checks, cores: cpuUsed / elapsed, statusMs };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

function print(title: string, runs: Run[], reference: Run): void {
  heading(title);
  console.log('| path | checks/s | failed | start lateness p99 ms | max RSS MB | checks/s ratio to spawn |');
  console.log('|---|---|---|---|---|---|');
  for (const r of runs) {
    console.log(`| ${r.name} | ${r.checksPerSecond.toFixed(0)} | ${r.failed} | ${r.p99LateMs.toFixed(1)} | ${Number.isNaN(r.maxRssMb) ? '-' : r.maxRssMb.toFixed(0)} | ${(r.checksPerSecond / reference.checksPerSecond).toFixed(1)} |`);
  }
}

export default async function orchestratorBench(): Promise<void> {
  // BENCH_ORCHESTRATOR=daemon: the built daemon's table alone
  if (process.env.BENCH_ORCHESTRATOR !== 'daemon') await inProcessAndSpawn();
  await builtDaemon();
}

async function inProcessAndSpawn(): Promise<void> {
  const listeners = await startListeners(BACKENDS);
  try {
    const scheduled = [await inProcess(listeners.ports, 2000, 'lbguard in-process'), await spawnPath(listeners.ports, 2000, 'spawn check_tcp per check')];
    print(`${BACKENDS} backends every 2 s for ${SECONDS} s (demand ${BACKENDS / 2}/s; targets: jitter p99 < 100 ms, RSS < 200 MB)`, scheduled, scheduled[1]!);
    const flat = [await inProcess(listeners.ports, 150, 'lbguard in-process'), await spawnPath(listeners.ports, 150, 'spawn check_tcp per check')];
    print(`capacity: ${BACKENDS} backends every 150 ms, concurrency 256 (target: in-process >= 20x spawn)`, flat, flat[1]!);
  } finally {
    listeners.stop();
  }
}

/** the built daemon alone in its process, as deployed */
async function builtDaemon(): Promise<void> {
  // one backend first: Node's and lbguard's floor, against which the cost of a backend is read
  const sizes = (process.env.BENCH_DAEMON_BACKENDS ?? '1,2000,10000').split(',').map(Number);
  // BENCH_BASELINE=PATH: another build's lbguard.mjs (a commit before a change), run beside this
  // one at each size on the same listeners, first and second in turn, so that both see the same load
  const bundles = [join(ROOT, 'dist', 'lbguard.mjs'), ...(process.env.BENCH_BASELINE ? [process.env.BENCH_BASELINE] : [])];
  const runs: (Run & { caughtUpS: number; p99Bucket: string; peakRssMb: number; usPerCheck: number; cores: number; statusMs: number[]; backends: number; build: string })[] = [];
  // one set of listeners for every size, made first: after a run, the ports its checks closed wait
  // in TIME_WAIT, and binding 10,000 new listeners then failed with EADDRINUSE
  const listeners = await startListeners(Math.max(...sizes));
  try {
    for (const [turn, size] of sizes.entries()) {
      const order = [...bundles.entries()];
      if (turn % 2) order.reverse();
      for (const [i, bundle] of order) runs.push({ ...(await daemonRun(listeners.ports.slice(0, size), 2000, bundle)), backends: size, build: i === 0 ? 'this' : 'baseline' });
    }
    // the largest again with the live page open: /status read once a second
    const largest = Math.max(...sizes);
    for (const [i, bundle] of bundles.entries()) runs.push({ ...(await daemonRun(listeners.ports.slice(0, largest), 2000, bundle, true)), backends: largest, build: i === 0 ? 'this' : 'baseline' });
  } finally {
    listeners.stop();
  }
  heading(`lbguard run (built daemon, dist/lbguard.mjs), every backend every 2 s for ${SECONDS} s (targets: start lateness p99 < 100 ms; RSS < 120 MB at 2,000 backends, < 300 MB at 10,000; the last rows: the largest size again with /status read once a second, as the live page does)`);
  const floorOf = (r: (typeof runs)[number]) => runs.find((f) => f.backends === 1 && f.build === r.build);
  const perBackend = (r: (typeof runs)[number]) => {
    const floor = floorOf(r);
    return floor && r !== floor ? ((r.maxRssMb - floor.maxRssMb) * 1024 / r.backends).toFixed(1) : '-';
  };
  if (bundles.length > 1) console.log(`baseline: ${bundles[1]}\n`);
  console.log('| build | backends | started to steady s (no check > 100 ms late for 1 s) | demand checks/s | checks/s | failed | start lateness p99 ms (histogram bucket) | max RSS MB while measured | peak RSS MB (VmHWM) | KB of RSS per backend over 1 backend | CPU us per check | daemon CPU, cores | GET /status each 1 s: answer ms, median (max) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const answers = (ms: number[]) => (ms.length ? `${median(ms).toFixed(0)} (${Math.max(...ms).toFixed(0)})` : '-');
  // the floor's CPU is the idle daemon's (timers, scrapes), not a check's
  for (const r of runs) console.log(`| ${r.build} | ${r.backends} | ${r.caughtUpS.toFixed(1)} | ${r.backends / 2} | ${r.checksPerSecond.toFixed(r.backends < 20 ? 1 : 0)} | ${r.failed} | ${r.p99Bucket} | ${r.maxRssMb.toFixed(0)} | ${r.peakRssMb.toFixed(0)} | ${perBackend(r)} | ${r === floorOf(r) ? '-' : r.usPerCheck.toFixed(0)} | ${r.cores.toFixed(2)} | ${answers(r.statusMs)} |`);
}

// 2,000 backends (local TCP listeners in a child process) checked every 2 s by the orchestrator
// in-process, next to the keepalived MISC_CHECK way: spawning monitoring-plugins' check_tcp for every
// check, on the same schedule and the same scheduler, in the same run. Then both at full speed
// (interval far below what either can sustain) to compare capacity. Bounded: fixed durations.
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { validateConfig } from '../orchestrator/config/load.ts';
import { Orchestrator } from '../orchestrator/daemon.ts';
import { MemoryAdapter } from '../orchestrator/dataplane/memory.ts';
import { Scheduler } from '../orchestrator/scheduler.ts';
import { cPlugin } from '../test/helpers/processes.ts';
import { heading } from './lib.ts';

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

function print(title: string, runs: Run[], reference: Run): void {
  heading(title);
  console.log('| path | checks/s | failed | start lateness p99 ms | max RSS MB | checks/s ratio to spawn |');
  console.log('|---|---|---|---|---|---|');
  for (const r of runs) {
    console.log(`| ${r.name} | ${r.checksPerSecond.toFixed(0)} | ${r.failed} | ${r.p99LateMs.toFixed(1)} | ${Number.isNaN(r.maxRssMb) ? '-' : r.maxRssMb.toFixed(0)} | ${(r.checksPerSecond / reference.checksPerSecond).toFixed(1)} |`);
  }
}

export default async function orchestratorBench(): Promise<void> {
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

// The tcp probe's two forms, in this process, against one local listener (a child process): its
// lean form (plugins/tcp/lean-check.ts, what the daemon runs for an address) and runCheck over
// checkTcp (the path every other probe takes: an AbortController and a trace per check). CPU of
// this process per check, 64 at a time, in interleaved rounds; the lowest round of each counts
// (the one least disturbed by other work). Ratio to the lean form. Bounded: ROUNDS x CHECKS.
import { spawn } from 'node:child_process';
import { runCheck } from '../plugins/runtime/deadline.ts';
import type { Outcome } from '../plugins/runtime/outcome.ts';
import { CRITICAL, OK } from '../plugins/runtime/state.ts';
import type { TcpCheckOptions } from '../plugins/tcp/check.ts';
import { tcpProbe } from '../plugins/tcp/definition.ts';
import { leanTcpCheck } from '../plugins/tcp/lean-check.ts';
import { heading } from './lib.ts';

const CHECKS = Number(process.env.BENCH_PATH_CHECKS ?? 8000);
const ROUNDS = Number(process.env.BENCH_PATH_ROUNDS ?? 8);
const IN_FLIGHT = 64;

async function listener(): Promise<{ port: number; stop: () => void }> {
  const code = `const s = require('net').createServer((c) => c.on('error', () => {}).end());
    s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  return { port, stop: () => child.kill('SIGKILL') };
}

/** CPU microseconds per check of one round, and how many did not come back OK */
async function round(check: (signal: AbortSignal) => Promise<Outcome>): Promise<{ us: number; failed: number }> {
  const signal = new AbortController().signal;
  let started = 0;
  let failed = 0;
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (started++ < CHECKS) if ((await check(signal)).state !== OK) failed++;
  }));
  const used = process.cpuUsage(cpu);
  return { us: (used.user + used.system) / CHECKS, failed };
}

export default async function checkPathsBench(): Promise<void> {
  const { port, stop } = await listener();
  try {
    const options: TcpCheckOptions = { host: '127.0.0.1', port, family: 0, thresholds: {}, timeoutSeconds: 1 };
    const deadline = { seconds: 1, state: CRITICAL };
    const lean = leanTcpCheck(options, deadline)!;
    const paths: [string, (signal: AbortSignal) => Promise<Outcome>][] = [
      ['lean form (tcp to an address)', (signal) => lean(signal)],
      ['runCheck over checkTcp', (signal) => runCheck(tcpProbe.check, options, deadline, { signal })],
    ];
    for (const [, check] of paths) await round(check); // warm-up
    const best = paths.map(() => ({ us: Infinity, failed: 0 }));
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? [...paths.keys()].reverse() : [...paths.keys()];
      for (const i of order) {
        const result = await round(paths[i]![1]);
        best[i] = { us: Math.min(best[i]!.us, result.us), failed: best[i]!.failed + result.failed };
      }
    }
    heading(`the tcp probe in-process, ${CHECKS} checks x ${ROUNDS} rounds, ${IN_FLIGHT} at a time, to a local listener (CPU of this process per check, lowest round)`);
    console.log('| path | CPU us per check | failed | ratio to the lean form |');
    console.log('|---|---|---|---|');
    for (const [i, [name]] of paths.entries()) console.log(`| ${name} | ${best[i]!.us.toFixed(1)} | ${best[i]!.failed} | ${(best[i]!.us / best[0]!.us).toFixed(2)} |`);
  } finally {
    stop();
  }
}

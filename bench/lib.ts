import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';

export interface Timing {
  readonly name: string;
  readonly medianMs: number;
  readonly minMs: number;
  readonly runs: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Wall time of a whole command, spawned without a shell, `runs` times after `warmup` runs.
 * Commands are interleaved round-robin so that load from elsewhere falls on all of them alike.
 */
export function timeCommands(commands: readonly { name: string; argv: readonly string[]; expectExit?: number }[], runs = 30, warmup = 3): Timing[] {
  const samples = commands.map(() => [] as number[]);
  for (let round = 0; round < warmup + runs; round++) {
    commands.forEach((command, i) => {
      const started = process.hrtime.bigint();
      const result = spawnSync(command.argv[0] as string, command.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (command.expectExit !== undefined && result.status !== command.expectExit) {
        throw new Error(`${command.name}: exit ${result.status}, expected ${command.expectExit}: ${result.stdout}${result.stderr}`);
      }
      if (round >= warmup) samples[i]!.push(ms);
    });
  }
  return commands.map((command, i) => ({ name: command.name, medianMs: median(samples[i]!), minMs: Math.min(...samples[i]!), runs }));
}

/** One table: median and min per command, and the ratio of each median to the reference's. */
export function printTimings(title: string, timings: readonly Timing[], reference: string): void {
  const ref = timings.find((t) => t.name === reference);
  heading(title);
  console.log(`| command | median ms | min ms | ratio to ${reference} |`);
  console.log('|---|---|---|---|');
  for (const t of timings) {
    const ratio = ref ? (t.medianMs / ref.medianMs).toFixed(2) : '-';
    console.log(`| ${t.name} | ${t.medianMs.toFixed(1)} | ${t.minMs.toFixed(1)} | ${ratio} |`);
  }
}

/**
 * A table's title and the machine it was measured on: cores this process may use, the CPU model and
 * the load average as the table is printed (figures from a busy shared machine are read with it).
 */
export function heading(title: string): void {
  const [one, five, fifteen] = loadavg().map((l) => l.toFixed(2));
  console.log(`\n## ${title}`);
  console.log(`machine: ${availableParallelism()} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), load average ${one} ${five} ${fifteen}\n`);
}

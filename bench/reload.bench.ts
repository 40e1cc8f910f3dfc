// A SIGHUP with a farms file near the 4 MiB bound (4,000 backends, test/helpers/reload.ts): the
// longest wait between two answers of the built daemon's /status, polled every 20 ms through the
// reload, against the anchor, the time the same file takes to read, parse and validate in-line,
// which is how long the event loop was held when the daemon did it on the loop. Bounded: 3 reloads
// (BENCH_RELOADS), 60 s each at most.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadValidConfig } from '../orchestrator/config/semantics.ts';
import { farm, header, largeFile, startLbguard } from '../test/helpers/reload.ts';
import { heading, median } from './lib.ts';

const RELOADS = Number(process.env.BENCH_RELOADS ?? 3);

export default async function bench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-bench-reload-'));
  const teardowns: (() => unknown)[] = [];
  try {
    const { daemon, file, statusPort, status } = await startLbguard({ teardown: (fn) => teardowns.push(fn) }, dir, 'bench');
    const large = largeFile(statusPort);
    const small = header(statusPort) + farm('t');
    const inline: number[] = [];
    const waits: number[] = [];
    const reloads: number[] = [];
    for (let i = 0; i < RELOADS; i++) {
      writeFileSync(file, large);
      const started = performance.now();
      loadValidConfig(file);
      inline.push(performance.now() - started);
      process.kill(daemon.pid, 'SIGHUP');
      const sent = performance.now();
      let last = sent;
      let longest = 0;
      while (performance.now() - sent < 60_000) {
        const farms = (await status()).farms.length;
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        if (farms === 40) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      reloads.push(last - sent);
      waits.push(longest);
      // back to one farm for the next round
      writeFileSync(file, small);
      process.kill(daemon.pid, 'SIGHUP');
      while ((await status()).farms.length !== 1) await new Promise((r) => setTimeout(r, 50));
    }
    heading(`SIGHUP with ${(large.length / 2 ** 20).toFixed(2)} MiB, 4,000 backends: the event loop while the file is read (${RELOADS} reloads)`);
    console.log('| what | median ms | max ms | ratio to in-line read |');
    console.log('|---|---|---|---|');
    const row = (name: string, values: number[]) => console.log(`| ${name} | ${median(values).toFixed(0)} | ${Math.max(...values).toFixed(0)} | ${(median(values) / median(inline)).toFixed(2)} |`);
    row('in-line read, parse, validate (anchor: the loop held this long)', inline);
    row('longest wait between two /status answers, read in the thread', waits);
    row('SIGHUP to the new farms in /status', reloads);
  } finally {
    for (const fn of teardowns) await fn();
    rmSync(dir, { recursive: true, force: true });
  }
}

// SIGHUP with pathological farms files: each refused with its reason by the thread that reads it,
// the daemon serving the last good file throughout; and no thread or descriptor left after 20
// reloads. Against the built `lbguard run`.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { farm, header, startLbguard } from '../helpers/reload.ts';
import { until } from '../helpers/processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'lbguard-reload-hostile-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('pathological files at SIGHUP: each refused with its reason, the last good file served throughout', async (t) => {
  // the reading thread gets 16 MB of heap (and 60 s): a file that needs more is refused once V8 gives up
  const { daemon, file, status, count } = await startLbguard(t, dir, 'hostile', ['--reload-memory', '16', '--reload-timeout', '60s']);
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) levels.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`);
  // the time the daemon logs (from the SIGHUP to the refusal) and a bound on it that holds on a busy
  // machine: the shapes and the size are refused as soon as the thread runs, before it loads the
  // parser (0.1-0.6 s at load 8 on 2 cores; 1-1.3 s at load 11); an alias bomb by the parser
  const cases: [string, string, RegExp, number][] = [
    ['deep nesting', `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, /line 1: collections nested more than 64 deep; not parsed/, 3000],
    ['stray brackets', `[${']'.repeat(100_000)}\n`, /line 1: more than 100 \\"\]\\" that close nothing; not parsed/, 3000],
    ['5 MiB', `farms:\n# ${'x'.repeat(5 * 1024 * 1024)}\n`, /\(file\): cannot read: \d+ bytes, more than the 4194304 allowed/, 3000],
    ['an alias bomb', `${levels.join('\n')}\n`, /\(file\): Excessive alias count/, 8000],
    // parsed until the heap is full: V8 collects garbage hard before it gives up (1.5 s alone, >10 s
    // at load 11)
    ['a million tiny entries', `farms: [${'1,'.repeat(1_000_000)}1]\n`, /\(file\): needs more than the 16 MB of memory allowed to parse it; not loaded/, 30_000],
  ];
  for (const [what, text, reason, withinMs] of cases) {
    writeFileSync(file, text);
    const refused = count('reload-refused');
    process.kill(daemon.pid, 'SIGHUP');
    const sent = performance.now();
    const answers: string[] = [];
    while (count('reload-refused') === refused && performance.now() - sent < 40_000) {
      answers.push((await status()).farms.map((f) => f.name).join());
      await new Promise((r) => setTimeout(r, 20));
    }
    const line = daemon.output().split('\n').filter((l) => l.includes('"event":"reload-refused"')).at(-1) ?? '';
    t.match(line, reason, `${what}: the reason`);
    const ms = Number(/"ms":(\d+)/.exec(line)?.[1]);
    t.comment(`${what}: refused ${ms} ms after the SIGHUP (${Math.round(performance.now() - sent)} ms as this test saw it)`);
    t.ok(ms < withinMs, `${what}: refused within ${withinMs} ms (${ms} ms)`);
    t.ok(answers.every((a) => a === 't'), `${what}: /status answered the last good farms throughout (${answers.length} polls)`);
    t.same((await status()).farms.map((f) => f.name), ['t'], `${what}: the last good configuration kept`);
  }
  t.ok(daemon.running(), 'the daemon lives');
});

/** the threads and descriptors of a process (Linux /proc) */
const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).length;
const descriptors = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

t.test('20 reloads, valid and refused: no thread or descriptor left behind', async (t) => {
  const { daemon, file, statusPort, status, count } = await startLbguard(t, dir, 'many');
  const before = { threads: threads(daemon.pid), descriptors: descriptors(daemon.pid) };
  for (let i = 0; i < 20; i++) {
    const done = count('reloaded') + count('reload-refused');
    // valid files with one farm more each time, and every fifth one broken
    writeFileSync(file, i % 5 === 4 ? 'farms: [\n' : header(statusPort) + Array.from({ length: 1 + (i % 3) }, (_, f) => farm(`f${f}`)).join(''));
    process.kill(daemon.pid, 'SIGHUP');
    await until(`reload ${i + 1}`, () => (count('reloaded') + count('reload-refused') > done ? true : undefined), 10_000);
  }
  t.equal(count('reloaded'), 16);
  t.equal(count('reload-refused'), 4);
  await status(); // answered after the last one
  const after = { threads: threads(daemon.pid), descriptors: descriptors(daemon.pid) };
  t.comment(`before: ${JSON.stringify(before)}, after 20 reloads: ${JSON.stringify(after)}`);
  t.equal(after.threads, before.threads, 'threads');
  t.ok(after.descriptors <= before.descriptors, `descriptors (${before.descriptors} -> ${after.descriptors})`);
});

// The check scheduler: fixed rate, due order, a concurrency cap that starves nobody, lateness
// reported, removal and stop. Real timers with short intervals; each test bounded to about a second.
import t from 'tap';
import { Scheduler } from '../../orchestrator/scheduler.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

t.test('runs a job at a fixed rate from its plan, not from when the last run ended', async (t) => {
  const starts: number[] = [];
  const scheduler = new Scheduler({ concurrency: 4 });
  const begun = Date.now();
  // each run takes 30 of the 50 ms: a rate kept from completions would start every 80 ms
  scheduler.add({ id: 'a', intervalMs: 50, run: async () => { starts.push(Date.now() - begun); await sleep(30); } }, 0);
  await sleep(520);
  await scheduler.stop();
  t.ok(starts.length >= 6 && starts.length <= 11, `about 10 starts in 520 ms at 50 ms, got ${starts.length}: ${starts}`);
  // a start comes on its plan's slot (50 ms apart), not 80 ms after the last; timers may run 1 ms early
  t.ok(starts.every((at, i) => at >= i * 50 - 1), `no start before its plan: ${starts}`);
  t.ok(starts.some((at, i) => i > 0 && at - starts[i - 1]! < 70), `starts keep to the 50 ms plan: ${starts}`);
});

t.test('starts due jobs in due order when only one may run', async (t) => {
  const order: string[] = [];
  const scheduler = new Scheduler({ concurrency: 1 });
  for (const [id, delay] of [['third', 40], ['first', 10], ['second', 25]] as const) {
    scheduler.add({ id, intervalMs: 10_000, run: async () => { order.push(id); await sleep(5); } }, delay);
  }
  await sleep(150);
  await scheduler.stop();
  t.same(order, ['first', 'second', 'third']);
});

t.test('under a concurrency cap with more work than places, every job gets its turn', async (t) => {
  const runs = new Map<string, number>();
  let running = 0;
  let most = 0;
  const scheduler = new Scheduler({ concurrency: 2 });
  for (let i = 0; i < 6; i++) {
    const id = `job${i}`;
    runs.set(id, 0);
    // 6 jobs of 30 ms due every 20 ms on 2 places: each can run about once every 90 ms
    scheduler.add({ id, intervalMs: 20, run: async () => {
      running++;
      most = Math.max(most, running);
      runs.set(id, runs.get(id)! + 1);
      await sleep(30);
      running--;
    } }, i);
  }
  await sleep(700);
  await scheduler.stop();
  const counts = [...runs.values()];
  t.equal(most, 2, 'never more than the cap at once');
  t.ok(Math.min(...counts) >= 3, `each job ran at least 3 times in 700 ms: ${counts}`);
  t.ok(Math.max(...counts) - Math.min(...counts) <= 1, `none ran more than once more than another: ${counts}`);
});

t.test('reports how late each start was against its plan, the wait for a place included', async (t) => {
  const late: number[] = [];
  const scheduler = new Scheduler({ concurrency: 1, onStart: (ms) => late.push(ms) });
  scheduler.add({ id: 'slow', intervalMs: 10_000, run: () => sleep(120) }, 0);
  scheduler.add({ id: 'waits', intervalMs: 10_000, run: async () => undefined }, 10);
  await sleep(250);
  await scheduler.stop();
  t.equal(late.length, 2);
  t.ok(late[0]! >= 0 && late[0]! < 60, `the first started about on time: ${late[0]}`);
  t.ok(late[1]! >= 100, `the second waited for the first to end: ${late[1]} ms late`);
});

t.test('a removed job starts no more; a job that throws keeps its schedule', async (t) => {
  let removedRuns = 0;
  let throwingRuns = 0;
  const scheduler = new Scheduler({ concurrency: 4 });
  scheduler.add({ id: 'removed', intervalMs: 30, run: async () => void removedRuns++ }, 0);
  scheduler.add({ id: 'throws', intervalMs: 30, run: async () => { throwingRuns++; throw new Error('boom'); } }, 0);
  await sleep(100);
  scheduler.remove('removed');
  t.notOk(scheduler.has('removed'));
  t.equal(scheduler.size, 1);
  const before = removedRuns;
  await sleep(150);
  await scheduler.stop();
  t.equal(removedRuns, before, 'no start after removal');
  t.ok(throwingRuns >= 6, `the throwing job kept running: ${throwingRuns}`);
});

t.test('adding a job with a known id replaces it', async (t) => {
  const seen: string[] = [];
  const scheduler = new Scheduler({ concurrency: 4 });
  scheduler.add({ id: 'x', intervalMs: 10_000, run: async () => void seen.push('old') }, 30);
  scheduler.add({ id: 'x', intervalMs: 10_000, run: async () => void seen.push('new') }, 10);
  await sleep(80);
  await scheduler.stop();
  t.same(seen, ['new']);
  t.equal(scheduler.size, 0);
});

t.test('stop aborts the running checks, waits for them, and starts nothing after', async (t) => {
  let aborted = 0;
  let starts = 0;
  let settled = 0;
  const scheduler = new Scheduler({ concurrency: 8 });
  for (let i = 0; i < 3; i++) {
    scheduler.add({ id: `hang${i}`, intervalMs: 20, run: (signal) => new Promise<void>((resolve) => {
      starts++;
      signal.addEventListener('abort', () => { aborted++; setTimeout(() => { settled++; resolve(); }, 20); }, { once: true });
    }) }, 0);
  }
  scheduler.add({ id: 'later', intervalMs: 20, run: async () => void starts++ }, 500);
  await sleep(50);
  await scheduler.stop();
  t.equal(aborted, 3, 'each running check saw the abort');
  t.equal(settled, 3, 'stop returned once they had settled');
  await sleep(550);
  t.equal(starts, 3, 'nothing started after stop');
});

t.test('spreads first starts over one interval', async (t) => {
  const starts: number[] = [];
  let draw = 0;
  const scheduler = new Scheduler({ concurrency: 16, random: () => [0.1, 0.5, 0.9][draw++ % 3]! });
  const begun = Date.now();
  for (let i = 0; i < 3; i++) scheduler.add({ id: String(i), intervalMs: 200, run: async () => void starts.push(Date.now() - begun) });
  await sleep(300);
  await scheduler.stop();
  const [a, b, c] = starts;
  t.ok(a! >= 19 && b! >= 99 && c! >= 179 && a! < b! && b! < c!, `at 10 %, 50 %, 90 % of 200 ms: ${starts}`);
});

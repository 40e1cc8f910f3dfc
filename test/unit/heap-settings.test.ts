// The V8 settings `lbguard run` takes for itself, and the operator's own flags winning over them.
import t from 'tap';
import { getHeapStatistics } from 'node:v8';
import { DAEMON_V8_FLAGS, tuneHeapForDaemon } from '../../orchestrator/heap-settings.ts';

t.test('sets every daemon flag when the operator gave none', async (t) => {
  t.same(tuneHeapForDaemon([]), DAEMON_V8_FLAGS);
  t.ok(getHeapStatistics().total_heap_size > 0, 'the heap goes on working');
});

t.test('leaves a flag the operator passed to node, with dashes or underscores', async (t) => {
  t.same(tuneHeapForDaemon(['--heap-growing-percent=80']), ['--semi-space-growth-factor=1']);
  t.same(tuneHeapForDaemon(['--semi_space_growth_factor=4', '--inspect']), ['--heap-growing-percent=100']);
  t.same(tuneHeapForDaemon(['--semi-space-growth-factor=2', '--heap-growing-percent=0']), [], 'both given: none set');
  t.same(tuneHeapForDaemon(['some-script.js', '--heap-growing-percent']), ['--semi-space-growth-factor=1'], 'a bare flag counts too');
});

t.test('the young generation is 2 x 8 MB from the start and held there', async (t) => {
  const { execFile } = await import('node:child_process');
  const { join } = await import('node:path');
  const module = join(import.meta.dirname, '..', '..', 'orchestrator', 'heap-settings.ts');
  // a process allocating as a checking daemon does (most of it short-lived, some kept a while)
  const code = `const { tuneHeapForDaemon } = await import(${JSON.stringify(module)});
    const { getHeapSpaceStatistics } = await import('node:v8');
    const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    tuneHeapForDaemon([]);
    const atStart = young();
    const kept = [];
    const until = Date.now() + 2000;
    let rounds = 0;
    const churn = () => {
      // first what a balancer does (nothing survives), then what a checking daemon does (some kept a while)
      const keep = rounds++ >= 20;
      for (let i = 0; i < 20000; i++) if (keep) kept.push({ i, text: 'x' + i }); else void { i };
      if (kept.length > 200000) kept.splice(0, 100000);
      if (Date.now() < until) setImmediate(churn); else console.log(JSON.stringify({ atStart, after: young() }));
    };
    churn();`;
  const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeout: 30_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))));
  const { atStart, after } = JSON.parse(out) as { atStart: number; after: number };
  t.equal(atStart, 16 * 2 ** 20, 'grown to 2 x 8 MB at once, without waiting for V8 to grow it');
  t.equal(after, 16 * 2 ** 20, 'and held there: no further');
});

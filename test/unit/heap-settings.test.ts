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

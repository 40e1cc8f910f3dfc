// The ring of last checks behind the status page's latency chart.
import t from 'tap';
import { CheckHistory } from '../../orchestrator/health/check-history.ts';

t.test('keeps the last N checks, oldest first, duration to a tenth of a ms, passed or failed', async (t) => {
  const history = new CheckHistory(3);
  t.same(history.entries(), []);
  history.push(12.34, true);
  history.push(0, false);
  t.same(history.entries(), [[12.3, 1], [0, 0]]);
  history.push(250.06, false);
  history.push(7, true);
  t.same(history.entries(), [[0, 0], [250.1, 0], [7, 1]], 'the oldest dropped');
  history.push(-5, true);
  history.push(1e12, false);
  t.same(history.entries(), [[7, 1], [0, 1], [0x3fffffff / 10, 0]], 'out-of-range durations clamped');
});

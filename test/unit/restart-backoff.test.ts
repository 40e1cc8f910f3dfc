import t from 'tap';
import { RestartBackoff } from '../../orchestrator/vrrp/restart-backoff.ts';

t.test('quick deaths double the wait up to 30 s; a run of over a minute starts again at the first', async (t) => {
  const backoff = new RestartBackoff(1000);
  const now = 1_000_000;
  t.same([1, 2, 3, 4, 5, 6, 7].map(() => backoff.next(now - 100, now)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  t.equal(backoff.next(now - 61_000, now), 1000, 'a long life resets the delay');
  t.equal(backoff.next(now - 100, now), 2000);
});

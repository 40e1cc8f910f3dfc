import t from 'tap';
import { applyVerdict, type HealthRecord, initialHealth, isServing, setMaintenance, visibleState } from '../../orchestrator/health/backend-health.ts';

const pass = { ok: true, line: 'OK', ms: 1 };
const fail = { ok: false, line: 'CRITICAL', ms: 1 };
const policy = { rise: 2, fall: 3, reentryMs: 0 };

function feed(record: HealthRecord, verdicts: boolean[], p = policy, start = 0, step = 1000) {
  const states: string[] = [];
  let now = start;
  for (const ok of verdicts) {
    now += step;
    record = applyVerdict(record, ok ? pass : fail, p, now).record;
    states.push(record.state);
  }
  return { record, states };
}

t.test('a fresh backend takes the state of its first verdict', async (t) => {
  t.same(feed(initialHealth(0), [true]).states, ['up']);
  t.same(feed(initialHealth(0), [false]).states, ['down']);
  const first = applyVerdict(initialHealth(0), pass, policy, 1);
  t.same(first.transition, { from: 'unchecked', to: 'up' }, 'the first verdict is reported as a transition');
});

t.test('fall: consecutive failures before going down; one success restores', async (t) => {
  const { states } = feed(initialHealth(0), [true, false, false, true, false, false, false, false]);
  t.same(states, ['up', 'falling', 'falling', 'up', 'falling', 'falling', 'down', 'down']);
});

t.test('rise: consecutive successes before coming back; one failure resets', async (t) => {
  const { states } = feed(initialHealth(0), [false, true, false, true, true, true]);
  t.same(states, ['down', 'rising', 'down', 'rising', 'up', 'up']);
});

t.test('rise 1 / fall 1 act at once', async (t) => {
  t.same(feed(initialHealth(0), [true, false, true], { rise: 1, fall: 1, reentryMs: 0 }).states, ['up', 'down', 'up']);
});

t.test('reentry: a rising backend must also keep passing for that long', async (t) => {
  const p = { rise: 2, fall: 1, reentryMs: 5000 };
  const { states } = feed(initialHealth(0), [false, true, true, true, true, true, true, true], p);
  // successes start at t=2s; up once rise is met and t - 2s >= 5s, i.e. at t=7s
  t.same(states, ['down', 'rising', 'rising', 'rising', 'rising', 'rising', 'up', 'up']);
});

t.test('serving: up and falling take sessions, the others do not', async (t) => {
  const up = feed(initialHealth(0), [true]).record;
  const falling = feed(initialHealth(0), [true, false]).record;
  const down = feed(initialHealth(0), [false]).record;
  const rising = feed(initialHealth(0), [false, true]).record;
  t.ok(isServing(up));
  t.ok(isServing(falling));
  t.notOk(isServing(down));
  t.notOk(isServing(rising));
  t.notOk(isServing(initialHealth(0)), 'a backend not yet checked takes no sessions');
});

t.test('maintenance is kept apart from the operational state', async (t) => {
  const up = feed(initialHealth(0), [true]).record;
  const { record: held, transition } = setMaintenance(up, true, 10);
  t.same(transition, { from: 'up', to: 'maintenance' });
  t.equal(visibleState(held), 'maintenance');
  t.notOk(isServing(held));
  const stillChecked = feed(held, [false, false, false]).record;
  t.equal(stillChecked.state, 'down', 'checks go on underneath');
  t.equal(visibleState(stillChecked), 'maintenance');
  t.same(setMaintenance(stillChecked, false, 20).transition, { from: 'maintenance', to: 'down' });
});

t.test('a persisted state is reused until fresh verdicts arrive', async (t) => {
  const restored = initialHealth(0, { state: 'up' });
  t.ok(isServing(restored), 'serving before its first check after a restart');
  t.same(feed(restored, [false]).states, ['falling'], 'fall still applies: one failure does not pull it');
  t.equal(initialHealth(0, { state: 'rising' }).state, 'down');
  t.equal(initialHealth(0, { state: 'falling' }).state, 'up');
});

t.test('a dynamic weight (misc_dynamic) is kept with the record', async (t) => {
  const r = applyVerdict(initialHealth(0), { ...pass, weight: 7 }, policy, 1).record;
  t.equal(r.dynamicWeight, 7);
});

// The timing wheel under the check scheduler: items come out in due order, never early, at most one
// slot late, and a sparse wheel (a 60 s interval next to a 1 s one) skips its empty stretches.
import t from 'tap';
import { TimingWheel } from '../../orchestrator/timing-wheel.ts';

interface Item {
  readonly name: string;
  readonly at: number;
}
const wheel = (tickMs = 10) => new TimingWheel<Item>(tickMs, (item) => item.at);

t.test('returns due items earliest first, across slots and within one', async (t) => {
  const w = wheel();
  for (const [name, at] of [['c', 25], ['a', 3], ['d', 29], ['b', 21], ['e', 1000]] as const) w.add({ name, at });
  t.equal(w.size, 5);
  t.equal(w.nextDue(), 10, 'the first slot ends at 10');
  t.same(w.takeDue(9).map((i) => i.name), [], 'nothing before its slot ends');
  t.same(w.takeDue(30).map((i) => i.name), ['a', 'b', 'c', 'd'], 'slot [0,10] then slot (20,30], each sorted');
  t.equal(w.size, 1);
  t.equal(w.nextDue(), 1000);
  t.same(w.takeDue(1000).map((i) => i.name), ['e']);
  t.equal(w.nextDue(), undefined);
  t.equal(w.size, 0);
});

t.test('never returns an item early, nor more than one slot after it was due', async (t) => {
  const w = wheel(7);
  const items = Array.from({ length: 2000 }, (_, i) => ({ name: String(i), at: (i * 7919) % 5003 }));
  for (const item of items) w.add(item);
  const problems: string[] = [];
  const order: number[] = [];
  let taken = 0;
  for (let now = 0; now <= 5010; now += 1) {
    const due = w.takeDue(now);
    for (const item of due) {
      if (item.at > now) problems.push(`${item.name} due ${item.at} taken early at ${now}`);
      if (now - item.at >= 7) problems.push(`${item.name} due ${item.at} taken late at ${now}`);
    }
    if (due.length) order.push(...due.map((i) => i.at));
    taken += due.length;
  }
  t.same(problems, [], 'none early, none a whole slot late');
  t.same(order, [...order].sort((a, b) => a - b), 'in due order');
  t.equal(taken, items.length, 'every item came out once');
  t.equal(w.size, 0);
});

t.test('keeps slots apart when items are added while others are taken', async (t) => {
  const w = wheel();
  w.add({ name: 'late', at: 60_000 });
  w.add({ name: 'soon', at: 5 });
  t.equal(w.nextDue(), 10, 'an earlier item moves the next due time forward');
  t.same(w.takeDue(10).map((i) => i.name), ['soon']);
  w.add({ name: 'again', at: 1005 });
  t.equal(w.nextDue(), 1010, 'then the nearest of the remaining slots, the 60 s one behind it');
  t.same(w.takeDue(59_999).map((i) => i.name), ['again']);
  t.same(w.takeDue(60_000).map((i) => i.name), ['late']);
  w.add({ name: 'x', at: 1 });
  w.clear();
  t.equal(w.size, 0);
  t.equal(w.nextDue(), undefined);
  t.throws(() => new TimingWheel<Item>(0, (i) => i.at), /tick must be positive/);
});

// onAbort/offAbort (plugins/runtime/abort-hooks.ts): many checks waiting on the daemon's one signal
// are each called once at abort, those that finished first not at all, and the signal carries one
// listener however many wait on it.
import { getEventListeners } from 'node:events';
import t from 'tap';
import { offAbort, onAbort } from '../../plugins/runtime/abort-hooks.ts';

t.test('each callback once at abort; removed ones never; one listener on the signal', async (t) => {
  const controller = new AbortController();
  const called: number[] = [];
  const callbacks = Array.from({ length: 300 }, (_, i) => () => called.push(i));
  for (const callback of callbacks) onAbort(controller.signal, callback);
  t.equal(getEventListeners(controller.signal, 'abort').length, 1, 'one listener for 300 callbacks');
  for (let i = 0; i < 300; i += 2) offAbort(controller.signal, callbacks[i]!);
  controller.abort(new Error('stop'));
  t.same(called, Array.from({ length: 150 }, (_, i) => 2 * i + 1), 'the ones still waiting, in the order they came');
  controller.abort();
  t.equal(called.length, 150, 'a second abort calls nothing again');
});

t.test('a callback that registers another during the abort does not loop', async (t) => {
  const controller = new AbortController();
  let calls = 0;
  onAbort(controller.signal, () => {
    calls++;
    onAbort(controller.signal, () => calls++);
  });
  controller.abort();
  t.equal(calls, 1, 'one registered on an aborted signal is not called (look at signal.aborted first)');
});

t.test('signals are apart', async (t) => {
  const [a, b] = [new AbortController(), new AbortController()];
  let called = '';
  onAbort(a.signal, () => (called += 'a'));
  onAbort(b.signal, () => (called += 'b'));
  b.abort();
  t.equal(called, 'b');
});

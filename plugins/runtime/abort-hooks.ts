/**
 * Abort callbacks on a signal that many operations share (the daemon's one signal, aborted at
 * shutdown, under every check running): one listener on the signal and the callbacks in a Set.
 * EventTarget walks a signal's whole listener list at each addEventListener (to refuse a
 * duplicate), so 256 checks in flight on one signal cost 256 steps per check started.
 */
const hooks = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `callback` once when `signal` aborts, unless offAbort removed it first. Like
 * addEventListener, nothing is called for a signal aborted already: look at signal.aborted first.
 */
export function onAbort(signal: AbortSignal, callback: () => void): void {
  let callbacks = hooks.get(signal);
  if (!callbacks) {
    const set = new Set<() => void>();
    hooks.set(signal, (callbacks = set));
    signal.addEventListener('abort', () => {
      hooks.delete(signal);
      const due = [...set];
      set.clear();
      for (const run of due) run();
    }, { once: true });
  }
  callbacks.add(callback);
}

export function offAbort(signal: AbortSignal, callback: () => void): void {
  hooks.get(signal)?.delete(callback);
}

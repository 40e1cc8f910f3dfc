import { offAbort, onAbort } from './abort-hooks.ts';
import { CheckFailure, UsageError } from './errors.ts';
import type { Outcome } from './outcome.ts';
import { type State, UNKNOWN } from './state.ts';
import { Trace } from './trace.ts';

export interface Deadline {
  readonly seconds: number;
  /** state reported when the deadline passes (`-t 10:UNKNOWN`); CRITICAL by default */
  readonly state: State;
}

export type CheckFunction<O> = (options: O, signal: AbortSignal, trace: Trace) => Promise<Outcome>;

export interface RunOptions {
  readonly verbosity?: number;
  /** an outer signal, e.g. the orchestrator shutting down */
  readonly signal?: AbortSignal;
  readonly trace?: Trace;
}

/**
 * The reason a finished check's signal is aborted with (to close what it left open): one Error made
 * once, since an Error takes its stack trace when made and a daemon finishes thousands of checks a
 * second.
 */
const FINISHED = new Error('check finished');

function formatSeconds(seconds: number): string {
  return Number.isInteger(seconds) ? String(seconds) : String(Number(seconds.toFixed(3)));
}

/**
 * Runs `expire` once the event loop has read what already arrived. Node runs due timers before it
 * polls for I/O: after the loop was held past a deadline (a busy or starved daemon), the timer would
 * fire ahead of an answer that came in time and sits unread, and a backend would be counted failed
 * for the daemon's own lateness. setImmediate runs after that poll: an answer read there wins.
 */
export function afterPendingIo(expire: () => void): void {
  setImmediate(expire);
}

/**
 * Runs a check with a hard deadline and turns every way it can end into an Outcome: the deadline
 * passing (the probe's signal is aborted so it closes its sockets), a CheckFailure, a usage problem,
 * or an unexpected exception (UNKNOWN, one line, never a stack trace). Never throws.
 */
export async function runCheck<O>(check: CheckFunction<O>, options: O, deadline: Deadline, run: RunOptions = {}): Promise<Outcome> {
  const trace = run.trace ?? new Trace();
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(run.signal?.reason);
  if (run.signal) onAbort(run.signal, onOuterAbort);
  const verbosity = run.verbosity ?? 0;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<Outcome>((resolve) => {
    timer = setTimeout(afterPendingIo, deadline.seconds * 1000, () => {
      controller.abort(new Error('deadline'));
      resolve(deadlineOutcome(deadline, trace.phase, trace.detailsFor(verbosity)));
    });
  });
  const attempt = check(options, controller.signal, trace).then(
    (outcome) => ({ ...outcome, details: [...outcome.details, ...trace.detailsFor(verbosity)] }),
    (error: unknown) => failureOutcome(error, trace.detailsFor(verbosity)),
  );
  try {
    return await Promise.race([attempt, expired]);
  } finally {
    clearTimeout(timer);
    if (run.signal) offAbort(run.signal, onOuterAbort);
    controller.abort(FINISHED);
  }
}

/** What a check that ran out of time reports: `Socket timeout after 10 seconds while connecting`. */
export function deadlineOutcome(deadline: Deadline, phase: string, details: readonly string[] = []): Outcome {
  const during = phase === 'starting' ? '' : ` while ${phase}`;
  return { state: deadline.state, text: `Socket timeout after ${formatSeconds(deadline.seconds)} seconds${during}`, perfdata: [], details };
}

export function failureOutcome(error: unknown, details: readonly string[] = []): Outcome {
  if (error instanceof CheckFailure) {
    return { state: error.state, text: error.message, perfdata: error.perfdata, details: [...error.details, ...details] };
  }
  if (error instanceof UsageError) return { state: UNKNOWN, text: error.message, perfdata: [], details };
  const message = error instanceof Error ? error.message : String(error);
  return { state: UNKNOWN, text: `internal error: ${message}`, perfdata: [], details };
}


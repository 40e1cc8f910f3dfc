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
const DEADLINE = new Error('deadline');
/** no -v: no detail lines (a shared empty list, never added to) */
const NO_DETAILS: readonly string[] = Object.freeze([]);

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
 * passing (the probe's signal is aborted so it closes its sockets), an outer signal aborting (at
 * once; an outer signal aborted already starts nothing), a CheckFailure, a usage problem, or an
 * unexpected exception (UNKNOWN, one line, never a stack trace). Never throws.
 */
export function runCheck<O>(check: CheckFunction<O>, options: O, deadline: Deadline, run: RunOptions = {}): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => void new CheckRun(check, options, deadline, run, resolve));
}

/**
 * The life of one timed attempt, shared by runCheck and a probe's lean form (PluginDefinition's
 * leanCheck): one timer, judged after pending I/O; one hook on the outer signal, whose abort ends
 * the attempt at once (one aborted already starts nothing); one settle. A subclass starts its work
 * when begin() says so, calls finish() with its outcome, and lets go of what it holds in release().
 */
export abstract class TimedAttempt {
  private timer: NodeJS.Timeout | undefined;
  private settled = false;

  protected constructor(
    protected readonly deadline: Deadline,
    private readonly outer: AbortSignal | undefined,
    private readonly resolve: (outcome: Outcome) => void,
  ) {}

  /** the phase a timeout line names (`while connecting`) */
  protected abstract phase(): string;
  /** closes what the attempt holds; `reason`: FINISHED, the deadline's or the outer signal's */
  protected abstract release(reason: unknown): void;

  /** detail lines (-v) added to the outcome */
  protected details(): readonly string[] {
    return NO_DETAILS;
  }

  /** Starts the clock; false (and settled) when the outer signal was aborted already. */
  protected begin(): boolean {
    if (this.outer?.aborted) {
      this.finish(failureOutcome(this.outer.reason, this.details()), this.outer.reason);
      return false;
    }
    this.timer = setTimeout(afterPendingIo, this.deadline.seconds * 1000, this.onDeadlinePassed);
    if (this.outer) onAbort(this.outer, this.onOuterAbort);
    return true;
  }

  protected finish(outcome: Outcome, reason: unknown = FINISHED): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.outer) offAbort(this.outer, this.onOuterAbort);
    this.release(reason);
    this.resolve(outcome);
  }

  private readonly onDeadlinePassed = (): void => {
    if (!this.settled) this.finish(deadlineOutcome(this.deadline, this.phase(), this.details()), DEADLINE);
  };

  private readonly onOuterAbort = (): void => {
    this.finish(failureOutcome(this.outer?.reason, this.details()), this.outer?.reason);
  };
}

/**
 * One run of a check function: its signal (aborted when the run ends, to close what the probe
 * left open) and its trace. It copies the probe's outcome only when -v asked for detail lines.
 */
class CheckRun<O> extends TimedAttempt {
  private readonly controller = new AbortController();
  private readonly trace: Trace;
  private readonly verbosity: number;

  constructor(check: CheckFunction<O>, options: O, deadline: Deadline, run: RunOptions, resolve: (outcome: Outcome) => void) {
    super(deadline, run.signal, resolve);
    this.verbosity = run.verbosity ?? 0;
    this.trace = run.trace ?? new Trace(this.verbosity);
    if (!this.begin()) return;
    let attempt: Promise<Outcome>;
    try {
      attempt = check(options, this.controller.signal, this.trace);
    } catch (error) {
      this.onFailure(error);
      return;
    }
    attempt.then(this.onOutcome, this.onFailure);
  }

  protected phase(): string {
    return this.trace.phase;
  }

  protected release(reason: unknown): void {
    this.controller.abort(reason);
  }

  protected override details(): readonly string[] {
    return this.verbosity > 0 ? this.trace.detailsFor(this.verbosity) : NO_DETAILS;
  }

  private readonly onOutcome = (outcome: Outcome): void => {
    const details = this.details();
    this.finish(details.length ? { ...outcome, details: [...outcome.details, ...details] } : outcome);
  };

  private readonly onFailure = (error: unknown): void => {
    this.finish(failureOutcome(error, this.details()));
  };
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


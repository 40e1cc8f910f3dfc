import { diffFarms } from './dataplane/diff.ts';
import type { Change, DataPlaneAdapter, FarmState } from './dataplane/types.ts';

export interface ReconcileStatus {
  readonly ok: boolean;
  readonly lastError?: string;
  readonly consecutiveErrors: number;
  readonly lastAppliedAt?: number;
  readonly changesApplied: number;
  /** the last failed pass, kept after the data plane recovers (the status page shows it) */
  readonly lastFailure?: { readonly message: string; readonly at: number };
}

export interface ReconcilerEvents {
  readonly onApplied?: (changes: readonly Change[]) => void;
  readonly onError?: (error: Error, attempt: number, retryInMs: number) => void;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

/**
 * Keeps one data plane converged on the desired farms: observe, diff, apply the difference. Runs
 * when asked (a health transition, a reload) and on a timer, which is what repairs drift such as a
 * real server deleted by hand. Failures are retried with exponential backoff; they never throw.
 */
export class Reconciler {
  private desired: readonly FarmState[] = [];
  private readonly managed = new Set<string>();
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  /** passes wait for this first (the data plane this one replaces letting go of its ports) */
  private gate: Promise<unknown> = Promise.resolve();
  private state: ReconcileStatus = { ok: true, consecutiveErrors: 0, changesApplied: 0 };

  constructor(readonly adapter: DataPlaneAdapter, private readonly periodMs: number, private readonly events: ReconcilerEvents = {}) {}

  get status(): ReconcileStatus {
    return this.state;
  }

  /** Starts the periodic passes; none runs before `after` settles. */
  start(after: Promise<unknown> = Promise.resolve()): void {
    this.gate = after.catch(() => undefined);
    this.timer = setInterval(() => this.request(), this.periodMs);
    this.timer.unref();
  }

  setDesired(farms: readonly FarmState[]): void {
    this.desired = farms;
    for (const farm of farms) this.managed.add(farm.service.farm);
    this.request();
  }

  /** Asks for a pass; passes never overlap, and a request during one runs another after it. */
  request(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.request();
      }
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    await this.gate;
    try {
      const observed = await this.adapter.observe();
      const changes = diffFarms(this.desired, observed, this.managed);
      if (changes.length) await this.adapter.apply(changes, observed);
      await this.adapter.prune?.(this.desired);
      const wanted = new Set(this.desired.map((f) => f.service.farm));
      // a farm removed from the config stays "ours" until the data plane no longer shows it
      const present = new Set(observed.map((f) => f.service.farm));
      for (const name of [...this.managed]) if (!wanted.has(name) && !present.has(name)) this.managed.delete(name);
      this.state = { ok: true, consecutiveErrors: 0, lastAppliedAt: changes.length ? Date.now() : this.state.lastAppliedAt, changesApplied: this.state.changesApplied + changes.length, lastFailure: this.state.lastFailure };
      if (changes.length) this.events.onApplied?.(changes);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      const attempt = this.state.consecutiveErrors + 1;
      const wait = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (attempt - 1));
      this.state = { ...this.state, ok: false, lastError: err.message, consecutiveErrors: attempt, lastFailure: { message: err.message, at: Date.now() } };
      this.events.onError?.(err, attempt, wait);
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.request(), wait);
      this.retry.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    await this.running;
  }
}

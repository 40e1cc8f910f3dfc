/** a child that ran this long had a real life: its next death restarts at the first delay */
const STABLE_MS = 60_000;
const MAX_DELAY_MS = 30_000;

/**
 * How long to wait before starting a supervised daemon (keepalived, conntrackd) again: the first
 * delay, doubled at each quick death up to 30 s, back to the first once a run lasted a minute.
 */
export class RestartBackoff {
  private delay: number;

  constructor(private readonly firstMs = 1000) {
    this.delay = firstMs;
  }

  /** The wait before the next start of a child that started at `startedAt` (ms) and just died. */
  next(startedAt: number, now = Date.now()): number {
    if (now - startedAt > STABLE_MS) this.delay = this.firstMs;
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    return delay;
  }
}

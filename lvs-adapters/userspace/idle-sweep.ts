import type { Lease } from './pool.ts';

/**
 * A relayed session as the idle sweep sees it: the bytes read on its client's side (a) and its
 * server's (b), added to a lease's counters as they go, so that /metrics move during a long transfer.
 */
export abstract class Sweepable {
  /** movedBytes() at the last sweep, and sweeps since it last changed (the sweep's own fields) */
  seen = 0;
  quiet = 0;
  /** bytes of each side already added to the counters */
  private countedA = 0;
  private countedB = 0;

  abstract bytesA(): number;
  abstract bytesB(): number;
  /** whose counters the bytes go to */
  abstract counts(): Lease | undefined;
  /** ends the session at once */
  abstract cut(): void;

  movedBytes(): number {
    return this.bytesA() + this.bytesB();
  }

  /** adds what was read since the last count to the counters */
  account(): void {
    const a = this.bytesA();
    const b = this.bytesB();
    this.counts()?.addBytes(a - this.countedA, b - this.countedB);
    this.countedA = a;
    this.countedB = b;
  }
}

/**
 * Idle sessions, found by one sweep a second per idle timeout instead of a timer per socket that every
 * read and write would re-arm: a session whose sockets read no byte for `idleMs` is ended. The
 * sweep's timer runs only while sessions are open.
 */
class IdleSweep {
  private readonly open = new Set<Sweepable>();
  private timer: NodeJS.Timeout | undefined;
  private readonly everyMs: number;
  private readonly sweeps: number;

  constructor(idleMs: number) {
    this.everyMs = Math.min(1000, Math.max(10, idleMs));
    this.sweeps = Math.max(1, Math.round(idleMs / this.everyMs));
  }

  add(session: Sweepable): void {
    this.open.add(session);
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.everyMs);
    this.timer.unref();
  }

  delete(session: Sweepable): void {
    this.open.delete(session);
    if (this.open.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    for (const session of this.open) {
      const moved = session.movedBytes();
      if (moved !== session.seen) {
        session.seen = moved;
        session.quiet = 0;
        session.account();
      } else if (++session.quiet >= this.sweeps) session.cut();
    }
  }
}

export type { IdleSweep };

const sweeps = new Map<number, IdleSweep>();

/** The process's sweep for sessions with this idle timeout. */
export function idleSweep(idleMs: number): IdleSweep {
  let sweep = sweeps.get(idleMs);
  if (!sweep) sweeps.set(idleMs, (sweep = new IdleSweep(idleMs)));
  return sweep;
}

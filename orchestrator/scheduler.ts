import { setMaxListeners } from 'node:events';
import { TimingWheel } from './timing-wheel.ts';

export interface Job {
  readonly id: string;
  readonly intervalMs: number;
  /** runs one check; the scheduler waits for it before planning the next start */
  readonly run: (signal: AbortSignal) => Promise<void>;
}

export interface SchedulerOptions {
  /** checks running at once; the others wait their turn, earliest due first */
  readonly concurrency: number;
  /** called with how late each check started against its plan (queueing included) */
  readonly onStart?: (lateMs: number) => void;
  readonly random?: () => number;
  /** width of the timing wheel's slots: a start may come this much after its plan (default 5 ms) */
  readonly tickMs?: number;
}

interface Entry {
  readonly job: Job;
  planned: number;
  /** removed (or the scheduler stopped): dropped wherever it waits */
  stopped: boolean;
}

const DEFAULT_TICK_MS = 5;

/**
 * Runs every job at a fixed rate. First starts are spread at random over one interval so that a
 * thousand backends do not fire at once; later starts keep to the plan (planned + interval), not to
 * completion times, so lateness shows as jitter instead of drifting away.
 *
 * Jobs wait for their time on a timing wheel served by one timer, not one timer each (10,000
 * backends are 10,000 Timeout objects re-armed 5,000 times a second otherwise); due jobs queue in
 * due order for one of `concurrency` places, so a job that waited longest starts first and none
 * waits more than the jobs due before it take.
 */
export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly wheel: TimingWheel<Entry>;
  /** due jobs waiting for a place, in due order, from index `head` */
  private readonly queue: Entry[] = [];
  private head = 0;
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly controller = new AbortController();
  private readonly random: () => number;
  private whenIdle: (() => void) | undefined;

  constructor(private readonly options: SchedulerOptions) {
    this.wheel = new TimingWheel<Entry>(options.tickMs ?? DEFAULT_TICK_MS, (entry) => entry.planned);
    this.random = options.random ?? Math.random;
    // every running check listens on this one signal: as many listeners as the concurrency allows
    setMaxListeners(0, this.controller.signal);
  }

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  add(job: Job, firstDelayMs?: number): void {
    this.remove(job.id);
    const entry: Entry = { job, planned: Date.now() + (firstDelayMs ?? this.random() * job.intervalMs), stopped: false };
    this.entries.set(job.id, entry);
    this.wheel.add(entry);
    this.arm();
  }

  /** The job starts no more; a check of it already running finishes. */
  remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.stopped = true;
    this.entries.delete(id);
  }

  /** Stops planning, aborts running checks and waits for them to settle. */
  async stop(): Promise<void> {
    for (const entry of this.entries.values()) entry.stopped = true;
    this.entries.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    this.wheel.clear();
    this.queue.length = 0;
    this.head = 0;
    this.controller.abort(new Error('scheduler stopped'));
    if (this.running > 0) await new Promise<void>((resolve) => (this.whenIdle = resolve));
  }

  /** One timer, set for the earliest slot of the wheel; moved only when an earlier one appears. */
  private arm(): void {
    const due = this.wheel.nextDue();
    if (due === undefined || due >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = due;
    this.timer = setTimeout(this.tick, Math.max(0, due - Date.now()));
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    for (const entry of this.wheel.takeDue(Date.now())) if (!entry.stopped) this.queue.push(entry);
    this.startQueued();
    this.arm();
  };

  private startQueued(): void {
    while (this.running < this.options.concurrency && this.head < this.queue.length) {
      const entry = this.queue[this.head++]!;
      if (!entry.stopped) void this.runOnce(entry);
    }
    // the queue's array is reused: emptied when drained, its started front cut when it is most of it
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private async runOnce(entry: Entry): Promise<void> {
    this.running++;
    this.options.onStart?.(Date.now() - entry.planned);
    try {
      await entry.job.run(this.controller.signal);
    } catch {
      // a job reports its own failures; the schedule goes on regardless
    }
    this.running--;
    if (!entry.stopped) {
      const now = Date.now();
      entry.planned += entry.job.intervalMs;
      if (entry.planned < now) entry.planned += Math.ceil((now - entry.planned) / entry.job.intervalMs) * entry.job.intervalMs;
      this.wheel.add(entry);
    }
    if (this.running === 0) this.whenIdle?.();
    this.startQueued();
    this.arm();
  }
}

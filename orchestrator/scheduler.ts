import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';

export interface Job {
  readonly id: string;
  readonly intervalMs: number;
  /** runs one check; the scheduler waits for it before planning the next start */
  readonly run: (signal: AbortSignal) => Promise<void>;
}

export interface SchedulerOptions {
  /** checks running at once (p-limit) */
  readonly concurrency: number;
  /** called with how late each check started against its plan (queueing included) */
  readonly onStart?: (lateMs: number) => void;
  readonly random?: () => number;
}

interface Entry {
  readonly job: Job;
  planned: number;
  timer?: NodeJS.Timeout;
  stopped: boolean;
}

/**
 * Runs every job at a fixed rate. First starts are spread at random over one interval so that a
 * thousand backends do not fire at once; later starts keep to the plan (planned + interval), not to
 * completion times, so lateness shows as jitter instead of drifting away.
 */
export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly controller = new AbortController();
  private readonly random: () => number;

  constructor(private readonly options: SchedulerOptions) {
    this.limit = pLimit(options.concurrency);
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
    this.arm(entry);
  }

  remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.stopped = true;
    clearTimeout(entry.timer);
    this.entries.delete(id);
  }

  /** Stops planning, aborts running checks and waits for them to settle. */
  async stop(): Promise<void> {
    for (const id of [...this.entries.keys()]) this.remove(id);
    this.controller.abort(new Error('scheduler stopped'));
    this.limit.clearQueue();
    while (this.limit.activeCount > 0) await new Promise((r) => setTimeout(r, 10));
  }

  private arm(entry: Entry): void {
    entry.timer = setTimeout(() => void this.fire(entry), Math.max(0, entry.planned - Date.now()));
  }

  private async fire(entry: Entry): Promise<void> {
    await this.limit(async () => {
      if (entry.stopped) return;
      this.options.onStart?.(Date.now() - entry.planned);
      try {
        await entry.job.run(this.controller.signal);
      } catch {
        // a job reports its own failures; the schedule goes on regardless
      }
    });
    if (entry.stopped) return;
    const now = Date.now();
    entry.planned += entry.job.intervalMs;
    if (entry.planned < now) entry.planned += Math.ceil((now - entry.planned) / entry.job.intervalMs) * entry.job.intervalMs;
    this.arm(entry);
  }
}

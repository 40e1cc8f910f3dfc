// The process's descriptor budget: RLIMIT_NOFILE less a reserve that the health checks, the status
// page and the state file can always use. The data plane charges what its sessions hold (sockets,
// listeners) to it and refuses a new session rather than eat into the reserve. What it does not
// charge (listening sockets, status clients, check pipes) is counted once a second in /proc/self/fd
// and taken off what sessions may use. That count runs off the event loop: listing 19,000
// descriptors takes about 180 ms.
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { FairShare } from './fair-share.ts';

/** The soft limit on open files (Node has no getrlimit; Linux shows it in /proc/self/limits); undefined if unknown or unlimited. */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.slice('Max open files'.length).trim().split(/\s+/)[0]);
    return Number.isInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors open in this process now (readdir's own one not counted). */
export async function openDescriptors(): Promise<number> {
  return (await readdir('/proc/self/fd')).length - 1;
}

/** A quarter of the limit, at least 64 and at most 1024: room for `concurrency` checks, the page and the state file. */
export function descriptorReserve(limit: number): number {
  return Math.max(64, Math.min(1024, Math.floor(limit / 4)));
}

const MEASURE_EVERY_MS = 1000;

export class DescriptorBudget {
  /** what the data plane's sessions may hold, shared fairly by its farms */
  readonly sessions: FairShare;
  private timer: NodeJS.Timeout | undefined;
  private measuring = false;

  constructor(readonly limit: number | undefined, readonly reserve: number, private readonly count: () => Promise<number> = openDescriptors) {
    this.sessions = new FairShare(limit === undefined ? Number.MAX_SAFE_INTEGER : limit - reserve);
    if (limit === undefined) return;
    void this.measure();
    this.timer = setInterval(() => void this.measure(), MEASURE_EVERY_MS);
    this.timer.unref();
  }

  /** Takes what is open but not charged (listeners, status clients, checks) off what sessions may use. */
  async measure(): Promise<void> {
    if (this.limit === undefined || this.measuring) return;
    this.measuring = true;
    try {
      const before = this.sessions.used;
      const open = await this.count();
      // sessions opened while the list was read may be in it: not counted as uncharged twice
      const charged = Math.max(before, this.sessions.used);
      this.sessions.capacity = this.limit - this.reserve - Math.max(0, open - charged);
    } catch {
      // EMFILE itself: the last figure stands
    } finally {
      this.measuring = false;
    }
  }

  /** The start-up line: the limit, the reserve and what that leaves the data plane. */
  describe(): string {
    if (this.limit === undefined) return 'descriptors: no limit known (no /proc/self/limits); no reserve kept';
    return `descriptors: ${this.limit} (RLIMIT_NOFILE); ${this.reserve} kept for health checks, the status page and the state file; `
      + `userspace sessions refused beyond ${this.limit - this.reserve} (TCP and TFTP sessions hold 2, FTP 2 and 2 a transfer, UDP flows 1)`;
  }
}

let processBudget: DescriptorBudget | undefined;

/** This process's budget, made at first use. */
export function descriptorBudget(): DescriptorBudget {
  if (!processBudget) {
    const limit = openFileLimit();
    processBudget = new DescriptorBudget(limit, limit === undefined ? 0 : descriptorReserve(limit));
  }
  return processBudget;
}

// VRRP router ids for test processes that run at the same time: an id names lbguard's runtime
// directories (/run/lbguard/vrrp-ID-d1, sync-ID-d1) on the host, which namespaces do not separate,
// so two director pairs must never hold the same one. Each id is a lock file made atomically (a
// link of a file already holding the owner's pid: it appears whole or not at all, EEXIST when
// taken); a lock whose process is gone (a test killed before its teardown) is taken over.
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface RouterIdLease {
  readonly id: number;
  /** removes the lock (once; only while it is still this process's) */
  release(): void;
}

export interface RouterIdOptions {
  /** where the locks are (default /run/lbguard-test/vrrp-router-ids: /run forgets them at boot) */
  readonly dir?: string;
  /** the ids handed out, inclusive (default 10-249, clear of the fixed ids other tests render) */
  readonly from?: number;
  readonly to?: number;
}

const DEFAULT_DIR = '/run/lbguard-test/vrrp-router-ids';

function running(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Makes `path` hold this process's pid, unless it exists. */
function take(path: string): boolean {
  const draft = `${path}.${process.pid}.draft`;
  const fd = openSync(draft, 'w');
  writeSync(fd, `${process.pid}\n`);
  closeSync(fd);
  try {
    linkSync(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(draft);
  }
}

/**
 * Removes a lock whose owner `dead` is gone. Moved aside first (rename is atomic, and one process
 * wins it); if what was moved is not that lock (another process took it over meanwhile), it is
 * put back.
 */
function removeStale(path: string, dead: number): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch {
    return; // another process moved it first
  }
  if (!Object.is(ownerOf(aside), dead)) {
    try {
      linkSync(aside, path);
    } catch {
      // taken again meanwhile: that one stands
    }
  }
  unlinkSync(aside);
}

/** A router id no running process holds; throws when every one of the range is held. */
export function leaseRouterId(options: RouterIdOptions = {}): RouterIdLease {
  const dir = options.dir ?? DEFAULT_DIR;
  const from = options.from ?? 10;
  const to = options.to ?? 249;
  mkdirSync(dir, { recursive: true });
  const count = to - from + 1;
  // processes started together begin at different ids
  const first = process.pid % count;
  for (let i = 0; i < count; i++) {
    const id = from + ((first + i) % count);
    const path = join(dir, `${id}.lock`);
    if (!take(path)) {
      const owner = ownerOf(path);
      if (owner === undefined || running(owner)) continue;
      removeStale(path, owner);
      if (!take(path)) continue;
    }
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      process.removeListener('exit', release);
      if (ownerOf(path) === process.pid) unlinkSync(path);
    };
    // a test that ends without its teardown still frees the id
    process.once('exit', release);
    return { id, release };
  }
  throw new Error(`no VRRP router id free in ${from}-${to}: every lock in ${dir} belongs to a running process`);
}

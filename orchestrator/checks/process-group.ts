// Runs one program in a process group of its own, the way keepalived runs MISC_CHECK scripts:
// no shell, stdin closed, output captured up to a cap, and on timeout or abort the WHOLE group is
// signalled (SIGTERM, then SIGKILL after a grace), so a hanging script and every child it started
// are gone when the call returns. Never throws: a program that cannot be started (ENOENT, EACCES,
// and EMFILE, ENFILE, EAGAIN, ENOMEM when the host runs out) is a GroupRun with its spawnError.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { offAbort, onAbort } from '../../plugins/runtime/abort-hooks.ts';

export interface GroupRunOptions {
  readonly file: string;
  readonly args: readonly string[];
  /** added to the daemon's environment (credentials go here, never into argv) */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** bytes kept of stdout and of stderr each; the rest is read and dropped so the program never blocks */
  readonly maxBytes?: number;
  /** between SIGTERM and SIGKILL to the group */
  readonly killGraceMs?: number;
}

export interface GroupRun {
  /** the program's PID, which is also its process group id; null when it never started */
  readonly pid: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  /** bytes the program wrote to stdout, kept or not */
  readonly stdoutTotal: number;
  /** set when this module ended the program */
  readonly stopped: 'timeout' | 'abort' | null;
  /** errno code or message when the program could not be started (ENOENT, EACCES, ...) */
  readonly spawnError: string | null;
  readonly ms: number;
}

export const DEFAULT_MAX_BYTES = 64 * 1024;
export const DEFAULT_KILL_GRACE_MS = 500;
/** after the program exits, how long its output may still be drained before the pipes are closed */
const DRAIN_AFTER_EXIT_MS = 250;
/** how long a killed group may take to be gone before the run returns anyway */
const GROUP_END_MS = 1000;

// Groups still running, killed if the daemon itself exits (detached children outlive their parent).
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  });
}

/** Signals every process of a group; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: nobody left; EPERM cannot happen for our own children
  }
}

/** PIDs of the group's processes still running: a zombie has ended (init reaps it, here not at once). */
function runningMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return []; // no procfs: nothing more to learn
  }
  const running: number[] = [];
  for (const entry of entries) {
    if (entry.charCodeAt(0) > 57) continue; // not a PID
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , group] = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      if (Number(group) === pgid && state !== 'Z') running.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return running;
}

/**
 * Waits, at most `withinMs`, until no process of the group runs. A SIGKILL takes effect when the
 * process next runs, which on a loaded host is after process.kill() returned: without this wait a
 * check could return while the sleep its script started still ran.
 */
async function untilGroupEnded(pgid: number, withinMs: number): Promise<void> {
  const deadline = performance.now() + withinMs;
  for (;;) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return; // nobody left, not even a zombie: the usual case, one system call
    }
    if (runningMembers(pgid).length === 0 || performance.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Capture {
  readonly kept: () => Buffer;
  readonly total: () => number;
}

function capture(stream: Readable | null | undefined, maxBytes: number): Capture {
  const chunks: Buffer[] = [];
  let kept = 0;
  let total = 0;
  stream?.on('data', (chunk: Buffer) => {
    total += chunk.length;
    if (kept >= maxBytes) return;
    const part = chunk.length <= maxBytes - kept ? chunk : Buffer.from(chunk.subarray(0, maxBytes - kept));
    chunks.push(part);
    kept += part.length;
  });
  stream?.on('error', () => undefined);
  return { kept: () => Buffer.concat(chunks), total: () => total };
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string') return message.split('\n')[0] ?? message;
  }
  return String(error);
}

const nothing = (started: number, fields: Partial<GroupRun>): GroupRun => ({
  pid: null, exitCode: null, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutTotal: 0,
  stopped: null, spawnError: null, ms: performance.now() - started, ...fields,
});

export async function runInProcessGroup(options: GroupRunOptions): Promise<GroupRun> {
  const started = performance.now();
  if (options.signal.aborted) return nothing(started, { stopped: 'abort' });
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const grace = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;

  // node's spawn, not execa's: when pipes cannot be made (EMFILE) the ChildProcess has no stdio and
  // reports the failure as an 'error' event a tick later; execa 9 then throws on the missing stdio
  // and leaves that event unhandled, which ended the daemon. Here 'error' is listened to first.
  let subprocess: ChildProcess;
  try {
    subprocess = spawn(options.file, [...options.args], {
      detached: true, // setsid(): the program leads a new process group we can signal as a whole
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
  } catch (error) {
    return nothing(started, { spawnError: errorCode(error) }); // ENOMEM and the like throw at once
  }
  let failure: unknown;
  const finished = new Promise<void>((resolve) => {
    subprocess.once('error', (error) => {
      failure ??= error;
      if (subprocess.pid === undefined) resolve(); // never started: no 'close' to wait for
    });
    subprocess.once('close', () => resolve());
  });

  const pid = subprocess.pid ?? null;
  const out = capture(subprocess.stdout, maxBytes);
  const err = capture(subprocess.stderr, maxBytes);
  let stopped: GroupRun['stopped'] = null;
  let exited = false;
  let exitCode: number | null = null;
  let exitSignal: string | null = null;
  let graceTimer: NodeJS.Timeout | undefined;
  let drainTimer: NodeJS.Timeout | undefined;

  const dropStreams = () => {
    subprocess.stdout?.destroy();
    subprocess.stderr?.destroy();
  };
  const stop = (reason: 'timeout' | 'abort') => {
    if (pid === null) return;
    if (exited) {
      // The program is done but something outside its group still holds its output open.
      dropStreams();
      return;
    }
    if (stopped) return;
    stopped = reason;
    signalGroup(pid, 'SIGTERM');
    graceTimer = setTimeout(() => {
      signalGroup(pid, 'SIGKILL');
      graceTimer = setTimeout(dropStreams, grace);
    }, grace);
  };

  if (pid !== null) {
    liveGroups.add(pid);
    installExitHook();
    subprocess.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      exited = true;
      exitCode = code;
      exitSignal = signal;
      // Whatever the leader left running in its group goes with it: a check leaves nothing behind.
      signalGroup(pid, 'SIGKILL');
      liveGroups.delete(pid);
      // A process that left the group (setsid) may still hold the pipes: read what is there, then stop.
      if (stopped) dropStreams();
      // setImmediate: one more poll phase first, so a busy event loop still reads what is in the pipe.
      else drainTimer = setTimeout(() => setImmediate(dropStreams), DRAIN_AFTER_EXIT_MS);
    });
  }
  const timer = setTimeout(() => stop('timeout'), options.timeoutMs);
  // one listener on the daemon's signal however many checks share it (abort-hooks.ts)
  const onStop = () => stop('abort');
  onAbort(options.signal, onStop);

  try {
    await finished;
    // the group was sent SIGKILL when its leader exited: gone before this returns
    if (pid !== null) await untilGroupEnded(pid, GROUP_END_MS);
  } finally {
    clearTimeout(timer);
    clearTimeout(graceTimer);
    clearTimeout(drainTimer);
    offAbort(options.signal, onStop);
    if (pid !== null) liveGroups.delete(pid);
  }
  const spawnError = pid === null ? errorCode(failure ?? 'did not start') : null;
  if (pid === null) dropStreams();

  return {
    pid, exitCode, signal: exitSignal, stdout: out.kept(), stderr: err.kept(), stdoutTotal: out.total(),
    stopped, spawnError, ms: performance.now() - started,
  };
}

// conntrackd as lbguard's child, for vrrp.sync: started before keepalived, restarted when it dies,
// stopped with lbguard. On each role keepalived reports, lbguard runs what conntrack-tools'
// primary-backup.sh runs from a notify script: a new MASTER commits the peer's states it holds in
// its external cache to the kernel (-c), flushes its caches (-f), refills the internal one from the
// kernel (-R) and sends it all to the peer (-B); a BACKUP ages out the kernel entries it created as
// master (-t) and asks the master for its states (-n); FAULT only ages them out.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runChecked } from '../tools/run-tool.ts';
import type { Logger } from 'pino';
import { RestartBackoff } from './restart-backoff.ts';
import { type RoleOutcome, RoleQueue } from './role-queue.ts';
import type { ConntrackdPaths } from './conntrackd-conf.ts';
import type { VrrpState } from './notify.ts';
import { runtimeRoot } from './runtime-dir.ts';

export interface SessionSyncStatus {
  readonly engine: 'conntrackd' | 'ipvs';
  /** conntrackd: the process runs; ipvs: a sync daemon was started for the current role */
  readonly running: boolean;
  /** ipvs: the sync daemon this director runs */
  readonly daemon?: 'master' | 'backup';
  readonly pid?: number;
  readonly restarts: number;
  /** the commands run on the last role change */
  readonly lastRole?: RoleOutcome;
}

export interface ConntrackdProcessOptions {
  readonly conntrackd: string;
  readonly logger: Logger;
  /** names the runtime directory: one conntrackd per (router id, node) on a host */
  readonly id: string;
  readonly render: (paths: ConntrackdPaths) => string;
  readonly restartDelayMs?: number;
  /** each client command (-c, -f, ...) is given this long */
  readonly commandTimeoutMs?: number;
}

/** The client commands per role, in primary-backup.sh's order. */
export const ROLE_COMMANDS: Readonly<Partial<Record<VrrpState, readonly string[]>>> = {
  MASTER: ['-c', '-f', '-R', '-B'],
  BACKUP: ['-t', '-n'],
  FAULT: ['-t'],
};

const READY_MS = 5000;

function aliveWith(pid: number, needle: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
  } catch {
    return false;
  }
}

export class ConntrackdProcess {
  readonly dir: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private ready: Promise<void> = Promise.resolve();
  private stopping = false;
  private restarts = 0;
  private readonly backoff: RestartBackoff;
  private restartTimer: NodeJS.Timeout | undefined;
  private role: VrrpState = 'INIT';
  private readonly roles = new RoleQueue();
  /** conntrackd's last lines, for the error when it cannot start */
  private lastLines: string[] = [];

  constructor(private readonly options: ConntrackdProcessOptions) {
    this.backoff = new RestartBackoff(options.restartDelayMs ?? 1000);
    this.dir = join(runtimeRoot(), `sync-${options.id.replace(/[^A-Za-z0-9_.-]/g, '-')}`);
  }

  get paths() {
    return { conf: join(this.dir, 'conntrackd.conf'), pid: join(this.dir, 'conntrackd.pid'), lockFile: join(this.dir, 'conntrackd.lock'), socket: join(this.dir, 'conntrackd.ctl') };
  }

  status(): SessionSyncStatus {
    return {
      engine: 'conntrackd',
      running: this.running(),
      ...(this.running() && this.child?.pid ? { pid: this.child.pid } : {}),
      restarts: this.restarts,
      ...(this.roles.last ? { lastRole: this.roles.last } : {}),
    };
  }

  /** Renders the config (throws on a bad one), starts conntrackd and waits until it answers. */
  async start(): Promise<void> {
    const text = this.options.render(this.paths);
    if (!existsSync(this.options.conntrackd)) throw new Error(`vrrp.sync: ${this.options.conntrackd} not found (Debian: apt-get install conntrackd)`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(this.paths.conf, text, { mode: 0o600 });
    this.spawn();
    await this.ready;
    if (!this.running()) {
      this.stopping = true;
      clearTimeout(this.restartTimer);
      throw new Error(`vrrp.sync: conntrackd exited at start: ${this.lastLines.join(' | ') || 'no output'} (its file: ${this.paths.conf})`);
    }
  }

  /** conntrackd reads its file only at start: a changed one restarts it (its caches are refilled by the role's commands). */
  reload(render: (paths: ConntrackdPaths) => string): void {
    const text = render(this.paths);
    if (existsSync(this.paths.conf) && readFileSync(this.paths.conf, 'utf8') === text) return;
    writeFileSync(this.paths.conf, text, { mode: 0o600 });
    this.options.logger.info({ event: 'conntrackd-reload' }, 'vrrp.sync: conntrackd.conf changed; restarting conntrackd');
    this.child?.kill('SIGTERM'); // the exit handler starts it again with the new file
  }

  /** keepalived reported a role: run its commands (queued behind any still running). */
  onRole(state: VrrpState): void {
    this.role = state;
    const commands = ROLE_COMMANDS[state];
    if (!commands) return;
    this.roles.enqueue(state, () => this.runRole(state, commands));
  }

  /** resolves when every queued role command has run */
  settled(): Promise<void> {
    return this.roles.settled();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    await this.roles.settled();
    if (this.running()) {
      this.child?.kill('SIGTERM');
      const timer = setTimeout(() => this.child?.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Runs a role's commands in order, stopping at the first that fails; throws its error line. */
  private async runRole(state: VrrpState, commands: readonly string[]): Promise<void> {
    await this.ready;
    for (const command of commands) {
      try {
        await runChecked(`conntrackd ${command}`, this.options.conntrackd, ['-C', this.paths.conf, command], { timeoutMs: this.options.commandTimeoutMs ?? 5000, missing: 'Debian: apt-get install conntrackd' });
      } catch (error) {
        const message = (error as Error).message;
        this.options.logger.error({ event: 'conntrackd-command-failed', role: state, command, error: message }, `vrrp.sync: as ${state}, ${message}`);
        throw error;
      }
    }
    this.options.logger.info({ event: 'conntrackd-role', role: state, commands }, `vrrp.sync: as ${state}, ran conntrackd ${commands.join(' ')}`);
  }

  /**
   * A conntrackd left by an lbguard killed alone (its pid file here, its command line naming our
   * file) is stopped; a lock file that outlived a killed conntrackd is removed (it refuses to start
   * while the file exists).
   */
  private clearLeftover(): void {
    try {
      const pid = Number(readFileSync(this.paths.pid, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 1 && pid !== this.child?.pid && aliveWith(pid, this.paths.conf)) {
        this.options.logger.warn({ event: 'conntrackd-leftover', pid }, `vrrp.sync: a conntrackd (pid ${pid}) still runs with ${this.paths.conf}; stopping it`);
        process.kill(pid, 'SIGKILL');
      }
    } catch {
      // no pid file: nothing left
    }
    rmSync(this.paths.lockFile, { force: true });
    rmSync(this.paths.socket, { force: true });
  }

  private spawn(): void {
    this.clearLeftover();
    const child = spawn(this.options.conntrackd, ['-C', this.paths.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    if (child.pid) writeFileSync(this.paths.pid, `${child.pid}\n`);
    const started = Date.now();
    const log = (data: Buffer) => {
      for (const line of data.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.lastLines = [...this.lastLines, line.trim().slice(0, 300)].slice(-3);
        const level = /\[ERROR\]/.test(line) ? 'warn' : 'debug';
        this.options.logger[level]({ event: 'conntrackd-log', line: line.slice(0, 500) }, line.slice(0, 500));
      }
    };
    child.stdout?.on('data', log);
    child.stderr?.on('data', log);
    this.exited = new Promise((resolve) => {
      child.once('error', (error) => this.options.logger.error({ event: 'conntrackd-error', error: error.message }, `vrrp.sync: cannot run ${this.options.conntrackd}: ${error.message}`));
      child.once('exit', (code, signal) => {
        resolve();
        if (this.stopping) return;
        const delay = this.backoff.next(started);
        this.options.logger.error({ event: 'conntrackd-exited', code, signal, restartInMs: delay }, `vrrp.sync: conntrackd exited (${signal ?? `code ${code}`}); starting it again in ${delay} ms`);
        this.restartTimer = setTimeout(() => {
          this.restarts++;
          this.spawn();
          // a new conntrackd has empty caches: the role's commands fill them again
          this.onRole(this.role);
        }, delay);
      });
    });
    // ready once its control socket answers (or it died, or READY_MS passed: the commands then say why)
    this.ready = (async () => {
      const until = Date.now() + READY_MS;
      while (Date.now() < until && this.child === child && child.exitCode === null && child.signalCode === null) {
        if (existsSync(this.paths.socket)) return;
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
  }
}

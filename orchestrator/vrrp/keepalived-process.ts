// keepalived as lbguard's child: VRRP only (-P), in the foreground (-n), its config rendered from the
// farms file, restarted when it dies, reloaded (SIGHUP) with lbguard, stopped with it. Its state
// comes back through a notify FIFO (vrrp_notify_fifo): keepalived writes one line per change,
// nothing runs through a shell, and lbguard holds the FIFO open read-write so keepalived's restarts
// never give it an end of file.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { RestartBackoff } from './restart-backoff.ts';
import { runtimeRoot } from './runtime-dir.ts';
import type { SessionSyncStatus } from './conntrackd-process.ts';
import { parseNotifyLine, type VrrpState } from './notify.ts';

export interface VrrpStatus {
  /** the peer this director is (vrrp.peers), absent in the single-node form */
  readonly node?: string;
  readonly state: VrrpState;
  /** when the state last changed (ISO 8601) */
  readonly since: string;
  readonly priority?: number;
  readonly keepalived: { readonly running: boolean; readonly pid?: number; readonly restarts: number };
  /** vrrp.sync: the conntrackd lbguard runs */
  readonly sync?: SessionSyncStatus;
}

export interface KeepalivedProcessOptions {
  readonly keepalived: string;
  readonly logger: Logger;
  /** names the runtime directory: one keepalived per (router id, node) on a host */
  readonly id: string;
  readonly node?: string;
  /** keepalived.conf for a FIFO path (rendered again at each reload) */
  readonly render: (notifyFifo: string) => string;
  /** first restart delay; doubles up to 30 s while keepalived keeps dying */
  readonly restartDelayMs?: number;
  /** called on every change of role, after it is logged */
  readonly onState?: (state: VrrpState) => void;
}

const INSTANCE = 'lbguard';
const STOP_GRACE_MS = 5000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class KeepalivedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private fifo: Socket | undefined;
  private stopping = false;
  private restarts = 0;
  private readonly backoff: RestartBackoff;
  private restartTimer: NodeJS.Timeout | undefined;
  private state: VrrpState = 'INIT';
  private since = Date.now();
  private priority: number | undefined;
  private render: (notifyFifo: string) => string;
  readonly dir: string;

  constructor(private readonly options: KeepalivedProcessOptions) {
    this.render = options.render;
    this.backoff = new RestartBackoff(options.restartDelayMs ?? 1000);
    this.dir = join(runtimeRoot(), `vrrp-${options.id.replace(/[^A-Za-z0-9_.-]/g, '-')}`);
  }

  private get paths() {
    return { conf: join(this.dir, 'keepalived.conf'), fifo: join(this.dir, 'notify.fifo'), pid: join(this.dir, 'keepalived.pid'), vrrpPid: join(this.dir, 'vrrp.pid') };
  }

  status(): VrrpStatus {
    return {
      ...(this.options.node ? { node: this.options.node } : {}),
      state: this.state,
      since: new Date(this.since).toISOString(),
      ...(this.priority === undefined ? {} : { priority: this.priority }),
      keepalived: { running: this.running(), ...(this.child?.pid ? { pid: this.child.pid } : {}), restarts: this.restarts },
    };
  }

  /** Renders the config (throws on a bad one, before anything starts), opens the FIFO, starts keepalived. */
  async start(): Promise<void> {
    const { conf, fifo } = this.paths;
    const text = this.render(fifo);
    if (!existsSync(this.options.keepalived)) throw new Error(`vrrp: ${this.options.keepalived} not found (Debian: apt-get install keepalived)`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    this.stopLeftover();
    if (!existsSync(fifo)) execFileSync('mkfifo', ['-m', '600', fifo]);
    this.openFifo(fifo);
    writeFileSync(conf, text, { mode: 0o600 }); // it may hold the VRRP password
    this.spawn();
  }

  /** A new config: written, and keepalived told to read it (SIGHUP); a config that cannot render throws. */
  reload(render: (notifyFifo: string) => string): void {
    const text = render(this.paths.fifo);
    this.render = render;
    writeFileSync(this.paths.conf, text, { mode: 0o600 });
    if (this.running()) this.child?.kill('SIGHUP');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (this.running()) {
      // keepalived gives the addresses up (and tells the peer, priority 0) on SIGTERM
      this.child?.kill('SIGTERM');
      const timer = setTimeout(() => this.child?.kill('SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(timer);
    }
    this.fifo?.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private setState(state: VrrpState, priority?: number): void {
    if (priority !== undefined) this.priority = priority;
    if (state === this.state) return;
    const from = this.state;
    this.state = state;
    this.since = Date.now();
    this.options.logger.info({ event: 'vrrp-state', node: this.options.node, from, to: state, priority: this.priority }, `vrrp: ${from} -> ${state}${this.options.node ? ` on ${this.options.node}` : ''}`);
    this.options.onState?.(state);
  }

  /**
   * A keepalived left by an lbguard that was killed alone (its pid files in our directory, still
   * running with our config) would hold the addresses with no data plane behind them; and the VRRP
   * child of a keepalived killed with SIGKILL outlives it. Either is stopped before keepalived starts.
   */
  private stopLeftover(signal: NodeJS.Signals = 'SIGTERM'): void {
    for (const file of [this.paths.pid, this.paths.vrrpPid]) {
      let pid: number;
      let cmdline: string;
      try {
        pid = Number(readFileSync(file, 'utf8').trim());
        if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) continue;
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (!cmdline.includes(this.paths.conf)) continue;
      this.options.logger.warn({ event: 'keepalived-leftover', pid }, `vrrp: a keepalived process (pid ${pid}) still runs with ${this.paths.conf}; stopping it`);
      process.kill(pid, signal);
      // keepalived refuses to start while a pid file names a live process (a zombie counts)
      if (signal === 'SIGKILL') rmSync(file, { force: true });
    }
  }

  private openFifo(path: string): void {
    // read-write: the open never blocks, and there is always a writer (us), so no end of file
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    let socket: Socket;
    try {
      socket = new Socket({ fd, readable: true, writable: false });
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = (lines.pop() ?? '').slice(-1024); // a line never grows without bound
      for (const line of lines) {
        const event = parseNotifyLine(line);
        if (event?.instance === INSTANCE) this.setState(event.state, event.priority);
        else if (line.trim()) this.options.logger.debug({ event: 'vrrp-notify-ignored', line: line.slice(0, 200) }, 'vrrp: notify line ignored');
      }
    });
    socket.on('error', (error) => this.options.logger.error({ event: 'vrrp-fifo-error', error: error.message }, `vrrp: notify FIFO: ${error.message}`));
    this.fifo = socket;
  }

  private spawn(): void {
    const { conf, pid, vrrpPid } = this.paths;
    // -P VRRP only, -n foreground, -l log to stderr, own pid files (the default ones are per host,
    // shared by every network namespace)
    const child = spawn(this.options.keepalived, ['-P', '-n', '-l', '-f', conf, '-p', pid, '-r', vrrpPid], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const started = Date.now();
    const log = (data: Buffer) => {
      for (const line of data.toString('utf8').split('\n')) if (line.trim()) this.options.logger.debug({ event: 'keepalived-log', line: line.slice(0, 500) }, line.slice(0, 500));
    };
    child.stdout?.on('data', log);
    child.stderr?.on('data', log);
    this.exited = new Promise((resolve) => {
      child.once('error', (error) => {
        this.options.logger.error({ event: 'keepalived-error', error: error.message }, `vrrp: cannot run ${this.options.keepalived}: ${error.message}`);
      });
      // 'exit', not 'close': a VRRP child that outlives its parent keeps the pipes open
      child.once('exit', (code, signal) => {
        resolve();
        if (this.stopping) return;
        this.stopLeftover('SIGKILL');
        this.setState('STOP');
        const delay = this.backoff.next(started);
        this.options.logger.error({ event: 'keepalived-exited', code, signal, restartInMs: delay }, `vrrp: keepalived exited (${signal ?? `code ${code}`}); starting it again in ${delay} ms`);
        this.restartTimer = setTimeout(() => {
          this.restarts++;
          this.spawn();
        }, delay);
      });
    });
  }
}

import type { Server } from 'node:net';
import { availableParallelism } from 'node:os';
import { type Change, changedFarm, type CloseOptions, type DataPlaneAdapter, type DataPlaneCounters, type FarmState, type ServerFailureReport, type VirtualServiceSpec, type DataplaneConfig } from '../../orchestrator/dataplane/types.ts';
import { DEFAULT_DIAL, type DialPolicy } from './dial.ts';
import { forwardFtp } from './ftp-session.ts';
import { descriptorBudget } from './descriptors.ts';
import { listenTcp, plainSocket } from './listeners.ts';
import { raiseMallocTrimThreshold } from './malloc.ts';
import { PassivePorts } from './passive-ports.ts';
import { DEFAULT_ERROR_LIMIT, type PoolLimits, ServerPool, SessionBudget } from './pool.ts';
import { requireTcpHandles } from './tcp-handles.ts';
import { forwardTcp } from './tcp-relay.ts';
import { peerKey } from './udp.ts';
import { type Peer, TftpService } from './tftp-relay.ts';
import { UdpService } from './udp-relay.ts';
import { sumCounters, WorkerProcesses } from './workers.ts';

export type UserspaceSettings = Extract<DataplaneConfig, { type: 'userspace' }>;

const DEFAULT_MAX_SESSIONS = 10_000;
/** sessions one client address may hold on one farm: a single source cannot take a farm's share alone */
export const DEFAULT_CLIENT_SESSIONS = 256;
const DEFAULT_IDLE_MS = 300_000;
const DEFAULT_DRAIN_MS = 10_000;
/** TFTP is lock-step with retransmission within seconds: a silent session is a dead one */
const TFTP_IDLE_MS = 10_000;
/** longer FTP control lines end the session (RFC 959 lines are short; 4 KiB leaves room for long paths) */
const FTP_MAX_LINE = 4096;
const MAX_PORTS_PER_SERVICE = 1024;
/** how often a drain looks whether the last session has ended */
const DRAIN_POLL_MS = 100;

/** What a farm listens with: a TCP listener, or a UDP service that also holds its sessions. */
interface FarmListener {
  /** a TCP listener's socket, which worker processes may share */
  readonly server?: Server;
  /** listening, for this balancer (false once closed, failed, or taken over by a successor) */
  readonly listening: boolean;
  /** stops listening; open sessions run on */
  close(): Promise<void>;
  /** ends its open sessions at once (UDP services, whose sessions are not leases of a TCP relay) */
  cut?(): void;
}

interface Running {
  readonly pool: ServerPool;
  readonly listeners: FarmListener[];
}

/** One passive range per address, shared by the balancers of this process (a successor uses the same). */
const passiveRanges = new Map<string, { ports: Promise<PassivePorts>; users: number }>();

/**
 * Whether worker processes may serve a farm too: plain TCP and TFTP (whose requests the main process
 * hands out) whose every choice each process can make alone. Persistence (one table of client
 * groups), `max-conns` (one count per server) and FTP (data connections that must find their
 * control session) need the one view of the main process.
 */
function sharedAcrossProcesses(pool: ServerPool): boolean {
  const { spec } = pool;
  const handed = (spec.protocol === 'tcp' && spec.service !== 'ftp') || spec.service === 'tftp';
  return handed && !spec.persistence && pool.specs().every((s) => !s.maxConnections);
}

function expandPorts(spec: VirtualServiceSpec): number[] {
  if (!spec.ports?.length) throw new Error(`farm ${spec.farm}: the userspace balancer listens on ports, it cannot use a fwmark alone; give virtual ports`);
  const ports: number[] = [];
  for (const range of spec.ports) for (let p = range.from; p <= range.to; p++) ports.push(p);
  if (ports.length > MAX_PORTS_PER_SERVICE) throw new Error(`farm ${spec.farm}: ${ports.length} virtual ports; the userspace balancer takes at most ${MAX_PORTS_PER_SERVICE} per service`);
  return ports;
}

/** What makes listeners be opened again when it changes (scheduler and persistence change in place). */
const listening = (spec: VirtualServiceSpec) => JSON.stringify([spec.service, spec.protocol, spec.address, spec.ports]);

/**
 * `dataplane: {type: userspace}`: lbguard's own L4 balancer in this process, for hosts without IPVS.
 * Each farm is a virtual service listening on its address and ports (or `listen-address`): TCP and
 * SFTP are relayed as streams, FTP with its control channel read and data connections followed, TFTP
 * per session with fresh ports, other UDP per client flow. Removing a server lets its open sessions
 * finish (closes them with `cut-connections`); weight 0 quiesces it. A connect that fails is retried
 * on another server (`retries`, `connect-timeout`); `error-limit` failures in a row take a server out
 * at once and are reported (watchServers). A farm's ports are handed from listener to listener
 * (listeners.ts): a reload never leaves them unserved.
 */
export class UserspaceAdapter implements DataPlaneAdapter {
  readonly type = 'userspace';
  private readonly running = new Map<string, Running>();
  /** pools of farms stopped while sessions were open: a drain or cut reaches those sessions too */
  private readonly stopped = new Set<ServerPool>();
  /** farms that could not listen, and why (status shows it) */
  private readonly failing = new Map<string, string>();
  private readonly passive = new Map<string, Promise<PassivePorts>>();
  private readonly budget: SessionBudget;
  private readonly limits: PoolLimits;
  private readonly idleMs: number;
  private readonly dial: DialPolicy;
  private readonly errorLimit: number;
  private report: ServerFailureReport | undefined;
  /** worker processes that accept for the plain TCP farms too (`workers` > 1) */
  readonly workers: WorkerProcesses | undefined;

  constructor(private readonly settings: UserspaceSettings = { type: 'userspace' }) {
    // whoever started this process: the relay's read buffers must not make glibc trim and refault its heap
    void raiseMallocTrimThreshold();
    const processes = settings.workers === 'auto' ? availableParallelism() : (settings.workers ?? 1);
    // max-sessions bounds all processes together: each holds its share
    const maxSessions = Math.ceil((settings['max-sessions'] ?? DEFAULT_MAX_SESSIONS) / processes);
    this.budget = new SessionBudget(maxSessions);
    const clientSessions = settings['client-sessions'] ?? DEFAULT_CLIENT_SESSIONS;
    this.limits = { clientSessions, descriptors: descriptorBudget().sessions };
    this.idleMs = settings['idle-timeout'] ?? DEFAULT_IDLE_MS;
    this.dial = { connectTimeoutMs: settings['connect-timeout'] ?? DEFAULT_DIAL.connectTimeoutMs, retries: settings.retries ?? DEFAULT_DIAL.retries };
    this.errorLimit = settings['error-limit'] ?? DEFAULT_ERROR_LIMIT;
    if (processes > 1) {
      const workerSettings = { maxSessions, clientSessions, idleMs: this.idleMs, cutConnections: settings['cut-connections'] ?? false, dial: this.dial, errorLimit: this.errorLimit };
      this.workers = new WorkerProcesses(processes - 1, workerSettings, (farm, server, reason) => this.serverFailed(farm, server, reason));
      this.workers.onTftpAnswer = (listen, message, to) => this.tftpPorts.get(peerKey(listen))?.answerFrom(message, to);
    }
  }

  /** The farms as they are served: a farm whose ports do not all listen is not reported (and is set up again). */
  async observe(): Promise<FarmState[]> {
    const out: FarmState[] = [];
    for (const { pool, listeners } of this.running.values()) {
      if (listeners.every((l) => l.listening)) out.push({ service: pool.spec, servers: pool.specs() });
      else this.failing.set(pool.spec.farm, `farm ${pool.spec.farm}: a port of ${pool.spec.address} stopped listening`);
    }
    return out;
  }

  /** Farms the balancer cannot serve now, with the reason (a port it cannot listen on). */
  problems(): ReadonlyMap<string, string> {
    return this.failing;
  }

  watchServers(report: ServerFailureReport): void {
    this.report = report;
  }

  /** A server reached `error-limit` (here or in a worker): out of this process's rotation too, and reported. */
  private serverFailed(farm: string, server: string, reason: string): void {
    const real = this.running.get(farm)?.pool.all().find((s) => s.name === server);
    if (real) real.failedOut = true;
    this.report?.(farm, server, reason);
  }

  async apply(changes: readonly Change[]): Promise<void> {
    try {
      await this.applyHere(changes);
    } finally {
      await this.placeOnWorkers(new Set(changes.map(changedFarm)));
    }
  }

  /**
   * Gives the workers the shared farms they do not serve yet, takes back those that may no longer be
   * shared (persistence or a `max-conns` came), and tells them the new servers of the `changed` ones.
   */
  private async placeOnWorkers(changed: ReadonlySet<string>): Promise<void> {
    const workers = this.workers;
    if (!workers) return;
    const placed: Promise<void>[] = [];
    for (const [farm, { pool, listeners }] of this.running) {
      const state = { service: pool.spec, servers: pool.specs() };
      const shared = sharedAcrossProcesses(pool);
      if (shared && !workers.serves(farm)) placed.push(workers.serve(state, listeners.flatMap((l) => (l.server ? [l.server] : []))));
      else if (!shared && workers.serves(farm)) placed.push(workers.drop(farm));
      else if (shared && changed.has(farm)) placed.push(workers.sync(state));
    }
    await Promise.all(placed);
  }

  /** Applies every change it can; a farm that cannot listen does not hold the others back. */
  private async applyHere(changes: readonly Change[]): Promise<void> {
    const errors: string[] = [];
    for (const change of changes) {
      try {
        await this.applyOne(change);
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
    if (errors.length) throw new Error(errors.join('; '));
  }

  private async applyOne(change: Change): Promise<void> {
    switch (change.kind) {
      case 'add-farm': {
        const failures = { errorLimit: this.errorLimit, onServerFailed: (farm: string, server: string, reason: string) => this.serverFailed(farm, server, reason) };
        const pool = new ServerPool(change.farm.service, this.budget, failures, this.limits);
        for (const server of change.farm.servers) pool.setServer(server);
        await this.listen(pool);
        break;
      }
      case 'update-farm': {
        const current = this.farm(change.service.farm);
        const relisten = listening(current.pool.spec) !== listening(change.service);
        current.pool.setSpec(change.service);
        if (relisten) await this.listen(current.pool);
        break;
      }
      case 'remove-farm':
        await this.stop(change.farm, true);
        await this.workers?.forget(change.farm);
        this.failing.delete(change.farm);
        break;
      case 'add-server':
      case 'update-server':
        this.farm(change.farm).pool.setServer(change.server);
        break;
      case 'remove-server':
        this.farm(change.farm).pool.removeServer(change.server.name, this.settings['cut-connections'] ?? false);
        break;
    }
  }

  /**
   * Per farm and real server: sessions, bytes and errors (for /metrics), this process's and, with
   * workers, theirs as of their last report (at most a second old).
   */
  counters(): DataPlaneCounters[] {
    const here = [...this.running.values()].flatMap(({ pool }) => pool.counters());
    if (!this.workers) return here;
    return sumCounters([here, this.workers.counters().filter((c) => this.running.has(c.farm))]);
  }

  /** Passive ports reserved now, over every address (tests). */
  async passiveReservations(): Promise<number> {
    let count = 0;
    for (const ports of this.passive.values()) count += (await ports.catch(() => undefined))?.reservations ?? 0;
    return count;
  }

  /** The pool of a farm: its servers and counters (tests, /metrics). */
  pool(farm: string): ServerPool | undefined {
    return this.running.get(farm)?.pool;
  }

  /** Sessions open in this process and, as of their last report, in the workers. */
  get activeSessions(): number {
    const inWorkers = this.workers?.counters().reduce((sum, c) => sum + (c.activeSessions ?? 0), 0) ?? 0;
    return this.budget.active + inWorkers;
  }

  /**
   * Stops listening at once (a successor may take the ports over), lets open sessions finish for at
   * most the drain (`drain-timeout` when stopping; until they end by themselves when retiring after
   * a reload), then cuts what is left; `signal` cuts at once. Without options: cut at once.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    const started = Date.now();
    await Promise.all([...this.running.keys()].map((farm) => this.stop(farm, true)));
    const drainMs = options.drain === 'stop' ? (this.settings['drain-timeout'] ?? DEFAULT_DRAIN_MS) : options.drain === 'retire' ? Infinity : 0;
    // the drain counts from the stop, not from the end of the listeners' hand-over grace
    await this.drained(drainMs - (Date.now() - started), options.signal);
    for (const pool of this.stopped) for (const server of pool.all()) pool.cut(server.name);
    for (const cut of this.cutters.splice(0)) cut();
    this.stopped.clear();
    await this.workers?.close();
    for (const address of this.passive.keys()) await this.releasePassive(address);
  }

  /** UDP services' own session ends, kept when their farm stops */
  private readonly cutters: (() => void)[] = [];

  private drained(drainMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (drainMs <= 0 || signal?.aborted || this.activeSessions === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        clearInterval(poll);
        clearTimeout(limit);
        signal?.removeEventListener('abort', end);
        resolve();
      };
      const poll = setInterval(() => this.activeSessions === 0 && end(), DRAIN_POLL_MS);
      const limit = Number.isFinite(drainMs) ? setTimeout(end, drainMs) : undefined;
      signal?.addEventListener('abort', end);
    });
  }

  private farm(name: string): Running {
    const running = this.running.get(name);
    if (!running) throw new Error(`farm ${name} is not on the userspace balancer`);
    return running;
  }

  private passivePorts(address: string): Promise<PassivePorts> {
    const range = this.settings['passive-ports'];
    if (!range) throw new Error('an ftp farm on the userspace balancer needs dataplane "passive-ports" (a range such as "50000-50099")');
    let ports = this.passive.get(address);
    if (!ports) {
      const key = `${address}|${range.from}-${range.to}`;
      let shared = passiveRanges.get(key);
      if (!shared) {
        shared = { ports: PassivePorts.open(address, range), users: 0 };
        passiveRanges.set(key, shared);
        shared.ports.catch(() => passiveRanges.delete(key));
      }
      shared.users++;
      ports = shared.ports;
      ports.catch(() => this.passive.delete(address));
      this.passive.set(address, ports);
    }
    return ports;
  }

  private async releasePassive(address: string): Promise<void> {
    const range = this.settings['passive-ports'];
    this.passive.delete(address);
    if (!range) return;
    const key = `${address}|${range.from}-${range.to}`;
    const shared = passiveRanges.get(key);
    if (!shared || --shared.users > 0) return;
    passiveRanges.delete(key);
    await (await shared.ports.catch(() => undefined))?.close();
  }

  /**
   * Opens (or takes over) the farm's listeners, then lets go of the ones it had: a port that stays
   * is handed over, never closed in between. On failure what was opened is let go of and the farm
   * keeps what it had.
   */
  private async listen(pool: ServerPool): Promise<void> {
    const spec = pool.spec;
    const address = this.settings['listen-address'] ?? spec.address;
    const listeners: FarmListener[] = [];
    try {
      for (const port of expandPorts(spec)) {
        if (spec.service === 'tftp') listeners.push(await this.listenTftp(address, port, pool));
        else if (spec.protocol === 'udp') listeners.push(await UdpService.start(address, port, pool, this.idleMs));
        else if (spec.service === 'ftp') {
          const passive = await this.passivePorts(address);
          listeners.push(await listenTcp(address, port, (handle) => forwardFtp(plainSocket(handle), { pool, passive, idleMs: this.idleMs, maxLine: FTP_MAX_LINE, dial: this.dial })));
        } else {
          requireTcpHandles();
          listeners.push(await listenTcp(address, port, (handle) => forwardTcp(handle, pool, { idleMs: this.idleMs, dial: this.dial })));
        }
      }
    } catch (error) {
      await Promise.all(listeners.map((l) => l.close()));
      const message = `farm ${spec.farm}: cannot listen on ${address}: ${(error as Error).message}`;
      this.failing.set(spec.farm, message);
      throw new Error(message);
    }
    const before = this.running.get(spec.farm);
    this.running.set(spec.farm, { pool, listeners });
    this.failing.delete(spec.farm);
    if (before && before.pool !== pool) before.pool.retire(); // a new pool for the farm: the old one's share goes
    if (before) await this.letGo(before);
  }

  /** TFTP service ports by address|port, for the answers of requests handed to workers */
  private readonly tftpPorts = new Map<string, TftpService>();

  /** A TFTP service port; with workers serving the farm, requests are spread over the processes. */
  private async listenTftp(address: string, port: number, pool: ServerPool): Promise<TftpService> {
    const idleMs = Math.min(this.idleMs, TFTP_IDLE_MS);
    const listen = { address, port };
    const workers = this.workers;
    // handTftp hands out only while the workers serve the farm (placeOnWorkers: while it may be shared)
    const handOff = workers && ((message: Buffer, client: Peer) => workers.handTftp(pool.spec.farm, listen, idleMs, message, client));
    const service = await TftpService.start(address, port, pool, idleMs, handOff);
    this.tftpPorts.set(peerKey(listen), service);
    return service;
  }

  /** Closes a farm's listeners; `retire`: the farm is gone, the others share the budgets without it. */
  private async stop(farm: string, retire = false): Promise<void> {
    const running = this.running.get(farm);
    if (!running) return;
    this.running.delete(farm);
    if (retire) running.pool.retire();
    await this.letGo(running);
  }

  /** Stops listening for a farm's old listeners; its open sessions run on (until drained or cut). */
  private async letGo({ pool, listeners }: Running): Promise<void> {
    // workers first let go of the sockets about to close (the farm's new ones are given after)
    if (this.workers?.serves(pool.spec.farm)) await this.workers.drop(pool.spec.farm);
    for (const listener of listeners) if (listener.cut) this.cutters.push(() => listener.cut?.());
    for (const done of this.stopped) if (done.all().every((s) => s.active === 0)) this.stopped.delete(done);
    if (![...this.running.values()].some((r) => r.pool === pool)) this.stopped.add(pool);
    // a TFTP port a successor took keeps its entry (the successor's)
    for (const [key, service] of this.tftpPorts) if ((listeners as object[]).includes(service)) this.tftpPorts.delete(key);
    await Promise.all(listeners.map((l) => l.close()));
  }
}

export function createUserspaceAdapter(config: DataplaneConfig): UserspaceAdapter {
  if (config.type !== 'userspace') throw new Error(`the userspace adapter was given a "${config.type}" data plane`);
  return new UserspaceAdapter(config);
}

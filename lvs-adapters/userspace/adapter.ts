import { createServer, type Server } from 'node:net';
import { availableParallelism } from 'node:os';
import type { DataplaneConfig } from '../../orchestrator/dataplane/registry.ts';
import { type Change, changedFarm, type DataPlaneAdapter, type DataPlaneCounters, type FarmState, type VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { forwardFtp } from './ftp-session.ts';
import { descriptorBudget } from './descriptors.ts';
import { raiseMallocTrimThreshold } from './malloc.ts';
import { PassivePorts } from './passive-ports.ts';
import { type PoolLimits, ServerPool, SessionBudget } from './pool.ts';
import { forwardTcp } from './tcp-relay.ts';
import { TftpService } from './tftp-relay.ts';
import { UdpService } from './udp-relay.ts';
import { sumCounters, WorkerProcesses } from './workers.ts';

export type UserspaceSettings = Extract<DataplaneConfig, { type: 'userspace' }>;

const DEFAULT_MAX_SESSIONS = 10_000;
/** sessions one client address may hold on one farm: a single source cannot take a farm's share alone */
export const DEFAULT_CLIENT_SESSIONS = 256;
const DEFAULT_IDLE_MS = 300_000;
/** TFTP is lock-step with retransmission within seconds: a silent session is a dead one */
const TFTP_IDLE_MS = 10_000;
/** longer FTP control lines end the session (RFC 959 lines are short; 4 KiB leaves room for long paths) */
const FTP_MAX_LINE = 4096;
const MAX_PORTS_PER_SERVICE = 1024;

interface Listener {
  /** a TCP listener's socket, which worker processes may share */
  readonly server?: Server;
  close(): Promise<void>;
}

interface Running {
  readonly pool: ServerPool;
  readonly listeners: Listener[];
}

function listenTcp(address: string, port: number, onSocket: Parameters<typeof createServer>[1]): Promise<Listener> {
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, onSocket);
  return new Promise((resolve, reject) => {
    server.once('error', reject).listen({ port, host: address, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve({ server, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}

/**
 * Whether worker processes may serve a farm too: plain TCP whose every choice each process can make
 * alone. Persistence (one table of client groups), `max-conns` (one count per server) and FTP (data
 * connections that must find their control session) need the one view of the main process.
 */
function sharedAcrossProcesses(pool: ServerPool): boolean {
  const { spec } = pool;
  return spec.protocol === 'tcp' && spec.service !== 'ftp' && !spec.persistence && pool.specs().every((s) => !s.maxConnections);
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
 * finish (closes them with `cut-connections`); weight 0 quiesces it.
 */
export class UserspaceAdapter implements DataPlaneAdapter {
  readonly type = 'userspace';
  private readonly running = new Map<string, Running>();
  private readonly passive = new Map<string, Promise<PassivePorts>>();
  private readonly budget: SessionBudget;
  private readonly limits: PoolLimits;
  private readonly idleMs: number;
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
    if (processes > 1) this.workers = new WorkerProcesses(processes - 1, { maxSessions, clientSessions, idleMs: this.idleMs, cutConnections: settings['cut-connections'] ?? false });
  }

  async observe(): Promise<FarmState[]> {
    return [...this.running.values()].map(({ pool }) => ({ service: pool.spec, servers: pool.specs() }));
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

  private async applyHere(changes: readonly Change[]): Promise<void> {
    for (const change of changes) {
      switch (change.kind) {
        case 'add-farm': {
          await this.stop(change.farm.service.farm, true);
          const pool = new ServerPool(change.farm.service, this.budget, this.limits);
          for (const server of change.farm.servers) pool.setServer(server);
          await this.start(pool);
          break;
        }
        case 'update-farm': {
          const current = this.farm(change.service.farm);
          if (listening(current.pool.spec) === listening(change.service)) current.pool.setSpec(change.service);
          else {
            await this.stop(change.service.farm);
            current.pool.setSpec(change.service);
            await this.start(current.pool);
          }
          break;
        }
        case 'remove-farm':
          await this.stop(change.farm, true);
          await this.workers?.forget(change.farm);
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

  async close(): Promise<void> {
    await this.workers?.close();
    for (const farm of [...this.running.keys()]) await this.stop(farm, true);
    for (const ports of this.passive.values()) await (await ports.catch(() => undefined))?.close();
    this.passive.clear();
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
      ports = PassivePorts.open(address, range);
      ports.catch(() => this.passive.delete(address));
      this.passive.set(address, ports);
    }
    return ports;
  }

  private async start(pool: ServerPool): Promise<void> {
    const spec = pool.spec;
    const address = this.settings['listen-address'] ?? spec.address;
    const listeners: Listener[] = [];
    const running: Running = { pool, listeners };
    this.running.set(spec.farm, running);
    try {
      for (const port of expandPorts(spec)) {
        if (spec.service === 'tftp') listeners.push(await TftpService.start(address, port, pool, Math.min(this.idleMs, TFTP_IDLE_MS)));
        else if (spec.protocol === 'udp') listeners.push(await UdpService.start(address, port, pool, this.idleMs));
        else if (spec.service === 'ftp') {
          const passive = await this.passivePorts(address);
          listeners.push(await listenTcp(address, port, (socket) => forwardFtp(socket, { pool, passive, idleMs: this.idleMs, maxLine: FTP_MAX_LINE })));
        } else listeners.push(await listenTcp(address, port, (socket) => forwardTcp(socket, pool, { idleMs: this.idleMs })));
      }
    } catch (error) {
      await this.stop(spec.farm);
      throw new Error(`farm ${spec.farm}: cannot listen on ${address}: ${(error as Error).message}`);
    }
  }

  /** Closes a farm's listeners; `retire`: the farm is gone, the others share the budgets without it. */
  private async stop(farm: string, retire = false): Promise<void> {
    const running = this.running.get(farm);
    if (!running) return;
    this.running.delete(farm);
    if (retire) running.pool.retire();
    // workers first let go of the sockets about to close (a restart gives them the new ones)
    await this.workers?.drop(farm);
    await Promise.all(running.listeners.map((l) => l.close()));
  }
}

export function createUserspaceAdapter(config: DataplaneConfig): UserspaceAdapter {
  if (config.type !== 'userspace') throw new Error(`the userspace adapter was given a "${config.type}" data plane`);
  return new UserspaceAdapter(config);
}

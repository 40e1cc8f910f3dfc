import { type ChildProcess, fork } from 'node:child_process';
import { LRUCache } from 'lru-cache';
import type { Server } from 'node:net';
import type { DataPlaneCounters, FarmState } from '../../orchestrator/dataplane/types.ts';
import { workerEntry } from '../../orchestrator/worker-entry.ts';
import type { DialPolicy } from './dial.ts';
import type { Peer } from './tftp-relay.ts';
import { peerKey } from './udp.ts';

export interface WorkerSettings {
  /** this process's share of `max-sessions` */
  readonly maxSessions: number;
  /** sessions one client address may hold on one farm, in this process */
  readonly clientSessions: number;
  readonly idleMs: number;
  readonly cutConnections: boolean;
  readonly dial: DialPolicy;
  readonly errorLimit: number;
}

/** What the main process tells a worker (worker.ts); each is answered `done` with its `seq`. */
export type ToWorker = { readonly seq: number } & (
  | { readonly kind: 'init'; readonly settings: WorkerSettings }
  | { readonly kind: 'sync'; readonly farm: FarmState }
  | { readonly kind: 'listen'; readonly farm: string }
  | { readonly kind: 'drop'; readonly farm: string }
  | { readonly kind: 'forget'; readonly farm: string }
);

/**
 * A TFTP request the main process read on a farm's service port (`listen`) and hands to a worker,
 * which opens the session (tftp-relay.ts): its datagrams never pass the main process. Not answered.
 */
export interface TftpRequest {
  readonly kind: 'tftp-request';
  readonly farm: string;
  readonly listen: Peer;
  readonly idleMs: number;
  readonly client: Peer;
  /** the request datagram, base64 */
  readonly request: string;
}

export type FromWorker =
  | { readonly kind: 'hello' }
  /** what a farm's TFTP service port must send back to a client (no server for its request) */
  | { readonly kind: 'tftp-answer'; readonly listen: Peer; readonly to: Peer; readonly message: string }
  | { readonly kind: 'done'; readonly seq: number }
  | { readonly kind: 'counters'; readonly counters: DataPlaneCounters[] }
  /** a server reached `error-limit` in the worker: the main process takes it out too */
  | { readonly kind: 'server-failed'; readonly farm: string; readonly server: string; readonly reason: string };

/** Distributes Omit over the union of messages, so that each keeps its own fields. */
type Unsent<T> = T extends unknown ? Omit<T, 'seq'> : never;

/**
 * glibc gives freed heap back to the system once 128 KiB lie free at its top; a relay that allocates
 * and frees 64 KiB read buffers all the time can land in a state where it does so at almost every
 * read, and then pays a page fault per 4 KiB it moves (see malloc.ts). Keeping up to 32 MiB free
 * avoids that. Each process raises the threshold itself (malloc.ts); a worker, exec'ed here, also
 * gets it where glibc reads it first, from GLIBC_TUNABLES.
 */
export const MALLOC_TUNABLE = 'glibc.malloc.trim_threshold=33554432';

/**
 * The main process's environment (NODE_OPTIONS and loaders included) with the malloc setting. Not
 * trimmed of secrets: a worker runs as the same user, who can read the main process's anyway.
 */
function workerEnvironment(): NodeJS.ProcessEnv {
  const tunables = process.env.GLIBC_TUNABLES;
  if (tunables?.includes('glibc.malloc.trim_threshold=')) return process.env;
  return { ...process.env, GLIBC_TUNABLES: tunables ? `${tunables}:${MALLOC_TUNABLE}` : MALLOC_TUNABLE };
}

const key = (c: DataPlaneCounters) => `${c.farm}\0${c.backend}\0${c.errorKind ?? ''}`;
const add = (a: number | undefined, b: number | undefined) => (a === undefined && b === undefined ? undefined : (a ?? 0) + (b ?? 0));

/** Counters of several processes as one list: the same farm, backend and kind summed. */
export function sumCounters(lists: Iterable<readonly DataPlaneCounters[]>): DataPlaneCounters[] {
  const sums = new Map<string, DataPlaneCounters>();
  for (const list of lists) {
    for (const c of list) {
      const seen = sums.get(key(c));
      if (!seen) {
        sums.set(key(c), { ...c });
        continue;
      }
      sums.set(key(c), {
        ...seen,
        activeSessions: add(seen.activeSessions, c.activeSessions),
        sessions: add(seen.sessions, c.sessions),
        bytesIn: add(seen.bytesIn, c.bytesIn),
        bytesOut: add(seen.bytesOut, c.bytesOut),
        errors: seen.errors + c.errors,
      });
    }
  }
  return [...sums.values()].map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as unknown as DataPlaneCounters);
}

interface Worker {
  readonly child: ChildProcess;
  readonly startedAt: number;
  counters: DataPlaneCounters[];
  /** messages not yet answered, by seq */
  readonly pending: Map<number, () => void>;
  /**
   * resolves when the worker listens for messages: a listening socket sent before then would be
   * opened by Node in the worker with nobody to take its connections
   */
  readonly hello: Promise<void>;
  /** it answered its first messages: changes now wait for its answer */
  ready: boolean;
  /** resolves when it is ready (or gone) */
  started: Promise<void>;
  /** its hello came: it has loaded */
  loaded: boolean;
  /** TFTP requests handed to it and not yet written to its channel */
  handing: number;
}

const RESPAWN_MIN_MS = 1000;
const RESPAWN_MAX_MS = 30_000;
/** a worker that ran this long before it exited was not crash-looping: the next one starts soon */
const STABLE_MS = 10_000;
/** a worker that leaves a message unanswered this long is stuck: it is killed and started afresh */
const ANSWER_MS = 10_000;
/**
 * a message sent before the worker's hello also waits for it to load: from the sources (tsx, tests)
 * on a loaded machine that took 7-8 s, and a kill at 10 s restarted it over and over
 */
const START_MS = 60_000;
/** TFTP requests a worker may have queued on its channel: past that (a flood) the main process takes them */
const HANDING_MAX = 256;
/**
 * Clients whose request went to a worker, remembered past their retransmissions (tftp-hpa and atftp
 * send again after 5 s): a retransmission that finds the worker's channel full is dropped, not
 * served a second time by the main process.
 */
const HANDED_MS = 15_000;
const HANDED_MAX = 65_536;

/** A client's place among the processes: the same one for each of its datagrams (FNV-1a of address and port). */
function processOf(client: Peer, processes: number): number {
  let hash = 0x811c9dc5 ^ client.port;
  for (let i = 0; i < client.address.length; i++) hash = Math.imul(hash ^ client.address.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % processes;
}

/**
 * The worker processes of the userspace balancer (`workers: N` runs N - 1 of them beside the main
 * process). The main process opens each shared farm's listening sockets and keeps accepting on them
 * itself; every worker gets the farm's servers and the same sockets, so the kernel spreads new
 * connections over all processes. Workers start with the first shared farm; one that exits is
 * started again (1 s, doubling to 30 s while they keep dying young) and given every farm anew, its
 * last counters kept so that /metrics totals do not go back, with a `worker-exit` error per farm.
 * Each change resolves once every ready worker has taken it (or, stuck for 10 s, was killed): when
 * apply() returns, no process schedules by the old servers any more. A worker still starting is not
 * waited for (a broken one must not hold the main process's changes back); its messages queue in
 * order, and it listens only after the farm's servers as they were when it was started.
 */
export class WorkerProcesses {
  private readonly slots: (Worker | undefined)[];
  private readonly farms = new Map<string, { state: FarmState; servers: readonly Server[] }>();
  /** farm|client -> the worker slot its TFTP request went to (HANDED_MS) */
  private readonly handed = new LRUCache<string, number>({ max: HANDED_MAX, ttl: HANDED_MS });
  /** what exited workers had counted */
  private retired: DataPlaneCounters[] = [];
  private readonly respawns = new Set<NodeJS.Timeout>();
  private respawnMs = RESPAWN_MIN_MS;
  private closing = false;
  private seq = 0;
  /** where a worker's TFTP answers go: the farm's service port at `listen` in the main process */
  onTftpAnswer: (listen: Peer, message: Buffer, to: Peer) => void = () => undefined;

  constructor(
    readonly count: number,
    private readonly settings: WorkerSettings,
    private readonly onServerFailed: (farm: string, server: string, reason: string) => void = () => undefined,
  ) {
    this.slots = Array.from({ length: count }, () => undefined);
  }

  /** Pids of the running workers (tests, status). */
  get pids(): number[] {
    return this.slots.flatMap((w) => (w?.child.pid === undefined ? [] : [w.child.pid]));
  }

  /** Gives a farm and its listening sockets to every worker (starting those not running). */
  async serve(state: FarmState, servers: readonly Server[]): Promise<void> {
    this.farms.set(state.service.farm, { state, servers });
    const given: Promise<void>[] = [];
    for (let slot = 0; slot < this.slots.length; slot++) {
      const worker = this.slots[slot];
      if (worker) given.push(this.whenTaken(worker, this.giveFarm(worker, state.service.farm)));
      else if (!this.closing) this.start(slot);
    }
    await Promise.all(given);
  }

  /** A served farm's servers or scheduler changed. */
  async sync(state: FarmState): Promise<void> {
    const farm = this.farms.get(state.service.farm);
    if (!farm) return;
    farm.state = state;
    await this.broadcast({ kind: 'sync', farm: state });
  }

  /** Workers stop accepting for the farm (it goes back to the main process alone, or is restarted). */
  async drop(farm: string): Promise<void> {
    if (!this.farms.delete(farm)) return;
    await this.broadcast({ kind: 'drop', farm });
  }

  /** The farm is gone: workers stop accepting and drop its counters. */
  async forget(farm: string): Promise<void> {
    this.farms.delete(farm);
    this.retired = this.retired.filter((c) => c.farm !== farm);
    await this.broadcast({ kind: 'forget', farm });
  }

  serves(farm: string): boolean {
    return this.farms.has(farm);
  }

  /** What every worker counted, as of its last report (once a second), and what exited ones had. */
  counters(): DataPlaneCounters[] {
    return sumCounters([this.retired, ...this.slots.map((w) => w?.counters ?? [])]);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const timer of this.respawns) clearTimeout(timer);
    this.respawns.clear();
    await Promise.all(
      this.slots.map(async (worker) => {
        if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
        const exited = new Promise((resolve) => worker.child.once('exit', resolve));
        // its open sessions end with it, as the main process's do; SIGKILL if it does not go within 2 s
        worker.child.kill('SIGTERM');
        const timer = setTimeout(() => worker.child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /**
   * Hands a new TFTP request of a served farm to the process the client's address and port fall on
   * (a retransmitted request goes where the first went): false when that is the main process, or
   * its worker is not ready or has a backlog, and the main process keeps it.
   */
  handTftp(farm: string, listen: Peer, idleMs: number, message: Buffer, client: Peer): boolean {
    if (!this.farms.has(farm)) return false;
    const slot = processOf(client, this.slots.length + 1) - 1;
    const worker = slot < 0 ? undefined : this.slots[slot];
    if (!worker?.ready || !worker.child.connected) return false;
    const key = `${farm}|${peerKey(client)}`;
    // the worker has this client's request already (its session, or queued): the retransmission
    // goes there too when the channel has room, and is dropped when it has not
    if (worker.handing >= HANDING_MAX) return this.handed.get(key) === slot;
    this.handed.set(key, slot);
    const request: TftpRequest = { kind: 'tftp-request', farm, listen: { address: listen.address, port: listen.port }, idleMs, client: { address: client.address, port: client.port }, request: message.toString('base64') };
    worker.handing++;
    worker.child.send(request, undefined, {}, () => worker.handing--);
    return true;
  }

  /** Resolves once every worker slot has a worker that took its farms (tests, after serve()). */
  async whenReady(): Promise<void> {
    await Promise.all(this.slots.map((w) => w?.started));
  }

  private start(slot: number): void {
    const entry = workerEntry(import.meta.url, 'worker.ts', 'userspace-worker.mjs');
    const child = fork(entry.path, [], { execArgv: entry.execArgv, env: workerEnvironment(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    let hello!: () => void;
    const worker: Worker = { child, startedAt: Date.now(), counters: [], pending: new Map(), ready: false, hello: new Promise((resolve) => (hello = resolve)), started: Promise.resolve(), loaded: false, handing: 0 };
    this.slots[slot] = worker;
    child.on('message', (message: FromWorker) => {
      if (message.kind === 'counters' && Array.isArray(message.counters)) worker.counters = message.counters;
      else if (message.kind === 'done') worker.pending.get(message.seq)?.();
      else if (message.kind === 'hello') {
        worker.loaded = true;
        hello();
      }
      else if (message.kind === 'server-failed') this.onServerFailed(String(message.farm), String(message.server), String(message.reason));
      else if (message.kind === 'tftp-answer') this.onTftpAnswer(message.listen, Buffer.from(message.message, 'base64'), message.to);
    });
    // a send to a worker that is exiting fails; its exit below starts another one
    child.on('error', () => {});
    child.once('exit', () => {
      hello(); // one that dies before its hello has nothing left to send to
      this.exited(slot, worker);
    });
    const given = [this.send(worker, { kind: 'init', settings: this.settings })];
    for (const farm of this.farms.keys()) given.push(this.giveFarm(worker, farm));
    worker.started = Promise.all(given).then(() => {
      worker.ready = true;
    });
  }

  /** What a change waits for: the worker's answer once it is ready; nothing while it still starts. */
  private whenTaken(worker: Worker, answered: Promise<void>): Promise<void> {
    return worker.ready ? answered : Promise.resolve();
  }

  private exited(slot: number, worker: Worker): void {
    for (const answered of [...worker.pending.values()]) answered();
    if (this.slots[slot] !== worker) return;
    this.slots[slot] = undefined;
    // its sessions ended with it; what it carried stays counted
    const carried = worker.counters.map((c) => ({ ...c, activeSessions: c.activeSessions === undefined ? undefined : 0 }));
    const exits = [...this.farms.keys()].map((farm) => ({ farm, backend: '', errorKind: 'worker-exit', errors: 1 }));
    this.retired = sumCounters([this.retired, carried, exits]);
    if (this.closing) return;
    this.respawnMs = Date.now() - worker.startedAt >= STABLE_MS ? RESPAWN_MIN_MS : Math.min(RESPAWN_MAX_MS, this.respawnMs * 2);
    const timer = setTimeout(() => {
      this.respawns.delete(timer);
      // serve() may have started this slot meanwhile
      if (!this.closing && this.farms.size > 0 && !this.slots[slot]) this.start(slot);
    }, this.respawnMs);
    timer.unref();
    this.respawns.add(timer);
  }

  private async giveFarm(worker: Worker, name: string): Promise<void> {
    const farm = this.farms.get(name)!;
    await Promise.all([this.send(worker, { kind: 'sync', farm: farm.state }), ...farm.servers.map((server) => this.send(worker, { kind: 'listen', farm: name }, server))]);
  }

  private async broadcast(message: Unsent<ToWorker>): Promise<void> {
    await Promise.all(this.slots.map((worker) => worker && this.whenTaken(worker, this.send(worker, message))));
  }

  /** Sends a message; resolves once the worker answers it, exits, or was killed for not answering. */
  private send(worker: Worker, message: Unsent<ToWorker>, server?: Server): Promise<void> {
    if (!worker.child.connected) return Promise.resolve();
    const seq = ++this.seq;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => worker.child.kill('SIGKILL'), worker.loaded ? ANSWER_MS : START_MS);
      worker.pending.set(seq, () => {
        clearTimeout(timer);
        worker.pending.delete(seq);
        resolve();
      });
      const sent = { ...message, seq } as ToWorker;
      // after the hello, in the order of the calls (each waits on the same promise)
      void worker.hello.then(() => {
        if (!worker.child.connected) return;
        if (server) worker.child.send(sent, server);
        else worker.child.send(sent);
      });
    });
  }
}

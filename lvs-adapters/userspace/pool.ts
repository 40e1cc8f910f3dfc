import type { DataPlaneCounters, RealServerSpec, VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { FairShare, type ShareHolder } from './fair-share.ts';
import { PersistenceTable } from './persistence.ts';
import { pickMethod, ServerPicker, takesSessions } from './server-picker.ts';

/** One real server of a virtual service, with what it has carried. */
export class RealServer {
  active = 0;
  sessions = 0;
  bytesIn = 0;
  bytesOut = 0;
  errors = 0;
  /** false once removed from the service: open sessions run on, no new ones */
  present = true;
  /** connects that failed in a row (refused, reset, timed out) */
  connectFailures = 0;
  /** taken out of the rotation by `error-limit` until the control plane sets it again */
  failedOut = false;
  /** closes this server's open sessions (Zevenet's cut_conns) */
  readonly cutters = new Set<Cutter>();

  constructor(public spec: RealServerSpec) {}

  get name(): string {
    return this.spec.name;
  }
  get weight(): number {
    return this.present && !this.failedOut ? this.spec.weight : 0;
  }
  /** `max-conns`: at this many open sessions the server takes no new ones (absent or 0: no limit) */
  get maxConnections(): number | undefined {
    return this.spec.maxConnections;
  }
}

/** Ends a session at once: a function, or an object whose cut() does (no closure per session). */
export type Cutter = (() => void) | { cut(): void };

function cutAll(cutters: Iterable<Cutter>): void {
  for (const cutter of [...cutters]) {
    if (typeof cutter === 'function') cutter();
    else cutter.cut();
  }
}

/** What a pool does about servers whose connects fail. */
export interface FailurePolicy {
  /** consecutive connect failures that take a server out of the rotation at once (0: never) */
  readonly errorLimit: number;
  /** told when that happens (the orchestrator marks the backend down: checks bring it back) */
  readonly onServerFailed?: (farm: string, server: string, reason: string) => void;
}

export const DEFAULT_ERROR_LIMIT = 3;

/**
 * Shared by every service of one adapter: `max-sessions` bounds them together, and each farm is
 * sure of its share of it (max-sessions / farms), so a flood on one farm leaves the others theirs.
 */
export class SessionBudget extends FairShare {
  get active(): number {
    return this.used;
  }
  get max(): number {
    return this.capacity;
  }
}

/** Bounds of one farm beyond max-sessions. */
export interface PoolLimits {
  /** open sessions one client address may hold on this farm (absent: no limit) */
  readonly clientSessions?: number;
  /** the process's descriptors, shared fairly by the farms (absent: not counted) */
  readonly descriptors?: FairShare;
}

/** An open session's handle: close() exactly once, whatever ends it. */
export interface Lease {
  readonly server: RealServer;
  readonly client: string;
  addBytes(fromClient: number, toClient: number): void;
  /** more descriptors for this session (an FTP data connection, a listener); false when the budget has none */
  takeDescriptors(count: number): boolean;
  giveDescriptors(count: number): void;
  close(): void;
}

/** A session on a server of a pool; its close() gives the place back once. */
class PoolLease implements Lease {
  private open = true;
  constructor(private readonly pool: ServerPool, readonly server: RealServer, readonly client: string, readonly onCut: Cutter | undefined, public descriptors: number) {}

  addBytes(fromClient: number, toClient: number): void {
    this.server.bytesIn += fromClient;
    this.server.bytesOut += toClient;
  }

  takeDescriptors(count: number): boolean {
    if (!this.open || !this.pool.takeDescriptors(count)) return false;
    this.descriptors += count;
    return true;
  }

  giveDescriptors(count: number): void {
    if (!this.open) return;
    const given = Math.min(count, this.descriptors);
    this.descriptors -= given;
    this.pool.giveDescriptors(given);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.pool.release(this);
  }
}

/**
 * The real servers of one virtual service and the choice among them: persistence first (a live entry
 * naming a server that still takes sessions), then the picker (the farm's scheduler). A server at
 * its `max-conns` is passed over like a quiesced one, persistence or not (IPVS skips an overloaded
 * destination). Counts sessions per server and the service's own refusals and errors (by kind), for
 * /metrics.
 */
export class ServerPool {
  private readonly servers = new Map<string, RealServer>();
  /** the servers still in the service, in order: what the picker walks for each new session */
  private present: RealServer[] = [];
  private picker: ServerPicker;
  private persistence: PersistenceTable | undefined;
  readonly errors = new Map<string, number>();
  /** open sessions per client address (with a client-sessions limit) */
  private readonly clients = new Map<string, number>();
  private readonly sessionShare: ShareHolder;
  private readonly descriptorShare: ShareHolder | undefined;

  constructor(
    public spec: VirtualServiceSpec,
    private readonly budget: SessionBudget,
    private readonly failures: FailurePolicy = { errorLimit: DEFAULT_ERROR_LIMIT },
    private readonly limits: PoolLimits = {},
  ) {
    this.picker = new ServerPicker(pickMethod(spec.scheduler));
    this.persistence = spec.persistence && new PersistenceTable(spec.persistence.timeoutSeconds * 1000, spec.persistence.netmask);
    this.sessionShare = budget.join();
    this.descriptorShare = limits.descriptors?.join();
  }

  /** The farm is gone: the others share max-sessions and descriptors without it (its open sessions still count until they close). */
  retire(): void {
    this.budget.leave(this.sessionShare);
    if (this.descriptorShare) this.limits.descriptors?.leave(this.descriptorShare);
  }

  /** the client's address decides the server (persistence, source hashing, a client-sessions limit): others may pass '' */
  get needsClientAddress(): boolean {
    return this.persistence !== undefined || this.picker.kind === 'sh' || this.limits.clientSessions !== undefined;
  }

  /** open sessions of one client address (counted only with a client-sessions limit) */
  clientSessions(client: string): number {
    return this.clients.get(client) ?? 0;
  }

  takeDescriptors(count: number): boolean {
    const { descriptors } = this.limits;
    if (!descriptors || !this.descriptorShare) return true;
    if (descriptors.take(this.descriptorShare, count)) return true;
    this.countError('descriptors');
    return false;
  }

  giveDescriptors(count: number): void {
    if (this.descriptorShare && count > 0) this.limits.descriptors?.give(this.descriptorShare, count);
  }

  setSpec(spec: VirtualServiceSpec): void {
    if (spec.scheduler !== this.spec.scheduler) this.picker = new ServerPicker(pickMethod(spec.scheduler));
    if (JSON.stringify(spec.persistence) !== JSON.stringify(this.spec.persistence)) {
      this.persistence = spec.persistence && new PersistenceTable(spec.persistence.timeoutSeconds * 1000, spec.persistence.netmask);
    }
    this.spec = spec;
  }

  setServer(spec: RealServerSpec): void {
    const server = this.servers.get(spec.name);
    if (server && server.present) {
      server.spec = spec;
      // the control plane's word (a check that passed again) brings a failed-out server back
      server.failedOut = false;
      server.connectFailures = 0;
    } else this.servers.set(spec.name, new RealServer(spec));
    this.listPresent();
  }

  private listPresent(): void {
    this.present = [...this.servers.values()].filter((s) => s.present);
  }

  /** Removed: no new sessions; open ones run on unless `cut`. Counters go when the last one closes. */
  removeServer(name: string, cut = false): void {
    const server = this.servers.get(name);
    if (!server) return;
    server.present = false;
    this.listPresent();
    this.persistence?.forget(name);
    if (cut) cutAll(server.cutters);
    if (server.active === 0) this.servers.delete(name);
  }

  /** Closes every open session of a server (down with cut_conns). */
  cut(name: string): void {
    cutAll(this.servers.get(name)?.cutters ?? []);
  }

  specs(): RealServerSpec[] {
    return this.present.map((s) => s.spec);
  }

  all(): RealServer[] {
    return [...this.servers.values()];
  }

  /** Per real server (sessions, bytes, errors) and, with backend '', the service's errors by kind. */
  counters(): DataPlaneCounters[] {
    const farm = this.spec.farm;
    const out: DataPlaneCounters[] = [];
    for (const server of this.servers.values()) {
      out.push({ farm, backend: server.name, activeSessions: server.active, sessions: server.sessions, bytesIn: server.bytesIn, bytesOut: server.bytesOut, errors: server.errors });
    }
    for (const [kind, count] of this.errors) out.push({ farm, backend: '', errorKind: kind, errors: count });
    return out;
  }

  countError(kind: string, server?: RealServer): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    if (server) server.errors++;
  }

  /** A connect to `server` succeeded: its run of failures ends. */
  connected(server: RealServer): void {
    server.connectFailures = 0;
  }

  /**
   * A connect to `server` failed (refused, reset, timed out): counted, and at `error-limit` in a row
   * the server leaves the rotation at once, before its next check (HAProxy's `observe layer4`).
   */
  connectFailed(server: RealServer, reason: string): void {
    this.countError('connect', server);
    server.connectFailures++;
    const limit = this.failures.errorLimit;
    if (limit <= 0 || server.connectFailures < limit || server.failedOut || !server.present) return;
    server.failedOut = true;
    this.countError('error-limit', server);
    this.failures.onServerFailed?.(this.spec.farm, server.name, `${server.connectFailures} connects in a row failed through the balancer (last: ${reason})`);
  }

  /**
   * The server for a new session from `client` that holds `descriptors` sockets, or undefined: the
   * client at its client-sessions (`client-limit`), the farm past its share of max-sessions while
   * others need theirs, or max-sessions reached (`max-sessions`), no descriptors left outside the
   * reserve (`descriptors`), every server that takes sessions at its `max-conns` (`over-limit`), or
   * none at all (`no-server`).
   */
  open(client: string, onCut?: Cutter, exclude?: ReadonlySet<RealServer>, descriptors = 2): Lease | undefined {
    const limit = this.limits.clientSessions;
    const held = limit === undefined ? 0 : (this.clients.get(client) ?? 0);
    if (limit !== undefined && held >= limit) {
      this.countError('client-limit');
      return undefined;
    }
    if (!this.budget.take(this.sessionShare, 1)) {
      // all of max-sessions in use, or this farm past its share while the others need theirs
      this.countError(this.budget.used >= this.budget.capacity ? 'max-sessions' : 'farm-share');
      return undefined;
    }
    if (!this.takeDescriptors(descriptors)) {
      this.budget.give(this.sessionShare, 1);
      return undefined;
    }
    const server = this.choose(client, exclude);
    if (!server) {
      this.budget.give(this.sessionShare, 1);
      this.giveDescriptors(descriptors);
      // a retry that finds no other server is the dial's to count (a failed connect, counted already)
      if (!exclude) this.countError(this.present.some((s) => s.weight > 0) ? 'over-limit' : 'no-server');
      return undefined;
    }
    if (limit !== undefined) this.clients.set(client, held + 1);
    server.active++;
    server.sessions++;
    if (onCut) server.cutters.add(onCut);
    return new PoolLease(this, server, client, onCut, descriptors);
  }

  /** A lease's close(): the session's place goes back to its server, to max-sessions and the descriptors. */
  release(lease: PoolLease): void {
    const { server, onCut } = lease;
    this.budget.give(this.sessionShare, 1);
    this.giveDescriptors(lease.descriptors);
    if (this.limits.clientSessions !== undefined) {
      const held = (this.clients.get(lease.client) ?? 1) - 1;
      if (held > 0) this.clients.set(lease.client, held);
      else this.clients.delete(lease.client);
    }
    server.active--;
    if (onCut) server.cutters.delete(onCut);
    this.persistence?.closed(lease.client, server.name);
    if (!server.present && server.active === 0 && this.servers.get(server.name) === server) this.servers.delete(server.name);
  }

  /** `exclude`: servers a retry must not choose again (their connect just failed) */
  private choose(client: string, exclude?: ReadonlySet<RealServer>): RealServer | undefined {
    const remembered = this.persistence?.lookup(client);
    const sticky = remembered === undefined ? undefined : this.servers.get(remembered);
    const candidates = exclude ? this.present.filter((s) => !exclude.has(s)) : this.present;
    const server = sticky?.present && takesSessions(sticky) && !exclude?.has(sticky) ? sticky : this.picker.pick(candidates, client);
    if (server) this.persistence?.opened(client, server.name);
    return server;
  }
}

import type { RealServerSpec, VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { PersistenceTable } from './persistence.ts';
import { Scheduler, schedulerKind } from './scheduler.ts';

/** One real server of a virtual service, with what it has carried. */
export class RealServer {
  active = 0;
  sessions = 0;
  bytesIn = 0;
  bytesOut = 0;
  errors = 0;
  /** false once removed from the service: open sessions run on, no new ones */
  present = true;
  /** closes this server's open sessions (Zevenet's cut_conns) */
  readonly cutters = new Set<() => void>();

  constructor(public spec: RealServerSpec) {}

  get name(): string {
    return this.spec.name;
  }
  get weight(): number {
    return this.present ? this.spec.weight : 0;
  }
}

/** Shared by every service of one adapter: `max-sessions` bounds them together. */
export class SessionBudget {
  active = 0;
  refused = 0;
  constructor(readonly max: number) {}
}

/** An open session's handle: close() exactly once, whatever ends it. */
export interface Lease {
  readonly server: RealServer;
  addBytes(fromClient: number, toClient: number): void;
  close(): void;
}

/**
 * The real servers of one virtual service and the choice among them: persistence first (a live entry
 * naming a server that still takes sessions), then the scheduler. Counts sessions per server and the
 * service's own refusals and errors (by kind), for /metrics.
 */
export class ServerPool {
  private readonly servers = new Map<string, RealServer>();
  private scheduler: Scheduler;
  private persistence: PersistenceTable | undefined;
  readonly errors = new Map<string, number>();

  constructor(public spec: VirtualServiceSpec, private readonly budget: SessionBudget) {
    this.scheduler = new Scheduler(schedulerKind(spec.scheduler));
    this.persistence = spec.persistence && new PersistenceTable(spec.persistence.timeoutSeconds * 1000, spec.persistence.netmask);
  }

  setSpec(spec: VirtualServiceSpec): void {
    if (spec.scheduler !== this.spec.scheduler) this.scheduler = new Scheduler(schedulerKind(spec.scheduler));
    if (JSON.stringify(spec.persistence) !== JSON.stringify(this.spec.persistence)) {
      this.persistence = spec.persistence && new PersistenceTable(spec.persistence.timeoutSeconds * 1000, spec.persistence.netmask);
    }
    this.spec = spec;
  }

  setServer(spec: RealServerSpec): void {
    const server = this.servers.get(spec.name);
    if (server && server.present) server.spec = spec;
    else this.servers.set(spec.name, new RealServer(spec));
  }

  /** Removed: no new sessions; open ones run on unless `cut`. Counters go when the last one closes. */
  removeServer(name: string, cut = false): void {
    const server = this.servers.get(name);
    if (!server) return;
    server.present = false;
    this.persistence?.forget(name);
    if (cut) for (const close of [...server.cutters]) close();
    if (server.active === 0) this.servers.delete(name);
  }

  /** Closes every open session of a server (down with cut_conns). */
  cut(name: string): void {
    for (const close of [...(this.servers.get(name)?.cutters ?? [])]) close();
  }

  specs(): RealServerSpec[] {
    return [...this.servers.values()].filter((s) => s.present).map((s) => s.spec);
  }

  all(): RealServer[] {
    return [...this.servers.values()];
  }

  countError(kind: string, server?: RealServer): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
    if (server) server.errors++;
  }

  /** The server for a new session from `client`, or undefined (none usable, or max-sessions reached). */
  open(client: string, onCut?: () => void): Lease | undefined {
    if (this.budget.active >= this.budget.max) {
      this.budget.refused++;
      this.countError('max-sessions');
      return undefined;
    }
    const server = this.choose(client);
    if (!server) {
      this.countError('no-server');
      return undefined;
    }
    this.budget.active++;
    server.active++;
    server.sessions++;
    if (onCut) server.cutters.add(onCut);
    let open = true;
    return {
      server,
      addBytes(fromClient, toClient) {
        server.bytesIn += fromClient;
        server.bytesOut += toClient;
      },
      close: () => {
        if (!open) return;
        open = false;
        this.budget.active--;
        server.active--;
        if (onCut) server.cutters.delete(onCut);
        this.persistence?.closed(client, server.name);
        if (!server.present && server.active === 0 && this.servers.get(server.name) === server) this.servers.delete(server.name);
      },
    };
  }

  private choose(client: string): RealServer | undefined {
    const usable = [...this.servers.values()].filter((s) => s.weight > 0);
    const remembered = this.persistence?.lookup(client);
    const sticky = remembered === undefined ? undefined : usable.find((s) => s.name === remembered);
    const server = sticky ?? this.scheduler.pick(usable, client);
    if (server) this.persistence?.opened(client, server.name);
    return server;
  }
}

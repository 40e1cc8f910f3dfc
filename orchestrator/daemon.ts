import type { Logger } from 'pino';
import type { BackendConfig, Config, FarmConfig } from './config/schema.ts';
import type { Change, DataPlaneAdapter, DataPlaneKind } from './dataplane/types.ts';
import { dataplaneKey, desiredByDataplane, healthKey } from './desired.ts';
import { applyVerdict, type HealthRecord, type HealthState, initialHealth, isServing, markDown, setMaintenance, type Transition, type Verdict, visibleState } from './health/backend-health.ts';
import { CheckHistory } from './health/check-history.ts';
import { type Metrics, createMetrics } from './metrics.ts';
import { backendPort, buildBackendCheck } from './checks/backend-check.ts';
import type { BackendCheck } from './checks/types.ts';
import { Reconciler } from './reconciler.ts';
import { Scheduler } from './scheduler.ts';
import { StateStore } from './state-store.ts';
import type { VrrpStatus } from './vrrp/keepalived-process.ts';

export interface TransitionEvent extends Transition {
  readonly at: number;
  readonly farm: string;
  readonly backend: string;
  readonly line: string;
}

export interface BackendStatus {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly maxConns?: number;
  /** the weight the data plane holds, when its scale differs (a Zevenet appliance takes 1..9) */
  readonly dataplaneWeight?: number;
  readonly state: HealthState;
  readonly since: string;
  /** time spent down since lbguard started (ms), the current stretch included */
  readonly downMs: number;
  readonly last?: { readonly line: string; readonly ms: number; readonly at: string };
  /** the last checks, oldest first: [duration ms, 1 passed | 0 failed] */
  readonly recent: readonly (readonly [number, 0 | 1])[];
  /** what the data plane counts, when it carries the traffic itself (userspace) */
  readonly traffic?: { readonly active: number; readonly sessions: number; readonly bytesIn: number; readonly bytesOut: number };
}

export interface FarmStatus {
  readonly name: string;
  readonly service: string;
  readonly dataplane: {
    readonly type: string;
    readonly ok: boolean;
    /** why the data plane is failing now */
    readonly error?: string;
    readonly lastFailure?: { readonly message: string; readonly at: string };
    readonly appliedAt?: string;
    readonly changesApplied: number;
  };
  readonly backends: BackendStatus[];
}

export interface StatusSnapshot {
  /** the daemon's clock when the snapshot was taken (the page measures ages and rates with it) */
  readonly at: string;
  readonly farms: FarmStatus[];
  readonly transitions: readonly TransitionEvent[];
  /** this director's VRRP role, when the farms file has vrrp: and lbguard runs keepalived */
  readonly vrrp?: VrrpStatus;
}

/** A farm's status less its backends, and how to build each backend's (Orchestrator.statusParts). */
export interface FarmStatusParts {
  readonly head: Omit<FarmStatus, 'backends'>;
  readonly backends: readonly BackendConfig[];
  backend(backend: BackendConfig): BackendStatus | undefined;
}

/** StatusSnapshot with each farm's backends built on demand. */
export interface StatusParts extends Omit<StatusSnapshot, 'farms'> {
  readonly farms: readonly FarmStatusParts[];
}

export interface OrchestratorOptions {
  readonly logger: Logger;
  /** how often each data plane is re-read and drift repaired */
  readonly reconcilePeriodMs?: number;
  /** the data planes this build drives (orchestrator/dataplane-kinds.ts) */
  readonly dataplanes?: readonly DataPlaneKind[];
  /** for tests: makes every farm's adapter, in place of `dataplanes` */
  readonly adapterFor?: (farm: FarmConfig) => DataPlaneAdapter;
  /** for benchmarks: how late each check started against its schedule, in ms */
  readonly onCheckStart?: (lateMs: number) => void;
  /** the director's VRRP role (lbguard run with vrrp:) */
  readonly vrrpStatus?: () => VrrpStatus | undefined;
}

interface BackendRuntime {
  readonly farm: FarmConfig;
  readonly identity: CheckIdentity;
  readonly check: BackendCheck;
}

const RECENT_TRANSITIONS = 50;
/** check results kept per backend for the page's latency chart */
const RECENT_CHECKS = 30;

/** A backend's time down: the total of closed stretches and the start of the open one. */
interface Downtime {
  readonly closedMs: number;
  readonly downSince?: number;
}
const PUBLISH_COALESCE_MS = 20;
/**
 * A publish costs in proportion to the backends (the desired state, then the data plane's diff):
 * some 50 ms of loop each at 10,000. The next coalesced one waits this many times as long as the
 * last took, so that a storm of transitions cannot hold the loop the checks run on.
 */
const PUBLISH_SPACING = 4;
/** however slow the last publish, a transition reaches the data planes within this (ms) */
const PUBLISH_MAX_WAIT_MS = 500;

function describeChange(change: Change): string {
  switch (change.kind) {
    case 'add-farm': return `declared ${change.farm.service.farm} with ${change.farm.servers.map((s) => `${s.name}(${s.weight})`).join(', ') || 'no backend'}`;
    case 'update-farm': return `updated ${change.service.farm}`;
    case 'remove-farm': return `removed ${change.farm}`;
    case 'add-server': return `${change.farm}: added ${change.server.name} weight ${change.server.weight}`;
    case 'update-server': return `${change.farm}: ${change.server.name} weight ${change.server.weight}`;
    case 'remove-server': return `${change.farm}: removed ${change.server.name}`;
  }
}

/** Whether a farm is served: its data plane's last pass, and what the data plane says of that farm. */
function dataplaneStatus(farm: FarmConfig, reconciler: Reconciler | undefined): Pick<FarmStatus['dataplane'], 'type' | 'ok' | 'error'> {
  const problems = reconciler?.adapter.problems?.();
  const problem = problems?.get(farm.name);
  if (problem) return { type: farm.dataplane.type, ok: false, error: problem };
  // a failed pass whose failures the data plane puts on other farms leaves this one served
  if (problems?.size && !reconciler?.status.ok) return { type: farm.dataplane.type, ok: true };
  return { type: farm.dataplane.type, ok: reconciler?.status.ok ?? false, error: reconciler?.status.lastError };
}

/**
 * What a backend's checks depend on: a backend keeps its health across a reload only if none of it
 * changed. The farm's check settings are one string shared by its backends (not a copy each: 10,000
 * backends kept 4 MB of them).
 */
interface CheckIdentity {
  readonly address: string;
  readonly port: number;
  readonly check: string;
}

/** The identities of a farm's backends, in their order. */
function identitiesOf(farm: FarmConfig): CheckIdentity[] {
  const check = JSON.stringify(farm.check);
  return farm.backends.map((backend) => ({ address: backend.address, port: backendPort(farm, backend), check }));
}

function sameIdentity(a: CheckIdentity, b: CheckIdentity): boolean {
  return a.address === b.address && a.port === b.port && a.check === b.check;
}

function firstByName<T>(items: readonly T[], name: (item: T) => string): Map<string, T> {
  const byName = new Map<string, T>();
  for (const item of items) if (!byName.has(name(item))) byName.set(name(item), item);
  return byName;
}

/**
 * A backend's check, built when it first runs: a reload of thousands of backends then does not
 * parse every check's options on the event loop at once (the file's validation already built each
 * one once, off it). A check that cannot be built fails with the reason.
 */
function checkBuiltAtFirstRun(farm: FarmConfig, backend: BackendConfig): BackendCheck {
  let check: BackendCheck | undefined;
  return (signal) => (check ??= buildBackendCheck(farm, backend))(signal);
}

/**
 * The daemon: config -> scheduler -> check -> health -> reconciler -> adapter -> data plane.
 * One instance per `lbguard run`; reload() swaps the config keeping unchanged backends' health.
 */
export class Orchestrator {
  private config: Config;
  private readonly health = new Map<string, HealthRecord>();
  private readonly backends = new Map<string, BackendRuntime>();
  private readonly reconcilers = new Map<string, Reconciler>();
  private readonly transitions: TransitionEvent[] = [];
  private readonly downtime = new Map<string, Downtime>();
  private readonly recentChecks = new Map<string, CheckHistory>();
  private readonly scheduler: Scheduler;
  private readonly store: StateStore;
  readonly metrics: Metrics;
  private saveTimer: NodeJS.Timeout | undefined;
  private publishTimer: NodeJS.Timeout | undefined;
  /** how long the last publish held the loop (ms) */
  private publishCostMs = 0;
  /** data planes replaced by a reload, finishing their open sessions */
  private readonly retiring = new Set<Promise<void>>();
  /** aborted at stop: retiring data planes cut what they still carry */
  private readonly stopping = new AbortController();

  constructor(config: Config, private readonly options: OrchestratorOptions) {
    this.config = config;
    this.metrics = createMetrics(() => [...this.reconcilers.values()].flatMap((r) => r.adapter.counters?.() ?? []));
    this.scheduler = new Scheduler({
      concurrency: config.concurrency,
      onStart: (late) => {
        this.metrics.startLateness.observe(late / 1000);
        options.onCheckStart?.(late);
      },
    });
    this.store = new StateStore(config.state.file);
  }

  get log(): Logger {
    return this.options.logger;
  }

  async start(): Promise<void> {
    const persisted = this.store.load((reason) => {
      this.log.warn({ event: 'state-unreadable', file: this.store.file, reason }, `state file ${this.store.file}: ${reason}; starting without the last known states`);
    });
    const now = Date.now();
    for (const farm of this.config.farms) {
      for (const backend of farm.backends) {
        const key = healthKey(farm.name, backend.name);
        this.health.set(key, initialHealth(now, persisted.get(key)));
      }
    }
    this.syncReconcilers(this.newAdapters(this.config));
    this.syncJobs();
    this.publish();
    this.resetGauges();
    this.log.info({ event: 'started', farms: this.config.farms.length, backends: this.health.size, restored: persisted.size }, 'lbguard started');
  }

  /** Swaps in a validated config. Backends whose check is unchanged keep their state and schedule. */
  reload(next: Config): void {
    // data planes new to this file first: one that cannot be set up refuses the reload before anything changed
    const adapters = this.newAdapters(next);
    const now = Date.now();
    const keep = new Set<string>();
    for (const farm of next.farms) {
      const identities = identitiesOf(farm);
      farm.backends.forEach((backend, i) => {
        const key = healthKey(farm.name, backend.name);
        const running = this.backends.get(key);
        if (running && sameIdentity(running.identity, identities[i]!)) keep.add(key);
      });
    }
    for (const key of [...this.health.keys()]) {
      if (keep.has(key)) continue;
      this.health.delete(key);
      this.downtime.delete(key);
      this.recentChecks.delete(key);
    }
    this.config = next;
    for (const farm of next.farms) {
      for (const backend of farm.backends) {
        const key = healthKey(farm.name, backend.name);
        if (!this.health.has(key)) this.health.set(key, initialHealth(now));
      }
    }
    const { started, replaced } = this.syncReconcilers(adapters);
    this.syncJobs(keep);
    this.publish();
    this.resetGauges();
    this.retireAfter(started, replaced);
    this.log.info({ event: 'reloaded', farms: next.farms.length, backends: this.health.size, kept: keep.size }, 'configuration reloaded');
  }

  setMaintenance(farm: string, backend: string, on: boolean): boolean {
    const key = healthKey(farm, backend);
    const record = this.health.get(key);
    if (!record) return false;
    const { record: updated, transition } = setMaintenance(record, on, Date.now());
    this.health.set(key, updated);
    if (transition) this.recordTransition(farm, backend, transition, on ? 'maintenance set by operator' : 'maintenance cleared by operator');
    this.publish();
    return true;
  }

  /**
   * Stops checks and reconcilers, then the data planes: they stop listening at once and let open
   * sessions finish for their drain time; `signal` (a second SIGTERM) cuts them at once.
   */
  async stop(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    // the data planes stop listening at once; checks still running finish meanwhile (no pass follows)
    for (const reconciler of this.reconcilers.values()) await reconciler.stop();
    const closed = Promise.all([...this.reconcilers.values()].map((r) => r.adapter.close({ drain: 'stop', signal: options.signal }).catch(() => undefined)));
    await this.scheduler.stop();
    await closed;
    this.stopping.abort();
    await Promise.all(this.retiring);
    clearTimeout(this.saveTimer);
    clearTimeout(this.publishTimer);
    this.saveState();
    this.log.info({ event: 'stopped' }, 'lbguard stopped');
  }

  /** Waits until every data plane has taken the current desired state (tests, demo). */
  async settle(): Promise<void> {
    await Promise.all([...this.reconcilers.values()].map((r) => r.request()));
  }

  /** Everything /status shows, each farm's backends built whole. */
  snapshot(): StatusSnapshot {
    const { at, farms, transitions, vrrp } = this.statusParts();
    return { at, farms: farms.map((farm) => ({ ...farm.head, backends: farm.backends.flatMap((b) => farm.backend(b) ?? []) })), transitions, ...(vrrp ? { vrrp } : {}) };
  }

  /**
   * What /status shows, with each backend's part built when asked for (status/status-json.ts
   * writes a large farm's in slices, letting checks run between them). A backend a reload removed
   * meanwhile gives undefined.
   */
  statusParts(): StatusParts {
    const now = Date.now();
    const desired = desiredByDataplane(this.config, this.health);
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const farms = this.config.farms.map((farm): FarmStatusParts => {
      const reconciler = this.reconcilers.get(dataplaneKey(farm));
      const servers = desired.get(dataplaneKey(farm))?.find((f) => f.service.farm === farm.name)?.servers ?? [];
      const counters = reconciler?.adapter.counters?.().filter((c) => c.farm === farm.name && c.errorKind === undefined);
      // by name, the first of each: a farm of thousands of backends must not cost a search per backend
      const weights = firstByName(servers, (s) => s.name);
      const countedBy = firstByName(counters ?? [], (c) => c.backend);
      const status = reconciler?.status;
      const held = reconciler?.adapter.dataplaneWeights?.(servers);
      const head = {
        name: farm.name,
        service: farm.service,
        dataplane: {
          ...dataplaneStatus(farm, reconciler),
          lastFailure: status?.lastFailure && { message: status.lastFailure.message, at: iso(status.lastFailure.at)! },
          appliedAt: iso(status?.lastAppliedAt),
          changesApplied: status?.changesApplied ?? 0,
        },
      };
      const backend = (backend: BackendConfig): BackendStatus | undefined => {
        const key = healthKey(farm.name, backend.name);
        const record = this.health.get(key);
        if (!record) return undefined;
        const down = this.downtime.get(key);
        const counted = countedBy.get(backend.name);
        return {
          name: backend.name,
          address: backend.address,
          port: backendPort(farm, backend),
          weight: weights.get(backend.name)?.weight ?? 0,
          maxConns: backend['max-conns'],
          ...(held?.has(backend.name) ? { dataplaneWeight: held.get(backend.name) } : {}),
          state: backend.maintenance ? 'maintenance' : visibleState(record),
          since: new Date(record.since).toISOString(),
          downMs: (down?.closedMs ?? 0) + (down?.downSince === undefined ? 0 : now - down.downSince),
          last: record.last && { line: record.last.line, ms: Math.round(record.last.ms * 10) / 10, at: new Date(record.last.at).toISOString() },
          recent: this.recentChecks.get(key)?.entries() ?? [],
          traffic: counters && { active: counted?.activeSessions ?? 0, sessions: counted?.sessions ?? 0, bytesIn: counted?.bytesIn ?? 0, bytesOut: counted?.bytesOut ?? 0 },
        };
      };
      return { head, backends: farm.backends, backend };
    });
    const vrrp = this.options.vrrpStatus?.();
    return { at: new Date(now).toISOString(), farms, transitions: [...this.transitions], ...(vrrp ? { vrrp } : {}) };
  }

  private createAdapter(farm: FarmConfig): DataPlaneAdapter {
    const kinds = this.options.dataplanes ?? [];
    const kind = kinds.find((k) => k.type === farm.dataplane.type);
    if (!kind) throw new Error(`data plane "${farm.dataplane.type}" is not available in this build (available: ${kinds.map((k) => k.type).join(', ') || 'none'})`);
    return kind.create(farm.dataplane);
  }

  /** Adapters for the data planes of config not running yet; all or none (a failure closes those made). */
  private newAdapters(config: Config): Map<string, DataPlaneAdapter> {
    const made = new Map<string, DataPlaneAdapter>();
    try {
      for (const farm of config.farms) {
        const key = dataplaneKey(farm);
        if (!this.reconcilers.has(key) && !made.has(key)) made.set(key, this.options.adapterFor?.(farm) ?? this.createAdapter(farm));
      }
    } catch (error) {
      for (const adapter of made.values()) adapter.close().catch(() => undefined);
      throw error;
    }
    return made;
  }

  /**
   * Reconcilers for the data planes of the config: new ones started, those no farm uses any more
   * stopped (their adapters are closed by retireAfter, once the new ones made their first pass).
   */
  private syncReconcilers(adapters: ReadonlyMap<string, DataPlaneAdapter>): { started: Reconciler[]; replaced: Reconciler[] } {
    const wanted = new Map(this.config.farms.map((farm) => [dataplaneKey(farm), farm]));
    const replaced: Reconciler[] = [];
    const started: Reconciler[] = [];
    for (const [key, reconciler] of this.reconcilers) {
      if (!wanted.has(key)) {
        this.reconcilers.delete(key);
        replaced.push(reconciler);
      }
    }
    for (const key of wanted.keys()) {
      const adapter = adapters.get(key);
      if (this.reconcilers.has(key) || !adapter) continue;
      const reconciler = new Reconciler(adapter, this.options.reconcilePeriodMs ?? 10_000, {
        onApplied: (changes) => {
          this.metrics.dataplaneChanges.inc({ dataplane: adapter.type }, changes.length);
          this.log.info({ event: 'dataplane-applied', dataplane: adapter.type, changes }, `data plane ${adapter.type}: ${changes.map(describeChange).join('; ')}`);
        },
        onError: (error, attempt, retryInMs) => {
          this.metrics.dataplaneErrors.inc({ dataplane: adapter.type });
          this.log.error({ event: 'dataplane-error', dataplane: adapter.type, attempt, retryInMs, error: error.message }, `data plane ${adapter.type}: ${error.message}`);
        },
      });
      this.reconcilers.set(key, reconciler);
      adapter.watchServers?.((farm, backend, reason) => this.failedInDataplane(farm, backend, reason));
      reconciler.start();
      started.push(reconciler);
    }
    return { started, replaced };
  }

  /**
   * A data plane whose settings changed (userspace idle-timeout, workers) is a new adapter for the
   * same farms: it takes their ports over in its first pass (the userspace balancer hands listening
   * sockets over), and only then does the old one let go and finish its open sessions.
   */
  private retireAfter(started: readonly Reconciler[], replaced: readonly Reconciler[]): void {
    if (!replaced.length) return;
    const firstPasses = Promise.allSettled(started.map((r) => r.request()));
    for (const reconciler of replaced) {
      const retired: Promise<void> = reconciler
        .stop()
        .then(() => firstPasses)
        .then(() => reconciler.adapter.close({ drain: 'retire', signal: this.stopping.signal }))
        .catch((error: Error) => this.log.error({ event: 'dataplane-error', dataplane: reconciler.adapter.type, error: error.message }, `data plane ${reconciler.adapter.type}: closing the replaced one: ${error.message}`))
        .finally(() => this.retiring.delete(retired));
      this.retiring.add(retired);
    }
  }

  /**
   * The data plane took a backend out by itself (its connects failing): it is down now, as if its
   * checks had failed `fall` times; its checks bring it back after `rise` passes.
   */
  private failedInDataplane(farm: string, backend: string, reason: string): void {
    const key = healthKey(farm, backend);
    const record = this.health.get(key);
    if (!record) return; // the sorry server, or a backend a reload removed
    const { record: updated, transition } = markDown(record, reason, Date.now());
    this.health.set(key, updated);
    if (transition) this.recordTransition(farm, backend, transition, reason);
    this.publishSoon();
  }

  private syncJobs(keep: ReadonlySet<string> = new Set()): void {
    const wanted = new Set<string>();
    for (const farm of this.config.farms) {
      const identities = identitiesOf(farm);
      farm.backends.forEach((backend, i) => {
        const key = healthKey(farm.name, backend.name);
        wanted.add(key);
        if (keep.has(key) && this.scheduler.has(key)) {
          this.backends.set(key, { ...this.backends.get(key)!, farm });
          return;
        }
        this.backends.set(key, { farm, identity: identities[i]!, check: checkBuiltAtFirstRun(farm, backend) });
        this.scheduler.add({ id: key, intervalMs: farm.check.interval, run: (signal) => this.runCheck(key, farm.name, backend.name, signal) });
      });
    }
    for (const key of [...this.backends.keys()]) {
      if (!wanted.has(key)) {
        this.backends.delete(key);
        this.scheduler.remove(key);
      }
    }
  }

  private async runCheck(key: string, farmName: string, backendName: string, signal: AbortSignal): Promise<void> {
    const runtime = this.backends.get(key);
    if (!runtime) return;
    let verdict: Verdict;
    try {
      verdict = await runtime.check(signal);
    } catch (error) {
      verdict = { ok: false, line: `check failed: ${(error as Error).message}`, ms: 0 };
    }
    if (signal.aborted) return;
    const record = this.health.get(key);
    const farm = this.backends.get(key)?.farm;
    if (!record || !farm) return; // removed by a reload while the check ran
    const { check } = farm;
    const { record: updated, transition } = applyVerdict(record, verdict, { rise: check.rise, fall: check.fall, reentryMs: check.reentry }, Date.now());
    this.health.set(key, updated);
    this.metrics.checks.inc({ farm: farmName, result: verdict.ok ? 'ok' : 'fail' });
    let recent = this.recentChecks.get(key);
    if (!recent) this.recentChecks.set(key, (recent = new CheckHistory(RECENT_CHECKS)));
    recent.push(verdict.ms, verdict.ok);
    this.metrics.checkDuration.observe({ farm: farmName }, verdict.ms / 1000);
    if (transition) {
      this.recordTransition(farmName, backendName, transition, verdict.line);
      this.publishSoon();
    } else if (updated.dynamicWeight !== record.dynamicWeight) {
      this.publishSoon();
    }
  }

  private recordTransition(farm: string, backend: string, transition: Transition, line: string): void {
    const event: TransitionEvent = { ...transition, at: Date.now(), farm, backend, line };
    this.countDowntime(healthKey(farm, backend), transition, event.at);
    this.transitions.push(event);
    if (this.transitions.length > RECENT_TRANSITIONS) this.transitions.shift();
    this.metrics.transitions.inc({ farm, to: transition.to });
    this.updateGauge(farm, backend);
    this.log.info({ event: 'transition', farm, backend, from: transition.from, to: transition.to, line }, `${farm}/${backend}: ${transition.from} -> ${transition.to}: ${line}`);
    this.scheduleSave();
  }

  private countDowntime(key: string, transition: Transition, at: number): void {
    const down = this.downtime.get(key) ?? { closedMs: 0 };
    if (transition.to === 'down' && down.downSince === undefined) this.downtime.set(key, { ...down, downSince: at });
    else if (transition.to !== 'down' && down.downSince !== undefined) this.downtime.set(key, { closedMs: down.closedMs + at - down.downSince });
  }

  /** Pushes the desired state to every data plane. */
  private publish(): void {
    const started = performance.now();
    const desired = desiredByDataplane(this.config, this.health);
    for (const [key, farms] of desired) this.reconcilers.get(key)?.setDesired(farms);
    this.publishCostMs = performance.now() - started;
  }

  /**
   * Coalesces publishes: a burst of transitions (a whole rack going down, a start with 2,000 fresh
   * backends) computes the desired state once, not once per backend.
   */
  private publishSoon(): void {
    if (this.publishTimer) return;
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      this.publish();
    }, Math.min(PUBLISH_MAX_WAIT_MS, Math.max(PUBLISH_COALESCE_MS, PUBLISH_SPACING * this.publishCostMs)));
  }

  private resetGauges(): void {
    this.metrics.backendUp.reset();
    for (const farm of this.config.farms) for (const backend of farm.backends) this.updateGauge(farm.name, backend.name);
  }

  private updateGauge(farm: string, backend: string): void {
    const record = this.health.get(healthKey(farm, backend));
    this.metrics.backendUp.set({ farm, backend }, record && isServing(record) ? 1 : 0);
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saveState();
    }, 200);
    this.saveTimer.unref();
  }

  private saveState(): void {
    try {
      this.store.save(this.health);
    } catch (error) {
      this.log.error({ event: 'state-save-failed', error: (error as Error).message }, 'could not save backend states');
    }
  }
}

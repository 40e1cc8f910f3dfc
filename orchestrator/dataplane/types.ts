import type { FarmConfig, PortRange } from '../config/schema.ts';

/**
 * What every data plane (kernel IPVS, nftlb, the TypeScript balancer, a Zevenet appliance) is told
 * and reports back, in one shape. Adapters only observe and apply changes; the diff is computed once,
 * above them (reconcile.ts), so nothing above this interface knows which adapter runs.
 */
export interface VirtualServiceSpec {
  readonly farm: string;
  readonly service: 'ftp' | 'tftp' | 'sftp' | 'tcp' | 'udp';
  readonly protocol: 'tcp' | 'udp';
  readonly address: string;
  readonly ports?: readonly PortRange[];
  readonly fwmark?: number;
  readonly scheduler: string;
  readonly persistence?: { readonly timeoutSeconds: number; readonly netmask: string };
}

export interface RealServerSpec {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** 0 = quiesced: no new sessions, existing ones kept */
  readonly weight: number;
  /** Most concurrent connections/sessions; absent = no limit (ipvsadm's upper threshold). */
  readonly maxConnections?: number;
}

export interface FarmState {
  readonly service: VirtualServiceSpec;
  readonly servers: readonly RealServerSpec[];
  /**
   * Desired side only: the name of every backend the farms file gives the farm, serving or not. A
   * data plane that keeps failed backends declared (nftlb's `down`) deletes the ones not named here.
   */
  readonly members?: readonly string[];
  /**
   * Observed side only: the data plane holds part of this farm otherwise than this summary shows (an
   * IPVS farm's service on a further port missing or different), so the farm is applied again whole.
   */
  readonly outOfStep?: boolean;
}

export type Change =
  | { readonly kind: 'add-farm'; readonly farm: FarmState }
  | { readonly kind: 'update-farm'; readonly service: VirtualServiceSpec }
  | { readonly kind: 'remove-farm'; readonly farm: string }
  | { readonly kind: 'add-server'; readonly farm: string; readonly server: RealServerSpec }
  | { readonly kind: 'update-server'; readonly farm: string; readonly server: RealServerSpec }
  | { readonly kind: 'remove-server'; readonly farm: string; readonly server: RealServerSpec };

/** The name of the farm a change is about. */
export function changedFarm(change: Change): string {
  return change.kind === 'add-farm' ? change.farm.service.farm : change.kind === 'update-farm' ? change.service.farm : change.farm;
}

/**
 * Traffic of one real server as an adapter that carries it counts it; with `backend` '' and an
 * `errorKind`, errors of the virtual service itself (malformed packets, refused sessions).
 */
export interface DataPlaneCounters {
  readonly farm: string;
  readonly backend: string;
  readonly errorKind?: string;
  readonly activeSessions?: number;
  readonly sessions?: number;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  readonly errors: number;
}

/** How a data plane closes. */
export interface CloseOptions {
  /**
   * Let open sessions finish: `stop` for at most the data plane's drain time (SIGTERM), `retire`
   * until they end by themselves (a successor took over after a reload). Absent: cut at once.
   */
  readonly drain?: 'stop' | 'retire';
  /** aborted: whatever is still open is cut at once (a second SIGTERM) */
  readonly signal?: AbortSignal;
}

/** A data plane took a real server out by itself (connects failing): `reason` says why. */
export type ServerFailureReport = (farm: string, backend: string, reason: string) => void;

export interface DataPlaneAdapter {
  /** `userspace`, `ipvsadm`, `nftlb`, `zevenet`, `none` */
  readonly type: string;
  /** The farms this adapter manages, as the data plane holds them now. */
  observe(): Promise<FarmState[]>;
  /**
   * Applies changes in order; throws (with a message an operator can act on) when one fails.
   * `observed` is what this adapter's observe() returned for the pass the changes were computed
   * from: an adapter that read more than it reports (the whole ipvsadm table) may plan on that read
   * instead of reading the data plane again. Absent, the adapter reads what it needs itself.
   */
  apply(changes: readonly Change[], observed?: readonly FarmState[]): Promise<void>;
  close(options?: CloseOptions): Promise<void>;
  /** Optional: farms the data plane cannot serve now (a port it cannot listen on), with the reason. */
  problems?(): ReadonlyMap<string, string>;
  /** Optional: data planes that carry sessions and see servers fail report it here. */
  watchServers?(report: ServerFailureReport): void;
  /** Optional: per-service and per-server counters, for adapters that carry the traffic themselves. */
  counters?(): DataPlaneCounters[];
  /** Optional: deletes what the data plane still holds of backends no longer in `members` (after apply). */
  prune?(desired: readonly FarmState[]): Promise<void>;
  /** Optional: the weights the data plane holds for these, when its scale is not lbguard's (a Zevenet appliance: 1..9). */
  dataplaneWeights?(servers: readonly RealServerSpec[]): ReadonlyMap<string, number>;
}

/** A farm's `dataplane:` settings in the farms file, one shape per type. */
export type DataplaneConfig = FarmConfig['dataplane'];

/**
 * A kind of data plane this build drives: how its adapter is made, and what only it can find wrong
 * in a farms file. Which kinds exist is decided once, at the top (orchestrator/dataplane-kinds.ts),
 * and handed down to what validates farms files and runs farms.
 */
export interface DataPlaneKind {
  readonly type: DataplaneConfig['type'];
  create(config: DataplaneConfig): DataPlaneAdapter;
  /** problems of a farm only this kind knows of (names its appliance refuses), by key under the farm */
  farmProblems?(farm: FarmConfig): readonly { readonly key: string; readonly message: string }[];
}

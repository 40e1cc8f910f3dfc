// `dataplane: {type: zevenet, url, key-file, farm, ca-file}`: lbguard's verdicts applied to the
// backends of L4xNAT farms an appliance already has, through its API. The appliance owns the farms
// (created, configured and deleted there); lbguard only takes backends out of service and back:
// maintenance `drain` for a quiesced backend (weight 0: established sessions finish), maintenance
// `cut` for a removed one, `up` for a serving one, with lbguard's weight mapped onto the appliance's
// 1..9 (weights.ts). Backends are matched by address (and port when the appliance has one), since the
// appliance numbers them and lbguard names them.
import type { Change, DataPlaneAdapter, FarmState, RealServerSpec, VirtualServiceSpec, DataplaneConfig } from '../../orchestrator/dataplane/types.ts';
import { readTextFile, unreadableReason } from '../../plugins/runtime/read-file.ts';
import { parsePorts } from '../nftlb/farm.ts';
import { readApiKey } from '../key.ts';
import { type ZevenetBackend, ZevenetClient, type ZevenetL4Farm } from './client.ts';
import { applianceWeight, applianceWeights, largestWeight } from './weights.ts';

export const ZEVENET_KEY_ENV = 'LBGUARD_ZEVENET_KEY';

export interface ZevenetAdapterOptions {
  readonly url: string;
  readonly keyFile?: string;
  /** the appliance's farm, when its name differs from lbguard's (then one lbguard farm per adapter) */
  readonly farm?: string;
  /** PEM file of the appliance's certificate (it is usually self-signed) */
  readonly caFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

type Wanted = { readonly kind: 'serve'; readonly server: RealServerSpec } | { readonly kind: 'remove'; readonly server: RealServerSpec };

function readCaFile(file: string): string {
  try {
    return readTextFile(file, 4 * 1024 * 1024);
  } catch (error) {
    throw new Error(`cannot read the Zevenet ca-file ${file}: ${unreadableReason(error)}`);
  }
}

export class ZevenetAdapter implements DataPlaneAdapter {
  readonly type = 'zevenet';
  readonly client: ZevenetClient;
  /** lbguard farm -> what it asked for last, to read the appliance back in lbguard's terms */
  private readonly specs = new Map<string, VirtualServiceSpec>();
  /** lbguard farm -> backend address -> the lbguard backend it is */
  private readonly names = new Map<string, Map<string, RealServerSpec>>();
  /** lbguard farm -> backend name -> what lbguard wants for it now (every backend, for the weight scale) */
  private readonly desired = new Map<string, Map<string, RealServerSpec>>();
  /** lbguard farm -> addresses we put in maintenance because they were removed */
  private readonly removed = new Map<string, Set<string>>();
  /** farms taken out of lbguard's config: no longer reported */
  private readonly forgotten = new Set<string>();
  private key: string | undefined;

  constructor(private readonly options: ZevenetAdapterOptions) {
    const ca = options.caFile ? readCaFile(options.caFile) : undefined;
    this.client = new ZevenetClient({
      url: options.url,
      ca,
      timeoutMs: options.timeoutMs,
      key: () => (this.key ??= readApiKey('Zevenet', options.keyFile, ZEVENET_KEY_ENV, options.env)),
    });
  }

  private applianceFarm(farm: string): string {
    return this.options.farm ?? farm;
  }

  async observe(): Promise<FarmState[]> {
    try {
      const names = this.options.farm ? [this.options.farm] : (await this.client.farms()).filter((f) => f.profile === 'l4xnat').map((f) => f.farmname);
      const out: FarmState[] = [];
      for (const name of names) {
        const ours = this.options.farm ? ([...this.specs.keys()][0] ?? name) : name;
        if (this.forgotten.has(ours)) continue;
        out.push(this.read(ours, await this.client.l4Farm(name)));
      }
      return out;
    } catch (error) {
      this.key = undefined; // a rotated key file is read again on the next pass
      throw error;
    }
  }

  /** The appliance's farm as lbguard's model: maintenance = weight 0, or absent when we removed it. */
  private read(farm: string, appliance: ZevenetL4Farm): FarmState {
    const known = this.names.get(farm);
    const removed = this.removed.get(farm) ?? new Set();
    const service = this.specs.get(farm) ?? serviceOf(farm, appliance);
    const wanted = [...(this.desired.get(farm)?.values() ?? [])];
    const largest = largestWeight(wanted.map((s) => s.weight));
    const servers: RealServerSpec[] = [];
    for (const backend of appliance.backends) {
      const ours = known?.get(backend.ip);
      if (removed.has(backend.ip) && backend.status === 'maintenance') continue;
      const port = typeof backend.port === 'number' ? backend.port : Number(backend.port) || ours?.port || service.ports?.[0]?.from || 0;
      // the appliance holds 1..9: a weight that is lbguard's weight mapped reads back as lbguard's
      const want = wanted.find((s) => s.address === backend.ip && s.weight > 0);
      const mapped = want && backend.weight === applianceWeight(want.weight, largest);
      const weight = backend.status === 'maintenance' ? 0 : mapped ? want.weight : (backend.weight ?? 1);
      const limit = backend.max_conns ?? 0;
      servers.push({ name: ours?.name ?? `bck${backend.id}`, address: backend.ip, port, weight, ...(limit > 0 ? { maxConnections: limit } : {}) });
    }
    return { service, servers };
  }

  async apply(changes: readonly Change[]): Promise<void> {
    // the appliance's backends are matched by address: collect what each address should become
    const wanted = new Map<string, Map<string, Wanted>>();
    const want = (farm: string, w: Wanted) => {
      const byAddress = wanted.get(farm) ?? new Map<string, Wanted>();
      const current = byAddress.get(w.server.address);
      if (!(current?.kind === 'serve' && w.kind === 'remove')) byAddress.set(w.server.address, w); // serving wins over a stale name's removal
      wanted.set(farm, byAddress);
    };
    for (const change of changes) {
      switch (change.kind) {
        case 'add-farm':
          this.forgotten.delete(change.farm.service.farm);
          this.specs.set(change.farm.service.farm, change.farm.service);
          this.desired.set(change.farm.service.farm, new Map(change.farm.servers.map((s) => [s.name, s])));
          for (const server of change.farm.servers) want(change.farm.service.farm, { kind: 'serve', server });
          break;
        case 'update-farm':
          this.specs.set(change.service.farm, change.service); // the appliance owns the farm's settings
          break;
        case 'remove-farm':
          this.forgotten.add(change.farm); // never deleted on the appliance
          this.desired.delete(change.farm);
          break;
        case 'add-server':
        case 'update-server':
          this.desiredOf(change.farm).set(change.server.name, change.server);
          want(change.farm, { kind: 'serve', server: change.server });
          break;
        case 'remove-server':
          this.desiredOf(change.farm).delete(change.server.name);
          want(change.farm, { kind: 'remove', server: change.server });
          break;
      }
    }
    // a new largest weight rescales the farm's other backends too: every serving one is checked
    for (const [farm, byAddress] of wanted) {
      for (const server of this.desired.get(farm)?.values() ?? []) if (!byAddress.has(server.address)) byAddress.set(server.address, { kind: 'serve', server });
    }
    for (const [farm, byAddress] of wanted) await this.applyFarm(farm, byAddress);
  }

  private desiredOf(farm: string): Map<string, RealServerSpec> {
    const servers = this.desired.get(farm) ?? new Map<string, RealServerSpec>();
    this.desired.set(farm, servers);
    return servers;
  }

  /** The weights the appliance holds for these lbguard weights (shown in /status). */
  dataplaneWeights(servers: readonly RealServerSpec[]): Map<string, number> {
    return applianceWeights(servers);
  }

  private async applyFarm(farm: string, byAddress: ReadonlyMap<string, Wanted>): Promise<void> {
    const name = this.applianceFarm(farm);
    let appliance: ZevenetL4Farm;
    try {
      appliance = await this.client.l4Farm(name);
    } catch (error) {
      throw new Error(`zevenet: farm ${name} must exist on the appliance as an L4xNAT farm (lbguard does not create farms there): ${(error as Error).message}`);
    }
    const names = this.names.get(farm) ?? new Map<string, RealServerSpec>();
    const removed = this.removed.get(farm) ?? new Set<string>();
    this.names.set(farm, names);
    this.removed.set(farm, removed);
    const largest = largestWeight([...(this.desired.get(farm)?.values() ?? [])].map((s) => s.weight));
    for (const [address, w] of byAddress) {
      const backend = findBackend(appliance.backends, w.server);
      if (!backend) {
        if (w.kind === 'remove') continue;
        throw new Error(`zevenet: farm ${name} has no backend ${address}: add it on the appliance (lbguard only takes backends in and out of service)`);
      }
      if (w.kind === 'serve' && !w.server.name.startsWith('bck')) names.set(address, w.server);
      const action = w.kind === 'remove' ? 'cut' : w.server.weight === 0 ? 'drain' : 'up';
      try {
        // in or out of service first: a setting the appliance refuses must not keep a live backend out
        if (action === 'up') {
          if (backend.status === 'maintenance') await this.client.up(name, backend.id);
        } else if (backend.status !== 'maintenance' || (action === 'cut' && !removed.has(address))) {
          await this.client.maintenance(name, backend.id, action);
        }
        const weight = applianceWeight(w.server.weight, largest);
        const settings = {
          ...(action === 'up' && backend.weight !== weight ? { weight } : {}),
          ...(w.kind === 'serve' && (backend.max_conns ?? 0) !== (w.server.maxConnections ?? 0) ? { max_conns: w.server.maxConnections ?? 0 } : {}),
        };
        if (Object.keys(settings).length > 0) await this.client.setBackend(name, backend.id, settings);
      } catch (error) {
        throw new Error(`zevenet: ${action === 'up' ? 'putting back' : `maintenance (${action}) of`} backend ${backend.id} (${address}) in farm ${name}: ${(error as Error).message}`);
      }
      if (w.kind === 'remove') removed.add(address);
      else removed.delete(address);
    }
  }

  async close(): Promise<void> {}
}

function findBackend(backends: readonly ZevenetBackend[], server: RealServerSpec): ZevenetBackend | undefined {
  const sameAddress = backends.filter((b) => b.ip === server.address);
  return sameAddress.find((b) => Number(b.port) === server.port) ?? sameAddress[0];
}

/** A farm read from the appliance before lbguard declared it (the first pass after a start). */
function serviceOf(farm: string, appliance: ZevenetL4Farm): VirtualServiceSpec {
  const protocol = appliance.params.protocol;
  const service = protocol === 'ftp' || protocol === 'tftp' ? protocol : protocol === 'udp' ? 'udp' : 'tcp';
  return {
    farm,
    service,
    protocol: service === 'tftp' || service === 'udp' ? 'udp' : 'tcp',
    address: appliance.params.vip,
    ports: parsePorts(String(appliance.params.vport ?? '')),
    scheduler: 'wlc',
  };
}

export function createZevenetAdapter(config: DataplaneConfig): DataPlaneAdapter {
  if (config.type !== 'zevenet') throw new Error(`the zevenet adapter cannot take a "${config.type}" data plane`);
  return new ZevenetAdapter({ url: config.url, keyFile: config['key-file'], farm: config.farm, caFile: config['ca-file'] });
}

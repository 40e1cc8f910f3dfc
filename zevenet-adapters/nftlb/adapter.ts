// `dataplane: {type: nftlb}`: the orchestrator's farms as nftlb L4xNAT farms. Observe reads the farms
// back; apply sends one request per change. Errors are thrown with what to do; the reconciler retries
// them with backoff and shows them in /status and /metrics. With `start: true` nftlb is started here,
// and started again on the next pass if it dies (it then comes back empty and the diff re-declares).
import { writeFileSync } from 'node:fs';
import { readApiKey } from '../key.ts';
import type { DataplaneConfig } from '../../orchestrator/dataplane/registry.ts';
import type { Change, DataPlaneAdapter, FarmState, RealServerSpec, VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { NftlbClient, type NftlbFarm } from './client.ts';
import { type NftlbProcess, startNftlb } from './daemon.ts';
import { backendFields, downFields, farmFields, farmHolds, type NftlbMode, serversFromFarm, serviceFromFarm } from './farm.ts';

export const KEY_ENV = 'LBGUARD_NFTLB_KEY';

export interface NftlbAdapterOptions {
  readonly url: string;
  /** a file holding the API key (first line, bare or as `Key: KEY`); else the environment's LBGUARD_NFTLB_KEY.
   *  With start: true, the key nftlb generated is written there instead. */
  readonly keyFile?: string;
  /** start nftlb here (the key is the one it generates) */
  readonly start?: boolean;
  readonly mode?: NftlbMode;
  /** snat to this address instead of masquerading */
  readonly sourceAddress?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly binary?: string;
  readonly timeoutMs?: number;
}

export class NftlbAdapter implements DataPlaneAdapter {
  readonly type = 'nftlb';
  private readonly client: NftlbClient;
  private readonly mode: NftlbMode;
  private key: string | undefined;
  private daemon: NftlbProcess | undefined;
  /** what we last declared per farm: nftlb cannot tell wlc from lc, nor sftp from tcp */
  private readonly specs = new Map<string, VirtualServiceSpec>();
  /** backend ports we sent as "keep the client's port" (nftlb's empty port), per farm/backend */
  private readonly ports = new Map<string, number>();
  /** the backend names of each farm as the last observe read them (down ones included) */
  private readonly held = new Map<string, string[]>();

  constructor(private readonly options: NftlbAdapterOptions) {
    this.mode = options.mode ?? 'snat';
    this.client = new NftlbClient({ url: options.url, key: () => this.currentKey(), timeoutMs: options.timeoutMs });
  }

  private fields(spec: VirtualServiceSpec) {
    return farmFields(spec, this.mode, this.options.sourceAddress);
  }

  /** the nftlb process this adapter started, if any (tests, status) */
  get process(): NftlbProcess | undefined {
    return this.daemon;
  }

  private currentKey(): string {
    if (this.options.start) {
      if (!this.daemon) throw new Error('nftlb is not started');
      return this.daemon.key;
    }
    this.key ??= readApiKey('nftlb', this.options.keyFile, KEY_ENV, this.options.env);
    return this.key;
  }

  private async ready(): Promise<void> {
    if (!this.options.start) return;
    if (this.daemon?.running()) return;
    const url = new URL(this.options.url);
    const previous = this.daemon;
    this.daemon = undefined;
    const output = previous ? ` (the previous one, PID ${previous.pid}, stopped: ${previous.output().trim().slice(-300)})` : '';
    const daemon = await startNftlb({ host: url.hostname, port: Number(url.port || 5555), binary: this.options.binary }).catch((error: Error) => {
      throw new Error(`${error.message}${output}`);
    });
    this.daemon = daemon;
    // for the operator's own tools (curl -H @FILE): the key nftlb made, readable by root only
    if (this.options.keyFile) writeFileSync(this.options.keyFile, `Key: ${daemon.key}\n`, { mode: 0o600 });
    // the key line comes before the listening socket: wait until the API answers
    const until = Date.now() + 5000;
    for (;;) {
      try {
        await this.client.farms();
        return;
      } catch (error) {
        if (!daemon.running() || Date.now() > until) {
          await daemon.stop();
          this.daemon = undefined;
          throw new Error(`nftlb started but its API did not answer: ${(error as Error).message}; ${daemon.output().trim().slice(-300)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async observe(): Promise<FarmState[]> {
    await this.ready();
    let farms: NftlbFarm[];
    try {
      farms = await this.client.farms();
    } catch (error) {
      if (!this.options.start) this.key = undefined; // re-read a rotated key file next time
      throw error;
    }
    this.held.clear();
    for (const farm of farms) this.held.set(farm.name, (farm.backends ?? []).map((b) => b.name));
    return farms.map((farm) => {
      const known = this.specs.get(farm.name);
      const service = known && farmHolds(farm, this.fields(known)) ? known : serviceFromFarm(farm);
      if (!known) this.specs.set(farm.name, service);
      const servers = serversFromFarm(farm, (backend) => this.ports.get(`${farm.name}/${backend.name}`) ?? service.ports?.[0]?.from ?? 0);
      return { service, servers };
    });
  }

  async apply(changes: readonly Change[]): Promise<void> {
    await this.ready();
    for (const change of changes) {
      try {
        await this.applyOne(change);
      } catch (error) {
        throw new Error(`nftlb: ${describe(change)}: ${(error as Error).message}`);
      }
    }
  }

  private specOf(farm: string): VirtualServiceSpec {
    const spec = this.specs.get(farm);
    if (!spec) throw new Error(`farm ${farm} is not declared (observe it first)`);
    return spec;
  }

  private backend(spec: VirtualServiceSpec, server: RealServerSpec): Record<string, string> {
    const fields = backendFields(spec, server);
    this.ports.set(`${spec.farm}/${server.name}`, server.port);
    return fields;
  }

  private async applyOne(change: Change): Promise<void> {
    switch (change.kind) {
      case 'add-farm': {
        const spec = change.farm.service;
        const fields = this.fields(spec);
        await this.client.post([{ ...fields, backends: change.farm.servers.map((s) => this.backend(spec, s)) }]);
        this.specs.set(spec.farm, spec);
        return;
      }
      case 'update-farm': {
        await this.client.post([this.fields(change.service)]);
        this.specs.set(change.service.farm, change.service);
        return;
      }
      case 'remove-farm':
        await this.client.deleteFarm(change.farm);
        this.specs.delete(change.farm);
        return;
      case 'add-server':
      case 'update-server': {
        const spec = this.specOf(change.farm);
        await this.client.post([{ name: change.farm, backends: [this.backend(spec, change.server)] }]);
        return;
      }
      case 'remove-server':
        this.specOf(change.farm);
        await this.client.post([{ name: change.farm, backends: [downFields(change.server)] }]);
        return;
    }
  }

  /**
   * A backend taken out of the farms file is deleted from nftlb; a failed one stays declared `down`
   * (its address kept, so that no request can make it an empty backend).
   */
  async prune(desired: readonly FarmState[]): Promise<void> {
    for (const farm of desired) {
      if (!farm.members) continue;
      const members = new Set(farm.members);
      const held = this.held.get(farm.service.farm) ?? [];
      for (const name of held.filter((n) => !members.has(n))) {
        try {
          await this.client.deleteBackend(farm.service.farm, name);
        } catch (error) {
          throw new Error(`nftlb: deleting ${name} (no longer in the farms file) from ${farm.service.farm}: ${(error as Error).message}`);
        }
        this.ports.delete(`${farm.service.farm}/${name}`);
      }
      this.held.set(farm.service.farm, held.filter((n) => members.has(n)));
    }
  }

  async close(): Promise<void> {
    await this.daemon?.stop();
    this.daemon = undefined;
  }
}

function describe(change: Change): string {
  switch (change.kind) {
    case 'add-farm': return `declaring farm ${change.farm.service.farm}`;
    case 'update-farm': return `updating farm ${change.service.farm}`;
    case 'remove-farm': return `removing farm ${change.farm}`;
    case 'add-server': return `adding ${change.server.name} to ${change.farm}`;
    case 'update-server': return `setting ${change.server.name} in ${change.farm}`;
    case 'remove-server': return `setting ${change.server.name} down in ${change.farm}`;
  }
}

/** The registry's factory: `dataplane: {type: nftlb, url, key-file, start, mode, source-address}`. */
export function createNftlbAdapter(config: DataplaneConfig): DataPlaneAdapter {
  if (config.type !== 'nftlb') throw new Error(`the nftlb adapter cannot take a "${config.type}" data plane`);
  return new NftlbAdapter({ url: config.url, keyFile: config['key-file'], start: config.start, mode: config.mode, ...(config['source-address'] === undefined ? {} : { sourceAddress: config['source-address'] }) });
}

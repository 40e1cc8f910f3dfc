import type { Change, DataPlaneAdapter, FarmState, RealServerSpec } from './types.ts';

/**
 * Writes changes, in order, into a map of farms as asked. Each farm's servers are kept by name while
 * its server changes are recorded (an updated server keeps its place), so 1,000 server changes of
 * one farm cost 1,000 steps, not 1,000². The memory adapter is this; the ipvsadm adapter keeps what
 * it was asked for with it.
 */
export function recordChanges(farms: Map<string, FarmState>, changes: readonly Change[]): void {
  const open = new Map<string, Map<string, RealServerSpec>>();
  for (const change of changes) {
    if (change.kind === 'add-farm') {
      open.delete(change.farm.service.farm);
      farms.set(change.farm.service.farm, change.farm);
    } else if (change.kind === 'update-farm') {
      const farm = farms.get(change.service.farm);
      if (farm) farms.set(change.service.farm, { ...farm, service: change.service });
    } else if (change.kind === 'remove-farm') {
      open.delete(change.farm);
      farms.delete(change.farm);
    } else {
      let servers = open.get(change.farm);
      if (!servers) {
        const farm = farms.get(change.farm);
        if (!farm) throw new Error(`farm ${change.farm} is not declared`);
        servers = new Map(farm.servers.map((s) => [s.name, s]));
        open.set(change.farm, servers);
      }
      if (change.kind === 'remove-server') servers.delete(change.server.name);
      else servers.set(change.server.name, change.server);
    }
  }
  for (const [name, servers] of open) {
    const farm = farms.get(name);
    if (farm) farms.set(name, { ...farm, servers: [...servers.values()] });
  }
}

/**
 * `dataplane: {type: none}`: keeps the desired state in memory and applies nothing to the network.
 * Useful to run checks only (status page, metrics) and as the reference adapter in tests.
 */
export class MemoryAdapter implements DataPlaneAdapter {
  readonly type: string = 'none';
  readonly farms = new Map<string, FarmState>();
  applied = 0;

  async observe(): Promise<FarmState[]> {
    return [...this.farms.values()];
  }

  async apply(changes: readonly Change[]): Promise<void> {
    recordChanges(this.farms, changes);
    this.applied += changes.length;
  }

  async close(): Promise<void> {}
}

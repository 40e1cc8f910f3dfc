import type { Change, DataPlaneAdapter, FarmState } from './types.ts';

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
    for (const change of changes) {
      this.applied++;
      switch (change.kind) {
        case 'add-farm':
          this.farms.set(change.farm.service.farm, change.farm);
          break;
        case 'update-farm': {
          const farm = this.farms.get(change.service.farm);
          if (farm) this.farms.set(change.service.farm, { ...farm, service: change.service });
          break;
        }
        case 'remove-farm':
          this.farms.delete(change.farm);
          break;
        case 'add-server':
        case 'update-server':
        case 'remove-server': {
          const farm = this.farms.get(change.farm);
          if (!farm) throw new Error(`farm ${change.farm} is not declared`);
          const others = farm.servers.filter((s) => s.name !== change.server.name);
          this.farms.set(change.farm, { ...farm, servers: change.kind === 'remove-server' ? others : [...others, change.server] });
          break;
        }
      }
    }
  }

  async close(): Promise<void> {}
}

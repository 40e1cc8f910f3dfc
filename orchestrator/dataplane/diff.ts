import type { Change, FarmState, RealServerSpec, VirtualServiceSpec } from './types.ts';

function sameService(a: VirtualServiceSpec, b: VirtualServiceSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameServer(a: RealServerSpec, b: RealServerSpec): boolean {
  return a.address === b.address && a.port === b.port && a.weight === b.weight && (a.maxConnections ?? 0) === (b.maxConnections ?? 0);
}

/**
 * The changes that turn `observed` into `desired`. Only farms named in `managed` (ours, now or
 * before a reload) may be removed, so services someone else put on the same data plane are left alone.
 */
export function diffFarms(desired: readonly FarmState[], observed: readonly FarmState[], managed: ReadonlySet<string>): Change[] {
  const changes: Change[] = [];
  const seen = new Map(observed.map((farm) => [farm.service.farm, farm]));
  for (const farm of desired) {
    const current = seen.get(farm.service.farm);
    if (!current) {
      changes.push({ kind: 'add-farm', farm });
      continue;
    }
    if (current.outOfStep || !sameService(farm.service, current.service)) changes.push({ kind: 'update-farm', service: farm.service });
    const currentServers = new Map(current.servers.map((s) => [s.name, s]));
    for (const server of farm.servers) {
      const there = currentServers.get(server.name);
      if (!there) changes.push({ kind: 'add-server', farm: farm.service.farm, server });
      else if (!sameServer(server, there)) changes.push({ kind: 'update-server', farm: farm.service.farm, server });
      currentServers.delete(server.name);
    }
    for (const stale of currentServers.values()) changes.push({ kind: 'remove-server', farm: farm.service.farm, server: stale });
  }
  const wanted = new Set(desired.map((farm) => farm.service.farm));
  for (const farm of observed) {
    if (!wanted.has(farm.service.farm) && managed.has(farm.service.farm)) changes.push({ kind: 'remove-farm', farm: farm.service.farm });
  }
  return changes;
}

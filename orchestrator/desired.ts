import { type Config, type FarmConfig, protocolOf } from './config/schema.ts';
import type { FarmState, RealServerSpec, VirtualServiceSpec } from './dataplane/types.ts';
import { type HealthRecord, isServing } from './health/backend-health.ts';
import { backendPort } from './checks/backend-check.ts';

export function healthKey(farm: string, backend: string): string {
  return `${farm}/${backend}`;
}

export function virtualService(farm: FarmConfig): VirtualServiceSpec {
  return {
    farm: farm.name,
    service: farm.service,
    protocol: protocolOf(farm.service),
    address: farm.virtual.address,
    ports: farm.virtual.ports,
    fwmark: farm.virtual.fwmark,
    scheduler: farm.scheduler,
    persistence: farm.persistence && { timeoutSeconds: farm.persistence.timeout, netmask: farm.persistence.netmask },
  };
}

/**
 * What the data plane should hold for one farm, from the config and the health verdicts:
 * serving backends with their weight (or the weight a misc_dynamic check asked for); failed ones
 * at weight 0 (`on-failure: quiesce`, existing sessions kept) or absent (`remove`); backends in
 * maintenance at weight 0; the sorry server only when no backend serves.
 */
export function desiredFarm(farm: FarmConfig, health: ReadonlyMap<string, HealthRecord>): FarmState {
  const servers: RealServerSpec[] = [];
  for (const backend of farm.backends) {
    const record = health.get(healthKey(farm.name, backend.name));
    const base = {
      name: backend.name,
      address: backend.address,
      port: backendPort(farm, backend),
      ...(backend['max-conns'] === undefined ? {} : { maxConnections: backend['max-conns'] }),
    };
    const maintenance = backend.maintenance || record?.maintenance === true;
    if (record && isServing(record) && !maintenance) servers.push({ ...base, weight: record.dynamicWeight ?? backend.weight });
    else if (maintenance || farm.check['on-failure'] === 'quiesce') servers.push({ ...base, weight: 0 });
  }
  if (farm.sorry && !servers.some((s) => s.weight > 0)) {
    servers.push({ name: 'sorry', address: farm.sorry.address, port: farm.sorry.port ?? backendPort(farm, farm.backends[0]!), weight: 1 });
  }
  const members = [...farm.backends.map((b) => b.name), ...(farm.sorry ? ['sorry'] : [])];
  return { service: virtualService(farm), servers, members };
}

/** Farms grouped by data plane: one adapter per distinct `dataplane` setting. */
export function dataplaneKey(farm: FarmConfig): string {
  return JSON.stringify(farm.dataplane);
}

export function desiredByDataplane(config: Config, health: ReadonlyMap<string, HealthRecord>): Map<string, FarmState[]> {
  const out = new Map<string, FarmState[]>();
  for (const farm of config.farms) {
    const key = dataplaneKey(farm);
    out.set(key, [...(out.get(key) ?? []), desiredFarm(farm, health)]);
  }
  return out;
}

import { createNftlbAdapter } from '../../zevenet-adapters/nftlb/adapter.ts';
import { createZevenetAdapter } from '../../zevenet-adapters/zevenet/adapter.ts';
import { createUserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import { createIpvsadmAdapter } from '../../lvs-adapters/ipvsadm/adapter.ts';
import type { FarmConfig } from '../config/schema.ts';
import { MemoryAdapter } from './memory.ts';
import type { DataPlaneAdapter } from './types.ts';

export type DataplaneConfig = FarmConfig['dataplane'];
export type AdapterFactory = (config: DataplaneConfig) => DataPlaneAdapter;

const factories = new Map<string, AdapterFactory>([
  ['none', () => new MemoryAdapter()],
  ['userspace', createUserspaceAdapter],
  ['nftlb', createNftlbAdapter],
  ['zevenet', createZevenetAdapter],
  ['ipvsadm', createIpvsadmAdapter],
]);

export function availableAdapters(): string[] {
  return [...factories.keys()];
}

export function createAdapter(config: DataplaneConfig): DataPlaneAdapter {
  const factory = factories.get(config.type);
  if (!factory) throw new Error(`data plane "${config.type}" is not available in this build (available: ${availableAdapters().join(', ')})`);
  return factory(config);
}

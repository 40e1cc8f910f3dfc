// The composition root of the data planes: which ones this build drives, decided here once. The CLI
// hands this list to what validates a farms file and to the orchestrator that runs it; nothing below
// imports an adapter.
import { createIpvsadmAdapter } from '../lvs-adapters/ipvsadm/adapter.ts';
import { createUserspaceAdapter } from '../lvs-adapters/userspace/adapter.ts';
import { createNftlbAdapter } from '../zevenet-adapters/nftlb/adapter.ts';
import { createZevenetAdapter } from '../zevenet-adapters/zevenet/adapter.ts';
import { zevenetNameProblems } from '../zevenet-adapters/zevenet/names.ts';
import { MemoryAdapter } from './dataplane/memory.ts';
import type { DataPlaneKind } from './dataplane/types.ts';

export const DATAPLANE_KINDS: readonly DataPlaneKind[] = [
  { type: 'none', create: () => new MemoryAdapter() },
  { type: 'userspace', create: createUserspaceAdapter },
  { type: 'nftlb', create: createNftlbAdapter },
  { type: 'zevenet', create: createZevenetAdapter, farmProblems: zevenetNameProblems },
  { type: 'ipvsadm', create: createIpvsadmAdapter },
];

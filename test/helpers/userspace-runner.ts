// The userspace balancer alone in a process, for a namespace of a test or the benchmark:
// `node --import tsx test/helpers/userspace-runner.ts '<FarmState[] JSON>' ['<settings JSON>']`;
// prints "ready" once listening, and its counters as one JSON line on SIGTERM before it exits.
import { UserspaceAdapter, type UserspaceSettings } from '../../lvs-adapters/userspace/adapter.ts';
import type { FarmState } from '../../orchestrator/dataplane/types.ts';

const farms = JSON.parse(process.argv[2] ?? '[]') as FarmState[];
const settings = JSON.parse(process.argv[3] ?? '{}') as Partial<UserspaceSettings>;
const adapter = new UserspaceAdapter({ 'max-sessions': 100_000, ...settings, type: 'userspace' });
await adapter.apply(farms.map((farm) => ({ kind: 'add-farm' as const, farm })));
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  process.stdout.write(`counters ${JSON.stringify(adapter.counters())}\n`);
  void adapter.close().then(() => process.exit(0));
});

// The userspace balancer alone in a process, for the benchmark's balancer namespace:
// `node --import tsx bench/userspace-lb.ts '<FarmState[] as JSON>'`; prints "ready", stops on SIGTERM.
import { UserspaceAdapter } from '../lvs-adapters/userspace/adapter.ts';
import type { FarmState } from '../orchestrator/dataplane/types.ts';

const farms = JSON.parse(process.argv[2] ?? '[]') as FarmState[];
const adapter = new UserspaceAdapter({ type: 'userspace', 'max-sessions': 100_000 });
await adapter.apply(farms.map((farm) => ({ kind: 'add-farm' as const, farm })));
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  const errors = adapter.counters().filter((c) => c.errors > 0);
  process.stdout.write(`counters ${JSON.stringify(errors)}\n`);
  void adapter.close().then(() => process.exit(0));
});

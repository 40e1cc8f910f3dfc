import t from 'tap';
import { diffFarms } from '../../orchestrator/dataplane/diff.ts';
import { MemoryAdapter } from '../../orchestrator/dataplane/memory.ts';
import type { FarmState, RealServerSpec } from '../../orchestrator/dataplane/types.ts';

const service = (farm: string, scheduler = 'wlc') => ({ farm, service: 'ftp' as const, protocol: 'tcp' as const, address: '192.0.2.1', ports: [{ from: 21, to: 21 }], scheduler });
const server = (name: string, weight = 1): RealServerSpec => ({ name, address: `10.0.0.${name.slice(-1)}`, port: 21, weight });
const farm = (name: string, servers = [server('b1'), server('b2')], scheduler?: string): FarmState => ({ service: service(name, scheduler), servers });

t.test('nothing to do when observed equals desired', async (t) => {
  t.same(diffFarms([farm('ftp')], [farm('ftp')], new Set(['ftp'])), []);
});

t.test('adds, updates and removes servers', async (t) => {
  const desired = farm('ftp', [server('b1', 0), server('b3')]);
  const changes = diffFarms([desired], [farm('ftp')], new Set(['ftp']));
  t.same(changes.map((c) => [c.kind, 'server' in c ? c.server.name : '']), [['update-server', 'b1'], ['add-server', 'b3'], ['remove-server', 'b2']]);
});

t.test('farm level: add, update (scheduler), remove only what is ours', async (t) => {
  const changes = diffFarms([farm('ftp', undefined, 'rr'), farm('tftp')], [farm('ftp'), farm('old'), farm('foreign')], new Set(['ftp', 'tftp', 'old']));
  t.same(changes.map((c) => c.kind), ['update-farm', 'add-farm', 'remove-farm']);
  t.notOk(changes.some((c) => c.kind === 'remove-farm' && c.farm === 'foreign'), 'a farm we never managed is left alone');
});

t.test('applying the diff converges: the memory adapter as the reference data plane', async (t) => {
  const adapter = new MemoryAdapter();
  const desired = [farm('ftp', [server('b1'), server('b2', 0)])];
  await adapter.apply(diffFarms(desired, await adapter.observe(), new Set(['ftp'])));
  t.same(diffFarms(desired, await adapter.observe(), new Set(['ftp'])), [], 'converged');
  // drift: someone removed a real server by hand
  adapter.farms.set('ftp', farm('ftp', [server('b1')]));
  const repair = diffFarms(desired, await adapter.observe(), new Set(['ftp']));
  t.same(repair.map((c) => c.kind), ['add-server']);
  await adapter.apply(repair);
  t.same(diffFarms(desired, await adapter.observe(), new Set(['ftp'])), []);
});

t.test('a changed connection limit is an update; an absent one equals none', async (t) => {
  const limited = farm('ftp', [{ ...server('b1'), maxConnections: 50 }, server('b2')]);
  t.same(diffFarms([limited], [farm('ftp')], new Set(['ftp'])).map((c) => [c.kind, 'server' in c ? c.server.maxConnections : '']), [['update-server', 50]]);
  t.same(diffFarms([limited], [limited], new Set(['ftp'])), []);
  t.same(diffFarms([farm('ftp')], [limited], new Set(['ftp'])).map((c) => c.kind), ['update-server'], 'lifting the limit is a change too');
});

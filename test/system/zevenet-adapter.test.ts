// `dataplane: {type: zevenet}` driven by the reconciler against a fake appliance API that keeps
// state: serving backends are left alone, quiesced ones go to maintenance drain, removed ones to
// maintenance cut, returning ones up; every call is checked, and a converged farm makes no call.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { Orchestrator } from '../../orchestrator/daemon.ts';
import { formatStatusTable } from '../../orchestrator/status/table.ts';
import { until } from '../helpers/processes.ts';
import type { FarmState, RealServerSpec } from '../../orchestrator/dataplane/types.ts';
import { Reconciler } from '../../orchestrator/reconciler.ts';
import { ZevenetAdapter } from '../../zevenet-adapters/zevenet/adapter.ts';
import { type FakeZapi, startFakeZapi } from '../helpers/fake-zapi.ts';

const KEY = 'appliance-key';
const be1: RealServerSpec = { name: 'ftp-1', address: '10.0.0.11', port: 21, weight: 1 };
const be2: RealServerSpec = { name: 'ftp-2', address: '10.0.0.12', port: 21, weight: 1 };
const farm = (servers: RealServerSpec[]): FarmState => ({
  service: { farm: 'ftp', service: 'ftp', protocol: 'tcp', address: '192.0.2.10', ports: [{ from: 21, to: 21 }], scheduler: 'wlc' },
  servers,
});

/** The adapter under a reconciler: `pass` declares servers and expects convergence; `writes` are the appliance's non-GET requests. */
function driven(t: Test, zapi: FakeZapi, adapter: ZevenetAdapter) {
  const reconciler = new Reconciler(adapter, 60_000);
  t.teardown(() => reconciler.stop());
  const writes = () => zapi.requests.filter((r) => r.method !== 'GET');
  const pass = async (servers: RealServerSpec[]) => {
    reconciler.setDesired([farm(servers)]);
    await reconciler.request();
    t.ok(reconciler.status.ok, reconciler.status.lastError ?? 'converged');
  };
  return { reconciler, writes, pass };
}

t.test('zevenet adapter: lbguard verdicts as maintenance drain/cut and up on an appliance farm', async (t) => {
  const zapi = await startFakeZapi(KEY, {
    FTPfarm: [
      { id: 0, ip: '10.0.0.11', port: null, status: 'up' },
      { id: 1, ip: '10.0.0.12', port: null, status: 'up' },
    ],
  });
  t.teardown(() => zapi.close());
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-zapi-key-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'key'), `${KEY}\n`, { mode: 0o600 });
  const { reconciler, writes, pass } = driven(t, zapi, new ZevenetAdapter({ url: zapi.url, keyFile: join(dir, 'key'), farm: 'FTPfarm' }));

  await pass([be1, be2]);
  t.same(writes(), [], 'both backends already serve: nothing written');
  t.ok(zapi.requests.every((r) => r.key === KEY), 'ZAPI_KEY from the key file on every request');
  const applied = reconciler.status.changesApplied;
  await pass([be1, be2]);
  t.equal(reconciler.status.changesApplied, applied, 'the second pass finds nothing to change');

  await pass([be1, { ...be2, weight: 0 }]);
  t.same(writes().map((r) => [r.method, r.path, r.body]), [['PUT', '/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1/maintenance', { action: 'maintenance', mode: 'drain' }]], 'quiesced: maintenance drain');
  t.equal(zapi.backends('FTPfarm')[1]!.status, 'maintenance');

  await pass([be1]);
  t.same(writes().slice(1).map((r) => r.body), [{ action: 'maintenance', mode: 'cut' }], 'removed: maintenance cut');
  await pass([be1]);
  t.equal(writes().length, 2, 'a removed backend in maintenance reads back as removed: no more calls');

  await pass([be1, be2]);
  t.same(writes().slice(2).map((r) => [r.path, r.body]), [['/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1/maintenance', { action: 'up' }]], 'serving again: up');
  await pass([be1, be2]);
  t.equal(writes().length, 3, 'converged again');

  await pass([be1, { ...be2, weight: 3 }]);
  t.same(writes().slice(3).map((r) => [r.method, r.path, r.body]), [['PUT', '/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1', { weight: 3 }]], 'a new weight (e.g. from a dynamic check) is set');
  await pass([be1, { ...be2, weight: 3 }]);
  t.equal(writes().length, 4, 'and read back: converged');

  await pass([be1, { ...be2, weight: 3, maxConnections: 40 }]);
  t.same(writes().slice(4).map((r) => [r.path, r.body]), [['/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1', { max_conns: 40 }]], 'a connection limit is set alone');
  await pass([be1, { ...be2, weight: 3, maxConnections: 40 }]);
  t.equal(writes().length, 5, 'and read back: converged');
  await pass([be1, { ...be2, weight: 3 }]);
  t.same(writes().slice(5).map((r) => r.body), [{ max_conns: 0 }], 'lifting it writes 0 (no limit)');

  zapi.backends('FTPfarm')[0]!.status = 'maintenance'; // someone set it on the appliance
  await pass([be1, { ...be2, weight: 3 }]);
  t.same(writes().slice(6).map((r) => [r.path, r.body]), [['/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/0/maintenance', { action: 'up' }]], 'drift repaired: up again');

  reconciler.setDesired([farm([be1, { ...be2, weight: 3 }, { name: 'ftp-3', address: '10.0.0.13', port: 21, weight: 1 }])]);
  await reconciler.request();
  t.equal(reconciler.status.ok, false);
  t.match(reconciler.status.lastError, /farm FTPfarm has no backend 10.0.0.13: add it on the appliance/);
});

t.test('zevenet adapter: lbguard weights mapped onto the appliance 1..9, read back as converged', async (t) => {
  const zapi = await startFakeZapi(KEY, { FTPfarm: [{ id: 0, ip: '10.0.0.11', status: 'maintenance' }, { id: 1, ip: '10.0.0.12' }] });
  t.teardown(() => zapi.close());
  const adapter = new ZevenetAdapter({ url: zapi.url, farm: 'FTPfarm', env: { LBGUARD_ZEVENET_KEY: KEY } });
  const { reconciler, writes, pass } = driven(t, zapi, adapter);
  await pass([{ ...be1, weight: 100 }, { ...be2, weight: 50 }]);
  t.same(writes().map((r) => [r.path.replace(/.*zapi.cgi/, ''), r.body, r.status]), [
    ['/farms/FTPfarm/backends/0/maintenance', { action: 'up' }, 200],
    ['/farms/FTPfarm/backends/0', { weight: 9 }, 200],
    ['/farms/FTPfarm/backends/1', { weight: 5 }, 200],
  ], 'up first, then 100 and 50 as 9 and 5 (never 100: the appliance refuses it)');
  t.same(zapi.backends('FTPfarm').map((b) => [b.status, b.weight]), [['up', 9], ['up', 5]]);
  const applied = reconciler.status.changesApplied;
  await pass([{ ...be1, weight: 100 }, { ...be2, weight: 50 }]);
  t.equal(writes().length, 3, 'read back as 100 and 50: nothing more written');
  t.equal(reconciler.status.changesApplied, applied, 'and no change found');
  t.same(adapter.dataplaneWeights([{ ...be1, weight: 100 }, { ...be2, weight: 50 }, { ...be2, name: 'q', weight: 0 }]), new Map([['ftp-1', 9], ['ftp-2', 5], ['q', 0]]), 'shown in /status');

  await pass([{ ...be1, weight: 100 }, { ...be2, weight: 1000 }]);
  t.same(writes().slice(3).map((r) => [r.path.replace(/.*zapi.cgi/, ''), r.body]), [
    ['/farms/FTPfarm/backends/1', { weight: 9 }],
    ['/farms/FTPfarm/backends/0', { weight: 1 }],
  ], 'a dynamic weight of 1000 rescales the other backend too (100 -> 1, never 0)');
  await pass([{ ...be1, weight: 0 }, { ...be2, weight: 1000 }]);
  t.same(writes().slice(5).map((r) => [r.path.replace(/.*zapi.cgi/, ''), r.body]), [['/farms/FTPfarm/backends/0/maintenance', { action: 'maintenance', mode: 'drain' }]], 'weight 0 is drain, not a weight');
  t.ok(zapi.requests.every((r) => r.status < 400), 'the appliance refused nothing');
});

t.test('zevenet adapter: a farm the appliance does not have, and a wrong key, say what to do', async (t) => {
  const zapi = await startFakeZapi(KEY, {});
  t.teardown(() => zapi.close());
  const adapter = new ZevenetAdapter({ url: zapi.url, env: { LBGUARD_ZEVENET_KEY: KEY } });
  t.same(await adapter.observe(), []);
  await t.rejects(adapter.apply([{ kind: 'add-farm', farm: farm([be1]) }]), /farm ftp must exist on the appliance as an L4xNAT farm .*Farm not found/);
  const wrong = new ZevenetAdapter({ url: zapi.url, env: { LBGUARD_ZEVENET_KEY: 'nope' } });
  await t.rejects(wrong.observe(), /refused the key .*LBGUARD_ZEVENET_KEY/);
  await t.rejects(new ZevenetAdapter({ url: zapi.url, env: {} }).observe(), /no Zevenet API key: set key-file/);
});

t.test('/status and lbguard status show the weight the appliance holds beside lbguard\'s', async (t) => {
  const zapi = await startFakeZapi(KEY, { FTPfarm: [{ id: 0, ip: '127.0.0.1', weight: 5 }, { id: 1, ip: '127.0.0.2', weight: 5 }] });
  t.teardown(() => zapi.close());
  // lbguard's tcp checks end their connections with a reset
  const listener = createServer((socket) => socket.on('error', () => undefined).end());
  await new Promise<void>((resolve) => listener.listen(0, '0.0.0.0', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => listener.close(() => resolve())));
  const port = (listener.address() as { port: number }).port;
  const config = validateConfig({
    farms: [{
      name: 'ftp', service: 'tcp', virtual: { address: '192.0.2.10', ports: [port] },
      dataplane: { type: 'zevenet', url: zapi.url, 'key-file': '/nonexistent', farm: 'FTPfarm' },
      check: { probe: 'tcp', interval: '200ms', timeout: '100ms', rise: 1 },
      backends: [{ name: 'big', address: '127.0.0.1', port, weight: 300 }, { name: 'small', address: '127.0.0.2', port, weight: 20 }],
    }],
  });
  const adapter = new ZevenetAdapter({ url: zapi.url, farm: 'FTPfarm', env: { LBGUARD_ZEVENET_KEY: KEY } });
  const orchestrator = new Orchestrator(config, { logger: pino({ level: 'silent' }), adapterFor: () => adapter, reconcilePeriodMs: 60_000 });
  await orchestrator.start();
  t.teardown(() => orchestrator.stop());
  await until('both weights on the appliance', () => (zapi.backends('FTPfarm').map((b) => b.weight).join() === '9,1' ? true : undefined), 5000);
  const backends = orchestrator.snapshot().farms[0]!.backends;
  t.same(backends.map((b) => [b.name, b.weight, b.dataplaneWeight]), [['big', 300, 9], ['small', 20, 1]], '300 and 20 held as 9 and 1 (20*9/300 rounds to 1)');
  const table = formatStatusTable(orchestrator.snapshot());
  t.match(table, /^ftp\s+big\s+\S+\s+up\s+300 \(zevenet 9\)/m);
  t.match(table, /^ftp\s+small\s+\S+\s+up\s+20 \(zevenet 1\)/m);
});

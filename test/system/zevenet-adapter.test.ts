// `dataplane: {type: zevenet}` driven by the reconciler against a fake appliance API that keeps
// state: serving backends are left alone, quiesced ones go to maintenance drain, removed ones to
// maintenance cut, returning ones up; every call is checked, and a converged farm makes no call.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { FarmState, RealServerSpec } from '../../orchestrator/dataplane/types.ts';
import { Reconciler } from '../../orchestrator/reconciler.ts';
import { ZevenetAdapter } from '../../zevenet-adapters/zevenet/adapter.ts';
import { startFakeZapi } from '../helpers/fake-zapi.ts';

const KEY = 'appliance-key';
const be1: RealServerSpec = { name: 'ftp-1', address: '10.0.0.11', port: 21, weight: 1 };
const be2: RealServerSpec = { name: 'ftp-2', address: '10.0.0.12', port: 21, weight: 1 };
const farm = (servers: RealServerSpec[]): FarmState => ({
  service: { farm: 'ftp', service: 'ftp', protocol: 'tcp', address: '192.0.2.10', ports: [{ from: 21, to: 21 }], scheduler: 'wlc' },
  servers,
});

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
  const adapter = new ZevenetAdapter({ url: zapi.url, keyFile: join(dir, 'key'), farm: 'FTPfarm' });
  const reconciler = new Reconciler(adapter, 60_000);
  t.teardown(() => reconciler.stop());
  const writes = () => zapi.requests.filter((r) => r.method !== 'GET');
  const pass = async (servers: RealServerSpec[]) => {
    reconciler.setDesired([farm(servers)]);
    await reconciler.request();
    t.ok(reconciler.status.ok, reconciler.status.lastError ?? 'converged');
  };

  await pass([be1, be2]);
  t.same(writes(), [], 'both backends already serve: nothing written');
  t.ok(zapi.requests.every((r) => r.key === KEY), 'ZAPI_KEY from the key file on every request');
  const applied = reconciler.status.changesApplied;
  await pass([be1, be2]);
  t.equal(reconciler.status.changesApplied, applied, 'the second pass finds nothing to change');

  await pass([be1, { ...be2, weight: 0 }]);
  t.same(writes().map((r) => [r.method, r.path, r.body]), [['PUT', '/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1/maintenance', { action: 'maintenance', mode: 'drain' }]], 'quiesced: maintenance drain');
  t.equal(zapi.farms.get('FTPfarm')![1]!.status, 'maintenance');

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

  zapi.farms.get('FTPfarm')![0]!.status = 'maintenance'; // someone set it on the appliance
  await pass([be1, { ...be2, weight: 3 }]);
  t.same(writes().slice(6).map((r) => [r.path, r.body]), [['/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/0/maintenance', { action: 'up' }]], 'drift repaired: up again');

  reconciler.setDesired([farm([be1, { ...be2, weight: 3 }, { name: 'ftp-3', address: '10.0.0.13', port: 21, weight: 1 }])]);
  await reconciler.request();
  t.equal(reconciler.status.ok, false);
  t.match(reconciler.status.lastError, /farm FTPfarm has no backend 10.0.0.13: add it on the appliance/);
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

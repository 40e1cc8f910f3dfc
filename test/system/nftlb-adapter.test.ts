// The nftlb adapter against a real nftlb, started by the test in a network namespace of its own (its
// nftables rules never touch the host's), its API relayed to 127.0.0.1 through a unix socket.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { diffFarms } from '../../orchestrator/dataplane/diff.ts';
import type { FarmState } from '../../orchestrator/dataplane/types.ts';
import { Reconciler } from '../../orchestrator/reconciler.ts';
import { NftlbAdapter } from '../../zevenet-adapters/nftlb/adapter.ts';
import { NftlbClient, type NftlbFarm } from '../../zevenet-adapters/nftlb/client.ts';
import { freePort } from '../helpers/processes.ts';
import { nftlbInNamespace } from '../helpers/nftlb-ns.ts';

const ftp: FarmState = {
  service: { farm: 'ftpfarm', service: 'ftp', protocol: 'tcp', address: '10.98.1.1', ports: [{ from: 20, to: 20 }, { from: 21, to: 21 }], scheduler: 'wlc' },
  servers: [
    { name: 'be1', address: '10.98.2.11', port: 21, weight: 3 },
    { name: 'be2', address: '10.98.2.12', port: 21, weight: 1 },
  ],
};
const tftp: FarmState = {
  service: { farm: 'tftpfarm', service: 'tftp', protocol: 'udp', address: '10.98.1.1', ports: [{ from: 69, to: 69 }], scheduler: 'rr' },
  servers: [
    { name: 'be1', address: '10.98.2.11', port: 69, weight: 1 },
    { name: 'be2', address: '10.98.2.12', port: 69, weight: 1 },
  ],
};
const sftp: FarmState = {
  service: { farm: 'sftpfarm', service: 'sftp', protocol: 'tcp', address: '10.98.1.1', ports: [{ from: 22, to: 22 }], scheduler: 'sh', persistence: { timeoutSeconds: 300, netmask: '255.255.255.255' } },
  servers: [{ name: 'be1', address: '10.98.2.11', port: 2222, weight: 1 }],
};

const until = async (what: string, ok: () => Promise<boolean> | boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

t.test('nftlb adapter against a real nftlb', async (t) => {
  const lb = await nftlbInNamespace('nftlb');
  t.teardown(() => lb.remove());
  const raw = () => new NftlbClient({ url: lb.url, key: () => readFileSync(lb.keyFile, 'utf8').trim() });
  const farm = async (name: string): Promise<NftlbFarm> => (await raw().farms()).find((f) => f.name === name)!;
  const backend = async (name: string, be: string) => (await farm(name)).backends?.find((b) => b.name === be);

  t.test('the key nftlb generated is read from its output, never put on its command line', async (t) => {
    const cmdline = readFileSync(`/proc/${lb.nftlb().pid}/cmdline`, 'utf8');
    t.ok(lb.nftlb().key.length >= 8, 'a key was read');
    t.notOk(cmdline.includes(lb.nftlb().key), 'the key is not in argv');
    t.notOk(lb.nftlb().output().includes(lb.nftlb().key), 'the kept output has no key');
  });

  t.test('declares FTP, TFTP and SFTP farms with helpers, reads them back unchanged', async (t) => {
    const adapter = new NftlbAdapter({ url: lb.url, keyFile: lb.keyFile });
    t.same(await adapter.observe(), [], 'nothing there yet');
    await adapter.apply([{ kind: 'add-farm', farm: ftp }, { kind: 'add-farm', farm: tftp }, { kind: 'add-farm', farm: sftp }]);

    const f = await farm('ftpfarm');
    t.match(f, { protocol: 'tcp', 'virtual-addr': '10.98.1.1', 'virtual-ports': '20,21', helper: 'ftp', mode: 'snat', scheduler: 'weight', state: 'up' });
    t.match(f.backends, [{ name: 'be1', 'ip-addr': '10.98.2.11', port: '', weight: '3', state: 'up' }, { name: 'be2', 'ip-addr': '10.98.2.12', weight: '1', state: 'up' }]);
    t.match(await farm('tftpfarm'), { protocol: 'udp', 'virtual-ports': '69', helper: 'tftp', scheduler: 'rr' });
    const s = await farm('sftpfarm');
    t.match(s, { protocol: 'tcp', 'virtual-ports': '22', helper: 'none', scheduler: 'hash', 'persist-ttl': '300' });
    t.equal(String(s.persistence).trim(), 'srcip');
    t.equal(String(s['sched-param']).trim(), 'srcip');
    t.match(s.backends, [{ name: 'be1', port: '2222' }], 'a backend on another port keeps it');

    const ruleset = await lb.ruleset();
    t.match(ruleset, /ct helper ftp-/, 'nftlb declared the ftp conntrack helper');
    t.match(ruleset, /ct helper tftp-/, 'and the tftp one');

    const observed = await adapter.observe();
    t.same(diffFarms([ftp, tftp, sftp], observed, new Set()), [], 'what nftlb holds is exactly what was declared');
    await adapter.close();
  });

  t.test('weight 0 is off, a removed backend is down, and both read back as the orchestrator models them', async (t) => {
    const adapter = new NftlbAdapter({ url: lb.url, keyFile: lb.keyFile });
    await adapter.observe();
    const be1 = ftp.servers[0]!;
    const be2 = ftp.servers[1]!;
    await adapter.apply([{ kind: 'update-server', farm: 'ftpfarm', server: { ...be1, weight: 0 } }]);
    t.match(await backend('ftpfarm', 'be1'), { state: 'off' });
    await adapter.apply([{ kind: 'remove-server', farm: 'ftpfarm', server: be2 }]);
    t.match(await backend('ftpfarm', 'be2'), { state: 'down', 'ip-addr': '10.98.2.12' });
    const desired: FarmState = { ...ftp, servers: [{ ...be1, weight: 0 }] };
    t.same(diffFarms([desired], (await adapter.observe()).filter((f) => f.service.farm === 'ftpfarm'), new Set()), [], 'off = weight 0, down = absent');
    await adapter.apply([{ kind: 'update-server', farm: 'ftpfarm', server: be1 }, { kind: 'add-server', farm: 'ftpfarm', server: { ...be2, weight: 5 } }]);
    t.match(await farm('ftpfarm'), { backends: [{ name: 'be1', state: 'up', weight: '3' }, { name: 'be2', state: 'up', weight: '5' }] });
    // how long one state change takes through the API (the orchestrator's share of a failover)
    const ms: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await adapter.apply([i % 2 ? { kind: 'update-server', farm: 'ftpfarm', server: be2 } : { kind: 'remove-server', farm: 'ftpfarm', server: be2 }]);
      ms.push(performance.now() - started);
    }
    ms.sort((a, b) => a - b);
    t.comment(`one backend state change through nftlb's API: median ${ms[10]!.toFixed(1)} ms, max ${ms[19]!.toFixed(1)} ms (20 changes)`);
    t.ok(ms[10]! < 500, 'well under a check interval');
    await adapter.close();
  });

  t.test('a connection limit becomes est-connlimit (a conntrack count rule), reads back, and is lifted', async (t) => {
    const adapter = new NftlbAdapter({ url: lb.url, keyFile: lb.keyFile });
    await adapter.observe();
    const limited = { ...ftp.servers[0]!, maxConnections: 25 };
    await adapter.apply([{ kind: 'update-server', farm: 'ftpfarm', server: limited }]);
    t.match(await backend('ftpfarm', 'be1'), { 'est-connlimit': '25', state: 'up' });
    t.match(await lb.ruleset(), /ct count over 25 .*drop/, 'nftlb drops connections over the limit');
    const observed = (await adapter.observe()).find((f) => f.service.farm === 'ftpfarm');
    t.same(observed?.servers.find((s) => s.name === 'be1'), limited, 'the limit reads back as applied: no endless drift repair');
    await adapter.apply([{ kind: 'update-server', farm: 'ftpfarm', server: ftp.servers[0]! }]);
    t.match(await backend('ftpfarm', 'be1'), { 'est-connlimit': '0' });
    t.notMatch(await lb.ruleset(), /ct count over 25/, 'lifted');
    await adapter.close();
  });

  t.test('the reconciler repairs drift made by hand and removes a farm that left the config', async (t) => {
    const adapter = new NftlbAdapter({ url: lb.url, keyFile: lb.keyFile });
    const reconciler = new Reconciler(adapter, 60_000);
    t.teardown(() => reconciler.stop());
    reconciler.setDesired([ftp, tftp, sftp]);
    await reconciler.request();
    t.ok(reconciler.status.ok, 'converged');
    await raw().post([{ name: 'tftpfarm', backends: [{ name: 'be2', state: 'down' }] }, { name: 'ftpfarm', scheduler: 'rr' }]);
    await reconciler.request();
    t.match(await backend('tftpfarm', 'be2'), { state: 'up' }, 'the backend set down by hand is up again');
    t.equal((await farm('ftpfarm')).scheduler, 'weight', 'the scheduler changed by hand is back');
    reconciler.setDesired([ftp, tftp]);
    await reconciler.request();
    t.notOk(await farm('sftpfarm'), 'sftpfarm deleted');
    t.ok(await farm('ftpfarm'));
  });

  t.test('a backend taken out of the farms file is deleted from nftlb; a failed one stays down', async (t) => {
    const adapter = new NftlbAdapter({ url: lb.url, keyFile: lb.keyFile });
    const reconciler = new Reconciler(adapter, 60_000);
    t.teardown(() => reconciler.stop());
    const members = ['be1', 'be2'];
    reconciler.setDesired([{ ...ftp, members }]);
    await reconciler.request();
    t.ok(reconciler.status.ok, reconciler.status.lastError ?? 'converged');
    reconciler.setDesired([{ ...ftp, servers: [ftp.servers[0]!], members }]);
    await reconciler.request();
    t.match(await backend('ftpfarm', 'be2'), { state: 'down', 'ip-addr': '10.98.2.12' }, 'failed (still in the file): kept, down');
    reconciler.setDesired([{ ...ftp, servers: [ftp.servers[0]!], members: ['be1'] }]);
    await reconciler.request();
    t.ok(reconciler.status.ok, reconciler.status.lastError ?? 'converged');
    t.same((await farm('ftpfarm')).backends?.map((b) => b.name), ['be1'], 'taken out of the file while down: deleted');
    reconciler.setDesired([{ ...ftp, members }]);
    await reconciler.request();
    t.match(await backend('ftpfarm', 'be2'), { state: 'up' }, 'put back in the file: declared again');
    reconciler.setDesired([{ ...ftp, servers: [ftp.servers[0]!], members: ['be1'] }]);
    await reconciler.request();
    t.same((await farm('ftpfarm')).backends?.map((b) => b.name), ['be1'], 'taken out while serving: deleted too');
    const applied = reconciler.status.changesApplied;
    await reconciler.request();
    t.equal(reconciler.status.changesApplied, applied, 'converged: nothing more to do');
  });

  t.test('a wrong key and an nftlb that is not there are errors that say what to do', async (t) => {
    const wrong = new NftlbAdapter({ url: lb.url, env: { LBGUARD_NFTLB_KEY: 'not-the-key' } });
    await t.rejects(wrong.observe(), /refused the API key .*HTTP 401.*key-file or LBGUARD_NFTLB_KEY/);
    const nokey = new NftlbAdapter({ url: lb.url, env: {} });
    await t.rejects(nokey.observe(), /^no nftlb API key: set key-file/);
    const nothing = new NftlbAdapter({ url: `http://127.0.0.1:${await freePort()}`, keyFile: lb.keyFile });
    await t.rejects(nothing.observe(), /nftlb is not answering .*ECONNREFUSED/);
    const adapter = new NftlbAdapter({ url: lb.url, keyFile: lb.keyFile });
    await t.rejects(adapter.apply([{ kind: 'add-server', farm: 'nosuch', server: ftp.servers[0]! }]), /adding be1 to nosuch: farm nosuch is not declared/);
    const bad: FarmState = { ...sftp, service: { ...sftp.service, farm: 'bad', persistence: { timeoutSeconds: 60, netmask: '255.255.255.0' } } };
    await t.rejects(adapter.apply([{ kind: 'add-farm', farm: bad }]), /persistence netmask 255.255.255.0 cannot be applied/);
  });

  t.test('nftlb stopped: errors with backoff in the status; restarted empty with a new key: everything declared again', async (t) => {
    const adapter = new NftlbAdapter({ url: lb.url, keyFile: lb.keyFile });
    const errors: string[] = [];
    const reconciler = new Reconciler(adapter, 60_000, { onError: (e, attempt, wait) => errors.push(`${attempt}:${wait}:${e.message}`) });
    t.teardown(() => reconciler.stop());
    reconciler.setDesired([ftp, tftp]);
    await reconciler.request();
    t.ok(reconciler.status.ok);
    await lb.stop();
    await reconciler.request();
    t.equal(reconciler.status.ok, false, 'the status shows the failure');
    t.match(reconciler.status.lastError, /nftlb is not answering/);
    await until('a retry with a longer wait', () => errors.length >= 2);
    t.match(errors[0], /^1:500:/);
    t.match(errors[1], /^2:1000:/);
    await lb.start();
    await until('the reconciler to converge again', () => reconciler.status.ok, 15_000);
    t.same((await raw().farms()).map((f) => f.name).sort(), ['ftpfarm', 'tftpfarm'], 'both farms declared in the new nftlb');
    t.match(await backend('ftpfarm', 'be1'), { state: 'up', weight: '3' });
  });
});

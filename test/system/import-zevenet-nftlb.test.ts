// `lbguard import zevenet URL` against the appliance test double (which enforces the appliance's rules)
// and `lbguard import nftlb URL` against a real nftlb: the L4xNAT farms come out as a farms file that
// `lbguard check` accepts, with the key read from a file or the environment and never printed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { NftlbClient } from '../../zevenet-adapters/nftlb/client.ts';
import { startFakeZapi } from '../helpers/fake-zapi.ts';
import { nftlbInNamespace } from '../helpers/nftlb-ns.ts';
import { ROOT, runCommand } from '../helpers/processes.ts';

const KEY = 'import-key-0123';
const lbguard = (args: string[], env: NodeJS.ProcessEnv = {}) => runCommand(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), ...args], { env: { ...process.env, ...env } });
const dir = mkdtempSync(join(tmpdir(), 'lbguard-import-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** The printed file passes `lbguard check` (the key file it names must exist for that). */
async function checks(t: Test, text: string, name: string): Promise<void> {
  const file = join(dir, name);
  writeFileSync(file, text);
  const check = await lbguard(['check', '-c', file]);
  t.equal(check.code, 0, `lbguard check accepts it: ${check.stdout}`);
}

t.test('import zevenet: the appliance\'s L4xNAT farms, ports as farmguardian reads them, the key from a file or the environment', async (t) => {
  const zapi = await startFakeZapi(KEY, {
    FTPfarm: { vport: '20,21', protocol: 'ftp', algorithm: 'roundrobin', backends: [{ id: 0, ip: '10.0.0.11', weight: 3 }, { id: 1, ip: '10.0.0.12', status: 'maintenance' }] },
    TFTPfarm: { vport: '69', protocol: 'tftp', backends: [{ id: 0, ip: '10.0.0.21', port: 6969 }] },
    SFTPfarm: { vport: '22', protocol: 'tcp', backends: [{ id: 0, ip: '10.0.0.31', max_conns: 50 }] },
    SIPfarm: { vport: '5060', protocol: 'udp', backends: [{ id: 0, ip: '10.0.0.41' }] },
  });
  t.teardown(() => zapi.close());
  const keyFile = join(dir, 'zapi.key');
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  const run = await lbguard(['import', 'zevenet', zapi.url, '--key-file', keyFile]);
  t.equal(run.code, 0, run.stderr);
  t.notMatch(run.stdout + run.stderr, KEY, 'the key is printed nowhere');
  t.match(run.stderr, /farm SIPfarm: left out \(protocol udp: no lbguard check for plain UDP\)/);
  const farms = (parse(run.stdout) as { farms: Record<string, unknown>[] }).farms;
  t.same(farms.map((f) => [f.name, f.service]), [['FTPfarm', 'ftp'], ['TFTPfarm', 'tftp'], ['SFTPfarm', 'sftp']]);
  t.same(farms[0], {
    name: 'FTPfarm', service: 'ftp', virtual: { address: '192.0.2.10', ports: [20, 21] }, scheduler: 'rr',
    dataplane: { type: 'zevenet', url: zapi.url, 'key-file': keyFile, farm: 'FTPfarm' }, check: { probe: 'ftp' },
    backends: [{ name: 'bck0', address: '10.0.0.11', port: 21, weight: 3 }, { name: 'bck1', address: '10.0.0.12', port: 21, weight: 1, maintenance: true }],
  }, 'backends without a port are checked on 21 of 20,21; maintenance kept');
  t.match(farms[1], { backends: [{ name: 'bck0', address: '10.0.0.21', port: 6969 }] });
  t.match(farms[2], { check: { probe: 'ssh' }, backends: [{ port: 22, 'max-conns': 50 }] });
  await checks(t, run.stdout, 'zevenet.yaml');
  t.ok(zapi.requests.every((r) => r.method === 'GET' && r.status === 200), 'only reads, all accepted');

  const fromEnv = await lbguard(['import', 'zevenet', zapi.url], { LBGUARD_ZEVENET_KEY: KEY });
  t.equal(fromEnv.code, 0, fromEnv.stderr);
  t.match(fromEnv.stdout, /key-file: \/etc\/lbguard\/zevenet.key/, 'with the key in the environment, the file names where to put it');
  const wrong = await lbguard(['import', 'zevenet', zapi.url], { LBGUARD_ZEVENET_KEY: 'nope' });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /refused the key .*LBGUARD_ZEVENET_KEY/);
  const none = await lbguard(['import', 'zevenet', zapi.url], { LBGUARD_ZEVENET_KEY: '' });
  t.match(none.stderr, /no Zevenet API key: set key-file .* or LBGUARD_ZEVENET_KEY/);
});

t.test('import nftlb: a real nftlb\'s farms, helpers as services, states as maintenance', async (t) => {
  const lb = await nftlbInNamespace('import');
  t.teardown(() => lb.remove());
  const client = new NftlbClient({ url: lb.url, key: () => readFileSync(lb.keyFile, 'utf8').trim().replace(/^Key:\s*/i, '') });
  await client.post([
    { name: 'ftpfarm', family: 'ipv4', 'virtual-addr': '10.98.1.1', 'virtual-ports': '20,21', protocol: 'tcp', mode: 'snat', scheduler: 'rr', helper: 'ftp', state: 'up',
      backends: [{ name: 'be1', 'ip-addr': '10.98.2.11', weight: '2', state: 'up' }, { name: 'be2', 'ip-addr': '10.98.2.12', state: 'off' }] },
    { name: 'tftpfarm', family: 'ipv4', 'virtual-addr': '10.98.1.1', 'virtual-ports': '69', protocol: 'udp', mode: 'snat', scheduler: 'hash', 'sched-param': 'srcip', helper: 'tftp', state: 'up',
      backends: [{ name: 'be1', 'ip-addr': '10.98.2.11', state: 'up' }] },
  ]);
  const run = await lbguard(['import', 'nftlb', lb.url, '--key-file', lb.keyFile]);
  t.equal(run.code, 0, run.stderr);
  const farms = (parse(run.stdout) as { farms: Record<string, unknown>[] }).farms;
  t.same(farms.map((f) => [f.name, f.service, f.scheduler]), [['ftpfarm', 'ftp', 'rr'], ['tftpfarm', 'tftp', 'sh']]);
  t.match(farms[0], {
    virtual: { address: '10.98.1.1', ports: [20, 21] }, dataplane: { type: 'nftlb', url: lb.url, 'key-file': lb.keyFile, mode: 'snat' },
    backends: [{ name: 'be1', address: '10.98.2.11', port: 21, weight: 2 }, { name: 'be2', address: '10.98.2.12', port: 21, maintenance: true }],
  });
  t.match(farms[1], { check: { probe: 'tftp' }, backends: [{ name: 'be1', port: 69 }] });
  await checks(t, run.stdout, 'nftlb.yaml');
});

// The userspace balancer where addresses differ as in production: client 10.97.1.2, balancer
// 10.97.1.1 (the virtual address) and 10.97.2.1, backends 10.97.2.11 and 10.97.2.12 running vsftpd
// and tftpd-hpa, each in a namespace of this test (test/helpers/l4-topology.ts). The balancer runs
// in its namespace as a process of its own; curl (passive and active) and tftp-hpa run in the
// client's. Each backend's who.txt names it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { FarmState } from '../../orchestrator/dataplane/types.ts';
import { l4Topology } from '../helpers/l4-topology.ts';
import { ROOT, requireBinary, runCommand, startDaemon } from '../helpers/processes.ts';

const IP = requireBinary('/usr/sbin/ip', 'iproute2');
const curl = requireBinary('/usr/bin/curl', 'curl');
const tftp = requireBinary('/usr/bin/tftp', 'tftp-hpa');

t.test('FTP (passive, active) and TFTP through the balancer across namespaces', async (t) => {
  const topo = l4Topology();
  const out = mkdtempSync(join(tmpdir(), 'lbguard-userspace-ns-'));
  t.teardown(async () => {
    await topo.remove();
    rmSync(out, { recursive: true, force: true });
  });
  for (const backend of topo.backends) {
    topo.startFtp(backend);
    topo.startTftp(backend);
  }
  const servers = (port: number) => topo.backends.map((b) => ({ name: b.label, address: b.address, port, weight: 1 }));
  const farms: FarmState[] = [
    { service: { farm: 'ftp', service: 'ftp', protocol: 'tcp', address: topo.vip, ports: [{ from: 21, to: 21 }], scheduler: 'rr' }, servers: servers(21) },
    { service: { farm: 'tftp', service: 'tftp', protocol: 'udp', address: topo.vip, ports: [{ from: 69, to: 69 }], scheduler: 'rr' }, servers: servers(69) },
  ];
  const balancer = startDaemon(IP, ['netns', 'exec', topo.balancer, process.execPath, '--import', 'tsx', join(ROOT, 'test', 'helpers', 'userspace-runner.ts'), JSON.stringify(farms), JSON.stringify({ 'passive-ports': { from: 50000, to: 50019 } })]);
  t.teardown(() => balancer.stop());
  for (let i = 0; i < 100 && !balancer.output().includes('ready'); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(balancer.output(), /ready/, 'balancer listening');
  await new Promise((r) => setTimeout(r, 500)); // vsftpd and in.tftpd start alongside

  const inClient = (argv: string[]) => runCommand(IP, ['netns', 'exec', topo.client, ...argv], { timeoutMs: 20_000 });
  const ftpWho = async (...args: string[]) => {
    const run = await inClient([curl, '-sS', '--max-time', '10', ...args, `ftp://${topo.vip}/pub/who.txt`]);
    return run.code === 0 ? run.stdout.trim() : `curl ${run.code}: ${run.stderr.trim()}`;
  };
  let n = 0;
  const tftpWho = async () => {
    const file = join(out, `who-${n++}`);
    const run = await inClient([tftp, '-m', 'binary', topo.vip, '-c', 'get', 'who.txt', file]);
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      return `tftp: ${run.stdout}${run.stderr}`;
    }
  };

  t.same([await ftpWho(), await ftpWho()], ['backend1', 'backend2'], 'passive (EPSV)');
  t.same([await ftpWho('--disable-epsv'), await ftpWho('--disable-epsv')], ['backend1', 'backend2'], 'passive (PASV rewritten to the virtual address)');
  t.same([await ftpWho('-P', topo.clientAddress), await ftpWho('-P', topo.clientAddress, '--disable-eprt')], ['backend1', 'backend2'], 'active (EPRT, PORT)');
  t.same([await tftpWho(), await tftpWho(), await tftpWho()], ['tftp-backend1', 'tftp-backend2', 'tftp-backend1'], 'TFTP sessions from fresh ports');

  await balancer.stop();
  const counters = JSON.parse(/counters (.*)/.exec(balancer.output())?.[1] ?? '[]') as { farm: string; backend: string; sessions?: number; errors: number }[];
  t.same(counters.filter((c) => c.backend !== '').map((c) => [c.farm, c.backend, c.sessions, c.errors]), [
    ['ftp', 'backend1', 3, 0], ['ftp', 'backend2', 3, 0], ['tftp', 'backend1', 2, 0], ['tftp', 'backend2', 1, 0],
  ], 'sessions counted per backend, no errors');
});

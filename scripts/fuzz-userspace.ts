// The bounded fuzz run behind the README's figures: the userspace balancer in this process in front
// of a real tftpd-hpa and a real vsftpd on loopback, scripts/flood.ts throwing malformed TFTP
// datagrams at the TFTP farm and hostile control lines at the FTP farm (each in a process of its
// own), legitimate tftp-hpa gets running alongside. Prints sessions created, refusals by kind, the
// balancer's peak RSS and the failed legitimate transfers.
//   node --import tsx scripts/fuzz-userspace.ts [TFTP-DATAGRAMS] [FTP-LINES]   (default 1000000 100000)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserspaceAdapter } from '../lvs-adapters/userspace/adapter.ts';
import { freePort, ROOT, runCommand } from '../test/helpers/processes.ts';
import { freeUdpPort, startTftpdHpa, TFTP_CLIENT } from '../test/helpers/tftp-daemons.ts';
import { startVsftpd } from '../test/helpers/vsftpd.ts';

const VIP = '127.0.0.2';
const datagrams = Number(process.argv[2] ?? 1_000_000);
const lines = Number(process.argv[3] ?? 100_000);
const tftpd = await startTftpdHpa({ 'who.txt': 'tftp\n' });
const vsftpd = await startVsftpd();
const out = mkdtempSync(join(tmpdir(), 'lbguard-fuzz-'));
const [tftpPort, ftpPort, passive] = [await freeUdpPort(VIP), await freePort(), await freePort()];
const adapter = new UserspaceAdapter({ type: 'userspace', 'passive-ports': { from: passive, to: passive + 15 } });
await adapter.apply([
  { kind: 'add-farm', farm: { service: { farm: 'tftp', service: 'tftp', protocol: 'udp', address: VIP, ports: [{ from: tftpPort, to: tftpPort }], scheduler: 'rr' }, servers: [{ name: 't', address: '127.0.0.1', port: tftpd.port, weight: 1 }] } },
  { kind: 'add-farm', farm: { service: { farm: 'ftp', service: 'ftp', protocol: 'tcp', address: VIP, ports: [{ from: ftpPort, to: ftpPort }], scheduler: 'rr' }, servers: [{ name: 'f', address: '127.0.0.1', port: vsftpd.port, weight: 1 }] } },
]);
const flood = (mode: string, port: number, count: number) =>
  runCommand(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'flood.ts'), mode, VIP, String(port), String(count)], { timeoutMs: 3_600_000 });

let running = true;
let gets = 0;
let failedGets = 0;
const legitimate = (async () => {
  while (running) {
    const target = join(out, `who-${gets++}`);
    const run = await runCommand(TFTP_CLIENT, ['-m', 'binary', VIP, String(tftpPort), '-c', 'get', 'who.txt', target], { timeoutMs: 30_000 });
    let got = '';
    try { got = readFileSync(target, 'utf8'); } catch { /* not written */ }
    if (run.code !== 0 || got !== 'tftp\n') failedGets++;
  }
})();
const started = performance.now();
const [tftpRun, ftpRun] = await Promise.all([flood('tftp-junk', tftpPort, datagrams), flood('ftp-lines', ftpPort, lines)]);
running = false;
await legitimate;
const counters = adapter.counters();
const sessions = (farm: string) => counters.filter((c) => c.farm === farm && c.backend !== '').reduce((n, c) => n + (c.sessions ?? 0), 0);
const errors = Object.fromEntries(counters.filter((c) => c.errorKind).map((c) => [`${c.farm}/${c.errorKind}`, c.errors]));
process.stdout.write(`${JSON.stringify({
  seconds: Math.round((performance.now() - started) / 1000),
  tftp: JSON.parse(tftpRun.stdout || '{}'), ftp: JSON.parse(ftpRun.stdout || '{}'),
  tftpSessions: sessions('tftp'), ftpSessions: sessions('ftp'), errors,
  legitimateGets: gets, failedGets, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  passiveReserved: await adapter.passiveReservations(),
}, null, 1)}\n`);
await adapter.close();
await Promise.all([tftpd.stop(), vsftpd.stop()]);
rmSync(out, { recursive: true, force: true });

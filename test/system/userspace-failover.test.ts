// A backend dies between two checks: the userspace balancer hides it from clients. Two real vsftpd
// behind an FTP farm and a plain TCP farm (the same daemons), checked every 5 s with fall 3, so the
// checks alone would need 10-15 s to take the dead one out. One vsftpd's whole process group is
// killed (SIGKILL): 20 new FTP sessions (curl) and 20 TCP sessions right after all succeed - the
// refused connects are retried on the other server - and the dead one leaves the rotation after
// error-limit (3) refusals, shown as a transition with the reason long before its checks could.
// Started again on its port, its checks bring it back (rise 1).
import { DATAPLANE_KINDS } from '../../orchestrator/dataplane-kinds.ts';
import { chmodSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { Orchestrator } from '../../orchestrator/daemon.ts';
import { freePort, freePortRange, requireBinary, runCommand, until } from '../helpers/processes.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const VIP = '127.0.0.2';
const curl = requireBinary('/usr/bin/curl', 'curl');

/** The first line a TCP session through the VIP reads (the FTP banner), or the failure. */
const banner = (port: number) =>
  new Promise<string>((resolve) => {
    const socket = connect(port, VIP);
    const timer = setTimeout(() => (socket.destroy(), resolve('no banner in 5 s')), 5000);
    socket.once('data', (d: Buffer) => (clearTimeout(timer), socket.destroy(), resolve(d.toString('latin1').split('\r\n')[0]!)));
    socket.once('error', (e) => (clearTimeout(timer), resolve(e.message)));
    socket.once('close', () => (clearTimeout(timer), resolve('closed without a banner')));
  });

t.test('a killed vsftpd: every new session served by the other, the dead one out before its checks notice', async (t) => {
  const backends: Vsftpd[] = await Promise.all([startVsftpd({ processGroup: true }), startVsftpd({ processGroup: true })]);
  const revived: Vsftpd[] = [];
  t.teardown(() => Promise.all([...backends, ...revived].map((b) => b.stop())));
  const serveWho = (b: Vsftpd, name: string) => {
    writeFileSync(join(b.dir, 'anon', 'who.txt'), `${name}\n`);
    chmodSync(join(b.dir, 'anon', 'who.txt'), 0o644);
  };
  backends.forEach((b, i) => serveWho(b, `ftp-${i + 1}`));
  const ftpPort = await freePort();
  const tcpPort = await freePort();
  const passive = await freePortRange(10);
  const dataplane = { type: 'userspace', 'passive-ports': `${passive}-${passive + 9}` } as const;
  const check = { probe: 'ftp', interval: '5s', timeout: '2s', rise: 1, fall: 3 } as const;
  const members = backends.map((b, i) => ({ name: `ftp-${i + 1}`, address: '127.0.0.1', port: b.port }));
  const config = validateConfig({
    farms: [
      { name: 'ftp', service: 'ftp', virtual: { address: VIP, ports: [ftpPort] }, scheduler: 'rr', dataplane, check, backends: members },
      { name: 'banner', service: 'tcp', virtual: { address: VIP, ports: [tcpPort] }, scheduler: 'rr', dataplane, check, backends: members },
    ],
  });
  const logger = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
  const orchestrator = new Orchestrator(config, { logger, reconcilePeriodMs: 1000, dataplanes: DATAPLANE_KINDS });
  t.teardown(() => orchestrator.stop());
  await orchestrator.start();
  await until('every backend up', () => (orchestrator.snapshot().farms.every((f) => f.backends.every((b) => b.state === 'up')) ? true : undefined), 15_000);

  const who = async () => {
    const run = await runCommand(curl, ['-sSv', '--max-time', '10', `ftp://${VIP}:${ftpPort}/who.txt`], { timeoutMs: 15_000 });
    return run.code === 0 ? run.stdout.trim() : `curl ${run.code}: ${run.stderr.trim().split('\n').filter((l) => /^[<>*]/.test(l)).slice(-8).join(' / ')}`;
  };
  t.same(new Set([await who(), await who()]), new Set(['ftp-1', 'ftp-2']), 'both serve before');

  const killedAt = Date.now();
  process.kill(-backends[1]!.daemon.pid, 'SIGKILL');
  await backends[1]!.daemon.exited;
  // both farms' sessions at once, one after the other within each: the checks must not get there first
  const ftp: string[] = [];
  const tcp: string[] = [];
  await Promise.all([
    (async () => {
      for (let i = 0; i < 20; i++) ftp.push(await who());
    })(),
    (async () => {
      for (let i = 0; i < 20; i++) tcp.push(await banner(tcpPort));
    })(),
  ]);
  t.same(ftp, Array(20).fill('ftp-1'), '20 new FTP sessions after the kill: all served, by ftp-1');
  t.equal(tcp.filter((line) => line.startsWith('220 ')).length, 20, `20 new TCP sessions: all greeted (${[...new Set(tcp)].join(' | ')})`);

  const transitions = orchestrator.snapshot().transitions.filter((e) => e.backend === 'ftp-2' && e.to === 'down');
  t.same(transitions.map((e) => e.farm).sort(), ['banner', 'ftp'], 'ftp-2 down in both farms');
  for (const e of transitions) {
    t.match(e.line, /^3 connects in a row failed through the balancer \(last: ECONNREFUSED\)$/, `${e.farm}: the reason is the data plane's, not a check's`);
    // its checks (fall 3 every 5 s) could not have taken it out within 10 s of the kill
    t.ok(e.at - killedAt < 10_000, `${e.farm}: down ${e.at - killedAt} ms after the kill`);
  }
  const counters = orchestrator.metrics.registry.metrics();
  t.match(await counters, /lbguard_dataplane_traffic_errors_total\{farm="ftp",backend="",kind="error-limit"\} 1/);

  // started again on the same port: its next passing check brings it back (rise 1)
  const again = await startVsftpd({ port: backends[1]!.port });
  revived.push(again);
  serveWho(again, 'ftp-2');
  await until('ftp-2 back up', () => (orchestrator.snapshot().farms.every((f) => f.backends.find((b) => b.name === 'ftp-2')?.state === 'up') ? true : undefined), 15_000);
  const seen = new Set<string>();
  await until('ftp-2 serving again', async () => (seen.add(await who()).has('ftp-2') ? true : undefined), 10_000).catch(() => undefined);
  t.ok(seen.has('ftp-2'), `ftp-2 serves again (${[...seen].join(' | ')})`);
});

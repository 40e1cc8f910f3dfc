// The orchestrator with `dataplane: {type: userspace}` from a farms file, end to end: two real
// vsftpd backends checked by the FTP probe, curl through the virtual service. Stopping one backend
// takes it out (after `fall` failed checks) and every transfer then comes from the other; the
// orchestrator's /metrics registry carries the balancer's counters.
import { DATAPLANE_KINDS } from '../../orchestrator/dataplane-kinds.ts';
import { chmodSync, writeFileSync } from 'node:fs';
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

t.test('a failed backend is taken out of the userspace balancer; traffic moves to the other', async (t) => {
  const backends: Vsftpd[] = await Promise.all([startVsftpd(), startVsftpd()]);
  t.teardown(() => Promise.all(backends.map((b) => b.stop())));
  backends.forEach((b, i) => {
    writeFileSync(join(b.dir, 'anon', 'who.txt'), `ftp-${i + 1}\n`);
    chmodSync(join(b.dir, 'anon', 'who.txt'), 0o644);
  });
  const port = await freePort();
  const passive = await freePortRange(10);
  const config = validateConfig({
    farms: [{
      name: 'ftp', service: 'ftp', virtual: { address: VIP, ports: [port] }, scheduler: 'rr',
      dataplane: { type: 'userspace', 'passive-ports': `${passive}-${passive + 9}` },
      check: { probe: 'ftp', interval: '300ms', timeout: '250ms', rise: 1, fall: 1 },
      backends: backends.map((b, i) => ({ name: `ftp-${i + 1}`, address: '127.0.0.1', port: b.port })),
    }],
  });
  const logger = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
  const orchestrator = new Orchestrator(config, { logger, reconcilePeriodMs: 1000, dataplanes: DATAPLANE_KINDS });
  t.teardown(() => orchestrator.stop());
  await orchestrator.start();

  const who = async () => {
    const run = await runCommand(curl, ['-sS', '--max-time', '10', `ftp://${VIP}:${port}/who.txt`], { timeoutMs: 15_000 });
    return run.code === 0 ? run.stdout.trim() : `curl ${run.code}: ${run.stderr.trim()}`;
  };
  const whenTrue = (ok: () => Promise<boolean>, what: string) => until(what, async () => (await ok()) || undefined, 10_000);
  await whenTrue(async () => orchestrator.snapshot().farms[0]?.backends.every((b) => b.state === 'up') ?? false, 'both backends up');
  await whenTrue(async () => new Set([await who(), await who()]).size === 2, 'both backends serving through the VIP');
  t.same(new Set([await who(), await who()]), new Set(['ftp-1', 'ftp-2']), 'round robin over both');

  await backends[1]!.daemon.stop();
  await whenTrue(async () => orchestrator.snapshot().farms[0]?.backends.find((b) => b.name === 'ftp-2')?.state === 'down', 'ftp-2 down');
  await new Promise((r) => setTimeout(r, 300));
  t.same([await who(), await who(), await who()], ['ftp-1', 'ftp-1', 'ftp-1'], 'all traffic on ftp-1');

  const metrics = await orchestrator.metrics.registry.metrics();
  t.match(metrics, /lbguard_dataplane_sessions_total\{farm="ftp",backend="ftp-1",kind=""\} \d+/);
});

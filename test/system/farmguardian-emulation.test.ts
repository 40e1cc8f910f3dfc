// Every command `lbguard render farmguardian` prints, run exactly as Zevenet's farmguardian runs it
// (test/helpers/farmguardian.ts: libexec prefix, sh, HOST then PORT replaced as text, the farm's
// virtual port for a backend without one, MARK= and LD_PRELOAD= of a mark library, no kill on
// timeout) from a libexec directory holding monitoring-plugins' C plugins AND ours as
// `lbguard install-plugins` puts them there, against real vsftpd, tftpd-hpa and sshd.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildMarkPreload, firstLine, guardianSetup } from '../helpers/appliance-libexec.ts';
import { type GuardedBackend, guardianRound, type GuardianSettings } from '../helpers/farmguardian.ts';
import { freePort } from '../helpers/processes.ts';
import { startSshd } from '../helpers/sshd.ts';
import { startTftpdHpa } from '../helpers/tftp-daemons.ts';
import { startVsftpd } from '../helpers/vsftpd.ts';

const setup = guardianSetup(t, 'emu');

t.test('every rendered command, run as farmguardian runs it with the mark preload: live daemon up, dead one down', async (t) => {
  const mark = buildMarkPreload(setup.work);
  const [ftp, tftp, emptyTftp, ssh] = await Promise.all([startVsftpd({ tls: false }), startTftpdHpa({ 'tftp_check.txt': 'OK\n' }), startTftpdHpa({}), startSshd()]);
  t.teardown(async () => {
    await Promise.all([ftp.stop(), tftp.stop(), emptyTftp.stop(), ssh.stop()]);
  });
  writeFileSync(join(ftp.dir, 'anon', 'check.txt'), 'OK\n');
  const closed = await freePort();
  const ports: Record<string, [number, number]> = { ftp: [ftp.port, closed], tftp: [tftp.port, emptyTftp.port], sftp: [ssh.port, closed], tcp: [ftp.port, closed] };
  for (const [farm, { command, timeout }] of setup.commands) {
    t.notMatch(command, /^\/|--nanny|--misc-dynamic/, `${farm}: a bare name, no judging mode`);
    t.match(command, new RegExp(` -t (\\d+)`), `${farm}: its own -t`);
    t.ok(Number(/ -t (\d+)/.exec(command)![1]) < timeout, `${farm}: -t below the guardian's timeout ${timeout}`);
    const [live, dead] = ports[farm]!;
    const backends: GuardedBackend[] = [
      { ip: '127.0.0.1', port: String(live), mark: 512 },
      { ip: '127.0.0.1', port: String(dead), mark: 513 },
      { ip: '127.0.0.1', port: String(live), status: 'maintenance' },
    ];
    const settings: GuardianSettings = { command, libexec: setup.libexec, timeout, preload: mark.library };
    const round = await guardianRound(settings, { vport: '21', backends });
    t.equal(round.length, 2, `${farm}: the backend in maintenance is skipped`);
    t.match(round[0], { up: true, exitCode: 0 }, `${farm}: live -> up: ${round[0]!.line} -> ${firstLine(round[0])}`);
    t.match(round[1], { up: false }, `${farm}: dead -> down (exit ${round[1]!.exitCode}): ${firstLine(round[1])}`);
    t.not(round[1]!.exitCode, 127, 'found in libexec');
  }
  const loaded = readFileSync(mark.log, 'utf8').trim().split('\n');
  t.ok(loaded.some((line) => line.endsWith(' 512')) && loaded.some((line) => line.endsWith(' 513')), `the mark library was preloaded with each backend's MARK (${loaded.length} loads)`);
});


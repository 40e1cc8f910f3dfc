// Farm Guardian from a balancer namespace, as on an appliance: the rendered commands run the way
// farmguardian runs them (test/helpers/farmguardian.ts) against backends on the standard ports
// (vsftpd 21, tftpd-hpa 69, sshd 22) with no port of their own, so PORT is the farm's virtual port
// (20,21 and * here); the mark library farmguardian preloads for L4xNAT farms is preloaded, and the
// balancer's nftables counts the packets that leave with the backend's mark.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { applianceLibexec, buildMarkPreload, firstLine, rendered } from '../helpers/appliance-libexec.ts';
import { guardianRound, type GuardianSettings } from '../helpers/farmguardian.ts';
import { l4Topology } from '../helpers/l4-topology.ts';
import { requireBinary, startDaemon } from '../helpers/processes.ts';

const work = mkdtempSync(join(tmpdir(), 'lbguard-fg-netns-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

t.test('from a balancer namespace to backends on the standard ports: vport 20,21 and *, marked packets', async (t) => {
  const libexec = await applianceLibexec(t, work);
  const commands = await rendered(t, work);
  const mark = buildMarkPreload(work);
  const nft = requireBinary('/usr/sbin/nft', 'nftables');
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  const topo = l4Topology();
  t.teardown(() => topo.remove());
  const [be1] = topo.backends;
  writeFileSync(join(topo.dir, 'tftp1', 'tftp_check.txt'), 'OK\n');
  writeFileSync(join(topo.dir, 'ftp1', 'check.txt'), 'OK\n');
  topo.startFtp(be1!);
  topo.startTftp(be1!);
  const keys = mkdtempSync(join(work, 'sshd-'));
  execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keys, 'host_key')]);
  const ssh = startDaemon('/usr/sbin/ip', ['netns', 'exec', be1!.ns, sshd, '-D', '-e', '-f', '/dev/null', '-o', `HostKey=${join(keys, 'host_key')}`, '-o', `ListenAddress=${be1!.address}`, '-o', 'PidFile=none']);
  t.teardown(() => ssh.stop());
  // packets leaving the balancer with mark 0x200 are counted: the preload's SO_MARK reached them
  execFileSync('/usr/sbin/ip', ['netns', 'exec', topo.balancer, nft, '-f', '-'], {
    input: 'table ip lbgmark {\n chain out {\n  type filter hook output priority 0;\n  meta mark 0x200 counter\n }\n}\n',
  });
  const via = ['/usr/sbin/ip', 'netns', 'exec', topo.balancer];
  const farms: [string, string][] = [['ftp', '20,21'], ['tftp', '*'], ['sftp', '22']];
  for (const [farm, vport] of farms) {
    const { command, timeout } = commands.get(farm)!;
    const settings: GuardianSettings = { command, libexec, timeout, preload: mark.library, via };
    const deadline = Date.now() + 8000;
    let result;
    do {
      [result] = await guardianRound(settings, { vport, backends: [{ ip: be1!.address, port: null, mark: 512 }] });
      if (!result!.up) await new Promise((r) => setTimeout(r, 200));
    } while (!result!.up && Date.now() < deadline);
    t.match(result, { up: true, exitCode: 0 }, `${farm}, vport ${vport}: ${result!.line} -> ${firstLine(result)}`);
  }
  const counters = execFileSync('/usr/sbin/ip', ['netns', 'exec', topo.balancer, nft, 'list', 'table', 'ip', 'lbgmark'], { encoding: 'utf8' });
  const packets = Number(/counter packets (\d+)/.exec(counters)?.[1] ?? 0);
  t.ok(packets > 0, `${packets} packets left the balancer marked 0x200 (MARK=512)`);
  await be1!.ftp!.stop();
  const { command, timeout } = commands.get('ftp')!;
  const [down] = await guardianRound({ command, libexec, timeout, via }, { vport: '20,21', backends: [{ ip: be1!.address, port: null }] });
  t.match(down, { up: false }, `vsftpd stopped: down (${firstLine(down)})`);
});

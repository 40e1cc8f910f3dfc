// Farm Guardian compatibility: the command lines Zevenet's farmguardian runs, with HOST/PORT put in
// the way it puts them, reach lbguard's plugins (installed in its libexec directory) against real
// vsftpd, tftpd-hpa and sshd, and the exit codes say up (0) and down (non-zero) as it reads them.
// The article's lines without PORT (`check_ftp -H HOST`, `check_tftp -H HOST`, `check_ssh HOST`)
// run from a balancer namespace against daemons on the standard ports of a backend namespace.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { commandArgv, runCommandCheck } from '../../orchestrator/checks/command.ts';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { farmGuardianCommand } from '../../zevenet-adapters/farmguardian/render.ts';
import { l4Topology } from '../helpers/l4-topology.ts';
import { inNamespace } from '../helpers/nftlb-ns.ts';
import { pluginPath, requireBinary, ROOT, runCommand, startDaemon } from '../helpers/processes.ts';
import { startSshd } from '../helpers/sshd.ts';
import { startTftpdHpa } from '../helpers/tftp-daemons.ts';
import { startVsftpd } from '../helpers/vsftpd.ts';

const PLUGINS = ['check_ftp', 'check_tftp', 'check_ssh'];

/** A libexec directory as on the appliance: lbguard's plugins under their usual names. */
function libexec(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-libexec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of PLUGINS) {
    symlinkSync(pluginPath(name), join(dir, name));
    symlinkSync(pluginPath(name), join(dir, `lbguard_${name}`));
  }
  return dir;
}

const check = (line: string, libexecDir: string, address: string, port: number) =>
  runCommandCheck({ command: line, style: 'farmguardian', timeoutMs: 10_000, libexecDir }, { address, port }, new AbortController().signal);

t.test('HOST and PORT lines against daemons on their own ports: up, then down when the daemon stops', async (t) => {
  const dir = libexec(t);
  const ftp = await startVsftpd({ tls: false });
  const tftp = await startTftpdHpa({ 'tftp_check.txt': 'OK\n' });
  const ssh = await startSshd();
  t.teardown(async () => {
    await ftp.stop();
    await tftp.stop();
    await ssh.stop();
  });
  const cases = [
    { line: 'check_ftp -H HOST -p PORT', port: ftp.port, ok: /^FTP OK - /, stop: () => ftp.daemon.stop() },
    { line: 'check_tftp -H HOST -p PORT', port: tftp.port, ok: /^TFTP OK - /, stop: () => tftp.daemon.stop() },
    { line: 'check_ssh -p PORT HOST', port: ssh.port, ok: /^SSH OK - /, stop: () => ssh.kill() },
  ];
  for (const c of cases) {
    const up = await check(c.line, dir, '127.0.0.1', c.port);
    t.match(up, { up: true, exitCode: 0 }, `${c.line}: exit 0`);
    t.match(up.line, c.ok, up.line);
  }
  const rendered = validateConfig({
    farms: [{ name: 'ftp', service: 'ftp', virtual: { address: '192.0.2.1', ports: [21] }, check: { probe: 'ftp', options: { get: 'hello.txt', 'expect-content': 'hello' } }, backends: [{ name: 'b', address: '127.0.0.1' }] }],
  }).farms[0]!;
  const line = farmGuardianCommand(rendered);
  const viaRender = await check(line, dir, '127.0.0.1', ftp.port);
  t.match(viaRender, { up: true, exitCode: 0 }, `the rendered line runs: ${line}`);
  for (const c of cases) {
    await c.stop();
    const down = await check(c.line, dir, '127.0.0.1', c.port);
    t.match(down, { up: false, exitCode: 2 }, `${c.line}: daemon stopped, exit 2 (${down.line})`);
    t.match(down.line, /CRITICAL/);
  }
});

t.test('lbguard render farmguardian prints the command and the object for a farm of the file', async (t) => {
  const run = await runCommand(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), 'render', 'farmguardian', '-c', join(ROOT, 'docs', 'farms.example.yaml'), 'pxe']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^command: lbguard_check_tftp -H HOST -p 'PORT' -t 2 --file=tftp_check.txt --expect-content=OK$/m);
  t.match(run.stdout, /^\{"description":"[^"]+","command":"lbguard_check_tftp -H HOST -p 'PORT' -t 2 [^"]*","interval":5,"timeout":3,"cut_conns":"false","log":"true"\}$/m);
  t.match(run.stdout, /^# PUT \/zapi\/v4.0\/zapi.cgi\/monitoring\/fg\/lbguard-pxe$/m);
  t.notMatch(run.stdout, /farm ftp:/, 'only the farm asked for');
  const missing = await runCommand(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), 'render', 'farmguardian', '-c', join(ROOT, 'docs', 'farms.example.yaml'), 'nosuch']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no farm named "nosuch"/);
});

t.test("the article's lines without PORT, on the standard ports, from a balancer namespace", async (t) => {
  const dir = libexec(t);
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  const topo = l4Topology();
  t.teardown(() => topo.remove());
  const [be1] = topo.backends;
  writeFileSync(join(topo.dir, 'tftp1', 'tftp_check.txt'), 'OK\n');
  topo.startFtp(be1!);
  topo.startTftp(be1!);
  const keys = mkdtempSync(join(tmpdir(), 'lbguard-fg-sshd-'));
  t.teardown(() => rmSync(keys, { recursive: true, force: true }));
  execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keys, 'host_key')]);
  const ssh = startDaemon('/usr/sbin/ip', ['netns', 'exec', be1!.ns, sshd, '-D', '-e', '-f', '/dev/null', '-o', `HostKey=${join(keys, 'host_key')}`, '-o', `ListenAddress=${be1!.address}`, '-o', 'PidFile=none']);
  t.teardown(() => ssh.stop());

  const fromBalancer = async (line: string) => {
    const argv = commandArgv({ command: line, style: 'farmguardian', timeoutMs: 10_000, libexecDir: dir }, { address: be1!.address, port: 0 });
    return inNamespace(topo.balancer, [process.execPath, join(dir, argv[0]!), ...argv.slice(1)], { timeoutMs: 15_000 });
  };
  const until = async (line: string) => {
    const end = Date.now() + 5000;
    for (;;) {
      const run = await fromBalancer(line);
      if (run.code === 0 || Date.now() > end) return run;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  for (const [line, ok] of [['check_ftp -H HOST', /^FTP OK - .* port 21 \[220/], ['check_tftp -H HOST', /^TFTP OK - /], ['check_ssh HOST', /^SSH OK - OpenSSH/]] as const) {
    const run = await until(line);
    t.equal(run.code, 0, `${line} -> exit 0`);
    t.match(run.firstLine, ok, run.firstLine);
  }
  await be1!.ftp!.stop();
  await be1!.tftp!.stop();
  await ssh.stop();
  for (const line of ['check_ftp -H HOST', 'check_tftp -H HOST -t 3', 'check_ssh HOST']) {
    const run = await fromBalancer(line);
    t.equal(run.code, 2, `${line} with the daemon stopped -> exit 2: ${run.firstLine}`);
  }
});

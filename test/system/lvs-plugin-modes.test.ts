// Our plugins as the LVS daemons run them: nanny's send_program (lvs.cf line split like nanny,
// %h/%p put in, stdout compared with expect, exit status ignored), ldirectord's external check
// (four positional arguments), keepalived's MISC_CHECK (exit 0 up, non-zero down, SIGTERM) and its
// misc_dynamic (--misc-dynamic: 0 configured weight, 1 down, 2..255 weight status-2).
import { spawn } from 'node:child_process';
import t from 'tap';
import { splitNanny, substituteTarget } from '../../orchestrator/checks/command-line.ts';
import { runCommandCheck } from '../../orchestrator/checks/command.ts';
import { banner, closeAtOnce, fakeTcpServer, silent } from '../helpers/fake-servers.ts';
import { startFakeTftp } from '../helpers/tftp-fake.ts';
import { pluginPath, refusingPort, runCommand, runPlugin } from '../helpers/processes.ts';
import { startSshd } from '../helpers/sshd.ts';
import { silentUdpPort, startTftpdHpa } from '../helpers/tftp-daemons.ts';
import { startVsftpd } from '../helpers/vsftpd.ts';

/** What nanny does with `send_program` and `expect`: up when stdout minus its last byte equals expect. */
async function asNanny(sendProgram: string, expect: string, host: string, port: number) {
  const [program = '', ...args] = substituteTarget('nanny', splitNanny(sendProgram), { address: host, port });
  const run = await runCommand(process.execPath, [program, ...args], { timeoutMs: 10_000 });
  return { ...run, up: run.code === 0 && run.stdout.slice(0, -1) === expect };
}

t.test('nanny: --nanny prints exactly the expect text when up, something else when down, always exit 0', async (t) => {
  const ssh = await banner('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n');
  const ftp = await banner('220 ready\r\n');
  const dead = await refusingPort();
  t.teardown(() => Promise.all([ssh.close(), ftp.close(), dead.release()]));
  const up = await asNanny(`${pluginPath('check_ssh')} --nanny -H %h -p %p -t 3`, 'OK', '127.0.0.1', ssh.port);
  t.same([up.code, up.stdout, up.up], [0, 'OK\n', true]);
  const ftpUp = await asNanny(`${pluginPath('check_ftp')} --nanny=FTP_UP -H %h -p %p -t 3`, 'FTP_UP', '127.0.0.1', ftp.port);
  t.same([ftpUp.code, ftpUp.stdout, ftpUp.up], [0, 'FTP_UP\n', true], 'a chosen expect text');
  const down = await asNanny(`${pluginPath('check_ftp')} --nanny -H %h -p %p -t 3`, 'OK', '127.0.0.1', dead.port);
  t.equal(down.code, 0, 'exit 0: nanny would count a non-zero exit as up');
  t.match(down.stdout, /^DOWN: FTP CRITICAL - connect to address 127\.0\.0\.1 and port \d+: Connection refused\n$/);
  t.notOk(down.up);
  t.ok(Buffer.byteLength(down.stdout) < 4096, 'under nanny\'s 4 KiB read');
  const bad = await asNanny(`${pluginPath('check_tftp')} --nanny -H %h -p %p -t nonsense`, 'OK', '127.0.0.1', 69);
  t.same([bad.code, bad.up], [0, false], 'a usage error is down too, with exit 0');
  // The silent server notes when the plugin connected and when it gave up: that span is the
  // plugin's own -t, free of the Node start, which a loaded host can stretch to seconds.
  let connectedAt = 0;
  let abandonedAt = 0;
  const slow = await fakeTcpServer((socket) => {
    connectedAt = performance.now();
    socket.on('close', () => (abandonedAt = performance.now()));
    socket.on('error', () => undefined);
  });
  t.teardown(() => slow.close());
  const startedUp = performance.now();
  await asNanny(`${pluginPath('check_ssh')} --nanny -H %h -p %p -t 3`, 'OK', '127.0.0.1', ssh.port);
  const upRun = performance.now() - startedUp;
  const started = performance.now();
  const timeout = await asNanny(`${pluginPath('check_ssh')} --nanny -H %h -p %p -t 1`, 'OK', '127.0.0.1', slow.port);
  const timeoutRun = performance.now() - started;
  t.same([timeout.code, timeout.up], [0, false], 'a silent server is down, within the plugin\'s -t');
  t.match(timeout.stdout, /^DOWN: SSH CRITICAL - Socket timeout after 1 seconds/);
  await new Promise((resolve) => setTimeout(resolve, 50)); // the server's 'close' after the plugin's exit
  const held = abandonedAt - connectedAt;
  t.ok(connectedAt > 0 && held >= 500 && held < 1500, `the plugin held the silent connection for its 1 s -t (${Math.round(held)} ms)`);
  t.ok(timeoutRun < upRun + 2000, `well within a nanny timeout: ${Math.round(timeoutRun)} ms, an answered check ${Math.round(upRun)} ms`);
});

t.test('nanny: the classic check_tftp --connect %h form with --nanny exits 0 and keeps its line', async (t) => {
  const tftp = await startFakeTftp({ files: {} }); // File not found for the bogus name: the classic "answer"
  const mute = await startFakeTftp({ files: {}, silent: true });
  t.teardown(() => Promise.all([tftp.close(), mute.close()]));
  const line = `${pluginPath('check_tftp')} --nanny --connect %h -p %p -t 1`;
  const up = await asNanny(line, 'OK - answer from server', '127.0.0.1', tftp.port);
  t.same([up.code, up.stdout, up.up], [0, 'OK - answer from server\n', true]);
  const down = await asNanny(line, 'OK - answer from server', '127.0.0.1', mute.port);
  t.same([down.code, down.stdout, down.up], [0, 'Transfer timed out\n', false], 'down, and exit 0 so that nanny reads the line');
});

t.test('nanny: a deep check that writes long output still prints exactly the expect text, or one DOWN line', async (t) => {
  const vsftpd = await startVsftpd({ tls: false });
  t.teardown(() => vsftpd.stop());
  const plain = await runPlugin('check_ftp', ['-H', '127.0.0.1', '-p', String(vsftpd.port), '--get', 'hello.txt']);
  t.ok(plain.stdout.split('\n').length > 3, 'without --nanny: long output and continued perfdata');
  const up = await asNanny(`${pluginPath('check_ftp')} --nanny -H %h -p %p -t 5 --get hello.txt`, 'OK', '127.0.0.1', vsftpd.port);
  t.same([up.code, up.stdout, up.up], [0, 'OK\n', true], 'exactly the expect text and its newline');
  const missing = await asNanny(`${pluginPath('check_ftp')} --nanny -H %h -p %p -t 5 --get hello.txt --expect-content goodbye`, 'OK', '127.0.0.1', vsftpd.port);
  t.equal(missing.code, 0);
  t.match(missing.stdout, /^DOWN: FTP CRITICAL - RETR hello\.txt: 'goodbye' not found in its 18 bytes\|time=[^ \n]+\n$/, 'one line: the status line, no long output');
  t.notOk(missing.up);
});

t.test('ldirectord external: VIP VPORT RIP RPORT, exit 0 up and non-zero down', async (t) => {
  const ssh = await banner('SSH-2.0-OpenSSH_9.2p1\r\n');
  const dead = await closeAtOnce();
  t.teardown(() => Promise.all([ssh.close(), dead.close()]));
  const up = await runPlugin('check_ssh', ['192.0.2.10', '22', '127.0.0.1', String(ssh.port)]);
  t.equal(up.code, 0, up.stdout);
  const fwmark = await runPlugin('check_ssh', ['7', '0', '127.0.0.1', String(ssh.port)]);
  t.equal(fwmark.code, 0, 'a fwmark virtual (mark, port 0) works the same');
  const down = await runPlugin('check_ssh', ['192.0.2.10', '22', '127.0.0.1', String(dead.port)]);
  t.not(down.code, 0, down.stdout);
});

t.test('keepalived MISC_CHECK: exit 0 up, non-zero down, SIGTERM ends the check at once', async (t) => {
  const slow = await silent();
  t.teardown(() => slow.close());
  const child = spawn(process.execPath, [pluginPath('check_ftp'), '-H', '127.0.0.1', '-p', String(slow.port), '-t', '30'], { stdio: 'ignore', detached: true });
  await new Promise((r) => setTimeout(r, 500));
  const started = performance.now();
  process.kill(-(child.pid ?? 0), 'SIGTERM'); // keepalived signals the process group
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  const ms = performance.now() - started;
  t.ok(code !== 0, `ended by SIGTERM (code ${code}, signal ${signal}) in ${ms.toFixed(0)} ms`);
  t.ok(ms < 1000, 'promptly');
  let groupLeft = true;
  try { process.kill(-(child.pid ?? 0), 0); } catch { groupLeft = false; }
  t.notOk(groupLeft, 'nothing of its process group is left');
});

t.test('keepalived misc_dynamic: --misc-dynamic against real vsftpd, sshd and tftpd-hpa, read as keepalived reads the exit', async (t) => {
  const [vsftpd, sshd, tftpd, mute] = await Promise.all([startVsftpd({ tls: false }), startSshd(), startTftpdHpa({ 'tftp_check.txt': 'OK\n' }), silent()]);
  const closed = await refusingPort();
  t.teardown(() => Promise.all([vsftpd.stop(), sshd.stop(), tftpd.stop(), mute.close(), closed.release()]));
  const never = new AbortController().signal;
  /** exit status and keepalived's verdict on a misc_path run with misc_dynamic */
  const asKeepalived = async (miscPath: string) => {
    const result = await runCommandCheck({ command: `${process.execPath} ${miscPath}`, style: 'keepalived', timeoutMs: 15_000, dynamic: true }, { address: '127.0.0.1', port: 0 }, never);
    return [result.exitCode, result.up ? (result.weight === undefined ? 'up, configured weight' : `up, weight ${result.weight}`) : 'down'];
  };
  const ftp = (flag: string, port: number, ...more: string[]) => asKeepalived([pluginPath('check_ftp'), flag, '-H', '127.0.0.1', '-p', String(port), '-t', '5', ...more].join(' '));
  t.same(await ftp('--misc-dynamic=10,3', vsftpd.port), [12, 'up, weight 10'], 'OK: 2+WEIGHT');
  t.same(await ftp('--misc-dynamic=10,3', vsftpd.port, '-w', '0.000001'), [5, 'up, weight 3'], 'WARNING (slower than -w): 2+WARNWEIGHT');
  t.same(await ftp('--misc-dynamic=10', vsftpd.port, '-w', '0.000001'), [3, 'up, weight 1'], 'WARNING without WARNWEIGHT: weight 1');
  t.same(await ftp('--misc-dynamic=10,3', vsftpd.port, '-w', '0.000001', '-c', '0.000002'), [1, 'down'], 'CRITICAL: down');
  t.same(await ftp('--misc-dynamic=10,3', closed.port), [1, 'down'], 'refused: down');
  t.same(await ftp('--misc-dynamic', vsftpd.port), [0, 'up, configured weight'], 'no WEIGHT: OK keeps the configured weight');
  t.same(await ftp('--misc-dynamic=10,3', vsftpd.port, '--get', 'hello.txt'), [12, 'up, weight 10'], 'a deep check, multi-line output: the same exit');
  t.same(await ftp('--misc-dynamic=10,3', vsftpd.port, '--bogus-option'), [1, 'down'], 'a usage error (UNKNOWN) is down, not "up, weight 1"');
  t.same(await ftp('--misc-dynamic=300', vsftpd.port), [1, 'down'], 'a weight over 253 is a usage error: down');
  const bad = await runPlugin('check_ftp', ['--misc-dynamic=300', '-H', '127.0.0.1', '-p', String(vsftpd.port)]);
  t.equal(bad.stdout, `FTP UNKNOWN - --misc-dynamic takes [WEIGHT][,WARNWEIGHT], each a whole number from 0 to 253 - 300\nUsage:\n${bad.stdout.split('\n').slice(2).join('\n')}`, 'the operator reads why');
  const ssh = (flag: string, port: number) => asKeepalived([pluginPath('check_ssh'), flag, '-H', '127.0.0.1', '-p', String(port), '-t', '1'].join(' '));
  t.same(await ssh('--misc-dynamic=20', sshd.port), [22, 'up, weight 20']);
  t.same(await ssh('--misc-dynamic=20', mute.port), [1, 'down'], 'a server that never speaks: down within -t');
  const tftp = (args: string) => asKeepalived(`${pluginPath('check_tftp')} ${args}`);
  t.same(await tftp(`--misc-dynamic=7 -H 127.0.0.1 -p ${tftpd.port} -t 3`), [9, 'up, weight 7']);
  t.same(await tftp(`--misc-dynamic=7 --connect 127.0.0.1 -p ${tftpd.port} -t 3`), [9, 'up, weight 7'], 'the classic --connect form too');
  const silentTftp = await silentUdpPort();
  t.teardown(() => silentTftp.close());
  t.same(await tftp(`--misc-dynamic=7 --connect 127.0.0.1 -p ${silentTftp.port} -t 1`), [1, 'down'], 'the classic form, nobody answering: down');
});

// check_ftp against real vsftpd servers, run as an operator runs it: the built bundle, its exit code,
// its first line and perfdata. Three servers: `main` (anonymous and a local user, passive and active,
// AUTH TLS), `restricted` (PASV announces 127.0.0.2 where nothing listens, PORT refused, no TLS) and
// `implicit` (TLS from the first byte).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { docExample } from '../helpers/docs-examples.ts';
import { silent } from '../helpers/fake-servers.ts';
import { freePort, runPlugin } from '../helpers/processes.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

let main: Vsftpd;
let restricted: Vsftpd;
let implicit: Vsftpd;
t.before(async () => {
  [main, restricted, implicit] = await Promise.all([startVsftpd(), startVsftpd({ pasvAddress: '127.0.0.2', activeMode: false, tls: false }), startVsftpd({ implicitTls: true })]);
});
t.teardown(async () => {
  await Promise.all([main?.stop(), restricted?.stop(), implicit?.stop()]);
});

const ftp = (args: string[], env: NodeJS.ProcessEnv = {}) => runPlugin('check_ftp', args, { env: { ...process.env, ...env }, timeoutMs: 20000 });
const on = (server: Vsftpd, ...args: string[]) => ['-H', '127.0.0.1', '-p', String(server.port), ...args];
const asUser = (server: Vsftpd) => ({ LBGUARD_FTP_USER: server.user, LBGUARD_FTP_PASSWORD: server.password });
const PERF = (warn = '', crit = '', max = '10') => `\\|time=\\d+\\.\\d{6}s;${warn};${crit};0\\.000000;${max}\\.000000`;

t.test('up: the greeting, response time and perfdata as check_ftp 2.3.3 prints them', async (t) => {
  const run = await ftp(on(main));
  t.equal(run.code, 0);
  t.match(run.stdout, new RegExp(`^FTP OK - \\d+\\.\\d{3} second response time on 127\\.0\\.0\\.1 port ${main.port} \\[220 \\(vsFTPd 3\\.0\\.3\\)\\]${PERF()}\\n$`));
  const noHost = await ftp(['-p', String(main.port), '-t', '3']);
  t.match(noHost.firstLine, new RegExp(`^FTP OK - \\d+\\.\\d{3} second response time on port ${main.port} \\[220 .*${PERF('', '', '3')}$`), 'without -H: "on port N"');
  const hidden = await ftp(on(main, '-j'));
  t.match(hidden.firstLine, new RegExp(`second response time on 127\\.0\\.0\\.1 port ${main.port}${PERF()}$`), '-j hides the greeting');
});

t.test('refused, with -r choosing the state', async (t) => {
  const port = await freePort();
  const run = await ftp(['-H', '127.0.0.1', '-p', String(port)]);
  t.equal(run.code, 2);
  t.equal(run.stdout, `FTP CRITICAL - connect to address 127.0.0.1 and port ${port}: Connection refused\n`);
  t.equal((await ftp(['-H', '127.0.0.1', '-p', String(port), '-r', 'ok'])).code, 0);
  t.equal((await ftp(['-H', '127.0.0.1', '-p', String(port), '-r', 'warn'])).code, 1);
});

t.test('a listener that never speaks: the timeout state within -t', async (t) => {
  const server = await silent();
  t.teardown(() => server.close());
  const run = await ftp(['-H', '127.0.0.1', '-p', String(server.port), '-t', '1']);
  t.equal(run.code, 2);
  t.equal(run.stdout, 'FTP CRITICAL - Socket timeout after 1 seconds while waiting for the greeting\n');
  t.ok(run.ms < 2500, `ended after ${run.ms.toFixed(0)} ms`);
});

t.test('wrong greeting with -e: WARNING after check_tcp\'s 2 s wait, -M changes the state', async (t) => {
  const run = await ftp(on(main, '-e', '230'));
  t.equal(run.code, 1);
  t.match(run.firstLine, new RegExp(`^FTP WARNING - Unexpected response from host/socket: 220 \\(vsFTPd 3\\.0\\.3\\)${PERF()}$`));
  t.ok(run.ms >= 1900, 'waited for more text as check_tcp does');
  t.equal((await ftp(on(main, '-e', '230', '-M', 'crit'))).code, 2);
  const found = await ftp(on(main, '-e', 'vsFTPd'));
  t.equal(found.code, 0, '-e finds its string anywhere in the greeting');
});

t.test('thresholds on the response time, printed as check_tcp prints them', async (t) => {
  const warn = await ftp(on(main, '-w', '0.0000001'));
  t.equal(warn.code, 1);
  t.match(warn.firstLine, new RegExp(`^FTP WARNING - .*${PERF('0\\.000000', '')}$`));
  const crit = await ftp(on(main, '-w', '0.0000001', '-c', '0.0000002'));
  t.equal(crit.code, 2);
  const fine = await ftp(on(main, '-w', '5', '-c', '10'));
  t.equal(fine.code, 0);
  t.match(fine.firstLine, new RegExp(`${PERF('5\\.000000', '10\\.000000')}$`));
});

t.test('anonymous download with content and size checks: a phase per long-output line, their perfdata after a later |', async (t) => {
  const run = await ftp(on(main, '--get', 'hello.txt', '--expect-content', 'from vsftpd', '--expect-size', String(main.helloContent.length)));
  t.equal(run.code, 0, run.stdout);
  const [first, ...rest] = run.stdout.split('\n');
  t.match(first, /^FTP OK - \d+\.\d{3} second response time on 127\.0\.0\.1 port \d+ \[220 \(vsFTPd 3\.0\.3\)\], user anonymous logged in, passive RETR hello\.txt 18 bytes\|time=\d+\.\d{6}s;;;0\.000000;10\.000000$/, 'the first line: the summary and time= only, as check_ftp prints it');
  const S = '\\d+\\.\\d{3} s';
  t.match(rest, [
    new RegExp(`^connect: 127\\.0\\.0\\.1 port ${main.port} in ${S}$`),
    new RegExp(`^greeting: 220 \\(vsFTPd 3\\.0\\.3\\) after ${S}$`),
    new RegExp(`^login: user anonymous in ${S}$`),
    new RegExp(`^RETR hello\\.txt 18 bytes: passive 127\\.0\\.0\\.1:\\d+ data connection open in ${S}, transfer in ${S}\\|connect=\\d+\\.\\d{6}s;;;0\\.000000 login=\\S+ get_open=\\S+ get_transfer=\\d+\\.\\d{6}s;;;0\\.000000 get_bytes=18B;;;0$`),
    /^$/,
  ]);
  t.equal(rest.length, 5, 'four phase lines and the final newline');
  const documented = await ftp(on(main, '--get', 'hello.txt'));
  t.equal(documented.stdout.replace(/\d+/g, '0'), docExample('nagios.md', 'check_ftp-get.txt').replace(/\d+/g, '0'), 'the output docs/nagios.md shows, numbers aside');
});

t.test('a local user: list, download and upload (scratch file deleted), passive and active', async (t) => {
  for (const mode of ['--passive', '--active']) {
    const run = await ftp(on(main, mode, '--list', '--get', 'hello.txt', '--put'), asUser(main));
    t.equal(run.code, 0, run.stdout);
    t.match(run.firstLine, new RegExp(`user ${main.user} logged in, ${mode.slice(2)} LIST \\. \\d+ line\\(s\\), RETR hello\\.txt 18 bytes, STOR\\+DELE \\d+ bytes\\|time=[^ ]+$`));
    const lines = run.stdout.split('\n');
    t.match(lines.slice(4, 7), [new RegExp(`^LIST \\. \\d+ line\\(s\\): ${mode.slice(2)} `), new RegExp(`^RETR hello\\.txt 18 bytes: ${mode.slice(2)} `), new RegExp(`^STOR\\+DELE \\d+ bytes: ${mode.slice(2)} .*\\|connect=.* list_open=.* get_open=.* put_open=.* put_bytes=\\d+B;;;0$`)]);
  }
  const after = await ftp(on(main, '--list'), asUser(main));
  t.match(after.firstLine, /LIST \. 1 line\(s\)/, 'only hello.txt is left: the scratch files were deleted');
});

t.test('login failure names the phase and the server reply; the password never shows', async (t) => {
  const run = await ftp(on(main, '--user', main.user, '--list'), { LBGUARD_FTP_PASSWORD: 'wrong-password' });
  t.equal(run.code, 2);
  t.equal(run.stdout, 'FTP CRITICAL - login failed: 530 Login incorrect.\n');
  const onArgv = await ftp(on(main, '--user', main.user, '--password', 'secret-on-argv'));
  t.equal(onArgv.code, 3, 'a password on the command line is refused');
  t.notMatch(onArgv.stdout, /secret-on-argv/);
});

t.test('the password from an --extra-opts file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-ftp-ini-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ini = join(dir, 'plugins.ini');
  writeFileSync(ini, `[ftp_backend]\nuser=${main.user}\npassword=${main.password}\nget=hello.txt\n`, { mode: 0o600 });
  const run = await ftp(on(main, `--extra-opts=ftp_backend@${ini}`));
  t.equal(run.code, 0, run.stdout);
  t.match(run.firstLine, new RegExp(`user ${main.user} logged in, passive RETR hello\\.txt 18 bytes`));
  t.notMatch(run.stdout, new RegExp(main.password));
});

t.test('missing file, wrong content, wrong size', async (t) => {
  const missing = await ftp(on(main, '--get', 'missing.txt'));
  t.equal(missing.code, 2);
  t.equal(missing.stdout, 'FTP CRITICAL - RETR missing.txt failed: 550 Failed to open file.\n');
  const content = await ftp(on(main, '--get', 'hello.txt', '--expect-content', 'goodbye'));
  t.equal(content.code, 2);
  t.match(content.firstLine, /^FTP CRITICAL - RETR hello\.txt: 'goodbye' not found in its 18 bytes\|time=[^ ]+$/);
  t.match(content.stdout, /\nRETR hello\.txt 18 bytes: passive .*\|connect=.* get_bytes=18B;;;0\n$/, 'the phases are still shown when the content is wrong');
  const size = await ftp(on(main, '--get', 'hello.txt', '--expect-size', '19'));
  t.equal(size.code, 2);
  t.match(size.firstLine, /^FTP CRITICAL - RETR hello\.txt: 18 bytes, expected 19\|/);
});

t.test('passive ports unreachable: a PASV reply naming another host is refused, or followed and fails', async (t) => {
  const run = await ftp(on(restricted, '--get', 'hello.txt'));
  t.equal(run.code, 2);
  t.match(run.stdout, /^FTP CRITICAL - PASV reply points to 127\.0\.0\.2:\d+, not to the control host 127\.0\.0\.1: refused \(--allow-pasv-redirect follows it\)\n$/);
  const followed = await ftp(on(restricted, '--get', 'hello.txt', '--allow-pasv-redirect'));
  t.equal(followed.code, 2);
  t.match(followed.stdout, /^FTP CRITICAL - passive data connection to 127\.0\.0\.2:\d+ refused\n$/);
});

t.test('active mode blocked by the server', async (t) => {
  const run = await ftp(on(restricted, '--active', '--list'));
  t.equal(run.code, 2);
  t.equal(run.stdout, 'FTP CRITICAL - active mode refused by the server: 550 Permission denied.\n');
});

t.test('FTPS: explicit AUTH TLS in both modes, implicit TLS, certificate days', async (t) => {
  for (const mode of ['--passive', '--active']) {
    const run = await ftp(on(main, '--auth-tls', mode, '--get', 'hello.txt'), asUser(main));
    t.equal(run.code, 0, run.stdout);
    t.match(run.firstLine, new RegExp(`logged in over TLS, ${mode.slice(2)} RETR hello\\.txt 18 bytes\\|time=`));
    t.match(run.stdout, /\nAUTH TLS: in \d+\.\d{3} s\nlogin: user \S+ over TLS in \d+\.\d{3} s\nRETR hello\.txt 18 bytes: .*\|connect=\S+ auth_tls=\d+\.\d{6}s;;;0\.000000 login=/);
  }
  const banner = await ftp(on(implicit, '-S'));
  t.equal(banner.code, 0);
  t.match(banner.firstLine, /^FTP OK - .* \[220 \(vsFTPd 3\.0\.3\)\]\|time=/);
  const deep = await ftp(on(implicit, '-S', '--get', 'hello.txt'));
  t.match(deep.firstLine, /user anonymous logged in over TLS, passive RETR hello\.txt 18 bytes/);
  // the test certificate is valid for 30 days
  t.equal((await ftp(on(implicit, '-D', '10'))).code, 0);
  const warn = await ftp(on(implicit, '-D', '40,10'));
  t.equal(warn.code, 1);
  t.match(warn.stdout, /^FTP WARNING - Certificate 'localhost' expires in (29|30) day\(s\) \(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \+0000\)\.\n$/);
  t.equal((await ftp(on(implicit, '-D', '40,35'))).code, 2);
});

t.test('FTPS handshake failures', async (t) => {
  const plain = await ftp(on(main, '-S'));
  t.equal(plain.code, 2);
  t.equal(plain.stdout, 'FTP CRITICAL - Cannot make SSL connection. (wrong version number)\n');
  const noTls = await ftp(on(restricted, '--auth-tls', '--list'));
  t.equal(noTls.code, 2);
  t.match(noTls.stdout, /^FTP CRITICAL - AUTH TLS failed: 5\d\d /);
  // verified against its own certificate, the server still fails: it is for localhost, not 127.0.0.1
  const verified = await ftp(on(main, '--auth-tls', '--list', '--ca-file', join(main.dir, 'cert.pem')));
  t.equal(verified.code, 2);
  t.match(verified.stdout, /^FTP CRITICAL - AUTH TLS failed: .*(altnames|IP)/);
});

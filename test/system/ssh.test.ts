// check_ssh against a real OpenSSH server and against fake servers that misbehave, run as an operator
// runs it: the built bundle, its exit code and its stdout.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { banner, closeAtOnce, flood, silent, slowBanner } from '../helpers/fake-servers.ts';
import { isolatedNamespace } from '../helpers/netns.ts';
import { freePort, pluginPath, runPlugin } from '../helpers/processes.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

const OK_LINE = /^SSH OK - OpenSSH_\S+ [^|]*\(protocol 2\.0\) \| time=\d+\.\d{6}s;;;0\.000000;10\.000000$/;

let sshd: Sshd;
t.before(async () => {
  sshd = await startSshd();
});
t.teardown(async () => sshd?.stop());

const ssh = (...args: string[]) => runPlugin('check_ssh', args);
const local = () => ['-H', '127.0.0.1', '-p', String(sshd.port)];

t.test('up: identification, response time, perfdata as the C plugin prints them', async (t) => {
  const run = await ssh(...local());
  t.equal(run.code, 0);
  t.match(run.firstLine, OK_LINE);
  t.equal(run.stdout.split('\n').length, 2, 'one line only');
  const withT = await ssh(...local(), '-t', '3');
  t.match(withT.firstLine, /;;;0\.000000;3\.000000$/, 'perfdata max is the timeout');
});

t.test('host as the positional argument (check_ssh HOST) and --host/--hostname long forms', async (t) => {
  t.equal((await ssh('-p', String(sshd.port), '127.0.0.1')).code, 0);
  t.equal((await ssh('--host=127.0.0.1', `--port=${sshd.port}`)).code, 0);
  t.equal((await ssh('--hostname', '127.0.0.1', '--port', String(sshd.port))).code, 0);
});

t.test('connection refused', async (t) => {
  const port = await freePort();
  const run = await ssh('-H', '127.0.0.1', '-p', String(port));
  t.equal(run.code, 2);
  t.equal(run.stdout, `SSH CRITICAL - connect to address 127.0.0.1 and port ${port}: Connection refused\n`);
});

t.test('IPv6 forced against a server that listens on IPv4 only', async (t) => {
  const run = await ssh('-6', '-H', '::1', '-p', String(sshd.port));
  t.equal(run.code, 2);
  t.equal(run.firstLine, `SSH CRITICAL - connect to address ::1 and port ${sshd.port}: Connection refused`);
  const mismatch = await ssh('-6', '-H', '127.0.0.1', '-p', String(sshd.port));
  t.equal(mismatch.code, 3, 'an IPv4 address with -6 contradicts itself: UNKNOWN');
  t.equal(mismatch.firstLine, 'SSH UNKNOWN - 127.0.0.1 is not an IPv6 address');
});

t.test('a listener that accepts and never speaks: timeout state within -t', async (t) => {
  const server = await silent();
  t.teardown(() => server.close());
  const run = await ssh('-H', '127.0.0.1', '-p', String(server.port), '-t', '1');
  t.equal(run.code, 2);
  t.equal(run.stdout, 'SSH CRITICAL - Socket timeout after 1 seconds while waiting for the server identification\n');
  t.ok(run.ms < 1000 + 1500, `ended after ${run.ms.toFixed(0)} ms`);
  const unknown = await ssh('-H', '127.0.0.1', '-p', String(server.port), '-t', '1:UNKNOWN');
  t.equal(unknown.code, 3, '-t N:UNKNOWN changes the timeout state');
  t.match(unknown.firstLine, /^SSH UNKNOWN - Socket timeout after 1 seconds/);
});

t.test('a banner that arrives after the timeout', async (t) => {
  const server = await slowBanner('SSH-2.0-Late_1.0\r\n', 2500);
  t.teardown(() => server.close());
  const run = await ssh('-H', '127.0.0.1', '-p', String(server.port), '-t', '1');
  t.equal(run.code, 2);
  t.match(run.firstLine, /^SSH CRITICAL - Socket timeout after 1 seconds/);
});

t.test('a banner of 1 MB without a newline is refused at once, not buffered', async (t) => {
  const server = await flood(1024 * 1024);
  t.teardown(() => server.close());
  const run = await ssh('-H', '127.0.0.1', '-p', String(server.port), '-t', '5');
  t.equal(run.code, 2);
  t.match(run.firstLine, /^SSH CRITICAL - Server answer: A{256}$/);
  t.ok(run.stdout.length < 400, `${run.stdout.length} bytes of output`);
  t.ok(run.ms < 3000, `ended after ${run.ms.toFixed(0)} ms, well before -t`);
});

t.test('a non-SSH service (FTP banner) on the port', async (t) => {
  const server = await banner('220 (vsFTPd 3.0.3)\r\n');
  t.teardown(() => server.close());
  const run = await ssh('-H', '127.0.0.1', '-p', String(server.port), '-t', '8');
  t.equal(run.code, 2);
  t.equal(run.firstLine, 'SSH CRITICAL - Server answer: 220 (vsFTPd 3.0.3)\\r\\n');
  t.ok(run.ms < 4000, `answered after ${run.ms.toFixed(0)} ms, not at the timeout`);
});

t.test('a server that closes at once', async (t) => {
  const server = await closeAtOnce();
  t.teardown(() => server.close());
  const run = await ssh('-H', '127.0.0.1', '-p', String(server.port));
  t.equal(run.code, 2);
  t.equal(run.firstLine, 'SSH CRITICAL - No version control string received');
});

t.test('lines before the identification (RFC 4253 4.2) are accepted', async (t) => {
  const server = await banner('Hello there\r\nsome banner line\r\nSSH-2.0-Foo_1.0 extra comment\r\n');
  t.teardown(() => server.close());
  const run = await ssh('-H', '127.0.0.1', '-p', String(server.port), '-v');
  t.equal(run.code, 0);
  t.match(run.firstLine, /^SSH OK - Foo_1\.0 extra comment \(protocol 2\.0\) \| time=/);
  t.match(run.stdout, /server identification: SSH-2\.0-Foo_1\.0 extra comment/, '-v adds long output');
});

t.test('an old protocol, and -P', async (t) => {
  const server = await banner('SSH-1.99-OpenSSH_3.9p1\r\n');
  t.teardown(() => server.close());
  const ok = await ssh('-H', '127.0.0.1', '-p', String(server.port));
  t.match(ok.firstLine, /^SSH OK - OpenSSH_3\.9p1 \(protocol 1\.99\) \| time=/);
  const mismatch = await ssh('-H', '127.0.0.1', '-p', String(server.port), '-P', '2.0');
  t.equal(mismatch.code, 2);
  t.equal(mismatch.firstLine, "SSH CRITICAL - OpenSSH_3.9p1 (protocol 1.99) protocol version mismatch, expected '2.0'");
});

t.test('-r remote version', async (t) => {
  const version = /OK - (\S+) (\S+) /.exec((await ssh(...local())).firstLine);
  t.ok(version, 'version read from the OK line');
  const [, software, comment] = version ?? [];
  t.equal((await ssh(...local(), '-r', `${software} ${comment}`)).code, 0, 'with its comment, as 2.3.3 compares');
  t.equal((await ssh(...local(), '-r', String(software))).code, 0, 'without its comment');
  const mismatch = await ssh(...local(), '-r', 'OpenSSH_0.1');
  t.equal(mismatch.code, 2);
  t.match(mismatch.firstLine, /^SSH CRITICAL - OpenSSH_\S+ .*\(protocol 2\.0\) version mismatch, expected 'OpenSSH_0\.1'$/);
  t.equal((await ssh(...local(), '-P', '1.99')).code, 2);
});

t.test('response time thresholds are Nagios ranges', async (t) => {
  const warn = await ssh(...local(), '-w', '0.000001', '-c', '5');
  t.equal(warn.code, 1);
  t.match(warn.firstLine, /^SSH WARNING - .* \| time=\d+\.\d{6}s;0\.000001;5;0\.000000;10\.000000$/);
  const crit = await ssh(...local(), '-w', '0.000001', '-c', '0.000002');
  t.equal(crit.code, 2);
  t.equal((await ssh(...local(), '-w', '@0:100')).code, 1, '@ inverts the range');
  const bad = await ssh(...local(), '-w', '10:5');
  t.equal(bad.code, 3);
  t.match(bad.stdout, /^SSH UNKNOWN - Range format incorrect: start 10 is greater than end 5 in '10:5'\nUsage:\ncheck_ssh /);
});

t.test('host key pinning', async (t) => {
  const ok = await ssh(...local(), '--hostkey', sshd.hostKeyFingerprint);
  t.equal(ok.code, 0);
  const key = sshd.hostKeyFingerprint.replace(/[+/]/g, '\\$&');
  t.match(ok.firstLine, new RegExp(`host key ${key} as pinned \\| time=\\d+\\.\\d{6}s;;;0\\.000000;10\\.000000$`), 'the first line ends with the C plugin\'s time= alone');
  t.match(ok.stdout.split('\n').slice(1), [
    new RegExp(`^connect: 127\\.0\\.0\\.1 port ${sshd.port} in \\d+\\.\\d{3} s$`),
    /^identification: OpenSSH_\S+ .*\(protocol 2\.0\) in \d+\.\d{3} s$/,
    new RegExp(`^key exchange: host key ${key} in \\d+\\.\\d{3} s\\|connect=\\S+s;;;0\\.000000 identification=\\S+ kex=\\d+\\.\\d{6}s;;;0\\.000000$`),
    /^$/,
  ]);
  const wrong = await ssh(...local(), '--hostkey', `SHA256:${'A'.repeat(43)}`);
  t.equal(wrong.code, 2);
  t.equal(wrong.firstLine, `SSH CRITICAL - host key mismatch: server offers ${sshd.hostKeyFingerprint}, expected SHA256:${'A'.repeat(43)}`);
  t.equal((await ssh(...local(), '--hostkey', 'MD5:aa:bb')).code, 3, 'a malformed fingerprint is a usage error');
});

t.test('login with a key, and SFTP', async (t) => {
  const login = ['--user', sshd.user, '--identity', sshd.userKeyPath];
  const ok = await ssh(...local(), ...login);
  t.equal(ok.code, 0);
  t.match(ok.firstLine, new RegExp(`user ${sshd.user} authenticated \\| time=[^ ]+$`));
  t.match(ok.stdout, new RegExp(`\\nauthentication: user ${sshd.user} in \\d+\\.\\d{3} s\\|connect=.* auth=\\d+\\.\\d{6}s;;;0\\.000000\\n$`));
  const file = join(sshd.dir, 'probe.txt');
  writeFileSync(file, 'hello');
  const sftp = await ssh(...local(), ...login, `--sftp=${file}`);
  t.equal(sftp.code, 0);
  t.match(sftp.firstLine, new RegExp(`SFTP ${file} 5 bytes \\| time=[^ ]+$`));
  t.match(sftp.stdout, new RegExp(`\\nSFTP stat: ${file} 5 bytes in \\d+\\.\\d{3} s\\|.* sftp=\\d+\\.\\d{6}s;;;0\\.000000\\n$`));
  const dir = await ssh(...local(), ...login, `--sftp=${sshd.dir}`);
  t.match(dir.firstLine, /is a directory/);
  const missing = await ssh(...local(), ...login, `--sftp=${sshd.dir}/missing`);
  t.equal(missing.code, 2);
  t.equal(missing.firstLine, `SSH CRITICAL - SFTP ${sshd.dir}/missing: No such file`);
});

t.test('authentication failures, and secrets never on argv or in output', async (t) => {
  const nobody = await ssh(...local(), '--user', 'lbguard-no-such-user');
  t.equal(nobody.code, 2);
  t.match(nobody.firstLine, /^SSH CRITICAL - authentication failed for user lbguard-no-such-user: /);
  const secret = 'Sup3r-Secret-pw';
  const env = { ...process.env, LBGUARD_SSH_PASSWORD: secret };
  const wrongPassword = await runPlugin('check_ssh', [...local(), '--user', sshd.user], { env });
  t.equal(wrongPassword.code, 2);
  t.notMatch(wrongPassword.stdout, secret);
  const ini = join(sshd.dir, 'plugins.ini');
  writeFileSync(ini, `[check_ssh]\nuser=${sshd.user}\npassword=${secret}\n`);
  const fromIni = await ssh(...local(), `--extra-opts=@${ini}`);
  t.equal(fromIni.code, 2, 'password from the ini file is used (and refused by sshd)');
  t.match(fromIni.firstLine, /authentication failed/);
  const onArgv = await ssh(...local(), '--user', sshd.user, `--password=${secret}`);
  t.equal(onArgv.code, 3);
  t.match(onArgv.firstLine, /--password is refused on the command line/);
  t.notMatch(onArgv.stdout, secret);
});

t.test('bad arguments: UNKNOWN, a usage line, exit 3, no stack trace, nothing run', async (t) => {
  const marker = `/tmp/lbguard-pwned-${process.pid}`;
  const cases: [string[], RegExp][] = [
    [[], /^SSH UNKNOWN - Could not parse arguments: no host given/],
    [['--bogus'], /^SSH UNKNOWN - unrecognized option '--bogus'/],
    [['-H', '127.0.0.1', '-p', 'abc'], /^SSH UNKNOWN - Port must be a number, a list \(20,21\), a range \(1024:65535\) or \* - abc/],
    [['-H', '127.0.0.1', '-t', 'abc'], /^SSH UNKNOWN - Timeout interval must be a positive number of seconds - abc/],
    // the C plugin's own line for a host it cannot use (usage2): `check_ssh: ...`
    [['-H', `127.0.0.1;touch ${marker}`], /^check_ssh: Invalid hostname\/address - 127\.0\.0\.1;touch /],
    [['-H', '$(touch x)'], /^check_ssh: Invalid hostname\/address/],
    [['-H', '127.0.0.1', '--sftp=/x'], /^SSH UNKNOWN - --sftp needs --user/],
    // --sftp takes its path only as --sftp=PATH: a bare word after -H is the C plugin's positional PORT
    [['-H', '127.0.0.1', '--sftp', '/x', '--user', 'a'], /^SSH UNKNOWN - Port number must be an integer from 1 to 65535 - \/x/],
  ];
  for (const [args, expected] of cases) {
    const run = await ssh(...args);
    t.equal(run.code, 3, args.join(' '));
    t.match(run.firstLine, expected);
    t.match(run.stdout, /\nUsage:\ncheck_ssh /);
    t.notMatch(run.stdout + run.stderr, /at .*\.cjs:\d+/, 'no stack trace');
  }
  t.notOk(existsSync(marker), 'the host name was never given to a shell');
});

t.test('unresolvable host: the C line and the usage, exit 3 (look-up inside a namespace: no DNS leaves the machine)', async (t) => {
  const ns = isolatedNamespace('resolve');
  t.teardown(() => ns.remove());
  for (const args of [['-H', 'no.such.host.invalid'], ['no.such.host.invalid'], ['-H', 'no.such.host.invalid', '--output-format', 'mp-test-json']]) {
    const run = await ns.run([process.execPath, pluginPath('check_ssh'), ...args]);
    t.equal(run.code, 3, args.join(' '));
    t.equal(run.firstLine, 'check_ssh: Invalid hostname/address - no.such.host.invalid', args.join(' '));
    t.match(run.stdout, /\nUsage:\ncheck_ssh /);
  }
});

t.test('-V and -h exit 3 (UNKNOWN) as monitoring-plugins does', async (t) => {
  const version = await ssh('-V');
  t.equal(version.code, 3);
  t.match(version.stdout, /^check_ssh v\d+\.\d+\.\d+ \(lbguard \d+\.\d+\.\d+\)\n$/);
  const help = await ssh('-h');
  t.equal(help.code, 3);
  t.match(help.stdout, /Usage:\ncheck_ssh /);
  for (const option of ['--hostname', '--port', '--warning', '--critical', '--timeout', '--verbose', '--remote-version', '--remote-protocol', '--hostkey', '--sftp', '--extra-opts']) {
    t.match(help.stdout, option, `help lists ${option}`);
  }
  t.ok(help.stdout.split('\n').every((line) => line.length <= 120), 'help lines fit a terminal');
});

t.test('no route to the host (a network namespace of our own with only loopback)', async (t) => {
  const ns = isolatedNamespace('noroute');
  t.teardown(() => ns.remove());
  // No interface but lo in this namespace: the kernel refuses the connect locally; nothing is sent.
  const run = await ns.run([process.execPath, pluginPath('check_ssh'), '-H', '10.255.255.1', '-t', '3']);
  t.equal(run.code, 2);
  t.equal(run.firstLine, 'SSH CRITICAL - connect to address 10.255.255.1 and port 22: Network is unreachable');
});

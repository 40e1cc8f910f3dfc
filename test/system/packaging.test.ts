// The package as an operator gets it: `npm pack` (from the dist/ that `npm test` built), then
// `npm install -g` into a scratch prefix, offline from npm's cache (no traffic beyond loopback). The
// installed bins are called by name through PATH: help and version, and real checks that load the
// libraries from the installed package (the plugins' prebundled ssh2 and basic-ftp, the daemon's
// yaml and zod). The systemd unit in
// packaging/ is verified with `systemd-analyze verify` against that installation, and its sandbox
// scored with `systemd-analyze security --offline`; there is no systemd to start it here, so what it
// asks of the daemon (another user, no new privileges, no capability) is applied with setpriv.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort, requireBinary, ROOT, runCommand } from '../helpers/processes.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';
import { startTftpdHpa, type TftpServerDir } from '../helpers/tftp-daemons.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const NPM = requireBinary('/usr/bin/npm', 'npm');
const SYSTEMD_ANALYZE = requireBinary('/usr/bin/systemd-analyze', 'systemd');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const dir = mkdtempSync(join(tmpdir(), 'lbguard-pack-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const prefix = join(dir, 'prefix');
const bin = join(prefix, 'bin');
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
/** an installed bin, found through PATH as a shell would (execFile searches env.PATH) */
const installed = (name: string, args: readonly string[]) => runCommand(name, args, { env, timeoutMs: 30000 });

let tarball = '';
t.before(async () => {
  // --ignore-scripts: no rebuild here (other tests run the same dist/ at the same time)
  const pack = await runCommand(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { timeoutMs: 60000 });
  if (pack.code !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, info?.filename ?? '');
  packedFiles = (info?.files ?? []).map((f) => f.path).sort();
  const started = performance.now();
  const install = await runCommand(NPM, ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], { timeoutMs: 120000 });
  installMs = performance.now() - started;
  if (install.code !== 0) throw new Error(`npm install -g --offline failed (is npm's cache filled by npm ci?): ${install.stderr}`);
});
let packedFiles: string[] = [];
let installMs = 0;

t.test('npm pack: the bundles, the README and package.json, nothing else', async (t) => {
  t.equal(tarball, join(dir, `lbguard-${version}.tgz`));
  // the thread that reads the farms file at SIGHUP, and the chunks it loads late (parser, schema, checks,
  // data plane kinds), named by esbuild with a hash
  const chunks = packedFiles.filter((f) => /^dist\/config-worker-[\w-]+\.mjs$/.test(f));
  t.ok(chunks.length >= 1, `the reading thread's chunks: ${chunks.join(', ')}`);
  t.same(packedFiles.filter((f) => !chunks.includes(f)), [
    'README.md',
    'dist/config-worker.mjs',
    'dist/lbguard.mjs',
    'dist/plugins/check_ftp.cjs',
    'dist/plugins/check_ssh.cjs',
    'dist/plugins/check_tftp.cjs',
    // the deep checks' libraries, prebundled, each with its V8 code cache (plugins/runtime/library.ts)
    'dist/plugins/vendor/basic-ftp.js',
    'dist/plugins/vendor/basic-ftp.js.cache',
    'dist/plugins/vendor/ssh2.js',
    'dist/plugins/vendor/ssh2.js.cache',
    // the TFTP relay's batched UDP port (N-API: one build serves every Node version of this platform)
    'dist/udp_batch.node',
    'dist/userspace-worker.mjs',
    'package.json',
  ]);
  t.comment(`npm install -g --offline of the tarball: ${Math.round(installMs)} ms`);
});

t.test('the bins are on PATH and belong to the installed package', async (t) => {
  for (const name of ['check_ftp', 'check_ssh', 'check_tftp', 'lbguard']) {
    const target = realpathSync(join(bin, name));
    t.ok(target.startsWith(join(prefix, 'lib', 'node_modules', 'lbguard') + '/'), `${name} -> ${target}`);
  }
});

t.test('help and version from the installed bins, man-page style', async (t) => {
  for (const name of ['check_ftp', 'check_ssh', 'check_tftp']) {
    const help = await installed(name, ['-h']);
    t.equal(help.code, 3, `${name} -h exits 3 (UNKNOWN), as monitoring-plugins do`);
    t.equal(help.firstLine, `${name} v${version} (lbguard ${version})`);
    t.match(help.stdout, /\n\nUsage:\n/, `${name} -h: a Usage section`);
    t.match(help.stdout, /\n\nOptions:\n -H, --hostname=ADDRESS\n/, `${name} -h: an Options section`);
    t.match(help.stdout, /\nExit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN/, `${name} -h: the exit codes`);
    const v = await installed(name, ['-V']);
    t.equal(v.code, 3, `${name} -V exits 3`);
    t.equal(v.stdout, `${name} v${version} (lbguard ${version})\n`);
  }
  const help = await installed('lbguard', ['help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: lbguard <command> \[options\]\n\nCommands:\n  run -c FILE /);
  t.match(help.stdout, /\nOptions:\n  -c, --config FILE/);
  const v = await installed('lbguard', ['version']);
  t.equal(v.code, 0);
  t.match(v.stdout, version);
});

let sshd: Sshd;
let vsftpd: Vsftpd;
let tftpd: TftpServerDir;
t.test('real checks from the installed bins load their dependencies from the package', async (t) => {
  [sshd, vsftpd, tftpd] = await Promise.all([startSshd(), startVsftpd({ tls: false }), startTftpdHpa({ 'tftp_check.txt': 'OK\n' })]);
  t.teardown(() => Promise.all([sshd.stop(), vsftpd.stop(), tftpd.stop()]).then(() => undefined));
  const sftp = await installed('check_ssh', ['-H', '127.0.0.1', '-p', String(sshd.port), '--hostkey', sshd.hostKeyFingerprint, '--user', sshd.user, '--identity', sshd.userKeyPath, '--sftp']);
  t.equal(sftp.code, 0, sftp.stdout + sftp.stderr);
  t.match(sftp.firstLine, /^SSH OK - .*as pinned, user \S+ authenticated, SFTP/, 'ssh2 loaded from the installed package (its vendor/ file)');
  const get = await installed('check_ftp', ['-H', '127.0.0.1', '-p', String(vsftpd.port), '--get', 'hello.txt', '--expect-content', 'hello']);
  t.equal(get.code, 0, get.stdout + get.stderr);
  t.match(get.firstLine, /^FTP OK - .*passive RETR hello\.txt 18 bytes\|/, 'basic-ftp loaded from the installed package (its vendor/ file)');
  const tftp = await installed('check_tftp', ['-H', '127.0.0.1', '-p', String(tftpd.port)]);
  t.equal(tftp.code, 0);
  t.match(tftp.firstLine, /^TFTP OK - 3 bytes in /);
  const farms = join(dir, 'farms.yaml');
  writeFileSync(farms, `status: {listen: "127.0.0.1:${await freePort()}"}
farms:
  - name: sftp
    service: sftp
    virtual: {address: 192.0.2.22, ports: [22]}
    check: {probe: ssh}
    backends:
      - {name: a, address: 127.0.0.1, port: ${sshd.port}}
`);
  const check = await installed('lbguard', ['check', '-c', farms]);
  t.equal(check.code, 0, check.stderr);
  t.equal(check.stdout, `${farms}: OK (1 farm(s), 1 backend(s))\n`, 'yaml and zod loaded from the installed package');
});

t.test('the installed lbguard runs as the unit runs it: unprivileged, no new privileges, no capabilities', async (t) => {
  // What the unit asks of a checks-only daemon (dataplane none), by hand: another user, the
  // no_new_privs bit, an empty bounding set, a state directory of its own, nothing else writable.
  const setpriv = requireBinary('/usr/bin/setpriv', 'util-linux');
  const backend = await startSshd();
  t.teardown(() => backend.stop());
  chmodSync(dir, 0o755);
  const state = join(dir, 'state');
  mkdirSync(state, { mode: 0o700 });
  const nobody = Number((await runCommand('id', ['-u', 'nobody'])).stdout.trim());
  chownSync(state, nobody, -1);
  const statusPort = await freePort();
  const farms = join(dir, 'unprivileged.json');
  const farm = { name: 'sftp', service: 'sftp', virtual: { address: '192.0.2.22', ports: [22] }, check: { probe: 'ssh', interval: '500ms', timeout: '400ms', rise: 1 }, backends: [{ name: 'a', address: '127.0.0.1', port: backend.port }] };
  writeFileSync(farms, JSON.stringify({ status: { listen: `127.0.0.1:${statusPort}` }, state: { file: join(state, 'state.json') }, farms: [farm] }), { mode: 0o644 });
  const child = spawn(setpriv, ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', 'lbguard', 'run', '-c', farms], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => (child.exitCode === null && child.signalCode === null ? child.kill('SIGKILL') : undefined));
  let seen: { state?: string; last?: { line: string } } | undefined;
  for (const until = Date.now() + 20000; Date.now() < until && child.exitCode === null; await new Promise((r) => setTimeout(r, 200))) {
    try {
      const status = (await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json()) as { farms: { backends: { state: string; last?: { line: string } }[] }[] };
      seen = status.farms[0]?.backends[0];
      if (seen?.state === 'up') break;
    } catch {
      // not listening yet
    }
  }
  t.equal(seen?.state, 'up', `the backend is checked and up (${output.slice(-300)})`);
  t.match(seen?.last?.line, /^SSH OK - /);
  // setpriv execs: the child's PID is the daemon's
  const proc = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  t.match(proc, new RegExp(`^Uid:\\t${nobody}\\t${nobody}\\t${nobody}\\t${nobody}$`, 'm'), 'runs as nobody');
  t.match(proc, /^NoNewPrivs:\t1$/m, 'no new privileges');
  t.match(proc, /^CapEff:\t0000000000000000$/m, 'no effective capability');
  t.match(proc, /^CapBnd:\t0000000000000000$/m, 'an empty bounding set');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
  t.ok(existsSync(join(state, 'state.json')), 'wrote its state file in its own directory');
});

t.test('packaging/lbguard.service: systemd-analyze verify, and its sandbox score', async (t) => {
  const unit = readFileSync(join(ROOT, 'packaging', 'lbguard.service'), 'utf8');
  t.match(unit, /^ExecStart=\/usr\/local\/bin\/lbguard run -c \/etc\/lbguard\/farms\.yaml$/m);
  for (const line of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'User=lbguard', 'LimitNOFILE=65536', 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE', 'StateDirectory=lbguard']) {
    t.match(unit, new RegExp(`^${line}$`, 'm'), line);
  }
  // the unit as installed here: the same file with the scratch prefix's bin directory
  const file = join(dir, 'lbguard.service');
  writeFileSync(file, unit.replaceAll('/usr/local/bin/lbguard', join(bin, 'lbguard')));
  const verify = await runCommand(SYSTEMD_ANALYZE, ['verify', file], { timeoutMs: 30000 });
  t.equal(verify.code, 0, verify.stderr);
  // verify also loads the host's installed units; their complaints (Debian's ldirectord.service uses
  // KillMode=none) are not about ours
  const ours = verify.stderr.split('\n').filter((l) => l.trim() !== '' && !/^\/(lib|usr\/lib|etc)\/systemd\/system\//.test(l));
  t.same(ours, [], 'no complaint from systemd-analyze verify about our unit');
  const security = await runCommand(SYSTEMD_ANALYZE, ['security', '--offline=yes', '--no-pager', file], { timeoutMs: 30000 });
  const score = /Overall exposure level for lbguard\.service: (\d+\.\d)/.exec(security.stdout);
  t.ok(score, 'an exposure level');
  t.comment(`systemd-analyze security --offline: exposure ${score?.[1]} (0 safest, 10 unprotected)`);
  t.ok(Number(score?.[1]) <= 2.5, `exposure ${score?.[1]} <= 2.5`);
  const sysusers = readFileSync(join(ROOT, 'packaging', 'lbguard.sysusers.conf'), 'utf8');
  t.match(sysusers, /^u lbguard - "[^"]+" \/var\/lib\/lbguard$/m, 'the user the unit runs as');
});

// What a plugin loads at start-up, the part of its cost that is ours (the figures are in
// `npm run bench`): node:tls and the prebundled ssh2 / basic-ftp only on the paths that use them,
// and each library compiled from the V8 code cache the build wrote beside it. A preload script
// reports the built-in modules and the vendor/ files each run read.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pluginPath, ROOT, runCommand } from '../helpers/processes.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const dir = mkdtempSync(join(tmpdir(), 'lbguard-libraries-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const preload = join(dir, 'report.cjs');
writeFileSync(
  preload,
  `const fs = require('node:fs');
const read = [];
const original = fs.readFileSync;
fs.readFileSync = function (path, ...rest) {
  if (typeof path === 'string' && path.includes('/vendor/')) read.push(path.slice(path.lastIndexOf('/') + 1));
  return original.call(this, path, ...rest);
};
process.on('exit', () => {
  const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13));
  fs.writeSync(2, '\\nLOADED ' + JSON.stringify({ builtins, vendor: read }) + '\\n');
});
`,
);

async function loads(plugin: string, args: readonly string[]): Promise<{ code: number | null; firstLine: string; builtins: string[]; vendor: string[] }> {
  // without the NODE_OPTIONS tap's process tracking puts into every child (its hooks load node:crypto)
  const run = await runCommand('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--require', preload, pluginPath(plugin), ...args]);
  const report = /\nLOADED (.*)\n/.exec(run.stderr)?.[1];
  if (!report) throw new Error(`no report from ${plugin}: ${run.stdout}${run.stderr}`);
  return { code: run.code, firstLine: run.firstLine, ...(JSON.parse(report) as { builtins: string[]; vendor: string[] }) };
}

let sshd: Sshd;
let vsftpd: Vsftpd;
t.before(async () => {
  [sshd, vsftpd] = await Promise.all([startSshd(), startVsftpd()]);
});
t.teardown(async () => Promise.all([sshd?.stop(), vsftpd?.stop()]));

t.test('check_ftp: TLS and basic-ftp only for the checks that use them', async (t) => {
  const target = ['-H', '127.0.0.1', '-p', String(vsftpd.port)];
  const banner = await loads('check_ftp', target);
  t.equal(banner.code, 0, banner.firstLine);
  t.notOk(banner.builtins.includes('tls'), 'the banner check leaves node:tls alone');
  t.same(banner.vendor, [], 'and basic-ftp');
  const get = await loads('check_ftp', [...target, '--get', 'hello.txt']);
  t.equal(get.code, 0, get.firstLine);
  t.same(get.vendor, ['basic-ftp.js', 'basic-ftp.js.cache'], '--get: basic-ftp, from its bundle and code cache');
  const tls = await loads('check_ftp', [...target, '--auth-tls', '--get', 'hello.txt']);
  t.equal(tls.code, 0, tls.firstLine);
  t.ok(tls.builtins.includes('tls'), '--auth-tls: node:tls');
});

t.test('check_ssh: node:crypto only to pin a host key, ssh2 only for a login', async (t) => {
  const target = ['-H', '127.0.0.1', '-p', String(sshd.port)];
  const banner = await loads('check_ssh', target);
  t.equal(banner.code, 0, banner.firstLine);
  t.same(banner.vendor, []);
  t.notOk(banner.builtins.includes('tls'));
  t.notOk(banner.builtins.includes('crypto'), 'the banner check leaves node:crypto alone');
  for (const builtin of ['dns/promises', 'perf_hooks', 'vm', 'module']) {
    t.notOk(banner.builtins.includes(builtin), `and ${builtin}: -H is an address, phases are timed with process.hrtime, no library is loaded`);
  }
  const hostkey = await loads('check_ssh', [...target, '--hostkey', sshd.hostKeyFingerprint]);
  t.equal(hostkey.code, 0, hostkey.firstLine);
  t.same(hostkey.vendor, [], '--hostkey: the key exchange is our own, ssh2 stays unread');
  t.ok(hostkey.builtins.includes('crypto'), '--hostkey: node:crypto');
  t.notOk(hostkey.builtins.includes('zlib'), 'nor what ssh2 pulls in');
  const login = await loads('check_ssh', [...target, '--hostkey', sshd.hostKeyFingerprint, '--user', sshd.user, '--identity', sshd.userKeyPath]);
  t.equal(login.code, 0, login.firstLine);
  t.same(login.vendor, ['ssh2.js', 'ssh2.js.cache'], '--user: ssh2, from its bundle and code cache');
  t.notOk(login.builtins.includes('http'), "ssh2's client alone: not its HTTP agents");
});

t.test('the code caches are accepted by the Node that runs the plugins', async (t) => {
  const vendor = join(ROOT, 'dist', 'plugins', 'vendor');
  const files = readdirSync(vendor).filter((f) => f.endsWith('.js'));
  t.same(files.sort(), ['basic-ftp.js', 'ssh2.js']);
  for (const file of files) {
    const path = join(vendor, file);
    const probe = `const fs = require('node:fs'); const { Script } = require('node:vm');
const script = new Script(fs.readFileSync(${JSON.stringify(path)}, 'utf8'), { cachedData: fs.readFileSync(${JSON.stringify(`${path}.cache`)}) });
process.stdout.write(String(script.cachedDataRejected));`;
    const run = await runCommand(process.execPath, ['-e', probe]);
    t.equal(run.stdout, 'false', `${file}: cache accepted`);
  }
});

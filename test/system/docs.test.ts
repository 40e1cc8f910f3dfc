// Every example of the integration guides in docs/ is parsed and run the way its consumer would:
// Farm Guardian's command lines through a shell after its HOST/PORT substitution, lvs.cf's
// send_program/expect through lbguard's model of nanny, keepalived.conf through
// `keepalived --config-test` and its misc_path exit codes, ldirectord.cf's checkcommand scripts with
// ldirectord's four arguments, and lbguard's own farms file through `lbguard check` and its command
// checks. Backends: real vsftpd, tftpd-hpa and sshd on loopback (up), ports that refuse (held, so
// that no other test's daemon takes them) and a tftpd-hpa without the check file (down), and a
// slow FTP greeting (WARNING).
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { splitKeepalived, splitNanny } from '../../orchestrator/checks/command-line.ts';
import { commandSpecFromCheck } from '../../orchestrator/checks/command-backend-check.ts';
import { type CommandCheckSpec, convertNannyEscapes, runCommandCheck } from '../../orchestrator/checks/command.ts';
import { loadValidConfig } from '../../orchestrator/config/semantics.ts';
import { DATAPLANE_KINDS } from '../../orchestrator/dataplane-kinds.ts';
import { type FakeServer, slowBanner } from '../helpers/fake-servers.ts';
import { pluginPath, type RefusingPort, refusingPort, requireBinary, ROOT, runCommand } from '../helpers/processes.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';
import { silentUdpPort, startTftpdHpa, type TftpServerDir } from '../helpers/tftp-daemons.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';
import { docExample, docExamples } from '../helpers/docs-examples.ts';

// some 60 plugin runs one after the other: 113 s beside director-pair at load 9, past tap's 120 s
// per file at load 25. At that limit tap runs the teardown below while it starts the next subtest,
// whose checks then find vsftpd, sshd and the tftpds stopped: they seemed to vanish.
t.setTimeout(300_000);

const KEEPALIVED = requireBinary('/usr/sbin/keepalived', 'keepalived');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-docs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
/** /usr/local/bin of the guides: the plugins, as `npm install -g` links them */
const bin = join(dir, 'bin');
/** /usr/local/lib/lbguard of the guides: ldirectord's checkcommand scripts, taken from its guide */
const lib = join(dir, 'lib');
for (const d of [bin, lib]) mkdirSync(d);
for (const name of ['check_ftp', 'check_ssh', 'check_tftp']) symlinkSync(pluginPath(name), join(bin, name));
const localize = (text: string) => text.replaceAll('/usr/local/bin/', `${bin}/`).replaceAll('/usr/local/lib/lbguard/', `${lib}/`);
function installScript(page: string, name: string): void {
  writeFileSync(join(lib, name), localize(docExample(page, name)));
  chmodSync(join(lib, name), 0o755);
}
for (const name of ['ldirectord-ftp', 'ldirectord-tftp', 'ldirectord-ssh']) installScript('ldirectord.md', name);

type Service = 'ftp' | 'tftp' | 'ssh';
let vsftpd: Vsftpd;
let tftpd: TftpServerDir;
/** a TFTP backend that lost its files: answers File not found at once (a silent port would cost -t) */
let emptyTftpd: TftpServerDir;
let sshd: Sshd;
let slow: FakeServer;
/** the FTP and SSH backends that are down: ports that refuse, held so that nobody else takes them */
let refusing: RefusingPort[] = [];
let up: Record<Service, number>;
let down: Record<Service, number>;
t.before(async () => {
  [vsftpd, tftpd, emptyTftpd, sshd, slow] = await Promise.all([
    startVsftpd({ tls: false }),
    startTftpdHpa({ 'tftp_check.txt': 'OK\n' }),
    startTftpdHpa({}),
    startSshd(),
    slowBanner('220 slow but fine\r\n', 700),
  ]);
  writeFileSync(join(vsftpd.dir, 'anon', 'check.txt'), 'OK\n');
  refusing = await Promise.all([refusingPort(), refusingPort()]);
  up = { ftp: vsftpd.port, tftp: tftpd.port, ssh: sshd.port };
  down = { ftp: refusing[0]!.port, tftp: emptyTftpd.port, ssh: refusing[1]!.port };
});
t.teardown(async () => {
  await Promise.all([vsftpd?.stop(), tftpd?.stop(), emptyTftpd?.stop(), sshd?.stop(), slow?.close(), ...refusing.map((r) => r.release())]);
});

const serviceOf = (line: string): Service => {
  const match = /check_(ftp|tftp|ssh)\b/.exec(line);
  if (!match) throw new Error(`no plugin named in ${line}`);
  return match[1] as Service;
};
/** the SFTP example's key material, replaced by the test sshd's */
const withTestKeys = (line: string) =>
  line.replace(/SHA256:[A-Za-z0-9+/]+/, sshd.hostKeyFingerprint).replace('--user monitor', `--user ${sshd.user}`).replace('/etc/lbguard/monitor_ed25519', sshd.userKeyPath);
const never = new AbortController().signal;

/** A libexec directory as the guide has it: `lbguard install-plugins --libexec DIR` filled it. */
async function installedLibexec(t: Test): Promise<string> {
  const libexec = mkdtempSync(join(dir, 'libexec-'));
  const install = await runCommand(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), 'install-plugins', '--libexec', libexec]);
  t.equal(install.code, 0, install.stdout);
  return libexec;
}

t.test('Farm Guardian: HOST/PORT substituted, run by a shell from libexec, exit 0 = up', async (t) => {
  const libexec = await installedLibexec(t);
  const lines = docExample('farmguardian.md', 'farmguardian-commands.txt').split('\n').filter((l) => l.trim() !== '');
  t.equal(lines.length, 5);
  for (const line of lines) {
    const service = serviceOf(line);
    t.match(line, /-t [1-9]\b/, 'a -t below the suggested 10 s interval');
    for (const [port, expectUp] of [[up[service], true], [down[service], false]] as const) {
      // Farm Guardian: s/HOST/ip/g, s/PORT/port/g, then `$libexec_dir/<command>` in backticks
      const command = withTestKeys(line).replace(/HOST/g, '127.0.0.1').replace(/PORT/g, String(port));
      const run = await runCommand('/bin/sh', ['-c', `${libexec}/${command}`], { timeoutMs: 30000 });
      if (expectUp) t.equal(run.code, 0, `up: ${line} -> ${run.firstLine}`);
      else t.not(run.code, 0, `down: ${line} -> exit ${run.code}: ${run.firstLine}`);
    }
  }
});

t.test('Farm Guardian: lbguard render farmguardian prints the documented objects, and their commands run', async (t) => {
  const farms = join(dir, 'farmguardian-farms.yaml');
  writeFileSync(farms, docExample('farmguardian.md', 'farmguardian-farms.yaml'));
  const render = await runCommand(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), 'render', 'farmguardian', '-c', farms]);
  t.equal(render.code, 0, render.stderr);
  t.equal(render.stdout, docExample('farmguardian.md', 'farmguardian-render.txt'), 'the output shown in the guide, byte for byte');
  const missing = await runCommand(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), 'render', 'farmguardian', '-c', farms, 'nosuchfarm']);
  t.equal(missing.code, 1, 'no such farm: exit 1');
  const libexec = await installedLibexec(t);
  const commands = [...render.stdout.matchAll(/^command: (.*)$/gm)].map((m) => m[1] as string);
  t.same(commands.map(serviceOf), ['ftp', 'tftp']);
  for (const line of commands) {
    const service = serviceOf(line);
    for (const [port, expectUp] of [[up[service], true], [down[service], false]] as const) {
      const run = await runCommand('/bin/sh', ['-c', `${libexec}/${line.replace(/HOST/g, '127.0.0.1').replace(/PORT/g, String(port))}`], { timeoutMs: 30000 });
      if (expectUp) t.equal(run.code, 0, `up: ${line} -> ${run.firstLine}`);
      else t.not(run.code, 0, `down: ${line} -> exit ${run.code}: ${run.firstLine}`);
    }
  }
});

interface LvsVirtual { name: string; port?: number; sendProgram?: string; expect?: string; timeout?: number; servers: string[] }

/** lvs.cf as lvsconfig.c tokenizes it: `key = value` with blanks, double quotes, `name {` blocks. */
function parseLvsCf(text: string): LvsVirtual[] {
  const virtuals: LvsVirtual[] = [];
  let current: LvsVirtual | undefined;
  let depth = 0;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `lvs.cf line ${index + 1}: ${raw}`;
    const block = /^(virtual|server) (\S+) \{$/.exec(line);
    if (block) {
      if (block[1] === 'virtual') {
        if (depth !== 0) throw new Error(`${where}: virtual inside a block`);
        current = { name: block[2] as string, servers: [] };
        virtuals.push(current);
      } else {
        if (depth !== 1 || !current) throw new Error(`${where}: server outside a virtual`);
        if (current.port === undefined) throw new Error(`${where}: port must come before the servers`);
        current.servers.push(block[2] as string);
      }
      depth++;
      continue;
    }
    if (line === '}') {
      if (depth === 0) throw new Error(`${where}: unbalanced }`);
      depth--;
      continue;
    }
    const kv = /^(\w+) = ("[^"]*"|\S+(?: \S+)?)$/.exec(line);
    if (!kv) throw new Error(`${where}: not "key = value" with blanks around =`);
    const [, key, value] = kv as unknown as [string, string, string];
    if (value.includes(' ') && !value.startsWith('"') && !['address', 'nat_router'].includes(key)) throw new Error(`${where}: a value with spaces must be double-quoted`);
    if (depth === 1 && current) {
      if (key === 'port') current.port = Number(value);
      if (key === 'send_program') current.sendProgram = value;
      if (key === 'expect') current.expect = value;
      if (key === 'timeout') current.timeout = Number(value);
    }
  }
  if (depth !== 0) throw new Error('lvs.cf: a block is not closed');
  return virtuals;
}

/** A quoted lvs.cf or keepalived.conf value without its quotes, as lvsd and keepalived read it. */
const unquoted = (value: string) => value.replace(/^"/, '').replace(/"$/, '');
/** An lvs.cf send_program and expect as nanny runs and compares them (what `lbguard import lvs.cf` writes). */
const nannySpec = (sendProgram: string, expect: string, timeoutMs: number): CommandCheckSpec => ({ command: unquoted(sendProgram), style: 'nanny', expect: convertNannyEscapes(unquoted(expect)), timeoutMs });

t.test('Piranha lvs.cf: --nanny send_programs judged as nanny judges them', async (t) => {
  const virtuals = parseLvsCf(docExample('piranha.md', 'lvs.cf'));
  t.same(virtuals.map((v) => [v.name, v.port, v.servers.length]), [['ftp', 21, 2], ['tftp', 69, 1], ['sftp', 22, 1]]);
  for (const v of virtuals) {
    const sendProgram = v.sendProgram ?? '';
    t.ok(Buffer.byteLength(sendProgram) < 255, `${v.name}: send_program fits nanny's 255-byte buffer`);
    t.ok(splitNanny(sendProgram.slice(1, -1)).length <= 40, `${v.name}: at most 40 words`);
    t.equal(v.expect, '"OK"');
    const service = serviceOf(sendProgram);
    const timeoutMs = (v.timeout ?? 10) * 1000;
    t.ok(Number(/-t (\d+)/.exec(sendProgram)?.[1]) * 1000 < timeoutMs, `${v.name}: the plugin's -t is below nanny's timeout`);
    const spec = nannySpec(localize(sendProgram), v.expect ?? '', timeoutMs);
    const live = await runCommandCheck(spec, { address: '127.0.0.1', port: up[service] }, never);
    t.equal(live.up, true, `${v.name} up: ${live.line}`);
    const dead = await runCommandCheck(spec, { address: '127.0.0.1', port: down[service] }, never);
    t.equal(dead.up, false, `${v.name} down: ${dead.line}`);
    t.match(sendProgram, / --nanny /, `${v.name}: the plugin's own nanny mode`);
    t.equal(dead.exitCode, 0, `${v.name} down: exit 0, or nanny would count it up`);
    t.match(dead.line, /^output "DOWN: (FTP|TFTP|SSH) CRITICAL - /);
  }
});

t.test('Piranha: the classic check_tftp --connect line, without --nanny, is down when the server is dead', async (t) => {
  const dead = await silentUdpPort(); // nothing answers there: --connect treats File not found as success
  t.teardown(() => dead.close());
  const example = docExample('piranha.md', 'lvs-classic-tftp.cf');
  const sendProgram = /^\tsend_program = ("[^"]*")$/m.exec(example)?.[1] ?? '';
  const expect = /^\texpect = ("[^"]*")$/m.exec(example)?.[1] ?? '';
  t.equal(expect, '"OK - answer from server"', 'the classic expect text is kept');
  t.notMatch(sendProgram, /--nanny/, 'the classic line as LVS TFTP set-ups carry it, plus -p and -t');
  for (const line of [sendProgram, sendProgram.replace('--connect', '--nanny --connect')]) {
    const nanny = nannySpec(localize(line), expect, 6000);
    const live = await runCommandCheck(nanny, { address: '127.0.0.1', port: up.tftp }, never);
    t.same([live.up, live.exitCode], [true, 0], `${line}, live: up (${live.line})`);
    const gone = await runCommandCheck(nanny, { address: '127.0.0.1', port: dead.port }, never);
    t.same([gone.up, gone.exitCode, gone.line], [false, 0, 'output "Transfer timed out" is not the expected "OK - answer from server"'], `${line}, dead: exit 0 and down`);
  }
});

/** keepalived.conf's MISC_CHECK blocks: misc_path, misc_timeout, misc_dynamic */
function miscChecks(text: string): { path: string; timeout: number; dynamic: boolean }[] {
  return [...text.matchAll(/MISC_CHECK \{([^}]*)\}/g)].map((m) => {
    const body = m[1] as string;
    return { path: /misc_path ("[^"]*")/.exec(body)?.[1] ?? '', timeout: Number(/misc_timeout (\d+)/.exec(body)?.[1]), dynamic: /^\s*misc_dynamic\s*$/m.test(body) };
  });
}
const onTarget = (path: string, port: number) => path.replace(/-H \S+ -p \d+/, `-H 127.0.0.1 -p ${port}`);

t.test('keepalived.conf: keepalived --config-test accepts it', async (t) => {
  const file = join(dir, 'keepalived.conf');
  writeFileSync(file, localize(docExample('keepalived.md', 'keepalived.conf')));
  const log = join(dir, 'keepalived-config-test.log');
  const run = await runCommand(KEEPALIVED, [`--config-test=${log}`, '-f', file], { timeoutMs: 20000 });
  const said = existsSync(log) ? readFileSync(log, 'utf8') : '';
  t.equal(run.code, 0, `keepalived --config-test exits 0 ${said}${run.stderr}`);
  t.equal(said, '', 'no warning either');
});

t.test('keepalived MISC_CHECK: exit codes as keepalived reads them, with and without misc_dynamic', async (t) => {
  const checks = miscChecks(docExample('keepalived.md', 'keepalived.conf'));
  t.same(checks.map((c) => c.dynamic), [true, false, false, false]);
  t.match(checks[0]?.path, /check_ftp --misc-dynamic=10,3 /, 'misc_dynamic: the plugin\'s own --misc-dynamic mode');
  for (const check of checks) {
    t.ok(Number(/-t (\d+)/.exec(check.path)?.[1]) < check.timeout, 'the plugin\'s -t is below misc_timeout');
    t.notOk(splitKeepalived(check.path.slice(1, -1)).some((word) => word === 'HOST' || word.startsWith('%')), 'addresses written out, as keepalived substitutes nothing');
    const service = serviceOf(check.path);
    const spec = (port: number): CommandCheckSpec => ({ command: unquoted(localize(onTarget(check.path, port))), style: 'keepalived', timeoutMs: check.timeout * 1000, dynamic: check.dynamic });
    const live = await runCommandCheck(spec(up[service]), { address: '127.0.0.1', port: up[service] }, never);
    t.same([live.exitCode, live.up, live.weight], check.dynamic ? [12, true, 10] : [0, true, undefined], `up: ${live.line}`);
    const dead = await runCommandCheck(spec(down[service]), { address: '127.0.0.1', port: down[service] }, never);
    t.same([dead.exitCode, dead.up], [check.dynamic ? 1 : 2, false], `down: exit ${dead.exitCode} (${dead.line})`);
    if (check.dynamic) {
      const slowRun = await runCommandCheck(spec(slow.port), { address: '127.0.0.1', port: slow.port }, never);
      t.same([slowRun.exitCode, slowRun.up, slowRun.weight], [5, true, 3], 'a WARNING (greeting after 0.7 s, -w 0.5) is up at weight 3');
    }
  }
  // the reason for --misc-dynamic: without it a CRITICAL plugin is "up at weight 0" under misc_dynamic
  const bare: CommandCheckSpec = { command: `${bin}/check_ftp -H 127.0.0.1 -p ${down.ftp} -t 2`, style: 'keepalived', timeoutMs: 5000, dynamic: true };
  const trap = await runCommandCheck(bare, { address: '127.0.0.1', port: down.ftp }, never);
  t.same([trap.exitCode, trap.up, trap.weight], [2, true, 0], 'a bare plugin under misc_dynamic: CRITICAL reads as up, weight 0');
});

interface LdVirtual { virtual: string; reals: string[]; checktype?: string; checkcommand?: string }

/** ldirectord.cf as ldirectord reads it: `virtual=` opens a block of lines indented 4+ (tab = 4). */
function parseLdirectordCf(text: string): LdVirtual[] {
  const virtuals: LdVirtual[] = [];
  let current: LdVirtual | undefined;
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/#.*/, '').replace(/\t/g, '    ');
    const indented = /^ {4,}(.+)/.exec(line);
    if (indented && current) {
      const rcmd = (indented[1] as string).trim();
      const real = /^real\s*=\s*(\S+)/.exec(rcmd);
      if (real) current.reals.push(real[1] as string);
      const type = /^checktype\s*=\s*(\S+)/.exec(rcmd);
      if (type) current.checktype = type[1];
      const command = /^checkcommand\s*=\s*"(.*)"/.exec(rcmd) ?? /^checkcommand\s*=\s*(.*)/.exec(rcmd);
      if (command) current.checkcommand = command[1];
      continue;
    }
    current = undefined;
    const virtual = /^virtual\s*=\s*(\S+)/.exec(line);
    if (virtual) {
      current = { virtual: virtual[1] as string, reals: [] };
      virtuals.push(current);
    }
  }
  return virtuals;
}

t.test('ldirectord.cf: external checks called with ldirectord\'s four arguments, exit 0 = up', async (t) => {
  const virtuals = parseLdirectordCf(docExample('ldirectord.md', 'ldirectord.cf'));
  t.same(virtuals.map((v) => [v.virtual, v.reals.length, v.checktype]), [['192.0.2.10:21', 2, 'external'], ['192.0.2.10:69', 1, 'external'], ['192.0.2.10:22', 1, 'external']]);
  for (const v of virtuals) {
    const command = v.checkcommand ?? '';
    t.match(command, /^\/usr\/local\/lib\/lbguard\/ldirectord-(ftp|tftp|ssh)$/, `${v.virtual}: checkcommand is a bare path to a documented script`);
    const service = (/ldirectord-(\w+)$/.exec(command)?.[1] ?? 'ftp') as Service;
    const [vip, vport] = v.virtual.split(':') as [string, string];
    for (const [port, expectUp] of [[up[service], true], [down[service], false]] as const) {
      const run = await runCommand(localize(command), [vip, vport, '127.0.0.1', String(port)], { timeoutMs: 30000 });
      if (expectUp) t.equal(run.code, 0, `up: ${run.firstLine}`);
      else t.not(run.code, 0, `down: exit ${run.code}: ${run.firstLine}`);
    }
  }
});

t.test('lbguard farms file: lbguard check accepts it, its command checks pass and fail as documented', async (t) => {
  const file = join(dir, 'farms.yaml');
  writeFileSync(file, localize(docExample('lbguard.md', 'farms.yaml')).replace('/var/lib/lbguard/state.json', join(dir, 'state.json')));
  const check = await runCommand(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), 'check', '-c', file]);
  t.equal(check.code, 0, check.stdout + check.stderr);
  t.equal(check.stdout, `${file}: OK (4 farm(s), 5 backend(s))\n`);
  const config = loadValidConfig(file, DATAPLANE_KINDS);
  t.same(config.farms.map((f) => [f.name, f.check.probe, f.check.style]), [['ftp', 'ftp', 'farmguardian'], ['tftp', 'command', 'farmguardian'], ['sftp', 'command', 'nanny'], ['ftp-weighted', 'command', 'keepalived']]);
  for (const farm of config.farms.filter((f) => f.check.probe === 'command')) {
    const spec = commandSpecFromCheck(farm.check);
    const service = serviceOf(String(spec.command));
    const live = await runCommandCheck(spec, { address: '127.0.0.1', port: up[service] }, never);
    t.equal(live.up, true, `${farm.name} up: ${live.line}`);
    t.equal(live.weight, spec.dynamic ? 10 : undefined, `${farm.name}: ${spec.dynamic ? 'weight 10 from --misc-dynamic=10,3' : 'no weight of its own'}`);
    const dead = await runCommandCheck(spec, { address: '127.0.0.1', port: down[service] }, never);
    t.equal(dead.up, false, `${farm.name} down: ${dead.line}`);
  }
});

t.test('every named example in docs/ is read by a test', async (t) => {
  const pages = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));
  const testSources = ['test/unit', 'test/system'].flatMap((d) => readdirSync(join(ROOT, d)).map((f) => readFileSync(join(ROOT, d, f), 'utf8'))).join('\n');
  for (const page of pages) {
    for (const name of docExamples(page).keys()) t.ok(testSources.includes(`'${name}'`), `docs/${page}: ${name} is read by a test`);
  }
});

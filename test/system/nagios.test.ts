// Nagios 4 itself runs lbguard's plugins. The object definitions operators copy from docs/nagios.md
// are verified with `nagios4 -v` against Debian's stock templates; then a Nagios of our own, in a
// temporary directory with one-second intervals, runs the documented commands against real vsftpd,
// tftpd-hpa and sshd, a closed port and a silent listener. Checks are forced through Nagios's
// external command file and every result is read back from Nagios's status.dat: the state, the
// status line, the performance data Nagios split off, and the long output it kept.
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { type FakeServer, silent } from '../helpers/fake-servers.ts';
import { freePort, pluginPath, requireBinary, runCommand, startDaemon } from '../helpers/processes.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';
import { freeUdpPort, startTftpdHpa, type TftpServerDir } from '../helpers/tftp-daemons.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';
import { docExample } from '../helpers/docs-examples.ts';

const NAGIOS = requireBinary('/usr/sbin/nagios4', 'nagios4-core');
const STOCK = '/etc/nagios4/objects';
const dir = mkdtempSync(join(tmpdir(), 'lbguard-nagios-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** $USER2$: a bin directory laid out as `npm install -g` lays it out, pointing at the built bundles. */
const bin = join(dir, 'bin');
mkdirSync(bin);
for (const name of ['check_ftp', 'check_ssh', 'check_tftp']) symlinkSync(pluginPath(name), join(bin, name));

function mainConfig(sub: string, objectFiles: readonly string[]): string {
  const base = join(dir, sub);
  for (const d of ['rw', 'checkresults']) mkdirSync(join(base, d), { recursive: true });
  writeFileSync(join(base, 'resource.cfg'), docExample('nagios.md', 'resource.cfg').replace(/^\$USER2\$=.*$/m, `$USER2$=${bin}`));
  const file = join(base, 'nagios.cfg');
  writeFileSync(
    file,
    [
      ...objectFiles.map((f) => (f.endsWith('.cfg') ? `cfg_file=${f}` : `cfg_dir=${f}`)),
      `resource_file=${join(base, 'resource.cfg')}`,
      `log_file=${join(base, 'nagios.log')}`,
      `object_cache_file=${join(base, 'objects.cache')}`,
      `precached_object_file=${join(base, 'objects.precache')}`,
      `status_file=${join(base, 'status.dat')}`,
      'status_update_interval=1',
      `command_file=${join(base, 'rw', 'nagios.cmd')}`,
      'check_external_commands=1',
      `lock_file=${join(base, 'nagios.pid')}`,
      `temp_file=${join(base, 'nagios.tmp')}`,
      `temp_path=${base}`,
      `check_result_path=${join(base, 'checkresults')}`,
      'nagios_user=root',
      'nagios_group=root',
      'retain_state_information=0',
      'interval_length=1',
      'max_service_check_spread=1',
      'max_host_check_spread=1',
      'check_result_reaper_frequency=1',
      'enable_notifications=0',
      'use_syslog=0',
      'log_rotation_method=n',
      'service_check_timeout=30',
      'illegal_macro_output_chars=`~$&|\'"<>',
      '',
    ].join('\n'),
  );
  return file;
}

function write(sub: string, name: string, text: string): string {
  const file = join(dir, sub, name);
  writeFileSync(file, text);
  return file;
}

const verify = (config: string) => runCommand(NAGIOS, ['-v', config], { timeoutMs: 20000 });

t.test('the documented commands and services pass nagios4 -v with Debian\'s stock templates', async (t) => {
  mkdirSync(join(dir, 'verify'));
  const objects = [
    ...['templates.cfg', 'timeperiods.cfg', 'contacts.cfg', 'commands.cfg'].map((f) => join(STOCK, f)),
    '/etc/nagios-plugins/config', // Debian's stock cfg_dir: check-host-alive, used by linux-server
    write('verify', 'lbguard-commands.cfg', docExample('nagios.md', 'lbguard-commands.cfg')),
    write('verify', 'lbguard-services.cfg', docExample('nagios.md', 'lbguard-services.cfg')),
  ];
  const run = await verify(mainConfig('verify', objects));
  t.equal(run.code, 0, 'nagios4 -v exits 0');
  t.match(run.stdout, /Checked 5 services\./);
  t.match(run.stdout, /Total Warnings: 0\n\s*Total Errors:\s+0/, 'no warnings, no errors');
});

// --- the live run ---------------------------------------------------------------------------

interface ServiceStatus { [key: string]: string }

/** status.dat's servicestatus blocks, by service_description. */
function readServiceStatus(file: string): Map<string, ServiceStatus> {
  const services = new Map<string, ServiceStatus>();
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  for (const block of text.matchAll(/^servicestatus \{\n([\s\S]*?)\n\t\}/gm)) {
    const fields: ServiceStatus = {};
    for (const line of (block[1] as string).split('\n')) {
      const at = line.indexOf('=');
      if (at > 0) fields[line.slice(0, at).trim()] = line.slice(at + 1);
    }
    if (fields.service_description) services.set(fields.service_description, fields);
  }
  return services;
}

/** Writes one external command; the FIFO exists and has a reader once Nagios is up. */
async function externalCommand(fifo: string, command: string, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      try {
        writeSync(fd, `[${Math.floor(Date.now() / 1000)}] ${command}\n`);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENXIO') || Date.now() > until) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** PIDs whose command line names this file: Nagios and its worker processes. */
function processesUsing(file: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(file)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** processesUsing(file) once they had up to waitMs to exit */
async function processesLeft(file: string, waitMs: number): Promise<number[]> {
  const until = Date.now() + waitMs;
  let left = processesUsing(file);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesUsing(file);
  }
  return left;
}

let vsftpd: Vsftpd;
let tftpd: TftpServerDir;
let sshd: Sshd;
let quiet: FakeServer;
t.before(async () => {
  [vsftpd, tftpd, sshd, quiet] = await Promise.all([startVsftpd({ tls: false }), startTftpdHpa({ 'tftp_check.txt': 'OK\n' }), startSshd(), silent()]);
});
t.teardown(async () => {
  await Promise.all([vsftpd?.stop(), tftpd?.stop(), sshd?.stop(), quiet?.close()]);
});

/** One service: how Nagios and Icinga 2 call it, and what their results must hold. */
interface Scenario {
  readonly nagios: string;
  readonly icinga: readonly [command: string, vars: Readonly<Record<string, string | number | boolean>>];
  readonly state: number;
  readonly output: RegExp;
  readonly perf?: RegExp;
  /** the long output, its line breaks written as status.dat writes them (`\\n`) */
  readonly long?: RegExp;
}

/** text with every number made 0: times, ports and sizes differ from run to run */
const shape = (text: string) => text.replace(/\d+/g, '0');

/** a phase's duration in a long-output line */
const SECONDS = '\\d+\\.\\d{3} s';

/** by service description */
function scenarios(closedTcp: number, closedUdp: number): Record<string, Scenario> {
  return {
    'ftp greeting': {
      nagios: `lbg_check_ftp!${vsftpd.port}!`,
      icinga: ['lbg_ftp', { lbg_ftp_port: vsftpd.port }],
      state: 0,
      output: new RegExp(`^FTP OK - \\d+\\.\\d{3} second response time on 127\\.0\\.0\\.1 port ${vsftpd.port} \\[220 \\(vsFTPd 3\\.0\\.3\\)\\]$`),
      perf: /^time=\d+\.\d{6}s;;;0\.000000;10\.000000$/,
    },
    'ftp slow': {
      nagios: `lbg_check_ftp!${vsftpd.port}!-w 0.000001 -c 5`,
      icinga: ['lbg_ftp', { lbg_ftp_port: vsftpd.port, lbg_warning: '0.000001', lbg_critical: '5' }],
      state: 1,
      output: /^FTP WARNING - \d+\.\d{3} second response time on 127\.0\.0\.1 port \d+ \[220 /,
      perf: /^time=\d+\.\d{6}s;0\.000001;5(\.0+)?;0\.000000;10\.000000$/,
    },
    'ftp download': {
      nagios: `lbg_check_ftp_get!${vsftpd.port}!hello.txt!hello`,
      icinga: ['lbg_ftp', { lbg_ftp_port: vsftpd.port, lbg_ftp_get: 'hello.txt', lbg_ftp_expect_content: 'hello' }],
      state: 0,
      output: /^FTP OK - .*user anonymous logged in, passive RETR hello\.txt 18 bytes$/,
      // both perfdata parts, joined: time= from the first line, the phases from after the | on the last long line
      perf: /^time=\d+\.\d{6}s;;;0\.000000;10\.000000 connect=\d+\.\d{6}s;;;0\.000000 login=\d+\.\d{6}s;;;0\.000000 get_open=\d+\.\d{6}s;;;0\.000000 get_transfer=\d+\.\d{6}s;;;0\.000000 get_bytes=18B;;;0$/,
      // one line per phase, with no perfdata left in them
      long: new RegExp(
        [
          `^connect: 127\\.0\\.0\\.1 port ${vsftpd.port} in ${SECONDS}`,
          `greeting: 220 \\(vsFTPd 3\\.0\\.3\\) after ${SECONDS}`,
          `login: user anonymous in ${SECONDS}`,
          `RETR hello\\.txt 18 bytes: passive 127\\.0\\.0\\.1:\\d+ data connection open in ${SECONDS}, transfer in ${SECONDS}$`,
        ].join('\\\\n'),
      ),
    },
    'ftp refused': {
      nagios: `lbg_check_ftp!${closedTcp}!`,
      icinga: ['lbg_ftp', { lbg_ftp_port: closedTcp }],
      state: 2,
      output: new RegExp(`^FTP CRITICAL - connect to address 127\\.0\\.0\\.1 and port ${closedTcp}: Connection refused$`),
    },
    'ftp silent': {
      nagios: `lbg_check_ftp!${quiet.port}!-t 2`,
      icinga: ['lbg_ftp', { lbg_ftp_port: quiet.port, lbg_timeout: 2 }],
      state: 2,
      output: /^FTP CRITICAL - Socket timeout after 2 seconds/,
    },
    'tftp read': {
      nagios: `lbg_check_tftp!${tftpd.port}!`,
      icinga: ['lbg_tftp', { lbg_tftp_port: tftpd.port }],
      state: 0,
      output: new RegExp(`^TFTP OK - 3 bytes in \\d+\\.\\d{3} s from 127\\.0\\.0\\.1 port ${tftpd.port} \\(tftp_check\\.txt\\)$`),
      perf: /^time=\d+\.\d{6}s;;;0\.000000;5\.000000 size=3B;;;0 throughput=\d+;;;0 first_answer=\S+ transfer=\S+$/,
    },
    'tftp verbose': {
      nagios: `lbg_check_tftp!${tftpd.port}!-v`,
      icinga: ['lbg_tftp', { lbg_tftp_port: tftpd.port, lbg_verbose: true }],
      state: 0,
      output: /^TFTP OK - 3 bytes/,
      perf: /^time=\S+ size=3B;;;0 throughput=\d+;;;0 first_answer=\d+\.\d{6}s;;;0\.000000 transfer=\d+\.\d{6}s;;;0\.000000$/,
      long: /^first answer: options accepted \(OACK\) after \d+\.\d{3} s\\ntransfer: 3 bytes in 1 block\(s\) of up to 1468, done \d+\.\d{3} s after it\\noptions accepted: .*\\n1 blocks, 3 bytes on the wire in .*, sha256 [0-9a-f]{64}(\\n)?$/,
    },
    'tftp nobody': {
      nagios: `lbg_check_tftp!${closedUdp}!-t 2`,
      icinga: ['lbg_tftp', { lbg_tftp_port: closedUdp, lbg_timeout: 2 }],
      state: 2,
      output: /^TFTP CRITICAL - /,
    },
    ssh: {
      nagios: `lbg_check_ssh!${sshd.port}!`,
      icinga: ['lbg_ssh', { lbg_ssh_port: sshd.port }],
      state: 0,
      output: /^SSH OK - OpenSSH_\S+ .*\(protocol 2\.0\)$/,
      perf: /^time=\d+\.\d{6}s;;;0\.000000;10\.000000$/,
    },
    'ssh verbose': {
      nagios: `lbg_check_ssh!${sshd.port}!-v`,
      icinga: ['lbg_ssh', { lbg_ssh_port: sshd.port, lbg_verbose: true }],
      state: 0,
      output: /^SSH OK - /,
      perf: /^time=\d+\.\d{6}s;;;0\.000000;10\.000000$/,
      long: /^server identification: SSH-2\.0-OpenSSH_/,
    },
    'ssh silent': {
      nagios: `lbg_check_ssh!${quiet.port}!-t 2`,
      icinga: ['lbg_ssh', { lbg_ssh_port: quiet.port, lbg_timeout: 2 }],
      state: 2,
      output: /^SSH CRITICAL - Socket timeout after 2 seconds/,
    },
    sftp: {
      nagios: `lbg_check_sftp!${sshd.port}!${sshd.hostKeyFingerprint}!${sshd.user}!${sshd.userKeyPath}!/`,
      icinga: ['lbg_ssh', { lbg_ssh_port: sshd.port, lbg_ssh_hostkey: sshd.hostKeyFingerprint, lbg_ssh_user: sshd.user, lbg_ssh_identity: sshd.userKeyPath, lbg_ssh_sftp: '/' }],
      state: 0,
      output: /^SSH OK - /,
      perf: /\bsftp=\d+\.\d+s/,
    },
  };
}

t.test('Nagios runs the plugins and keeps state, status line, perfdata and long output', async (t) => {
  const expected = scenarios(await freePort(), await freeUdpPort());
  mkdirSync(join(dir, 'live'));
  const boilerplate = `define timeperiod {
    timeperiod_name always
    alias           always
    sunday 00:00-24:00
    monday 00:00-24:00
    tuesday 00:00-24:00
    wednesday 00:00-24:00
    thursday 00:00-24:00
    friday 00:00-24:00
    saturday 00:00-24:00
}
define command {
    command_name    notify_nobody
    command_line    /bin/true
}
define contact {
    contact_name                    nobody
    host_notifications_enabled      0
    service_notifications_enabled   0
    host_notification_period        always
    service_notification_period     always
    host_notification_options       n
    service_notification_options    n
    host_notification_commands      notify_nobody
    service_notification_commands   notify_nobody
}
define host {
    host_name           loopback
    address             127.0.0.1
    max_check_attempts  1
    check_period        always
    contacts            nobody
    notification_period always
}
`;
  const services = Object.entries(expected)
    .map(([name, e]) => `define service {
    host_name               loopback
    service_description     ${name}
    check_command           ${e.nagios}
    max_check_attempts      1
    check_interval          5
    retry_interval          1
    notification_interval   0
    check_period            always
    contacts                nobody
    notification_period     always
}
`)
    .join('');
  const config = mainConfig('live', [
    write('live', 'base.cfg', boilerplate),
    write('live', 'lbguard-commands.cfg', docExample('nagios.md', 'lbguard-commands.cfg')),
    write('live', 'services.cfg', services),
  ]);
  const checked = await verify(config);
  t.equal(checked.code, 0, 'nagios4 -v accepts the test configuration');
  t.match(checked.stdout, /Total Warnings: 0\n\s*Total Errors:\s+0/, 'no warnings, no errors');

  const started = Date.now();
  const nagios = startDaemon(NAGIOS, [config]);
  t.teardown(() => nagios.stop());
  const statusFile = join(dir, 'live', 'status.dat');
  await externalCommand(join(dir, 'live', 'rw', 'nagios.cmd'), `SCHEDULE_FORCED_HOST_SVC_CHECKS;loopback;${Math.floor(Date.now() / 1000)}`);

  const names = Object.keys(expected);
  let status = new Map<string, ServiceStatus>();
  for (;;) {
    status = readServiceStatus(statusFile);
    if (names.every((n) => status.get(n)?.has_been_checked === '1')) break;
    if (Date.now() - started > 45000) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  t.comment(`Nagios checked ${names.length} services in ${Date.now() - started} ms (start-up included)`);
  t.ok(nagios.running(), `Nagios still running: ${nagios.output()}`);

  for (const [name, e] of Object.entries(expected)) {
    const s = status.get(name);
    t.equal(s?.has_been_checked, '1', `${name}: checked`);
    if (!s) continue;
    t.equal(Number(s.current_state), e.state, `${name}: state ${e.state} (${s.plugin_output})`);
    t.equal(s.state_type, '1', `${name}: a HARD state after one attempt`);
    t.match(s.plugin_output, e.output, `${name}: status line`);
    if (e.perf) t.match(s.performance_data, e.perf, `${name}: perfdata as Nagios parsed it`);
    else t.equal(s.performance_data, '', `${name}: no perfdata on this line`);
    if (name === 'ftp download') {
      const stored = ['plugin_output', 'long_plugin_output', 'performance_data'].map((key) => `${key}=${s[key]}\n`).join('');
      t.equal(shape(stored), shape(docExample('nagios.md', 'status-dat-ftp-get.txt')), 'what docs/nagios.md shows Nagios storing, digits aside');
    }
    if (e.long) {
      t.match(s.long_plugin_output, e.long, `${name}: long output kept`);
      t.comment(`${name} in status.dat:\n  plugin_output=${s.plugin_output}\n  long_plugin_output=${s.long_plugin_output}\n  performance_data=${s.performance_data}`);
    }
    t.notOk((s.plugin_output ?? '').includes('|'), `${name}: perfdata split off the status line`);
  }
  const log = readFileSync(join(dir, 'live', 'nagios.log'), 'utf8');
  t.match(log, /EXTERNAL COMMAND: SCHEDULE_FORCED_HOST_SVC_CHECKS;loopback;/, 'the forced checks came through the command file');
  t.match(log, /SERVICE ALERT: loopback;ftp refused;CRITICAL;HARD;1;FTP CRITICAL - connect to address/);

  await nagios.stop();
  t.notOk(nagios.running(), 'Nagios stopped by its PID');
  t.same(await processesLeft(config, 2000), [], 'no Nagios worker left behind');
});

// --- Icinga 2 -------------------------------------------------------------------------------

const ICINGA2 = requireBinary('/usr/sbin/icinga2', 'icinga2-bin');

/** Icinga 2 with every path it writes under BASE, running checks as root like the Nagios above. */
function icingaArgs(base: string, config: string, mode: 'validate' | 'run'): string[] {
  for (const d of ['cache', 'data', 'log', 'run', 'spool']) mkdirSync(join(base, d), { recursive: true });
  const defines = ['CacheDir=cache', 'DataDir=data', 'LogDir=log', 'InitRunDir=run', 'SpoolDir=spool'].map((d) => `-D${d.replace('=', `=${base}/`)}`);
  return ['daemon', ...(mode === 'validate' ? ['-C'] : []), '-c', config, '-DRunAsUser=root', '-DRunAsGroup=root', ...defines];
}

/** A localized copy of the guide's CheckCommand objects: our bin directory for LbguardBinDir. */
const icingaCommands = () => docExample('nagios.md', 'lbguard-commands.conf').replace(/^const LbguardBinDir = ".*"$/m, `const LbguardBinDir = "${bin}"`);

t.test('Icinga 2 accepts the documented CheckCommand objects and services (icinga2 daemon -C)', async (t) => {
  const base = join(dir, 'icinga-validate');
  mkdirSync(base);
  const config = join(base, 'icinga2.conf');
  // what Debian's stock icinga2.conf provides: the ITL, the plugin commands (hostalive), PluginDir
  writeFileSync(config, ['include <itl>', 'const PluginDir = "/usr/lib/nagios/plugins"', 'include <plugins>', icingaCommands(), docExample('nagios.md', 'lbguard-services.conf')].join('\n'));
  const run = await runCommand(ICINGA2, icingaArgs(base, config, 'validate'), { timeoutMs: 30000 });
  t.equal(run.code, 0, `icinga2 daemon -C exits 0 ${run.stdout.split('\n').filter((l) => /critical|warning/.test(l)).join(' ')}`);
  t.notMatch(run.stdout, /\/(warning|critical)\//, 'no warning, no error');
  t.match(run.stdout, /Instantiated 3 Services\./);
  t.match(run.stdout, /Instantiated 3 Hosts\./);
});

interface IcingaResult { state: number; exit_status: number; output: string; performance_data: string[] }

/** The last check result of every service in Icinga's state file (netstrings of JSON objects). */
function readIcingaState(file: string): Map<string, IcingaResult> {
  const bytes = readFileSync(file);
  const results = new Map<string, IcingaResult>();
  for (let at = 0; at < bytes.length; ) {
    const colon = bytes.indexOf(0x3a, at);
    const length = Number(bytes.subarray(at, colon).toString('latin1'));
    const object = JSON.parse(bytes.subarray(colon + 1, colon + 1 + length).toString('utf8')) as { name: string; type: string; update?: { last_check_result?: IcingaResult } };
    at = colon + 1 + length + 1; // the netstring's closing ','
    const result = object.update?.last_check_result;
    if (object.type === 'Service' && result) results.set(object.name.slice(object.name.indexOf('!') + 1), result);
  }
  return results;
}

t.test('Icinga 2 runs the plugins with the documented CheckCommands: state, output, perfdata', async (t) => {
  const expected = scenarios(await freePort(), await freeUdpPort());
  const base = join(dir, 'icinga-live');
  mkdirSync(base);
  const config = join(base, 'icinga2.conf');
  const services = Object.entries(expected).map(([name, e]) => {
    const vars = Object.entries(e.icinga[1]).map(([key, value]) => `  vars.${key} = ${JSON.stringify(value)}`);
    return [`object Service ${JSON.stringify(name)} {`, '  host_name = "loopback"', `  check_command = "${e.icinga[0]}"`, '  max_check_attempts = 1', '  check_interval = 1s', '  retry_interval = 1s', ...vars, '}'].join('\n');
  });
  writeFileSync(
    config,
    [
      'include <itl>',
      'object CheckerComponent "checker" { }',
      `object FileLogger "debug" {\n  path = "${join(base, 'log', 'debug.log')}"\n  severity = "debug"\n}`,
      icingaCommands(),
      'object Host "loopback" {\n  check_command = "dummy"\n  address = "127.0.0.1"\n}',
      ...services,
    ].join('\n'),
  );
  const started = Date.now();
  const icinga = startDaemon(ICINGA2, icingaArgs(base, config, 'run'));
  t.teardown(() => icinga.stop());
  // Icinga writes its state file when it stops: wait until its log shows a result for every service
  // (the first result is a hard state change from the initial UNKNOWN), then stop it with SIGTERM
  // and give it time to write the file.
  const debugLog = join(base, 'log', 'debug.log');
  const finished = (name: string) => `State Change: Checkable 'loopback!${name}' hard state change from UNKNOWN to `;
  for (;;) {
    const log = existsSync(debugLog) ? readFileSync(debugLog, 'utf8') : '';
    if (Object.keys(expected).every((name) => log.includes(finished(name)))) break;
    if (Date.now() - started > 45000 || !icinga.running()) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  t.comment(`Icinga 2 checked ${Object.keys(expected).length} services in ${Date.now() - started} ms (start-up included)`);
  t.ok(icinga.running(), `Icinga still running: ${icinga.output().slice(-500)}`);
  process.kill(icinga.pid, 'SIGTERM');
  for (let i = 0; icinga.running() && i < 150; i++) await new Promise((r) => setTimeout(r, 100));
  t.notOk(icinga.running(), 'Icinga stopped by its PID within 15 s');
  t.same(await processesLeft(config, 5000), [], 'no Icinga process left behind');

  const results = readIcingaState(join(base, 'data', 'icinga2.state'));
  for (const [name, e] of Object.entries(expected)) {
    const r = results.get(name);
    t.ok(r, `${name}: checked`);
    if (!r) continue;
    const [first = '', ...rest] = r.output.split('\n');
    t.same([r.exit_status, r.state], [e.state, e.state], `${name}: exit status and state ${e.state} (${first})`);
    // check_ssh separates perfdata with ' | ' as monitoring-plugins' check_ssh does: Nagios trims the
    // space before the '|', Icinga 2 keeps it
    t.match(first.replace(/ $/, ''), e.output, `${name}: status line`);
    const perf = r.performance_data.join(' ');
    if (e.perf) t.match(perf, e.perf, `${name}: perfdata as Icinga parsed it`);
    else t.equal(perf, '', `${name}: no perfdata`);
    if (e.long) t.match(rest.filter((l) => l !== '').join('\\n'), e.long, `${name}: long output kept`);
  }
});

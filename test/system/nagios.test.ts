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
import { docExample } from '../unit/docs-examples.ts';

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

t.test('Nagios runs the plugins and keeps state, status line, perfdata and long output', async (t) => {
  const closedTcp = await freePort();
  const closedUdp = await freeUdpPort();
  // service description -> check_command, the expected state and what status.dat must hold
  const expected: Record<string, { command: string; state: number; output: RegExp; perf?: RegExp; long?: RegExp }> = {
    'ftp greeting': {
      command: `lbg_check_ftp!${vsftpd.port}!`,
      state: 0,
      output: new RegExp(`^FTP OK - \\d+\\.\\d{3} second response time on 127\\.0\\.0\\.1 port ${vsftpd.port} \\[220 \\(vsFTPd 3\\.0\\.3\\)\\]$`),
      perf: /^time=\d+\.\d{6}s;;;0\.000000;10\.000000$/,
    },
    'ftp slow': {
      command: `lbg_check_ftp!${vsftpd.port}!-w 0.000001 -c 5`,
      state: 1,
      output: /^FTP WARNING - \d+\.\d{3} second response time on 127\.0\.0\.1 port \d+ \[220 /,
      perf: /^time=\d+\.\d{6}s;0\.000001;5(\.0+)?;0\.000000;10\.000000$/,
    },
    'ftp download': {
      command: `lbg_check_ftp_get!${vsftpd.port}!hello.txt!hello`,
      state: 0,
      output: /^FTP OK - .*user anonymous logged in, passive RETR hello\.txt 18 bytes$/,
      perf: /^time=\S+ connect=\S+ login=\S+ get_open=\S+ get_transfer=\S+ get_bytes=18B;;;0$/,
    },
    'ftp refused': {
      command: `lbg_check_ftp!${closedTcp}!`,
      state: 2,
      output: new RegExp(`^FTP CRITICAL - connect to address 127\\.0\\.0\\.1 and port ${closedTcp}: Connection refused$`),
    },
    'ftp silent': {
      command: `lbg_check_ftp!${quiet.port}!-t 2`,
      state: 2,
      output: /^FTP CRITICAL - Socket timeout after 2 seconds/,
    },
    'tftp read': {
      command: `lbg_check_tftp!${tftpd.port}!`,
      state: 0,
      output: new RegExp(`^TFTP OK - 3 bytes in \\d+\\.\\d{3} s from 127\\.0\\.0\\.1 port ${tftpd.port} \\(tftp_check\\.txt\\)$`),
      perf: /^time=\d+\.\d{6}s;;;0\.000000;5\.000000 size=3B;;;0 throughput=\d+;;;0$/,
    },
    'tftp verbose': {
      command: `lbg_check_tftp!${tftpd.port}!-v`,
      state: 0,
      output: /^TFTP OK - 3 bytes/,
      perf: /^time=\S+ size=3B;;;0 throughput=\d+;;;0$/,
      long: /^options accepted: .*\\n1 blocks, 3 bytes on the wire in .*, sha256 [0-9a-f]{64}(\\n)?$/,
    },
    'tftp nobody': {
      command: `lbg_check_tftp!${closedUdp}!-t 2`,
      state: 2,
      output: /^TFTP CRITICAL - /,
    },
    ssh: {
      command: `lbg_check_ssh!${sshd.port}!`,
      state: 0,
      output: /^SSH OK - OpenSSH_\S+ .*\(protocol 2\.0\)$/,
      perf: /^time=\d+\.\d{6}s;;;0\.000000;10\.000000$/,
    },
    'ssh verbose': {
      command: `lbg_check_ssh!${sshd.port}!-v`,
      state: 0,
      output: /^SSH OK - /,
      perf: /^time=\d+\.\d{6}s;;;0\.000000;10\.000000$/,
      long: /^server identification: SSH-2\.0-OpenSSH_/,
    },
    'ssh silent': {
      command: `lbg_check_ssh!${quiet.port}!-t 2`,
      state: 2,
      output: /^SSH CRITICAL - Socket timeout after 2 seconds/,
    },
    sftp: {
      command: `lbg_check_sftp!${sshd.port}!${sshd.hostKeyFingerprint}!${sshd.user}!${sshd.userKeyPath}!/`,
      state: 0,
      output: /^SSH OK - /,
      perf: /\bsftp=\d+\.\d+s/,
    },
  };

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
    check_command           ${e.command}
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
    if (Date.now() - started > 30000) break;
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
    if (e.long) t.match(s.long_plugin_output, e.long, `${name}: long output kept`);
    t.notOk((s.plugin_output ?? '').includes('|'), `${name}: perfdata split off the status line`);
  }
  const log = readFileSync(join(dir, 'live', 'nagios.log'), 'utf8');
  t.match(log, /EXTERNAL COMMAND: SCHEDULE_FORCED_HOST_SVC_CHECKS;loopback;/, 'the forced checks came through the command file');
  t.match(log, /SERVICE ALERT: loopback;ftp refused;CRITICAL;HARD;1;FTP CRITICAL - connect to address/);

  await nagios.stop();
  t.notOk(nagios.running(), 'Nagios stopped by its PID');
  let left = processesUsing(config);
  for (let i = 0; left.length > 0 && i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesUsing(config);
  }
  t.same(left, [], 'no Nagios worker left behind');
});

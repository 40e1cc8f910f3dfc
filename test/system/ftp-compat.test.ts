// monitoring-plugins' C check_ftp (check_tcp 2.3.3) and ours, side by side on the same situations:
// the same exit code and the same first-line shape. Shape: numbers masked, raw CR shown as `\r`,
// perfdata cut off; our line may carry `FTP STATE - ` where the C line has no prefix (connect
// errors, "No data received") or only `STATE - ` (timeouts, TLS failures), and may go on after the
// C text (the phase of a timeout, the reason of a TLS failure). Usage errors: both print Usage.
import t from 'tap';
import { banner, closeAtOnce, flood, silent, slowBanner } from '../helpers/fake-servers.ts';
import { cPlugin, freePort, runCommand, runPlugin } from '../helpers/processes.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const C_CHECK_FTP = cPlugin('check_ftp');
const STATE = /^(OK|WARNING|CRITICAL|UNKNOWN) - /;

export function shape(line: string): string {
  return line
    .replace(/^FTP /, '')
    .replace(/\r/g, '\\r')
    .replace(/\|.*$/, '')
    .replace(/\d+(\.\d+)?/g, 'N');
}

const perfOf = (stdout: string) => /\|(time=[^ \n]*)/.exec(stdout)?.[1]?.replace(/^time=\d+\.\d{6}s/, 'time=Ts');

let plain: Vsftpd;
let implicit: Vsftpd;
t.before(async () => {
  [plain, implicit] = await Promise.all([startVsftpd({ tls: false }), startVsftpd({ implicitTls: true })]);
});
t.teardown(async () => {
  await Promise.all([plain?.stop(), implicit?.stop()]);
});

const servers: { close(): Promise<void> }[] = [];
t.teardown(async () => {
  for (const s of servers) await s.close();
});
const on = async (make: () => Promise<{ port: number; close(): Promise<void> }>, ...args: string[]) => {
  const server = await make();
  servers.push(server);
  return ['-H', '127.0.0.1', '-p', String(server.port), ...args];
};
const vsftpd = (server: () => Vsftpd, ...args: string[]) => () => ['-H', '127.0.0.1', '-p', String(server().port), ...args];

interface Situation {
  readonly name: string;
  readonly args: () => Promise<string[]> | string[];
  readonly usage?: boolean;
  /** the C plugin prints its certificate verdict as a line of its own before the FTP line */
  readonly exitOnly?: boolean;
}

const situations: Situation[] = [
  { name: 'up', args: vsftpd(() => plain) },
  { name: 'up without -H', args: () => ['-p', String(plain.port)] },
  { name: 'up, -t 3', args: vsftpd(() => plain, '-t', '3') },
  { name: 'refused', args: async () => ['-H', '127.0.0.1', '-p', String(await freePort())] },
  { name: 'refused, -r ok', args: async () => ['-H', '127.0.0.1', '-p', String(await freePort()), '-r', 'ok'] },
  { name: 'refused, -r warn', args: async () => ['-H', '127.0.0.1', '-p', String(await freePort()), '-r', 'warn'] },
  { name: 'silent listener', args: () => on(silent, '-t', '1') },
  { name: '421 greeting', args: () => on(() => banner('421 Service not available\r\n')) },
  { name: 'SSH banner', args: () => on(() => banner('SSH-2.0-dropbear_2022.83\r\n')) },
  { name: '1 MiB without newline', args: () => on(() => flood(1024 * 1024), '-t', '3') },
  { name: 'closes at once', args: () => on(closeAtOnce) },
  { name: 'multi-line 220', args: () => on(() => banner('220-Welcome line 1\r\n220-line 2\r\n220 ready\r\n')) },
  { name: 'slow greeting over -c', args: () => on(() => slowBanner('220 slow ftp\r\n', 1500), '-t', '4', '-w', '0.5', '-c', '1') },
  { name: 'slow greeting over -w', args: () => on(() => slowBanner('220 slow ftp\r\n', 1500), '-t', '4', '-w', '0.5', '-c', '3') },
  { name: '-e mismatch', args: vsftpd(() => plain, '-e', '230') },
  { name: '-e mismatch, -M ok', args: vsftpd(() => plain, '-e', '230', '-M', 'ok') },
  { name: '-e mismatch with -w/-c', args: vsftpd(() => plain, '-e', '230', '-w', '5', '-c', '9') },
  { name: '-e mismatch, -j', args: vsftpd(() => plain, '-e', '230', '-j') },
  { name: '-e found anywhere', args: vsftpd(() => plain, '-e', 'vsFTPd') },
  { name: '-e twice, -A', args: vsftpd(() => plain, '-e', '220', '-e', 'vsFTPd', '-A') },
  { name: '-j', args: vsftpd(() => plain, '-j') },
  { name: '-w tiny', args: vsftpd(() => plain, '-w', '0.0000001') },
  { name: '-c tiny', args: vsftpd(() => plain, '-c', '0.0000001') },
  { name: '-w 5 -c 10', args: vsftpd(() => plain, '-w', '5', '-c', '10') },
  { name: '-S on plain FTP', args: vsftpd(() => plain, '-S') },
  { name: '-S on implicit FTPS', args: vsftpd(() => implicit, '-S') },
  { name: '-D 10 on implicit FTPS', args: vsftpd(() => implicit, '-D', '10'), exitOnly: true },
  { name: '-D 40,10 on implicit FTPS', args: vsftpd(() => implicit, '-D', '40,10') },
  { name: '-D 40,35 on implicit FTPS', args: vsftpd(() => implicit, '-D', '40,35') },
  { name: 'unknown option', args: () => ['--nonsense'], usage: true },
  { name: 'bad port', args: () => ['-H', '127.0.0.1', '-p', 'abc'], usage: true },
  { name: 'bad timeout', args: () => ['-H', '127.0.0.1', '-t', '0'], usage: true },
];

for (const situation of situations) {
  t.test(situation.name, async (t) => {
    const args = await situation.args();
    const [theirs, ours] = await Promise.all([runCommand(C_CHECK_FTP, args), runPlugin('check_ftp', args)]);
    t.equal(ours.code, theirs.code, `exit code (C: ${JSON.stringify(theirs.stdout.slice(0, 160))}, ours: ${JSON.stringify(ours.stdout.slice(0, 160))})`);
    if (situation.usage) {
      t.match(theirs.stdout, /Usage:/);
      t.match(ours.stdout, /\nUsage:\ncheck_ftp /);
      return;
    }
    if (situation.exitOnly) return;
    const theirShape = shape(theirs.firstLine);
    let ourShape = shape(ours.firstLine);
    if (!STATE.test(theirShape)) ourShape = ourShape.replace(STATE, '');
    t.ok(ourShape.startsWith(theirShape), `shape: C ${JSON.stringify(theirShape)} / ours ${JSON.stringify(ourShape)}`);
    t.equal(perfOf(ours.stdout), perfOf(theirs.stdout), 'perfdata, time masked');
  });
}

// monitoring-plugins' C check_ssh and ours, side by side on the same situations: the same exit code,
// and the same first-line shape. Shape: our line always carries `SSH STATE - ` (the guidelines' form)
// where the C plugin omits it on some failures; after that prefix, the C plugin's message (numbers
// masked, raw CR/LF as our escapes) must begin ours. Usage errors: both print a Usage line.
import t from 'tap';
import { banner, flood, silent } from '../helpers/fake-servers.ts';
import { isolatedNamespace } from '../helpers/netns.ts';
import { cPlugin, freePort, pluginPath, runCommand, runPlugin } from '../helpers/processes.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

const C_CHECK_SSH = cPlugin('check_ssh');

export function shape(line: string): string {
  return line
    .replace(/^SSH /, '')
    .replace(/^(OK|WARNING|CRITICAL|UNKNOWN) - /, '$1 - ')
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')
    .replace(/\d+(\.\d+)?/g, 'N')
    .replace(/ \| .*$/, '');
}

function stateOf(line: string): string | undefined {
  return /^(?:SSH )?(OK|WARNING|CRITICAL|UNKNOWN) - /.exec(line)?.[1];
}

let sshd: Sshd;
t.before(async () => {
  sshd = await startSshd();
});
t.teardown(async () => sshd?.stop());

interface Situation {
  readonly name: string;
  readonly args: () => Promise<string[]> | string[];
  readonly usage?: boolean;
  /** run both plugins in a namespace whose resolver is 127.0.0.1: no DNS query leaves the machine */
  readonly isolated?: boolean;
}

const servers: { close(): Promise<void> }[] = [];
t.teardown(async () => {
  for (const s of servers) await s.close();
});
const on = async (make: () => Promise<{ port: number; close(): Promise<void> }>) => {
  const server = await make();
  servers.push(server);
  return ['-H', '127.0.0.1', '-p', String(server.port)];
};

const situations: Situation[] = [
  { name: 'up', args: () => ['-H', '127.0.0.1', '-p', String(sshd.port)] },
  { name: 'up, -t 3', args: () => ['-H', '127.0.0.1', '-p', String(sshd.port), '-t', '3'] },
  { name: 'refused', args: async () => ['-H', '127.0.0.1', '-p', String(await freePort())] },
  { name: 'silent listener', args: async () => [...(await on(silent)), '-t', '1'] },
  { name: '1 MiB banner without newline', args: () => on(() => flood(1024 * 1024)) },
  { name: 'FTP banner on the SSH port', args: () => on(() => banner('220 (vsFTPd 3.0.3)\r\n')) },
  { name: 'old protocol 1.99', args: () => on(() => banner('SSH-1.99-OpenSSH_3.9p1\r\n')) },
  { name: 'no comment in identification', args: () => on(() => banner('SSH-2.0-dropbear_2022.83\r\n')) },
  { name: '-P mismatch', args: () => ['-H', '127.0.0.1', '-p', String(sshd.port), '-P', '1.99'] },
  { name: '-P match', args: () => ['-H', '127.0.0.1', '-p', String(sshd.port), '-P', '2.0'] },
  { name: '-r mismatch', args: () => ['-H', '127.0.0.1', '-p', String(sshd.port), '-r', 'OpenSSH_0.1'] },
  { name: 'unresolvable host', args: () => ['-H', 'no.such.host.invalid'], isolated: true },
  { name: 'unknown option', args: () => ['--bogus-option'], usage: true },
  { name: 'no arguments', args: () => [], usage: true },
  { name: 'bad port', args: () => ['-H', '127.0.0.1', '-p', 'abc'], usage: true },
  { name: 'bad timeout', args: () => ['-H', '127.0.0.1', '-t', 'abc'], usage: true },
  { name: 'shell metacharacters in the host', args: () => ['-H', '127.0.0.1;touch /tmp/lbguard-compat'], usage: true, isolated: true },
];

for (const situation of situations) {
  t.test(situation.name, async (t) => {
    const args = await situation.args();
    let theirs, ours;
    if (situation.isolated) {
      const ns = isolatedNamespace('compat');
      t.teardown(() => ns.remove());
      [theirs, ours] = await Promise.all([ns.run([C_CHECK_SSH, ...args]), ns.run([process.execPath, pluginPath('check_ssh'), ...args])]);
    } else {
      [theirs, ours] = await Promise.all([runCommand(C_CHECK_SSH, args), runPlugin('check_ssh', args)]);
    }
    t.equal(ours.code, theirs.code, `exit code (C: ${JSON.stringify(theirs.stdout.slice(0, 120))})`);
    if (situation.usage) {
      t.match(theirs.stdout, /Usage:/);
      t.match(ours.stdout, /\nUsage:\ncheck_ssh /);
      return;
    }
    const theirState = stateOf(theirs.firstLine);
    if (theirState) t.equal(stateOf(ours.firstLine), theirState, 'state word');
    // The C plugin may print raw CR LF inside its line; compare its whole stdout against our first line.
    const theirShape = shape(theirs.stdout.replace(/\nUsage:[\s\S]*$/, '').replace(/\n$/, '').replace(/^check_ssh: /, ''));
    const ourShape = shape(ours.firstLine);
    t.ok(ourShape.includes(theirShape.replace(/^(OK|WARNING|CRITICAL|UNKNOWN) - /, '')), `shape: C ${JSON.stringify(theirShape)} / ours ${JSON.stringify(ourShape)}`);
    const theirPerf = / \| (.*)$/.exec(theirs.firstLine)?.[1];
    if (theirPerf) t.equal(ours.firstLine.replace(/^.* \| /, '').replace(/\d+\.\d{6}s/, 'Ts'), theirPerf.replace(/\d+\.\d{6}s/, 'Ts'), 'perfdata form');
  });
}

// Every case of monitoring-plugins' own test files for these plugins (plugins/t/check_ftp.t and
// check_ssh.t of 2.3.3 and 3.0, and the cases of check_tcp.t that check_ftp shares), said again in
// our words and run the way those files run them: an FTP server on port 21 and an SSH server on port
// 22 of `localhost`, an address that drops every packet (their NP_HOST_NONRESPONSIVE, 10.0.0.1) and a
// name no resolver knows (NP_HOSTNAME_INVALID, `nosuchhost`). All of it lives in a network namespace
// of this test's own: real vsftpd and sshd on its loopback, 10.0.0.1 behind a veth pair whose far end
// has no address (a SYN sent there is never answered), and a resolv.conf naming 127.0.0.1, where no
// DNS server listens. Where the C plugin 2.3.3 is the reference, it runs the same command beside ours.
// check_ssh.t 3.0 also talks to netcat (port 5003) sending made-up identification lines: those are
// fake servers here, on the host's loopback.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { fakeTcpServer } from '../helpers/fake-servers.ts';
import { isolatedNamespace } from '../helpers/netns.ts';
import { cPlugin, type PluginRun, pluginPath, requireBinary, runPlugin } from '../helpers/processes.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const ns = isolatedNamespace('upstream');
t.teardown(() => ns.remove());
const ip = requireBinary('/usr/sbin/ip', 'iproute2');
// 10.0.0.1 is on a link inside the namespace; its neighbour entry is fixed, so nothing waits on ARP
// and nothing answers: a connect times out, as with the silent host of the upstream files
for (const args of [
  ['link', 'add', 'blackhole0', 'type', 'veth', 'peer', 'name', 'blackhole1'],
  ['addr', 'add', '10.0.0.2/24', 'dev', 'blackhole0'],
  ['link', 'set', 'blackhole0', 'up'],
  ['link', 'set', 'blackhole1', 'up'],
  ['neigh', 'add', '10.0.0.1', 'lladdr', '02:00:00:00:00:01', 'dev', 'blackhole0', 'nud', 'permanent'],
]) {
  execFileSync(ip, ['-n', ns.name, ...args]);
}
const NONRESPONSIVE = '10.0.0.1';
const INVALID = 'nosuchhost';

let vsftpd: Vsftpd;
let sshd: Sshd;
t.before(async () => {
  [vsftpd, sshd] = await Promise.all([startVsftpd({ tls: false, port: 21, netns: ns.name }), startSshd({ port: 22, netns: ns.name })]);
});
t.teardown(async () => Promise.all([vsftpd?.stop(), sshd?.stop()]));

const ours = (plugin: string, args: readonly string[]) => ns.run([process.execPath, pluginPath(plugin), ...args]);
const theirs = (plugin: string, args: readonly string[]) => ns.run([cPlugin(plugin), ...args]);
/** what NPTest's testCmd keeps: stdout, the trailing newline removed */
const output = (run: PluginRun) => run.stdout.replace(/\n$/, '');

t.test('check_ftp.t (2.3.3): old option spellings, a bare host, and the three hosts', async (t) => {
  const cases: { args: string[]; code: number; output?: RegExp }[] = [
    { args: ['localhost', '-wt', '300', '-ct', '600'], code: 0, output: /FTP OK -\s+[0-9]?\.?[0-9]+ second response time/ },
    { args: [NONRESPONSIVE, '-wt', '0', '-ct', '0', '-to', '1'], code: 2 },
    { args: [INVALID, '-wt', '0', '-ct', '0'], code: 2 },
  ];
  // every command at once (the upstream files run them one by one; the waits are the same)
  const runs = await Promise.all(cases.map((c) => Promise.all([theirs('check_ftp', c.args), ours('check_ftp', c.args)])));
  const [[c2, mine], silent] = await Promise.all([Promise.all([theirs('check_ftp', [INVALID]), ours('check_ftp', [INVALID])]), ours('check_ftp', [NONRESPONSIVE, '-to', '1'])]);
  cases.forEach((c, i) => {
    const [c2, mine] = runs[i] as [PluginRun, PluginRun];
    const what = `check_ftp ${c.args.join(' ')}`;
    t.equal(c2.code, c.code, `C: ${what}: ${c2.firstLine}`);
    t.equal(mine.code, c.code, `ours: ${what}: ${mine.firstLine}`);
    if (c.output) {
      t.match(output(c2), c.output, `C: ${what}`);
      t.match(output(mine), c.output, `ours: ${what}`);
    }
  });
  // the same words as check_tcp for the unknown name; the silent host is our timeout line
  t.equal(mine.stdout, 'FTP CRITICAL - Invalid hostname, address or socket: nosuchhost\n');
  t.equal(mine.stdout, c2.stdout);
  t.match(silent.stdout, /^FTP CRITICAL - Socket timeout after 1 seconds while connecting\n/);
});

t.test('check_ftp.t (3.0): the connection time in the 3.x form, which ours prints with --output-format', async (t) => {
  const [run, silent, invalid] = await Promise.all([
    ours('check_ftp', ['localhost', '-wt', '300', '-ct', '600', '--output-format', 'multi-line']),
    ours('check_ftp', [NONRESPONSIVE, '-wt', '0', '-ct', '0', '-to', '1', '--output-format', 'multi-line']),
    ours('check_ftp', [INVALID, '-wt', '0', '-ct', '0', '--output-format', 'multi-line']),
  ]);
  t.equal(run.code, 0);
  t.match(output(run), /Connection time\s+[0-9]?\.?[0-9]+/);
  t.match(run.stdout, /^\[OK\] - Connection succeeded\n\t\\_\[OK\] - The answer of the server matched the expectation\n\t\\_\[OK\] - Connection time \d+\.\d{6}s is within thresholds\n\t\\_\[OK\] - Connection to localhost on port 21 was a SUCCESS\|time=/);
  t.equal(silent.code, 2);
  t.equal(invalid.code, 2);
});

t.test("check_tcp.t's cases that check_ftp shares", async (t) => {
  // a port nobody listens on, with the old spellings
  const refused = ['localhost', '-p', '81', '-wt', '0', '-ct', '0', '-to', '1'];
  // an answer that does not match, the server's words hidden (-j): WARNING, naming the port only
  // (the host came as a bare argument, not with -H)
  const mismatch = ['localhost', '-E', '-s', 'GET / HTTP/1.1\\r\\n\\r\\n', '-e', 'ThisShouldntMatch', '-j'];
  const [c2, mine, c2m, minem, json] = await Promise.all([
    theirs('check_ftp', refused),
    ours('check_ftp', refused),
    theirs('check_ftp', mismatch),
    ours('check_ftp', mismatch),
    ours('check_ftp', [...mismatch, '--output-format', 'multi-line']),
  ]);
  t.equal(c2.code, 2);
  t.equal(mine.code, 2, mine.firstLine);
  for (const [who, run] of [['C', c2m], ['ours', minem]] as const) {
    t.equal(run.code, 1, `${who}: ${run.firstLine}`);
    t.match(output(run), /^FTP WARNING\s-\sUnexpected response from host\/socket on port [0-9]+/, who);
  }
  t.match(output(json), /Answer failed to match/, '3.0 wording in the 3.x form');
});

t.test('check_ssh.t (2.3.3)', async (t) => {
  const [up, c2, silent, c2i, invalid] = await Promise.all([
    ours('check_ssh', ['-H', 'localhost']),
    theirs('check_ssh', ['-H', NONRESPONSIVE, '-t', '2']),
    ours('check_ssh', ['-H', NONRESPONSIVE, '-t', '2']),
    theirs('check_ssh', ['-H', INVALID, '-t', '2']),
    ours('check_ssh', ['-H', INVALID, '-t', '2']),
  ]);
  t.equal(up.code, 0);
  t.match(output(up), /^SSH OK - /);
  t.equal(c2.code, 2);
  t.equal(silent.code, 2);
  t.match(output(c2), /^CRITICAL - Socket timeout after 2 seconds/);
  // the one line that stays different, on purpose (README): ours carries the guidelines' prefix
  t.match(output(silent), /^SSH CRITICAL - Socket timeout after 2 seconds/);
  t.equal(invalid.code, 3);
  t.match(output(invalid), /^check_ssh: Invalid hostname/);
  t.equal(invalid.firstLine, c2i.firstLine);
  t.match(invalid.stdout, /^check_ssh: Invalid hostname\/address - nosuchhost\nUsage:\ncheck_ssh /);
});

t.test('check_ssh.t (3.0): the three hosts with --output-format mp-test-json', async (t) => {
  const json = ['--output-format', 'mp-test-json'];
  const [up, silent, invalid] = await Promise.all([
    ours('check_ssh', ['-H', 'localhost', ...json]),
    ours('check_ssh', ['-H', NONRESPONSIVE, '-t', '2', ...json]),
    ours('check_ssh', ['-H', INVALID, '-t', '2', ...json]),
  ]);
  t.equal(up.code, 0);
  t.equal(JSON.parse(up.stdout).state, 'OK');
  t.equal(silent.code, 0, 'mp-test-json exits 0: the state is in the JSON');
  t.equal(JSON.parse(silent.stdout).state, 'CRITICAL');
  t.equal(invalid.code, 3);
  t.match(output(invalid), /^check_ssh: Invalid hostname/);
});

/** A server that writes each [text, pause in ms] in turn, then closes its side (netcat -N). */
const script = (steps: readonly (readonly [string, number])[]) =>
  fakeTcpServer(async (socket) => {
    for (const [text, ms] of steps) {
      if (socket.destroyed) return;
      socket.write(text);
      if (ms) await new Promise((r) => setTimeout(r, ms));
    }
    socket.end();
  });

t.test('check_ssh.t (3.0): identification lines from a made-up server', async (t) => {
  const cases: { name: string; steps: (readonly [string, number])[]; args?: string[]; state: string; version?: RegExp }[] = [
    { name: 'plain identification', steps: [['SSH-2.0-nagiosplug.ssh.0.1\n', 0]], state: 'OK', version: /nagiosplug.ssh.0.1 \(protocol version: 2.0\)/ },
    { name: 'a software version of digits', steps: [['SSH-2.0-3.2.9.1\n', 0]], state: 'OK', version: /3.2.9.1 \(protocol version: 2.0\)/ },
    { name: 'a comment, and -r naming the version without it', steps: [['SSH-2.0-nagiosplug.ssh.0.1 this is a comment\n', 0]], args: ['-r', 'nagiosplug.ssh.0.1'], state: 'OK', version: /nagiosplug.ssh.0.1 \(protocol version: 2.0\)/ },
    { name: 'SSH- and nothing more', steps: [['SSH-\n', 0]], state: 'CRITICAL' },
    { name: 'an empty line', steps: [['\n', 0]], state: 'CRITICAL' },
    { name: 'no identification at all', steps: [['Not a version control string\n', 0]], state: 'CRITICAL' },
    {
      // RFC 4253 4.2: lines before the identification, arriving over two seconds
      name: 'lines before the identification',
      steps: [
        ['AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n', 500],
        ['BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\n', 500],
        ['CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC\n', 200],
        ['DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD\n', 300],
        ['EEEEEEEEEEEEEEEEEE', 200],
        ['EEEEEEEEEEEEEEEEEE\n', 200],
        ['Some\nPrepended\nData\nLines\n\n', 200],
        ['SSH-2.0-nagiosplug.ssh.0.2\n', 0],
      ],
      state: 'OK',
      version: /nagiosplug.ssh.0.2 \(protocol version: 2.0\)/,
    },
  ];
  const runs = await Promise.all(
    cases.map(async (c) => {
      const server = await script(c.steps);
      t.teardown(() => server.close());
      return runPlugin('check_ssh', ['-H', 'localhost', '-p', String(server.port), ...(c.args ?? []), '--output-format', 'mp-test-json']);
    }),
  );
  cases.forEach((c, i) => {
    const run = runs[i] as PluginRun;
    t.equal(run.code, 0, `${c.name}: exit 0`);
    const result = JSON.parse(run.stdout) as { state: string; checks: { output: string }[] };
    t.equal(result.state, c.state, `${c.name}: ${run.stdout}`);
    if (c.version) t.ok(result.checks.some((check) => c.version!.test(check.output)), `${c.name}: the version in a subcheck`);
  });
});

// The external command check with real programs: monitoring-plugins' check_tcp/check_ftp against
// local listeners, and small scripts under test/fixtures/commands. Every verdict rule of Farm
// Guardian, nanny and keepalived; tokens land in argv and nowhere else; a hanging check is killed
// with its whole process group at the deadline or on abort; output is capped.
import { spawn } from 'node:child_process';
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  commandArgv, commandProblem, type CommandCheckSpec, convertNannyEscapes, runCommandCheck,
} from '../../orchestrator/checks/command.ts';
import { splitKeepalived, splitNanny, splitShellWords, substituteTarget } from '../../orchestrator/checks/command-line.ts';
import { runInProcessGroup } from '../../orchestrator/checks/process-group.ts';
import { banner } from '../helpers/fake-servers.ts';
import { cPlugin, freePort, ROOT } from '../helpers/processes.ts';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'commands');
const fixture = (name: string) => join(FIXTURES, name);
const target = { address: '127.0.0.1', port: 2121 };
const never = () => new AbortController().signal;
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];
const run = (spec: CommandCheckSpec, to = target, signal = never()) => runCommandCheck(spec, to, signal);

function scratch(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-command-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The process's state letter from /proc, or null when it no longer exists. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

/** Live (non-zombie) processes whose process group is `pgid`. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return members;
}

async function waitForFile(path: string, lines: number): Promise<number[]> {
  const until = Date.now() + 5000;
  for (;;) {
    const pids = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).map(Number) : [];
    if (pids.length >= lines || Date.now() > until) return pids;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function assertAllGone(t: Tap, pids: readonly number[], pgid?: number): Promise<void> {
  // Killed children are reaped by whoever inherits them; a zombie is dead, so it counts as gone.
  const until = Date.now() + 2000;
  let alive = pids.filter((pid) => ![null, 'Z'].includes(procState(pid)));
  while (alive.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    alive = pids.filter((pid) => ![null, 'Z'].includes(procState(pid)));
  }
  t.same(alive, [], `no process of ${pids.join(', ')} survives`);
  if (pgid !== undefined) t.same(groupMembers(pgid), [], `nothing is left in process group ${pgid}`);
}

async function listen(): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

t.test('splitting: each consumer its own way, never a shell', async (t) => {
  t.same(splitNanny('/usr/local/bin/check_tftp  --connect %h '), ['/usr/local/bin/check_tftp', '--connect', '%h'], 'runs of spaces separate');
  t.same(splitNanny('/bin/check\t-x "a b"'), ['/bin/check\t-x', '"a', 'b"'], 'tabs and quotes are ordinary characters for nanny');
  t.same(splitKeepalived(`/bin/check.sh arg1 'two words' "x\\ty" \\x41\\101 a\\ b ''`), ['/bin/check.sh', 'arg1', 'two words', 'x\ty', 'AA', 'a b', '']);
  t.throws(() => splitKeepalived("/bin/check 'open"), /missing terminating '/);
  t.same(splitShellWords(`check_http -H HOST -u '/a b?x=1' --string="it's \\"ok\\"" a\\ b # comment`), [
    'check_http', '-H', 'HOST', '-u', '/a b?x=1', '--string=it\'s "ok"', 'a b',
  ]);
  for (const bad of ['check_ftp -H HOST | grep OK', 'check_ftp -H HOST; rm x', 'check_ftp -H $HOST', 'check_ftp "$(id)"', 'a `id`', 'check > /tmp/x', 'LANG=C check_ftp -H HOST']) {
    t.throws(() => splitShellWords(bad), /needs a shell/, bad);
  }
});

t.test('substitution: HOST/PORT for Farm Guardian, whole-word %h/%p for nanny, both whole-word for keepalived', async (t) => {
  const to = { address: '10.0.0.7', port: 21 };
  t.same(substituteTarget('farmguardian', ['HOST', '-H', 'HOST', '--url=http://HOST:PORT/', 'HOSTNAME', '%h'], to), [
    'HOST', '-H', '10.0.0.7', '--url=http://10.0.0.7:21/', '10.0.0.7NAME', '%h',
  ], 'text substitution inside arguments, as Farm Guardian does; the program is never substituted');
  t.same(substituteTarget('farmguardian', ['c', 'HOST'], { address: 'PORTAL', port: 1 }), ['c', 'PORTAL'], 'one pass: a substituted address is not rescanned');
  t.same(substituteTarget('nanny', ['%h', '--connect', '%h', '%p', 'host=%h', 'HOST'], to), ['%h', '--connect', '10.0.0.7', '21', 'host=%h', 'HOST']);
  t.same(substituteTarget('keepalived', ['c', '%h', 'PORT', 'x%h'], to), ['c', '10.0.0.7', '21', 'x%h']);
  t.same(commandArgv({ command: ['/bin/c', '-H', 'HOST'], style: 'farmguardian', timeoutMs: 1 }, to), ['/bin/c', '-H', '10.0.0.7'], 'an argv gets the same substitution');
});

t.test('a hostile address stays one literal argument and nothing runs from it', async (t) => {
  const dir = scratch(t);
  const marker = join(dir, 'pwned');
  const hostile = `x;touch ${marker} $(touch ${marker}) \`touch ${marker}\` | touch ${marker} %h HOST`;
  for (const [style, command] of [
    ['farmguardian', `${fixture('argv.sh')} -H HOST -p PORT`],
    ['nanny', `${fixture('argv.sh')} -H %h -p %p`],
    ['keepalived', `${fixture('argv.sh')} -H %h -p PORT`],
  ] as const) {
    const out = join(dir, `${style}.argv`);
    const result = await run({ command, style, timeoutMs: 5000, expect: '4 args ', env: { ARGV_OUT: out } }, { address: hostile, port: 2121 });
    t.match(result, { up: true, line: '4 args ' }, `${style}: four arguments`);
    t.same(readFileSync(out, 'utf8').split('\0').slice(0, -1), ['-H', hostile, '-p', '2121'], `${style}: the address is one argument, verbatim`);
  }
  t.notOk(existsSync(marker), 'no shell ever saw the address');
});

t.test('credentials travel in the environment', async (t) => {
  const result = await run({ command: [fixture('argv.sh'), 'HOST'], style: 'farmguardian', timeoutMs: 5000, env: { CHECK_SECRET: 's3cret' } });
  t.match(result, { up: true, line: '1 args s3cret', exitCode: 0, signal: null });
});

t.test('Farm Guardian: exit 0 is up, anything else down; bare names come from the plugins directory', async (t) => {
  const server = await listen();
  t.teardown(server.close);
  cPlugin('check_tcp');
  const ok = await run({ command: 'check_tcp -H HOST -p PORT -t 5', style: 'farmguardian', timeoutMs: 5000 }, { address: '127.0.0.1', port: server.port });
  t.match(ok, { up: true, exitCode: 0, line: new RegExp(`^TCP OK - [0-9.]+ second response time on 127\\.0\\.0\\.1 port ${server.port}\\\\x7ctime=`) });

  const closed = await freePort();
  const refused = await run({ command: 'check_tcp -H HOST -p PORT -t 5', style: 'farmguardian', timeoutMs: 5000 }, { address: '127.0.0.1', port: closed });
  t.match(refused, { up: false, exitCode: 2, line: /Connection refused/ });

  const ftp = await banner('220 lbguard test FTP\r\n');
  t.teardown(() => ftp.close());
  cPlugin('check_ftp');
  const ftpOk = await run({ command: 'check_ftp -H HOST -p PORT -t 5', style: 'farmguardian', timeoutMs: 5000 }, { address: '127.0.0.1', port: ftp.port });
  t.match(ftpOk, { up: true, exitCode: 0, line: /^FTP OK - .*\[220 lbguard test FTP\]/ });

  for (const code of [1, 2, 3, 255]) {
    const result = await run({ command: `${fixture('exit-with.sh')} ${code} 'CRITICAL - no\nsecond line'`, style: 'farmguardian', timeoutMs: 5000 });
    t.match(result, { up: false, exitCode: code, line: 'CRITICAL - no' }, `exit ${code}: down, first stdout line`);
  }
  const silent = await run({ command: `${fixture('exit-with.sh')} 0`, style: 'farmguardian', timeoutMs: 5000 });
  t.match(silent, { up: true, line: 'exited with status 0' });
});

t.test('keepalived MISC_CHECK: 0 up, 1 down, misc_dynamic 2..255 up with weight code-2', async (t) => {
  const script = fixture('exit-with.sh');
  const expectations: [number, boolean, boolean, number | undefined][] = [
    // code, dynamic, up, weight
    [0, false, true, undefined], [1, false, false, undefined], [2, false, false, undefined], [12, false, false, undefined],
    [0, true, true, undefined], [1, true, false, undefined], [2, true, true, 0], [12, true, true, 10], [255, true, true, 253],
  ];
  for (const [code, dynamic, up, weight] of expectations) {
    const result = await run({ command: `${script} ${code} 'load is fine'`, style: 'keepalived', timeoutMs: 5000, dynamic });
    t.equal(result.up, up, `exit ${code}${dynamic ? ' misc_dynamic' : ''}: ${up ? 'up' : 'down'}`);
    t.equal(result.weight, weight, `exit ${code}${dynamic ? ' misc_dynamic' : ''}: weight ${weight}`);
    t.equal(result.exitCode, code);
    t.equal(result.line, 'load is fine');
  }
  const noOutput = await run({ command: `${script} 20`, style: 'keepalived', timeoutMs: 5000, dynamic: true });
  t.equal(noOutput.line, 'exited with status 20 (weight 18)');
  const tcp = await listen();
  t.teardown(tcp.close);
  const plugin = await run({ command: `${cPlugin('check_tcp')} -H %h -p %p`, style: 'keepalived', timeoutMs: 5000 }, { address: '127.0.0.1', port: tcp.port });
  t.equal(plugin.up, true, 'check_tcp as misc_path');
});

t.test('nanny: exact comparison of the output less its last byte', async (t) => {
  const script = fixture('exit-with.sh');
  const nanny = (text: string, expect: string | undefined, extra: Partial<CommandCheckSpec> = {}) =>
    run({ command: [script, '0', text], style: 'nanny', timeoutMs: 5000, ...(expect === undefined ? {} : { expect }), ...extra });

  t.match(await nanny('OK\n', 'OK'), { up: true, line: 'OK' }, 'the newline is the byte nanny drops');
  t.match(await nanny('OK', 'OK'), { up: false, line: 'output "O" is not the expected "OK"' }, 'without a newline nanny drops the K');
  t.match(await nanny('OK', 'O'), { up: true }, '...so "O" matches');
  t.match(await nanny('OK\r\n', 'OK'), { up: false, line: 'output "OK\\r" is not the expected "OK"' });
  t.match(await nanny('OK\nmore\n', 'OK'), { up: false }, 'the whole output is compared, not the first line');
  t.match(await nanny('ok\n', 'OK'), { up: false }, 'case-sensitive');
  t.match(await nanny('\n', ''), { up: true, line: 'empty output, as expected' });
  t.match(await nanny('OK\n', undefined), { up: false, line: 'output "OK" but no expect string to compare it with' });
  t.match(await nanny(`${'A'.repeat(5000)}\n`, 'A'.repeat(4094)), { up: true }, 'one read of 4095 bytes, less the last');

  t.match(await nanny('OK\n', 'O.', { useRegex: true }), { up: false }, 'use_regex is not applied to a send_program (nanny.c uses strcmp)');
  t.match(await nanny('OK\n', '^OK$', { useRegex: true }), { up: false });
  t.match(await nanny('OK\n', 'OK', { useRegex: true }), { up: true });

  const failing = { command: [script, '2', 'CRITICAL\n'], style: 'nanny', timeoutMs: 5000 } as const;
  t.match(await run({ ...failing, expect: 'OK' }), { up: true, exitCode: 2, line: /^exited with status 2; nanny counts/ }, 'non-zero exit with expect set: nanny says up');
  t.match(await run({ ...failing, expect: 'OK', strict: true }), { up: false, exitCode: 2, line: 'CRITICAL' }, 'strict: down');
  t.match(await run(failing), { up: false, line: 'CRITICAL' }, 'non-zero exit and no expect: down');

  t.equal(convertNannyEscapes('a\\\\nb\\tc\\qd'), 'a\\nb\tc\\qd');
  t.equal(commandProblem({ command: script, style: 'nanny', timeoutMs: 1000 }), 'nanny style needs expect: without it nanny counts every result as down');
});

t.test('a hanging check is killed with its whole process group at the timeout', async (t) => {
  for (const mode of ['', 'ignore-term']) {
    const pidFile = join(scratch(t), 'pids');
    const started = performance.now();
    const result = await run({ command: [fixture('hang.sh'), pidFile, mode], style: 'keepalived', timeoutMs: 400 });
    const elapsed = performance.now() - started;
    const pids = await waitForFile(pidFile, 2);
    t.equal(pids.length, 2, 'the script and its child both started');
    const pgid = pids[1] ?? -1;
    t.match(result, { up: false, exitCode: null, line: `timed out after 400 ms (killed process group ${pgid})` });
    t.equal(result.signal, mode ? 'SIGKILL' : 'SIGTERM', mode ? 'SIGTERM ignored: SIGKILL after the grace' : 'SIGTERM was enough');
    t.ok(elapsed >= 390 && elapsed < (mode ? 1600 : 1000), `returned after ${elapsed.toFixed(0)} ms`);
    await assertAllGone(t, pids, pgid);
  }
});

t.test('a timed-out check returns only once its group is gone, even on a busy host', async (t) => {
  // CPU burners on every core: a SIGKILLed process dies when it next runs, which is then later
  const burners = Array.from({ length: 4 }, () => spawn(process.execPath, ['-e', 'const end = Date.now() + 20000; while (Date.now() < end);'], { stdio: 'ignore' }));
  t.teardown(() => { for (const b of burners) b.kill('SIGKILL'); });
  const dir = scratch(t);
  const still: number[] = [];
  for (let round = 0; round < 3; round++) {
    const files = Array.from({ length: 12 }, (_, i) => join(dir, `r${round}-${i}`));
    const runs = files.map((file) => run({ command: [fixture('hang.sh'), file], style: 'keepalived', timeoutMs: 300 }).then(() => {
      // at the moment the run returned: its script and the sleep it started
      const pids = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
      still.push(...pids.filter((pid) => ![null, 'Z'].includes(procState(pid))));
    }));
    await Promise.all(runs);
  }
  t.same(still, [], 'no process of any of the 36 checks was running when its check returned');
});

t.test('aborting the signal kills the group too', async (t) => {
  const pidFile = join(scratch(t), 'pids');
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  const started = performance.now();
  const result = await run({ command: [fixture('hang.sh'), pidFile], style: 'farmguardian', timeoutMs: 60_000 }, target, controller.signal);
  const elapsed = performance.now() - started;
  const pids = await waitForFile(pidFile, 2);
  t.match(result, { up: false, line: new RegExp(`^aborted after \\d+ ms \\(killed process group ${pids[1]}\\)$`) });
  t.ok(elapsed < 1500, `returned after ${elapsed.toFixed(0)} ms`);
  await assertAllGone(t, pids, pids[1] ?? -1);

  const before = await run({ command: [fixture('argv.sh')], style: 'farmguardian', timeoutMs: 1000 }, target, AbortSignal.abort());
  t.match(before, { up: false, line: 'aborted before it started' });
});

t.test('one signal shared by many running checks aborts them all, without a listener warning', async (t) => {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.name);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const dir = scratch(t);
  const controller = new AbortController();
  const runs = Array.from({ length: 16 }, (_, i) =>
    run({ command: [fixture('hang.sh'), join(dir, `p${i}`)], style: 'nanny', expect: 'OK', timeoutMs: 60_000 }, target, controller.signal));
  await Promise.all(Array.from({ length: 16 }, (_, i) => waitForFile(join(dir, `p${i}`), 2)));
  controller.abort();
  const results = await Promise.all(runs);
  t.ok(results.every((r) => !r.up && r.line.startsWith('aborted after')), 'every check aborted and down');
  const pids = Array.from({ length: 16 }, (_, i) => readFileSync(join(dir, `p${i}`), 'utf8').split('\n').filter(Boolean).map(Number)).flat();
  await assertAllGone(t, pids);
  await new Promise((r) => setImmediate(r));
  t.same(warnings, [], 'no MaxListenersExceededWarning');
});

t.test('a check that exits leaves nothing in its group; a process that left the group does not hold the verdict', async (t) => {
  const dir = scratch(t);
  const stayed = join(dir, 'stayed');
  const started = performance.now();
  const result = await run({ command: [fixture('leave-behind.sh'), stayed], style: 'farmguardian', timeoutMs: 5000 });
  t.match(result, { up: true, line: 'OK', exitCode: 0 });
  t.ok(performance.now() - started < 1000, 'did not wait for the sleeper');
  const [sleeper = -1] = await waitForFile(stayed, 1);
  await assertAllGone(t, [sleeper]);

  const escaped = join(dir, 'escaped');
  const again = performance.now();
  const detached = await run({ command: [fixture('leave-behind.sh'), escaped, 'setsid'], style: 'farmguardian', timeoutMs: 5000 });
  const [runaway = -1] = await waitForFile(escaped, 1);
  t.teardown(() => { try { process.kill(runaway, 'SIGKILL'); } catch { /* gone */ } });
  t.match(detached, { up: true, line: 'OK', exitCode: 0 }, 'judged by the exit status');
  t.ok(performance.now() - again < 1000, 'returned soon after the exit although the runaway holds stdout');
});

t.test('programs that cannot run or die of a signal are down with a clear line', async (t) => {
  t.match(await run({ command: '/nonexistent/check_x -H HOST', style: 'farmguardian', timeoutMs: 1000 }), {
    up: false, line: 'cannot run /nonexistent/check_x: ENOENT', exitCode: null, signal: null,
  });
  t.match(await run({ command: 'check_not_installed_anywhere %h', style: 'nanny', expect: 'OK', timeoutMs: 1000 }), {
    up: false, line: 'cannot run check_not_installed_anywhere: ENOENT',
  }, 'nanny style too: a program that cannot start is down');
  const notExecutable = join(scratch(t), 'check.sh');
  writeFileSync(notExecutable, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  t.match(await run({ command: [notExecutable], style: 'keepalived', timeoutMs: 1000 }), { up: false, line: `cannot run ${notExecutable}: EACCES` });
  t.match(await run({ command: fixture('segv.sh'), style: 'keepalived', timeoutMs: 5000, dynamic: true }), {
    up: false, line: 'killed by SIGSEGV', exitCode: null, signal: 'SIGSEGV',
  });
  t.match(await run({ command: 'check_ftp -H HOST | grep OK', style: 'farmguardian', timeoutMs: 1000 }), {
    up: false, line: 'bad command: uses "|", which needs a shell; lbguard runs checks without one (put it in a script)',
  });
  t.match(commandProblem({ command: 'check_ftp -H HOST && echo ok', style: 'farmguardian', timeoutMs: 1000 }), /needs a shell/, 'refused before it runs (lbguard check)');
  t.equal(commandProblem({ command: '   ', style: 'keepalived', timeoutMs: 1000 }), 'the command is empty');
});

t.test('1 MiB of output is capped and the call returns promptly', async (t) => {
  const started = performance.now();
  const raw = await runInProcessGroup({ file: fixture('flood.sh'), args: [], timeoutMs: 5000, signal: never() });
  t.equal(raw.stdout.length, 64 * 1024, 'kept 64 KiB');
  t.equal(raw.stdoutTotal, 1024 * 1024 + 1, 'read (and dropped) the rest, so the program never blocked');
  t.equal(raw.exitCode, 0);
  const result = await run({ command: fixture('flood.sh'), style: 'farmguardian', timeoutMs: 5000 });
  const elapsed = performance.now() - started;
  t.equal(result.up, true);
  t.ok(result.line.length < 250, `the line is cut (${result.line.length} chars)`);
  t.match(result.line, /^x{200}\.\.\. \(65536 chars\)$/);
  t.ok(elapsed < 3000, `both runs took ${elapsed.toFixed(0)} ms`);
});

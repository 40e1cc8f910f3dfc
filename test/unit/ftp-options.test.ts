// What check_ftp's command line turns into, before anything touches the network.
import t from 'tap';
import { checkFtpPlugin } from '../../plugins/ftp/definition.ts';
import { parsePluginArgs } from '../../plugins/runtime/plugin.ts';
import { CRITICAL, OK, WARNING } from '../../plugins/runtime/state.ts';
import type { FtpCheckOptions } from '../../plugins/ftp/check.ts';

/** The options of `argv` with these LBGUARD_FTP_* variables in the environment the plugin reads. */
function options(argv: string[], env: Record<string, string> = {}): FtpCheckOptions {
  const saved = { user: process.env.LBGUARD_FTP_USER, password: process.env.LBGUARD_FTP_PASSWORD };
  delete process.env.LBGUARD_FTP_USER;
  delete process.env.LBGUARD_FTP_PASSWORD;
  Object.assign(process.env, env);
  try {
    const parsed = parsePluginArgs(checkFtpPlugin, argv);
    if (typeof parsed === 'string') throw new Error(parsed);
    return parsed.options;
  } finally {
    delete process.env.LBGUARD_FTP_USER;
    delete process.env.LBGUARD_FTP_PASSWORD;
    if (saved.user !== undefined) process.env.LBGUARD_FTP_USER = saved.user;
    if (saved.password !== undefined) process.env.LBGUARD_FTP_PASSWORD = saved.password;
  }
}

t.test('defaults: the check_tcp banner check on port 21 of 127.0.0.1', async (t) => {
  const o = options(['-p', '21']);
  t.throws(() => options([]), /^No arguments found$/, 'nothing at all is a usage error, as check_tcp has it');
  t.match(o, { host: '127.0.0.1', hostGiven: false, port: 21, quit: 'QUIT\r\n', mismatchState: WARNING, refusedState: CRITICAL, implicitTls: false, session: undefined });
  t.same(o.expect, { strings: ['220'], atStart: true, all: false });
  t.equal(options(['backend-1']).host, 'backend-1', 'the host may come as the first argument, as check_tcp allows');
});

t.test('check_tcp options', async (t) => {
  const o = options(['-H', 'h', '-E', '-s', 'HELP\\r\\n', '-q', 'BYE\\r\\n', '-e', 'a', '-e', 'b', '-A', '-r', 'ok', '-M', 'crit', '-j', '-m', '100']);
  t.match(o, { send: 'HELP\r\n', quit: 'BYE\r\n', refusedState: OK, mismatchState: CRITICAL, hideOutput: true, maxBytes: 100 });
  t.same(o.expect, { strings: ['a', 'b'], atStart: false, all: true });
  t.equal(options(['-q', 'BYE']).quit, 'BYE\r\n', 'without -E, CR LF is added to -q');
  t.match(options(['-D', '30,7']), { implicitTls: true, certificateDays: { warn: 30, crit: 7 } }, '-D implies implicit TLS');
  t.match(options(['-D', '30', '--auth-tls']), { implicitTls: false, certificateDays: { warn: 30, crit: 0 } }, 'with --auth-tls, -D checks the explicit TLS certificate');
  t.equal(options(['-w', '5', '-c', '10']).thresholds.warning?.text, '5.000000', 'thresholds print as check_tcp prints them');
  for (const bad of [['-r', 'maybe'], ['-M', 'x'], ['-m', '0'], ['-d', 'x'], ['-D', 'a'], ['--active', '--passive'], ['--expect-size', '3']]) {
    t.throws(() => options(bad), bad.join(' '));
  }
});

t.test('deep checks: anonymous unless a user is given; the password only from the environment or an ini file', async (t) => {
  t.match(options(['--get', 'f']).session, { user: 'anonymous', password: 'lbguard@', mode: 'passive', get: { path: 'f' } });
  t.match(options(['--list'], { LBGUARD_FTP_PASSWORD: 'pw' }).session, { user: 'anonymous', password: 'lbguard@' }, 'the environment password is not sent for anonymous');
  t.match(options(['--user', 'u', '--list=/pub', '--active'], { LBGUARD_FTP_PASSWORD: 'pw' }).session, { user: 'u', password: 'pw', mode: 'active', list: '/pub' });
  t.match(options(['--put'], { LBGUARD_FTP_USER: 'u', LBGUARD_FTP_PASSWORD: 'pw' }).session, { user: 'u', password: 'pw', put: { dir: '' } });
  t.throws(() => options(['--user', 'u', '--password', 'pw']), /refused on the command line/);
  t.equal(options(['-H', 'h']).session, undefined, 'no deep option, no login');
});

// FTP commands are lines: a line break in a value cannot be sent (basic-ftp refuses it after the
// connection, as CRITICAL), so it is a usage error before any connection, and the secret is not shown.
t.test('a user, password or path with a line break is a usage error that does not echo the password', async (t) => {
  const secret = 's3cret\r\nDELE important.txt';
  t.throws(() => options(['-H', 'h', '--user', 'bob'], { LBGUARD_FTP_PASSWORD: secret }), { name: 'UsageError', message: 'the FTP password contains a line break or NUL, which FTP cannot send' });
  t.throws(() => options(['-H', 'h', '--user', 'bob\nDELE x']), { name: 'UsageError', message: '--user contains a line break or NUL, which FTP cannot send: bob\\nDELE x' });
  for (const option of ['--get', '--list=', '--put=']) {
    const argv = option.endsWith('=') ? ['-H', 'h', `${option}pub\r\nDELE x`] : ['-H', 'h', option, 'pub\r\nDELE x'];
    t.throws(() => options(argv), { name: 'UsageError', message: `${option.replace('=', '')} contains a line break or NUL, which FTP cannot send: pub\\r\\nDELE x` });
  }
  t.equal(options(['-H', 'h', '--user', 'bob'], { LBGUARD_FTP_PASSWORD: 'fine pass' }).session?.password, 'fine pass');
});

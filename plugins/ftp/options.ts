import { UsageError } from '../runtime/errors.ts';
import { printable } from '../runtime/outcome.ts';
import type { OptionSpec } from '../runtime/getopt.ts';
import type { Args } from '../runtime/plugin.ts';
import type { Range } from '../runtime/range.ts';
import { readSmallFile, unreadableReason } from '../runtime/read-file.ts';
import { CRITICAL, OK, type State, WARNING } from '../runtime/state.ts';
import type { FtpCheckOptions } from './check.ts';
import { unescape } from './expect.ts';

/** check_tcp's own options (2.3.3 letters and long names), then the session options of lbguard. */
export const FTP_OPTIONS: readonly OptionSpec[] = [
  { long: 'expect', short: 'e', arg: 'required', argName: 'STRING', help: 'String to expect anywhere in the greeting (may be repeated); default: the greeting starts with 220' },
  { long: 'all', short: 'A', arg: 'none', help: 'All -e strings must occur in the greeting (default: any)' },
  { long: 'escape', short: 'E', arg: 'none', help: 'Allow \\n, \\r, \\t and \\\\ in the -s and -q strings (then no \\r\\n is added to -q)' },
  { long: 'send', short: 's', arg: 'required', argName: 'STRING', help: 'String to send to the server after connecting' },
  { long: 'quit', short: 'q', arg: 'required', argName: 'STRING', help: 'String sent before closing (default QUIT)' },
  { long: 'maxbytes', short: 'm', arg: 'required', argName: 'INTEGER', help: 'Stop reading the greeting after this many bytes' },
  { long: 'delay', short: 'd', arg: 'required', argName: 'INTEGER', help: 'Seconds to wait between sending the -s string and reading (not counted in the response time)' },
  { long: 'refuse', short: 'r', arg: 'required', argName: 'ok|warn|crit', help: 'State for a refused connection (default: crit)' },
  { long: 'mismatch', short: 'M', arg: 'required', argName: 'ok|warn|crit', help: 'State when the greeting does not match (default: warn)' },
  { long: 'jail', short: 'j', arg: 'none', help: 'Hide the server greeting from the output' },
  { long: 'ssl', short: 'S', arg: 'none', help: 'Implicit TLS: TLS from the first byte (FTPS on port 990)' },
  { long: 'certificate', short: 'D', arg: 'required', argName: 'WARN[,CRIT]', help: 'Days the TLS certificate must still be valid (implies -S unless --auth-tls)' },
  { long: 'sni', arg: 'none', help: 'Send the host name as TLS SNI' },
  { long: 'ca-file', arg: 'required', argName: 'FILE', help: 'Verify the TLS certificate against the CA certificates in FILE (default: not verified, as check_tcp)' },
  { long: 'user', arg: 'required', argName: 'NAME', help: 'Log in as NAME (also LBGUARD_FTP_USER); a deep check without it logs in as anonymous' },
  { long: 'password', arg: 'required', argName: 'SECRET', help: 'Password for --user (also LBGUARD_FTP_PASSWORD)', secret: true },
  { long: 'auth-tls', arg: 'none', help: 'Explicit FTPS: AUTH TLS before logging in; data connections are protected too (PROT P)' },
  { long: 'list', arg: 'optional', argName: 'DIR', help: 'Log in and list DIR (default: the login directory) over a data connection' },
  { long: 'get', arg: 'required', argName: 'FILE', help: 'Log in and download FILE over a data connection' },
  { long: 'expect-content', arg: 'required', argName: 'STRING', help: 'CRITICAL unless the --get file contains STRING' },
  { long: 'expect-size', arg: 'required', argName: 'BYTES', help: 'CRITICAL unless the --get file has exactly BYTES bytes' },
  { long: 'put', arg: 'optional', argName: 'DIR', help: 'Log in, upload a small scratch file to DIR (default: the login directory), then delete it' },
  { long: 'passive', arg: 'none', help: 'Data connections in passive mode, PASV/EPSV (the default)' },
  { long: 'active', arg: 'none', help: 'Data connections in active mode, PORT/EPRT: the server connects back to this host' },
  { long: 'allow-pasv-redirect', arg: 'none', help: 'Follow a PASV reply that names another host than the control connection (refused by default)' },
];

function parseState(text: string, what: string): State {
  // check_tcp compares prefixes: `ok`, `warn...`, `crit...`
  if (text.startsWith('ok')) return OK;
  if (text.startsWith('warn')) return WARNING;
  if (text.startsWith('crit')) return CRITICAL;
  throw new UsageError(`${what} must be one of ok, warn, crit`);
}

function positiveInteger(text: string, what: string, allowZero = false): number {
  if (!/^\d+$/.test(text) || (!allowZero && Number(text) === 0)) throw new UsageError(`${what} must be a positive integer - ${text}`);
  return Number(text);
}

/** `-D 30` or `-D 30,7` (warning days, critical days; critical defaults to 0) */
function parseCertificateDays(text: string): { warn: number; crit: number } {
  const [warn = '', crit = '0', ...extra] = text.split(',');
  if (extra.length) throw new UsageError(`Invalid certificate expiration period - ${text}`);
  return { warn: positiveInteger(warn, 'Invalid certificate expiration period', true), crit: positiveInteger(crit, 'Invalid certificate expiration period', true) };
}

/** check_tcp prints -w/-c with `%f` in the perfdata; a plain number keeps that form, a range stays as typed. */
function asC(range: Range | undefined): Range | undefined {
  if (!range || range.inside || range.start !== 0 || !Number.isFinite(range.end) || !/^[\d.]+$/.test(range.text)) return range;
  return { ...range, text: range.end.toFixed(6) };
}

/** Debian's whole CA bundle is ~220 KB */
const MAX_CA_BYTES = 4 * 1024 * 1024;

function readCa(path: string): Buffer {
  try {
    return readSmallFile(path, MAX_CA_BYTES);
  } catch (error) {
    throw new UsageError(`cannot read --ca-file ${path}: ${unreadableReason(error)}`);
  }
}

/** FTP commands are lines: a value with a line break (or NUL) cannot be sent, and would be a second command. */
function oneLine(value: string | undefined, what: string, secret = false): string | undefined {
  if (value !== undefined && /[\r\n\0]/.test(value)) throw new UsageError(`${what} contains a line break or NUL, which FTP cannot send${secret ? '' : `: ${printable(value)}`}`);
  return value;
}

export function ftpOptionsFromArgs(args: Args, env: NodeJS.ProcessEnv = process.env): FtpCheckOptions {
  const { common } = args;
  if (args.parsed.values.size === 0 && args.positionals().length === 0) throw new UsageError('No arguments found');
  const extra = args.positionals().slice(args.last('hostname') === undefined && common.host !== undefined ? 1 : 0);
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}' (an option value that is optional needs '=', e.g. --list=/pub)`);
  const escape = args.has('escape');
  const send = args.last('send');
  const quit = args.last('quit');
  const expects = args.all('expect');
  const list = oneLine(args.last('list'), '--list');
  const get = oneLine(args.last('get'), '--get');
  const put = oneLine(args.last('put'), '--put');
  const expectContent = args.last('expect-content');
  const expectSizeText = args.last('expect-size');
  if ((expectContent !== undefined || expectSizeText !== undefined) && get === undefined) throw new UsageError('--expect-content and --expect-size need --get FILE');
  if (args.has('active') && args.has('passive')) throw new UsageError('--active and --passive exclude each other');
  const userText = oneLine(args.last('user') ?? env.LBGUARD_FTP_USER, '--user');
  const authTls = args.has('auth-tls');
  const deep = userText !== undefined || authTls || list !== undefined || get !== undefined || put !== undefined;
  const certificateText = args.last('certificate');
  const caFile = args.last('ca-file');
  if (args.has('password') && userText === undefined) throw new UsageError('--password needs --user');
  // the environment's password belongs to the environment's or the command line's user, never to anonymous
  const password = userText === undefined ? undefined : oneLine(args.last('password') ?? env.LBGUARD_FTP_PASSWORD, 'the FTP password', true);
  const implicitTls = args.has('ssl') || (certificateText !== undefined && !authTls);
  return {
    host: common.host ?? (common.family === 6 ? '::1' : '127.0.0.1'),
    // check_tcp names the host in its line only when -H gave it
    hostGiven: args.has('hostname'),
    port: common.port,
    family: common.family,
    refusedState: args.has('refuse') ? parseState(args.last('refuse') as string, 'Refuse') : CRITICAL,
    implicitTls,
    sni: args.has('sni') && common.host !== undefined ? common.host : undefined,
    ca: caFile === undefined ? undefined : readCa(caFile),
    send: send === undefined ? undefined : escape ? unescape(send) : send,
    quit: quit === undefined ? 'QUIT\r\n' : escape ? unescape(quit) : `${quit}\r\n`,
    delaySeconds: args.has('delay') ? positiveInteger(args.last('delay') as string, 'Delay') : 0,
    maxBytes: args.has('maxbytes') ? positiveInteger(args.last('maxbytes') as string, 'Maxbytes') : 0,
    expect: { strings: expects.length ? expects : ['220'], atStart: expects.length === 0, all: args.has('all') },
    session: deep
      ? {
          user: userText ?? 'anonymous',
          password: password ?? (userText === undefined ? 'lbguard@' : ''),
          authTls,
          mode: args.has('active') ? 'active' : 'passive',
          allowPasvRedirect: args.has('allow-pasv-redirect'),
          list: list === undefined ? undefined : list,
          get: get === undefined ? undefined : { path: get, expectContent },
          put: put === undefined ? undefined : { dir: put },
        }
      : undefined,
    certificateDays: certificateText === undefined ? undefined : parseCertificateDays(certificateText),
    expectSize: expectSizeText === undefined ? undefined : positiveInteger(expectSizeText, '--expect-size', true),
    mismatchState: args.has('mismatch') ? parseState(args.last('mismatch') as string, 'Mismatch') : WARNING,
    hideOutput: args.has('jail'),
    thresholds: { warning: asC(common.warning), critical: asC(common.critical) },
    timeoutSeconds: common.deadline.seconds,
  };
}

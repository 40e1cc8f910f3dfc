import { type Deadline, runCheck } from '../runtime/deadline.ts';
import { CheckFailure, UsageError } from '../runtime/errors.ts';
import { type OptionSpec, parseCommandLine } from '../runtime/getopt.ts';
import { validateHost } from '../runtime/host.ts';
import { type Outcome, printable } from '../runtime/outcome.ts';
import { parseTimeout } from '../runtime/plugin.ts';
import { portFromList } from '../runtime/port-list.ts';
import { CRITICAL, OK, type State, UNKNOWN } from '../runtime/state.ts';
import type { Trace } from '../runtime/trace.ts';
import { TftpFailure } from './client.ts';
import { DEFAULT_MAX_SIZE, DEFAULT_WINDOWSIZE, parseCount } from './options.ts';
import { transferTftp, type TftpProbeOptions } from './probe.ts';

/**
 * The classic check_tftp (Mathias Kettner's bash script 1.0.1) that LVS nanny runs as a
 * send_program and compares with `expect`: `--connect HOST` and `--get HOST FILENAME SIZE`, with its
 * success lines unchanged and no service prefix. Its bugs are not kept: usage errors exit 3 (not 5),
 * an unknown host is CRITICAL (not exit 0), the file name appears in "not found", `--get` works
 * (tftp-hpa prints its "Received" line only in verbose mode), and -t (default 10 s) bounds the wait
 * instead of the tftp client's 25 s. Added: -p PORT and -t SECONDS (the script always used port 69).
 * And the flaw the LVS TFTP recipe's author had to patch out is gone: the script exited 2 on failure,
 * which nanny counts as up; these forms always exit 0 and let the line say up or down.
 */
export const BOGUS_FILE = 'NaGiOs_ChEcK_FiLe';
export const ANSWER_LINE = 'OK - answer from server';

const SPECS: readonly OptionSpec[] = [
  { long: 'connect', arg: 'none', help: 'OK when the server answers File not found for a bogus name' },
  { long: 'get', arg: 'none', help: 'OK when FILENAME is read with SIZE bytes' },
  { long: 'port', short: 'p', arg: 'required', help: 'Port (default 69)' },
  { long: 'timeout', short: 't', arg: 'required', help: 'Seconds before giving up (default 10)' },
  { long: 'verbose', short: 'v', arg: 'none', help: 'Details below the line' },
];

export const COMPAT_USAGE = [
  'Usage: check_tftp --connect HOST [-p PORT] [-t SECONDS]',
  '       check_tftp --get HOST FILENAME SIZE [-p PORT] [-t SECONDS]',
  '       check_tftp -H HOST ... (check_tftp --help)',
].join('\n');

export interface CompatRequest {
  readonly form: 'connect' | 'get';
  readonly host: string;
  readonly port: number;
  readonly filename: string;
  readonly size: number | undefined;
  readonly deadline: Deadline;
  readonly verbosity: number;
}

/** The classic forms are recognised by their exact option words, before the standard parser sees argv. */
export function isCompatInvocation(argv: readonly string[]): boolean {
  return argv.includes('--connect') || argv.includes('--get');
}

export function parseCompatArgs(argv: readonly string[]): CompatRequest {
  const parsed = parseCommandLine(argv, SPECS);
  const has = (name: string) => parsed.values.has(name);
  const last = (name: string) => parsed.values.get(name)?.at(-1);
  if (has('connect') === has('get')) throw new UsageError('give either --connect HOST or --get HOST FILENAME SIZE');
  const form = has('connect') ? 'connect' : 'get';
  const wanted = form === 'connect' ? 1 : 3;
  const args = parsed.positionals;
  if (args.length !== wanted) {
    throw new UsageError(form === 'connect' ? '--connect needs exactly one HOST' : '--get needs HOST FILENAME SIZE');
  }
  const portText = last('port');
  const timeoutText = last('timeout');
  return {
    form,
    host: validateHost(args[0] as string),
    port: portText === undefined ? 69 : portFromList(portText, 69),
    filename: form === 'connect' ? BOGUS_FILE : (args[1] as string),
    size: form === 'get' ? parseCount(args[2] as string, 'SIZE', 0, Number.MAX_SAFE_INTEGER) : undefined,
    deadline: timeoutText === undefined ? { seconds: 10, state: CRITICAL } : parseTimeout(timeoutText),
    verbosity: parsed.values.get('verbose')?.length ?? 0,
  };
}

const line = (state: State, text: string): Outcome => ({ state, text, perfdata: [], details: [] });

/** One classic check; the Outcome's text is the whole line as the script printed it. */
export async function checkTftpCompat(request: CompatRequest, signal: AbortSignal, trace: Trace): Promise<Outcome> {
  const connect = request.form === 'connect';
  const probe: TftpProbeOptions = {
    host: request.host,
    port: request.port,
    family: 0,
    filename: request.filename,
    mode: 'octet',
    // --connect asks as tftp-hpa did (no options); --get may negotiate, with fallback
    negotiate: connect ? false : { windowsize: DEFAULT_WINDOWSIZE, tsize: true, timeout: 1 },
    retransmitMs: 1000,
    maxBytes: connect ? 1024 * 1024 : Math.max(DEFAULT_MAX_SIZE, (request.size ?? 0) + 1),
  };
  try {
    const { transfer } = await transferTftp(probe, signal, trace);
    if (connect) return line(CRITICAL, `Server sent ${BOGUS_FILE} (${transfer.bytes} bytes) where File not found was expected`);
    if (transfer.bytes !== request.size) return line(CRITICAL, `File size mismatch: expected ${request.size} bytes, got ${transfer.bytes} bytes`);
    return line(OK, `OK - Received ${transfer.bytes} bytes in ${transfer.seconds.toFixed(3)} seconds`);
  } catch (error) {
    if (error instanceof CheckFailure) return line(CRITICAL, `Unknown host ${request.host}`);
    if (!(error instanceof TftpFailure)) throw error;
    if (error.kind === 'timeout') return line(CRITICAL, 'Transfer timed out');
    if (error.kind !== 'server-error') return line(CRITICAL, printable(error.message));
    if (error.code === 1) return connect ? line(OK, ANSWER_LINE) : line(CRITICAL, `Server answered: file ${printable(request.filename)} not found`);
    return line(CRITICAL, `Error code ${error.code}: ${printable(error.serverMessage ?? '')}`);
  }
}

/**
 * The process for the classic forms: parse, check within -t, print the line, exit with
 * `exitCode(state)` (check_tftp.ts: 0 for nanny, which judges the line; keepalived's reading with
 * --misc-dynamic).
 */
export async function runCompat(argv: readonly string[], exitCode: (state: number) => number = (state) => state): Promise<never> {
  let request: CompatRequest;
  try {
    request = parseCompatArgs(argv);
  } catch (error) {
    process.stdout.write(`UNKNOWN - ${error instanceof Error ? error.message : String(error)}\n${COMPAT_USAGE}\n`);
    process.exit(exitCode(UNKNOWN));
  }
  // Whether the check ended by itself; if not, the deadline passed: the script's "Transfer timed out".
  let answered = false;
  const check = async (r: CompatRequest, signal: AbortSignal, trace: Trace) => {
    try {
      const outcome = await checkTftpCompat(r, signal, trace);
      answered = true;
      return outcome;
    } catch (error) {
      answered = !signal.aborted;
      throw error;
    }
  };
  const outcome = await runCheck(check, request, request.deadline, { verbosity: request.verbosity });
  const text = !answered ? 'Transfer timed out' : outcome.state === UNKNOWN ? `UNKNOWN - ${outcome.text}` : outcome.text;
  const details = outcome.details.map((d) => d.replace(/[\r\n]/g, ' '));
  process.stdout.write([text, ...details].join('\n') + '\n');
  process.exit(exitCode(outcome.state));
}

// The external command check: the check lines operators already have for Zevenet's Farm Guardian,
// piranha's nanny (send_program/expect) and keepalived's MISC_CHECK, run without a shell, in a
// process group of their own that is killed whole at the deadline, and judged the way that
// consumer judges them. Never throws: every failure is a CommandResult with up=false and a line.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { miscDynamicWeight } from '../../plugins/runtime/integration.ts';
import { printable } from '../../plugins/runtime/outcome.ts';
import { CommandSyntaxError, type CommandStyle, type CommandTarget, splitCommandLine, substituteTarget } from './command-line.ts';
import { type GroupRun, runInProcessGroup } from './process-group.ts';

export { CommandSyntaxError, type CommandStyle, type CommandTarget } from './command-line.ts';

export interface CommandCheckSpec {
  /** a command line as the operator wrote it in their old config (split the way that consumer splits it, never by a shell), or an argv */
  readonly command: string | readonly string[];
  readonly style: CommandStyle;
  /** nanny: the whole output (less its last byte) must equal this */
  readonly expect?: string;
  /** nanny: accepted and, as in nanny, not applied to a send_program's output (see judgeNanny) */
  readonly useRegex?: boolean;
  /** keepalived misc_dynamic: exit 2..255 means up with weight code-2 */
  readonly dynamic?: boolean;
  readonly timeoutMs: number;
  /** extra environment (credentials go here, never argv) */
  readonly env?: Readonly<Record<string, string>>;
  /** nanny counts a send_program that exits non-zero as UP when expect is set; strict makes that down */
  readonly strict?: boolean;
  /** farmguardian: where a bare program name is looked for first (Zevenet's libexec); default /usr/lib/nagios/plugins */
  readonly libexecDir?: string;
}

export interface CommandResult {
  readonly up: boolean;
  /** keepalived misc_dynamic: exit 2..255 -> weight code-2 */
  readonly weight?: number;
  /** first line of stdout, made printable, or the reason the check failed */
  readonly line: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly ms: number;
}

export const DEFAULT_LIBEXEC_DIR = '/usr/lib/nagios/plugins';
/** nanny reads the program's output with one read() into a 4096-byte buffer */
const NANNY_READ_BYTES = 4095;

/** The argv a spec runs for one backend: split as its consumer splits, then the target put in. */
export function commandArgv(spec: CommandCheckSpec, target: CommandTarget): string[] {
  const argv = typeof spec.command === 'string' ? splitCommandLine(spec.style, spec.command) : [...spec.command];
  if (argv.length === 0 || argv[0] === '') throw new CommandSyntaxError('the command is empty');
  return substituteTarget(spec.style, argv, target);
}

/** What is wrong with a spec, for `lbguard check`; null when it can run. */
export function commandProblem(spec: CommandCheckSpec): string | null {
  try {
    commandArgv(spec, { address: '192.0.2.1', port: 1 });
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (!(spec.timeoutMs > 0)) return `timeout must be above 0 ms, got ${spec.timeoutMs}`;
  if (spec.style === 'nanny' && spec.expect === undefined) return 'nanny style needs expect: without it nanny counts every result as down';
  return null;
}

async function resolveProgram(spec: CommandCheckSpec, program: string): Promise<string> {
  if (spec.style !== 'farmguardian' || program.includes('/')) return program;
  const candidate = join(spec.libexecDir ?? DEFAULT_LIBEXEC_DIR, program);
  try {
    await access(candidate, constants.X_OK);
    return candidate;
  } catch {
    return program; // not in libexec: looked up in PATH
  }
}

export async function runCommandCheck(spec: CommandCheckSpec, target: CommandTarget, signal: AbortSignal): Promise<CommandResult> {
  const started = performance.now();
  const failed = (line: string): CommandResult => ({ up: false, line, exitCode: null, signal: null, ms: performance.now() - started });
  try {
    let argv: string[];
    try {
      argv = commandArgv(spec, target);
    } catch (error) {
      if (error instanceof CommandSyntaxError) return failed(`bad command: ${error.message}`);
      throw error;
    }
    const [first = '', ...args] = argv;
    const program = await resolveProgram(spec, first);
    const run = await runInProcessGroup({ file: program, args, env: spec.env, timeoutMs: spec.timeoutMs, signal });
    return { ...judge(spec, run, program), exitCode: run.exitCode, signal: run.signal, ms: performance.now() - started };
  } catch (error) {
    return failed(`internal error: ${printable(error instanceof Error ? error.message : String(error))}`);
  }
}

type Verdict = Pick<CommandResult, 'up' | 'line' | 'weight'>;

function judge(spec: CommandCheckSpec, run: GroupRun, program: string): Verdict {
  if (run.spawnError !== null) return { up: false, line: `cannot run ${printable(program)}: ${run.spawnError}` };
  if (run.stopped === 'timeout') return { up: false, line: `timed out after ${spec.timeoutMs} ms (killed process group ${run.pid})` };
  if (run.stopped === 'abort') {
    return { up: false, line: run.pid === null ? 'aborted before it started' : `aborted after ${Math.round(run.ms)} ms (killed process group ${run.pid})` };
  }
  if (run.exitCode === null) return { up: false, line: `killed by ${run.signal ?? 'an unknown signal'}` };
  if (spec.style === 'nanny') return judgeNanny(spec, run, run.exitCode);
  if (spec.style === 'keepalived') return judgeKeepalived(spec, run, run.exitCode);
  return { up: run.exitCode === 0, line: describe(run, run.exitCode) };
}

/** keepalived MISC_CHECK: 0 up, 1 down; with misc_dynamic 2..255 up at weight code-2; else down. */
function judgeKeepalived(spec: CommandCheckSpec, run: GroupRun, code: number): Verdict {
  if (code === 0) return { up: true, line: describe(run, code) };
  const weight = spec.dynamic ? miscDynamicWeight(code) : undefined;
  if (weight !== undefined) {
    return { up: true, weight, line: firstLine(run.stdout) || `exited with status ${code} (weight ${weight})` };
  }
  return { up: false, line: describe(run, code) };
}

/**
 * nanny's send_program (nanny.c external_check + getExecOutput): stderr is ignored; if the program
 * exits 0, one read of at most 4095 bytes of its stdout, with the LAST BYTE DROPPED (meant to be the
 * newline; dropped whatever it is), must equal expect exactly (strcmp: case-sensitive, whole output,
 * use_regex not applied). A program that exits non-zero gives nanny no output, which it counts as UP
 * when an expect string is set and as down when none is. Timeouts, signals and programs that cannot
 * start are down here (nanny would count those as up too).
 */
function judgeNanny(spec: CommandCheckSpec, run: GroupRun, code: number): Verdict {
  if (code !== 0) {
    if (spec.expect === undefined) return { up: false, line: describe(run, code) };
    if (spec.strict) return { up: false, line: describe(run, code) };
    return { up: true, line: `exited with status ${code}; nanny counts a send_program that returns nothing as up (set strict to make it down)` };
  }
  let output = run.stdout.subarray(0, NANNY_READ_BYTES);
  if (output.length > 0) output = output.subarray(0, output.length - 1);
  const nul = output.indexOf(0);
  if (nul >= 0) output = output.subarray(0, nul); // C string
  const shown = printable(output.toString('utf8'), 80);
  if (spec.expect === undefined) return { up: false, line: `output "${shown}" but no expect string to compare it with` };
  if (output.equals(Buffer.from(spec.expect))) return { up: true, line: firstLine(run.stdout) || 'empty output, as expected' };
  return { up: false, line: `output "${shown}" is not the expected "${printable(spec.expect, 80)}"` };
}

function firstLine(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  const end = text.indexOf('\n');
  return printable((end < 0 ? text : text.slice(0, end)).replace(/\r$/, ''));
}

/** stdout's first line, else the status with stderr's first line */
function describe(run: GroupRun, code: number): string {
  const out = firstLine(run.stdout);
  if (out) return out;
  const err = firstLine(run.stderr);
  return `exited with status ${code}${err ? `: ${err}` : ''}`;
}

/**
 * nanny's convert_str() on expect/send (unless `-T`): `\\` `\r` `\n` `\t` `\'` `\"` become the
 * character; any other backslash stays as it is. Strings of one character are left alone.
 */
export function convertNannyEscapes(text: string): string {
  if (text.length <= 1) return text;
  const table: Record<string, string> = { '\\': '\\', r: '\r', n: '\n', t: '\t', "'": "'", '"': '"' };
  return text.replace(/\\(.)/gs, (whole, ch: string) => table[ch] ?? whole);
}

import { spawn } from 'node:child_process';

/**
 * Runs a system tool (ipvsadm, nft, conntrackd) with an argv, never through a shell, within a
 * time limit, and words its failure one way for every caller: `nft -f -: exit 1: what it said`.
 * The ipvsadm adapter adds what ipvsadm's exit codes and the kernel's words mean (its runner.ts).
 */
export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ToolRun extends ToolResult {
  readonly signal: NodeJS.Signals | null;
  /** killed at options.timeoutMs */
  readonly timedOut?: boolean;
}

export interface RunOptions {
  readonly input?: string;
  /** default 30 s; the child is killed (SIGKILL) then */
  readonly timeoutMs?: number;
  /** what to do when the program is not there (`install ipvsadm, or set dataplane.ipvsadm`) */
  readonly missing?: string;
}

/** How tools get run: runTool in production; unit tests hand in a fake of the same shape. */
export type ToolRunner = (path: string, argv: readonly string[], options?: RunOptions) => Promise<ToolRun>;

/** A tool that could not start, or (runChecked) did not exit 0. */
export class ToolError extends Error {
  override name = 'ToolError';
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** What a tool said, on one line: its error output (else its output), at most 300 characters. */
export function saidBy(stdout: string, stderr: string): string {
  const text = stderr.trim() || stdout.trim();
  return text.split('\n').map((line) => line.trim()).filter(Boolean).join('; ').slice(0, 300);
}

/** `COMMAND: exit N: said`, `COMMAND: timed out`, `COMMAND: killed before it finished`. */
export function describeExit(command: string, code: number | null, said: string, timedOut = false): string {
  const how = timedOut ? 'timed out' : code === null ? 'killed before it finished' : `exit ${code}`;
  return `${command}: ${how}${said ? `: ${said}` : ''}`;
}

export function runTool(path: string, argv: readonly string[], options: RunOptions = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    // own timer rather than spawn's `timeout`, whose timer outlives a child that never started
    const child = spawn(path, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let timedOut = false;
    // 'error' first: without descriptors (EMFILE) the child has no pipes and only reports a tick later
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const missing = error.code === 'ENOENT' ? `${path} not found${options.missing ? ` (${options.missing})` : ''}` : undefined;
      reject(new ToolError(missing ?? `${path}: ${error.message}`, argv, null, ''));
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 30_000);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, stdout, stderr, timedOut });
    });
    child.stdin?.on('error', () => {}); // a tool that exits early must not crash us with EPIPE
    child.stdin?.end(options.input ?? '');
  });
}

/**
 * Runs a tool and throws ToolError (describeExit's words, `command` naming it: `conntrackd -c`)
 * unless it exits 0.
 */
export async function runChecked(command: string, path: string, argv: readonly string[], options: RunOptions = {}, run: ToolRunner = runTool): Promise<ToolResult> {
  const result = await run(path, argv, options);
  if (result.code === 0 && !result.signal) return result;
  const code = result.signal ? null : result.code;
  throw new ToolError(describeExit(command, code, saidBy(result.stdout, result.stderr), result.timedOut), argv, code, result.stderr);
}

import { spawn } from 'node:child_process';

/**
 * Runs ipvsadm (or nft) with an argv, never through a shell, and turns a failure into an error
 * that says what was run, what the tool said and what it means (ipvsadm 1.29's ipvsadm.c
 * and libipvs.c):
 * exit 2 = ipvsadm refused the arguments, 255 = the kernel refused the operation.
 */
export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class IpvsadmError extends Error {
  override name = 'IpvsadmError';
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
  }
}

const KERNEL_HINTS: Record<string, string> = {
  'Service already exists': 'the virtual service is already declared',
  'No such service': 'the virtual service is not declared',
  'Service not defined': 'the virtual service of this real server is not declared',
  'Destination already exists': 'the real server is already in this service',
  'No such destination': 'the real server is not in this service',
  'Scheduler or persistence engine not found': 'the kernel has no such scheduler module (ip_vs_<name>)',
  'Permission denied (you must be root)': 'ipvsadm needs root (CAP_NET_ADMIN)',
  'Invalid operation.  Possibly wrong module version, address not unicast, ...':
    'the kernel refused the address (is the loopback interface up in this namespace?)',
};

/** The operator-facing reading of a failed ipvsadm run. */
export function describeFailure(argv: readonly string[], code: number | null, stderr: string): string {
  const said = stderr.trim().split('\n').filter(Boolean).join('; ');
  const command = `ipvsadm ${argv.join(' ')}`;
  if (/Can't initialize ipvs|Are you sure that IP Virtual Server/.test(said)) return `${command}: this kernel has no IPVS (modprobe ip_vs failed): ${said}`;
  if (code === 2) return `${command}: ipvsadm rejected the arguments (exit 2): ${said}`;
  if (code === 255 || code === -1) {
    const hint = KERNEL_HINTS[stderr.trim().split('\n')[0] ?? ''];
    return `${command}: the kernel refused it (exit 255): ${said}${hint ? ` — ${hint}` : ''}`;
  }
  if (code === null) return `${command}: killed before it finished${said ? `: ${said}` : ''}`;
  return `${command}: exit ${code}${said ? `: ${said}` : ''}`;
}

export interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
}

export interface ToolRun extends ToolResult {
  readonly signal: NodeJS.Signals | null;
}

/**
 * How ipvsadm and nft get run: runTool below in production; unit tests hand the adapter an
 * in-process fake of the same shape (test/helpers/fake-ipvsadm.ts).
 */
export type ToolRunner = (path: string, argv: readonly string[], options?: RunOptions) => Promise<ToolRun>;

export function runTool(path: string, argv: readonly string[], options: RunOptions = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    // own timer rather than spawn's `timeout`, whose timer outlives a child that never started
    const child = spawn(path, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    // 'error' first: without descriptors (EMFILE) the child has no pipes and only reports a tick later
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new IpvsadmError(error.code === 'ENOENT' ? `${path} not found (install ipvsadm, or set dataplane.ipvsadm)` : `${path}: ${error.message}`, argv, null, ''));
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal, stdout, stderr });
    });
    child.stdin?.on('error', () => {}); // a tool that exits early must not crash us with EPIPE
    child.stdin?.end(options.input ?? '');
  });
}

/** Runs one ipvsadm command; throws IpvsadmError unless it exits 0. */
export async function ipvsadm(path: string, argv: readonly string[], options: RunOptions = {}, run: ToolRunner = runTool): Promise<ToolResult> {
  const result = await run(path, argv, options);
  if (result.code !== 0 || result.signal) {
    const code = result.signal ? null : result.code;
    throw new IpvsadmError(describeFailure(argv, code, result.stderr), argv, code, result.stderr);
  }
  return result;
}

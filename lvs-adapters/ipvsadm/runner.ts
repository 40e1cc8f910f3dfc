import { describeExit, type RunOptions, runTool, saidBy, ToolError, type ToolResult, type ToolRunner } from '../../orchestrator/tools/run-tool.ts';

/**
 * ipvsadm (and nft) run by the shared runner (orchestrator/tools/run-tool.ts), with what
 * ipvsadm's exit codes and the kernel's words mean (ipvsadm 1.29's ipvsadm.c and libipvs.c):
 * exit 2 = ipvsadm refused the arguments, 255 = the kernel refused the operation.
 */
export class IpvsadmError extends ToolError {
  override name = 'IpvsadmError';
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
  const said = saidBy('', stderr);
  const command = `ipvsadm ${argv.join(' ')}`;
  if (/Can't initialize ipvs|Are you sure that IP Virtual Server/.test(said)) return `${command}: this kernel has no IPVS (modprobe ip_vs failed): ${said}`;
  if (code === 2) return `${command}: ipvsadm rejected the arguments (exit 2): ${said}`;
  if (code === 255 || code === -1) {
    const hint = KERNEL_HINTS[stderr.trim().split('\n')[0] ?? ''];
    return `${command}: the kernel refused it (exit 255): ${said}${hint ? ` — ${hint}` : ''}`;
  }
  return describeExit(command, code, said);
}

/** Runs one ipvsadm command; throws IpvsadmError unless it exits 0. */
export async function ipvsadm(path: string, argv: readonly string[], options: RunOptions = {}, run: ToolRunner = runTool): Promise<ToolResult> {
  const result = await run(path, argv, { missing: 'install ipvsadm, or set dataplane.ipvsadm', ...options });
  if (result.code !== 0 || result.signal) {
    const code = result.signal ? null : result.code;
    throw new IpvsadmError(describeFailure(argv, code, result.stderr), argv, code, result.stderr);
  }
  return result;
}

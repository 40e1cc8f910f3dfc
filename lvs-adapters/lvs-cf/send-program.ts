// A nanny send_program that runs a known plugin against the real server (`check_tftp --connect %h`,
// `check_ftp -H %h -t 5`...) is the check lbguard has built in: imported as the native probe with the
// same target and timeout, it runs in-process and can be rendered for keepalived. Anything else -
// an unknown program, a host or port that is not the real server's, an option the native probe
// does not take the same way - stays a command.
import { splitCommandLine } from '../../orchestrator/checks/command-line.ts';

export interface NativeCheck {
  readonly probe: 'ftp' | 'tftp' | 'ssh' | 'tcp';
  /** the probe's long options (check.options of the farms file) */
  readonly options: Record<string, string | number | boolean>;
  /** the program's own -t, in seconds */
  readonly timeoutSeconds?: number;
}

const PROBE_OF: Record<string, NativeCheck['probe']> = { check_ftp: 'ftp', check_tftp: 'tftp', check_ssh: 'ssh', check_tcp: 'tcp' };

/** -H %h, -p %p, -t N and our --nanny: the options every plugin takes alike. */
function commonOptions(args: readonly string[], hostPositional: boolean): { timeoutSeconds?: number } | undefined {
  let host = false;
  let timeoutSeconds: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (arg === '--nanny') continue;
    if ((arg === '-H' || arg === '--hostname') && next === '%h') host = true;
    else if ((arg === '-p' || arg === '--port') && next === '%p') {
      // the real server's own port: the farm checks there anyway
    } else if ((arg === '-t' || arg === '--timeout') && next !== undefined && /^\d{1,4}$/.test(next) && Number(next) > 0) timeoutSeconds = Number(next);
    else if (hostPositional && arg === '%h' && !host) {
      host = true;
      continue;
    } else return undefined;
    i++;
  }
  if (!host) return undefined;
  return timeoutSeconds === undefined ? {} : { timeoutSeconds };
}

/** The native check a send_program amounts to, or undefined when it must stay a command. */
export function nativeCheck(sendProgram: string): NativeCheck | undefined {
  let argv: string[];
  try {
    argv = splitCommandLine('nanny', sendProgram);
  } catch {
    return undefined;
  }
  const [program = '', ...args] = argv;
  const probe = PROBE_OF[program.slice(program.lastIndexOf('/') + 1)];
  if (!probe) return undefined;
  if (probe === 'tftp' && (args[0] === '--connect' || args[0] === '--get')) return classicTftp(args);
  const common = commonOptions(args, probe === 'ssh');
  if (!common) return undefined;
  return { probe, options: {}, ...common };
}

/** The classic script's forms: `--connect %h` (File not found is the answer) and `--get %h FILE SIZE`. */
function classicTftp(args: readonly string[]): NativeCheck | undefined {
  const [form, host, ...rest] = args;
  if (host !== '%h') return undefined;
  if (form === '--connect') {
    const common = commonOptions(['-H', '%h', ...rest], false);
    return common && { probe: 'tftp', options: { answer: true }, ...common };
  }
  const [file, size, ...more] = rest;
  if (file === undefined || file.startsWith('-') || !/^\d+$/.test(size ?? '')) return undefined;
  const common = commonOptions(['-H', '%h', ...more], false);
  return common && { probe: 'tftp', options: { file, 'expect-size': Number(size) }, ...common };
}

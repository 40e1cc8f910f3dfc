import { isIP } from 'node:net';
import { OK, WARNING } from './state.ts';

/**
 * How a plugin answers when a load-balancer daemon, not Nagios, runs it (shared/anchors/lvs.md):
 *
 * - `--nanny[=TEXT]` (Piranha's nanny, lvs.cf `send_program`): nanny compares stdout with `expect`
 *   and counts a NON-ZERO exit as up. So: always exit 0; print exactly TEXT (default `OK`) and a
 *   newline when the check is OK or WARNING (the server serves), else `DOWN: <status line>`, all
 *   under 4 KiB. lvs.cf: `send_program = "/usr/local/bin/check_ftp --nanny -H %h -p %p -t 5"`,
 *   `expect = "OK"`.
 * - ldirectord `checktype = external`: `checkcommand` is a bare path and gets four arguments,
 *   VIP|FWMARK VPORT RIP RPORT. A plugin called with exactly four such arguments and nothing else
 *   checks RIP:RPORT (RPORT 0: the plugin's default port) and exits 0 when up, non-zero when not.
 * - otherwise: the Nagios contract, unchanged (keepalived's MISC_CHECK reads it as is).
 */
export interface Integration {
  readonly mode: 'nagios' | 'nanny' | 'ldirectord';
  /** the argv the plugin parses */
  readonly argv: readonly string[];
  /** what to print and the exit status, from the Nagios output and state */
  finish(output: string, state: number): { stdout: string; code: number };
}

const NANNY_LIMIT = 4000;

function ldirectordArgs(argv: readonly string[]): string[] | undefined {
  if (argv.length !== 4 || argv.some((a) => a.startsWith('-'))) return undefined;
  const [virtual = '', vport = '', rip = '', rport = ''] = argv;
  const isPort = (p: string) => /^\d{1,5}$/.test(p) && Number(p) <= 65535;
  if (!isIP(rip) || !isPort(vport) || !isPort(rport) || (!isIP(virtual) && !/^\d+$/.test(virtual))) return undefined;
  return Number(rport) > 0 ? ['-H', rip, '-p', rport] : ['-H', rip];
}

export function integrationFor(argv: readonly string[]): Integration {
  const nannyAt = argv.findIndex((a) => a === '--nanny' || a.startsWith('--nanny='));
  if (nannyAt >= 0) {
    const flag = argv[nannyAt] ?? '';
    const expect = flag.includes('=') ? flag.slice(flag.indexOf('=') + 1) : 'OK';
    return {
      mode: 'nanny',
      argv: argv.filter((_, i) => i !== nannyAt),
      finish(output, state) {
        if (state === OK || state === WARNING) return { stdout: `${expect}\n`, code: 0 };
        const line = (output.split('\n')[0] ?? '').slice(0, NANNY_LIMIT);
        // never equal to the expect text, even when the status line happens to be
        return { stdout: `DOWN: ${line === expect ? `${line} (state ${state})` : line}\n`, code: 0 };
      },
    };
  }
  const ldirectord = ldirectordArgs(argv);
  if (ldirectord) return { mode: 'ldirectord', argv: ldirectord, finish: (output, state) => ({ stdout: output, code: state }) };
  return { mode: 'nagios', argv, finish: (output, state) => ({ stdout: output, code: state }) };
}

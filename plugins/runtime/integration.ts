import { isIP } from 'node:net';
import { OK, WARNING } from './state.ts';

/**
 * How a plugin answers when a load-balancer daemon, not Nagios, runs it (piranha 0.8.6 nanny.c and
 * nanny(8); keepalived.conf(5) MISC_CHECK and misc_dynamic; ldirectord(8) checktype = external):
 *
 * - `--nanny[=TEXT]` (Piranha's nanny, lvs.cf `send_program`): nanny compares stdout with `expect`
 *   and counts a NON-ZERO exit as up. So: always exit 0; print exactly TEXT (default `OK`) and a
 *   newline when the check is OK or WARNING (the server serves), else `DOWN: <status line>`, all
 *   under 4 KiB. lvs.cf: `send_program = "/usr/local/bin/check_ftp --nanny -H %h -p %p -t 5"`,
 *   `expect = "OK"`.
 * - `--misc-dynamic[=[WEIGHT][,WARNWEIGHT]]` (keepalived MISC_CHECK with `misc_dynamic`, which reads
 *   exit 0 as up at the configured weight, 1 as down and 2..255 as up at weight status-2): OK exits
 *   2+WEIGHT (0 when WEIGHT is left out: the configured weight), WARNING 2+WARNWEIGHT (default 1, or
 *   WEIGHT when that is 0: still serving, at the least weight that gets new connections),
 *   CRITICAL and UNKNOWN exit 1 — usage errors too, since keepalived would read 3 as "up, weight 1".
 *   The Nagios output is printed as it is (keepalived logs nothing of it).
 * - ldirectord `checktype = external`: `checkcommand` is a bare path and gets four arguments,
 *   VIP|FWMARK VPORT RIP RPORT. A plugin called with exactly four such arguments and nothing else
 *   checks RIP:RPORT (RPORT 0: the plugin's default port) and exits 0 when up, non-zero when not.
 * - otherwise: the Nagios contract, unchanged (keepalived's MISC_CHECK without misc_dynamic reads
 *   it as is: 0 up, anything else down).
 */
export interface Integration {
  readonly mode: 'nagios' | 'nanny' | 'ldirectord' | 'misc-dynamic';
  /** the argv the plugin parses */
  readonly argv: readonly string[];
  /** a bad integration option: the plugin answers it as a usage error (through finish) */
  readonly problem?: string;
  /** what to print and the exit status, from the Nagios output and state */
  finish(output: string, state: number): { stdout: string; code: number };
}

const MISC_DYNAMIC_MAX_WEIGHT = 253;

/** The --help section on these modes (plugin.ts helpText), next to what it describes. */
export const INTEGRATION_HELP: readonly string[] = [
  'Modes for load balancers (in place of the Nagios exit codes):',
  ' --nanny[=TEXT]',
  '    Piranha nanny (lvs.cf send_program, expect = "TEXT"): always exit 0; print TEXT (default OK)',
  '    when the check is OK or WARNING, else DOWN: and the status line',
  ' --misc-dynamic[=[WEIGHT][,WARNWEIGHT]]',
  '    keepalived MISC_CHECK with misc_dynamic: OK exits 2+WEIGHT (0, the configured weight, without',
  '    WEIGHT), WARNING 2+WARNWEIGHT (default 1, 0 when WEIGHT is 0), CRITICAL, UNKNOWN and usage',
  `    errors exit 1 (down); weights 0..${MISC_DYNAMIC_MAX_WEIGHT}`,
  ' VIP VPORT RIP RPORT',
  '    ldirectord checktype = external (these four arguments and nothing else): checks RIP port',
  '    RPORT (0: the default port); exit 0 up, non-zero down',
];

const NANNY_LIMIT = 4000;

/**
 * keepalived's misc_dynamic (check_misc.c, keepalived.conf(5)): exit 0 = up at the configured
 * weight, 1 = down, 2..255 = up with weight status-2 (with one checker on the real server).
 * The one definition both directions use: the plugins' --misc-dynamic writes it, lbguard's
 * command check reads it.
 */
export const MISC_DYNAMIC = {
  /** the status that keeps the configured weight */
  configured: 0,
  down: 1,
  maxWeight: MISC_DYNAMIC_MAX_WEIGHT,
} as const;

/** The exit status that asks keepalived for WEIGHT (0..253). */
export function miscDynamicStatus(weight: number): number {
  return weight + 2;
}

/** The weight keepalived reads from an exit status, or undefined for 0 (configured weight) and down. */
export function miscDynamicWeight(status: number): number | undefined {
  return Number.isInteger(status) && status >= 2 && status <= 255 ? status - 2 : undefined;
}

export interface MiscDynamicWeights {
  /** undefined: exit 0, keepalived keeps the configured weight */
  readonly ok: number | undefined;
  readonly warning: number;
}

/** `--misc-dynamic`, `--misc-dynamic=10`, `--misc-dynamic=10,3`, `--misc-dynamic=,3`; throws a message. */
export function parseMiscDynamic(value: string | undefined): MiscDynamicWeights {
  const usage = `--misc-dynamic takes [WEIGHT][,WARNWEIGHT], each a whole number from 0 to ${MISC_DYNAMIC.maxWeight}`;
  if (value === undefined) return { ok: undefined, warning: 1 };
  const parts = value.split(',');
  if (parts.length > 2) throw new Error(`${usage} - ${value}`);
  const [okText = '', warnText] = parts;
  const weight = (text: string): number => {
    if (!/^\d{1,3}$/.test(text) || Number(text) > MISC_DYNAMIC.maxWeight) throw new Error(`${usage} - ${value}`);
    return Number(text);
  };
  const ok = okText === '' ? undefined : weight(okText);
  if (warnText === undefined) {
    if (ok === undefined) throw new Error(`${usage} - ${value}`);
    return { ok, warning: Math.min(1, ok) };
  }
  const warning = weight(warnText);
  if (ok !== undefined && warning > ok) throw new Error(`--misc-dynamic: WARNWEIGHT ${warning} is above WEIGHT ${ok}`);
  return { ok, warning };
}

/** The exit status of a state under --misc-dynamic. */
export function miscDynamicExit(weights: MiscDynamicWeights, state: number): number {
  if (state === OK) return weights.ok === undefined ? MISC_DYNAMIC.configured : miscDynamicStatus(weights.ok);
  if (state === WARNING) return miscDynamicStatus(weights.warning);
  return MISC_DYNAMIC.down;
}

function ldirectordArgs(argv: readonly string[]): string[] | undefined {
  if (argv.length !== 4 || argv.some((a) => a.startsWith('-'))) return undefined;
  const [virtual = '', vport = '', rip = '', rport = ''] = argv;
  const isPort = (p: string) => /^\d{1,5}$/.test(p) && Number(p) <= 65535;
  if (!isIP(rip) || !isPort(vport) || !isPort(rport) || (!isIP(virtual) && !/^\d+$/.test(virtual))) return undefined;
  return Number(rport) > 0 ? ['-H', rip, '-p', rport] : ['-H', rip];
}

/** The value of `--NAME` / `--NAME=VALUE` in argv: its index and value (undefined without `=`). */
function flag(argv: readonly string[], name: string): { at: number; value: string | undefined } | undefined {
  const at = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (at < 0) return undefined;
  const text = argv[at] ?? '';
  return { at, value: text.includes('=') ? text.slice(text.indexOf('=') + 1) : undefined };
}

function miscDynamicIntegration(argv: readonly string[], at: number, value: string | undefined): Integration {
  const rest = argv.filter((_, i) => i !== at);
  let weights: MiscDynamicWeights;
  try {
    weights = parseMiscDynamic(value);
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    return { mode: 'misc-dynamic', argv: rest, problem, finish: (output) => ({ stdout: output, code: MISC_DYNAMIC.down }) };
  }
  const problem = flag(rest, 'nanny') ? '--misc-dynamic and --nanny exclude each other' : undefined;
  return {
    mode: 'misc-dynamic',
    argv: rest,
    problem,
    finish: (output, state) => ({ stdout: output, code: problem ? MISC_DYNAMIC.down : miscDynamicExit(weights, state) }),
  };
}

export function integrationFor(argv: readonly string[]): Integration {
  const dynamic = flag(argv, 'misc-dynamic');
  if (dynamic) return miscDynamicIntegration(argv, dynamic.at, dynamic.value);
  const nanny = flag(argv, 'nanny');
  if (nanny) {
    const expect = nanny.value ?? 'OK';
    return {
      mode: 'nanny',
      argv: argv.filter((_, i) => i !== nanny.at),
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

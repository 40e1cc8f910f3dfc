// `lbguard render farmguardian`: a farm's check as the Farm Guardian object a Zevenet appliance takes.
// How farmguardian (usr/local/zevenet/bin/farmguardian in zevenet/zlb) runs it decides the shape:
// - HOST then PORT are replaced everywhere in the text; PORT is the farm's virtual port when the
//   backend has none (`20,21`, `1024:65535`, `*`: our plugins take those);
// - the command runs as "$libexec_dir/<command>" (/usr/lib/nagios/plugins) through sh: a bare name of a
//   file there, so lbguard's plugins are named as `lbguard install-plugins` installs them, never
//   check_ftp (the C plugin there refuses our options: exit 3 = down);
// - exit 0 is up, anything else down: modes that judge for another daemon (--nanny, --misc-dynamic) are
//   dropped;
// - a check past `timeout` is waited for, never killed, and stalls the round: every command carries its
//   own -t, below the guardian's timeout;
// - no rise/fall: one result decides.
import { basename } from 'node:path';
import type { FarmConfig } from '../../orchestrator/config/schema.ts';
import { splitCommandLine } from '../../orchestrator/checks/command-line.ts';
import { guardianName, guardianNameProblem } from '../zevenet/names.ts';
import { DEFAULT_LIBEXEC, LAUNCHER_NAMES } from './install.ts';
import { shellWord } from './shell-word.ts';

export { shellWord };

/** A Farm Guardian object: its name (`POST /monitoring/fg`) and settings (`PUT /monitoring/fg/<name>`). */
export interface FarmGuardianObject {
  readonly name: string;
  readonly description: string;
  readonly command: string;
  /** seconds between rounds */
  readonly interval: number;
  /** seconds farmguardian waits before counting a check as failed (it does not kill it) */
  readonly timeout: number;
  readonly cut_conns: 'true' | 'false';
  readonly log: 'true' | 'false';
}

/** The command each built-in probe becomes: lbguard's launchers, and the C check_tcp for plain TCP. */
const PLUGIN: Record<Exclude<FarmConfig['check']['probe'], 'command'>, string> = {
  ftp: LAUNCHER_NAMES.check_ftp,
  tftp: LAUNCHER_NAMES.check_tftp,
  ssh: LAUNCHER_NAMES.check_ssh,
  tcp: 'check_tcp',
};

/** Options the render sets itself from the farm (target and deadline). */
const OWN = new Set(['hostname', 'H', 'port', 'p', 'timeout', 't']);
/** Modes that answer another daemon's way (nanny: always exit 0; keepalived: weights as exit codes). */
const JUDGING = new Set(['nanny', 'misc-dynamic']);

/** PORT as the rendered commands have it: quoted, since Farm Guardian may put `*` there. */
const PORT_WORD = "'PORT'";

/** The -t of the rendered command, in whole seconds. */
function checkSeconds(farm: FarmConfig): number {
  return Math.max(1, Math.ceil(farm.check.timeout / 1000));
}

function optionWords(options: FarmConfig['check']['options']): string[] {
  const words: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (OWN.has(key) || JUDGING.has(key) || value === false) continue;
    if (value === true) words.push(`--${key}`);
    else if (Array.isArray(value)) words.push(...value.map((v) => `--${key}=${v}`));
    else words.push(`--${key}=${value}`);
  }
  return words;
}

/** The words of an external check line, address/port tokens of other styles turned into HOST/PORT. */
function externalWords(check: FarmConfig['check']): string[] {
  const line = check.command!;
  const argv = typeof line === 'string' ? splitCommandLine(check.style, line) : [...line];
  const tokens: Record<string, string> = check.style === 'farmguardian' ? {} : { '%h': 'HOST', '%p': 'PORT' };
  return argv.map((word, i) => (i > 0 && tokens[word] ? tokens[word] : word));
}

const hasDeadline = (words: readonly string[]) => words.some((w, i) => i > 0 && (w === '-t' || /^-t\d+$/.test(w) || /^--timeout(=|$)/.test(w)));
/** Programs known to take -t SECONDS: monitoring-plugins' check_* and lbguard's launchers. */
const takesDeadline = (program: string) => /^(lbguard_)?check_\w+$/.test(program);

export interface RenderedCommand {
  readonly command: string;
  /** what the operator must know about it (a program to install, a deadline it lacks, judging modes dropped) */
  readonly notes: string[];
}

/** The command line Farm Guardian should run for the farm's backends, HOST and PORT left for it. */
export function farmGuardianCommand(farm: FarmConfig): string {
  return renderCommand(farm).command;
}

export function renderCommand(farm: FarmConfig): RenderedCommand {
  const check = farm.check;
  const seconds = String(checkSeconds(farm));
  const notes: string[] = [];
  if (check.probe !== 'command') {
    const dropped = Object.keys(check.options).filter((k) => JUDGING.has(k));
    if (dropped.length) notes.push(`--${dropped.join(', --')} dropped: Farm Guardian reads the exit code only (0 = up)`);
    const program = PLUGIN[check.probe];
    notes.push(check.probe === 'tcp' ? `${program} is monitoring-plugins' C plugin, already on the appliance` : `${program} is lbguard's plugin: run \`lbguard install-plugins\` on the appliance (it installs into ${DEFAULT_LIBEXEC})`);
    // PORT quoted: a farm of every port passes `*`, which sh would expand to file names
    return { command: [program, '-H', 'HOST', '-p', PORT_WORD, '-t', seconds, ...optionWords(check.options).map(shellWord)].join(' '), notes };
  }
  const words = externalWords(check);
  const program = words[0]!;
  if (program.includes('/')) {
    words[0] = basename(program);
    notes.push(`${program} became ${words[0]}: Farm Guardian runs every command from ${DEFAULT_LIBEXEC} (a path would become ${DEFAULT_LIBEXEC}/${program}); put ${words[0]} there`);
  }
  if (!hasDeadline(words)) {
    if (takesDeadline(words[0]!)) words.push('-t', seconds);
    else notes.push(`${words[0]} gets no -t: give it a deadline of its own below the guardian's timeout, or a hung check stalls every backend after it`);
  }
  return { command: words.map((w) => (w === 'HOST' ? w : w === 'PORT' ? PORT_WORD : shellWord(w))).join(' '), notes };
}

export function farmGuardianObject(farm: FarmConfig): FarmGuardianObject {
  const seconds = checkSeconds(farm);
  return {
    name: guardianName(farm.name),
    description: `lbguard ${farm.check.probe} check of farm ${farm.name} (${farm.service})`,
    command: farmGuardianCommand(farm),
    interval: Math.max(1, Math.round(farm.check.interval / 1000)),
    // above the command's own -t: the check ends itself before farmguardian gives up on it
    timeout: seconds + 1,
    cut_conns: 'false',
    log: 'true',
  };
}

/** What `lbguard render farmguardian` prints for one farm; throws when the appliance would refuse its name. */
export function renderFarmGuardian(farm: FarmConfig): string {
  const problem = guardianNameProblem(farm.name);
  if (problem) throw new Error(`farm ${farm.name}: ${problem}`);
  const fg = farmGuardianObject(farm);
  const { notes } = renderCommand(farm);
  const { name: _name, ...settings } = fg;
  const lines = [
    `# farm ${farm.name}: Farm Guardian for a Zevenet L4xNAT farm (Monitoring > Farm Guardian, or the API below)`,
    `# HOST and PORT are replaced by each backend's address and port; exit 0 = up, anything else = down.`,
    `# Farm Guardian has no rise/fall (lbguard: rise ${farm.check.rise}, fall ${farm.check.fall}): one result decides.`,
    ...notes.map((n) => `# ${n}`),
  ];
  // Farm Guardian substitutes as plain text: an option value holding HOST or PORT would change too
  const caught = fg.command.split(' ').filter((word) => word !== 'HOST' && word !== PORT_WORD && /HOST|PORT/.test(word));
  if (caught.length) lines.push(`# WARNING: Farm Guardian will also replace HOST/PORT inside ${caught.join(' ')}: rename what holds them.`);
  return [
    ...lines,
    `command: ${fg.command}`,
    `interval: ${fg.interval}`,
    `timeout: ${fg.timeout}`,
    `# through the API (ZAPI v4.0): create it, set it, attach it to the appliance's farm:`,
    `# POST /zapi/v4.0/zapi.cgi/monitoring/fg ${JSON.stringify({ name: fg.name })}`,
    `# PUT /zapi/v4.0/zapi.cgi/monitoring/fg/${fg.name}`,
    JSON.stringify(settings),
    `# POST /zapi/v4.0/zapi.cgi/farms/<farm>/fg ${JSON.stringify({ name: fg.name })}`,
    `# (to change the command of a guardian a running farm uses, add "force":"true" to the PUT body)`,
    '',
  ].join('\n');
}

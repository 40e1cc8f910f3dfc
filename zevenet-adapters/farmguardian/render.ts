// `lbguard render farmguardian`: a farm's check as the Farm Guardian object a Zevenet appliance takes.
// Farm Guardian replaces HOST and PORT in the command as plain text, runs it from its libexec directory
// through /bin/sh, treats exit 0 as up and anything else (or no answer within `interval` seconds) as
// down. It has no rise/fall: one result decides. The command uses lbguard's plugins, installed there.
import type { FarmConfig } from '../../orchestrator/config/schema.ts';
import { splitCommandLine } from '../../orchestrator/checks/command-line.ts';
import { guardianName } from '../zevenet/names.ts';

/** A Farm Guardian object: its name (`POST /monitoring/fg`) and settings (`PUT /monitoring/fg/<name>`). */
export interface FarmGuardianObject {
  readonly name: string;
  readonly description: string;
  readonly command: string;
  /** seconds between rounds; also each check's timeout */
  readonly interval: number;
  readonly cut_conns: 'true' | 'false';
  readonly log: 'true' | 'false';
}

const PLUGIN: Record<Exclude<FarmConfig['check']['probe'], 'command'>, string> = {
  ftp: 'check_ftp',
  tftp: 'check_tftp',
  ssh: 'check_ssh',
  tcp: 'check_tcp',
};

/** Options the render sets itself from the farm (target and deadline). */
const OWN = new Set(['hostname', 'H', 'port', 'p', 'timeout', 't']);

/** A word as sh reads it back unchanged: bare when it is plain, else in single quotes. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function optionWords(options: FarmConfig['check']['options']): string[] {
  const words: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (OWN.has(key) || value === false) continue;
    if (value === true) words.push(`--${key}`);
    else if (Array.isArray(value)) words.push(...value.map((v) => `--${key}=${v}`));
    else words.push(`--${key}=${value}`);
  }
  return words;
}

/** An external check line of another style, with its address/port tokens turned into HOST/PORT. */
function externalCommand(check: FarmConfig['check']): string {
  const line = check.command!;
  if (check.style === 'farmguardian' && typeof line === 'string') return line;
  const argv = typeof line === 'string' ? splitCommandLine(check.style, line) : [...line];
  const tokens: Record<string, string> = { '%h': 'HOST', '%p': 'PORT' };
  return argv.map((word, i) => (i > 0 && tokens[word] ? tokens[word] : shellWord(word))).join(' ');
}

/** The command line Farm Guardian should run for the farm's backends, HOST and PORT left for it. */
export function farmGuardianCommand(farm: FarmConfig): string {
  const check = farm.check;
  if (check.probe === 'command') return externalCommand(check);
  const seconds = Math.max(1, Math.ceil(check.timeout / 1000));
  return [PLUGIN[check.probe], '-H', 'HOST', '-p', 'PORT', '-t', String(seconds), ...optionWords(check.options).map(shellWord)].join(' ');
}

export function farmGuardianObject(farm: FarmConfig): FarmGuardianObject {
  return {
    name: guardianName(farm.name),
    description: `lbguard ${farm.check.probe} check of farm ${farm.name} (${farm.service})`,
    command: farmGuardianCommand(farm),
    // Farm Guardian's interval is also its timeout: never shorter than our timeout
    interval: Math.max(1, Math.round(farm.check.interval / 1000), Math.ceil(farm.check.timeout / 1000)),
    cut_conns: 'false',
    log: 'true',
  };
}

/** What `lbguard render farmguardian` prints for one farm. */
export function renderFarmGuardian(farm: FarmConfig): string {
  const fg = farmGuardianObject(farm);
  const { name: _name, ...settings } = fg;
  const notes = [
    `# farm ${farm.name}: Farm Guardian for a Zevenet L4xNAT farm (Monitoring > Farm Guardian, or the API below)`,
    `# HOST and PORT are replaced by each backend's address and port; exit 0 = up, anything else = down.`,
    `# Farm Guardian has no rise/fall (lbguard: rise ${farm.check.rise}, fall ${farm.check.fall}): one result decides.`,
  ];
  if (farm.check.probe !== 'command') {
    notes.push(`# ${fg.command.split(' ')[0]} is lbguard's plugin: install it in the appliance's libexec directory.`);
    // Farm Guardian substitutes as plain text: an option value holding HOST or PORT would change too
    const caught = fg.command.split(' ').filter((word) => word !== 'HOST' && word !== 'PORT' && /HOST|PORT/.test(word));
    if (caught.length) notes.push(`# WARNING: Farm Guardian will also replace HOST/PORT inside ${caught.join(' ')}: rename what holds them.`);
  }
  return [
    ...notes,
    `command: ${fg.command}`,
    `interval: ${fg.interval}`,
    `# through the API (ZAPI v4.0): create it, set it, attach it to the appliance's farm:`,
    `# POST /zapi/v4.0/zapi.cgi/monitoring/fg ${JSON.stringify({ name: fg.name })}`,
    `# PUT /zapi/v4.0/zapi.cgi/monitoring/fg/${fg.name}`,
    JSON.stringify(settings),
    `# POST /zapi/v4.0/zapi.cgi/farms/<farm>/fg ${JSON.stringify({ name: fg.name })}`,
    '',
  ].join('\n');
}

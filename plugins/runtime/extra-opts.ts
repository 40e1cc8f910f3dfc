import { UsageError } from './errors.ts';
import { readSmallFile, readTextFile, unreadableReason } from './read-file.ts';

/**
 * monitoring-plugins' `--extra-opts=[section][@file]`: options kept in an ini file so that secrets
 * stay out of the process list. Keys are long option names; a key may repeat (two `expect=` lines are
 * two options), which is why this is not parsed with a generic ini library that merges duplicates.
 */
export const DEFAULT_INI_FILES = [
  '/etc/monitoring-plugins/monitoring-plugins.ini',
  '/usr/local/etc/monitoring-plugins/monitoring-plugins.ini',
  '/etc/monitoring-plugins.ini',
  '/etc/nagios/plugins.ini',
  '/usr/local/nagios/etc/plugins.ini',
  '/usr/local/etc/nagios/plugins.ini',
  '/etc/opt/nagios/plugins.ini',
  '/etc/nagios-plugins.ini',
  '/usr/local/etc/nagios-plugins.ini',
  '/etc/opt/nagios-plugins.ini',
];

export interface IniEntry {
  readonly key: string;
  readonly value: string | undefined;
}

/** Entries of one section, in file order. Returns undefined when the section is absent. */
export function readIniSection(text: string, section: string): IniEntry[] | undefined {
  let current: string | undefined;
  let found = false;
  const entries: IniEntry[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      const end = line.indexOf(']');
      current = (end === -1 ? line.slice(1) : line.slice(1, end)).trim();
      if (current === section) found = true;
      continue;
    }
    if (current !== section) continue;
    const eq = line.indexOf('=');
    if (eq === -1) {
      entries.push({ key: line, value: undefined });
      continue;
    }
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    entries.push({ key: line.slice(0, eq).trim(), value });
  }
  return found ? entries : undefined;
}

function defaultFile(env: NodeJS.ProcessEnv, exists: (path: string) => boolean): string | undefined {
  if (env.MP_CONFIG_FILE) return env.MP_CONFIG_FILE;
  for (const dir of (env.NAGIOS_CONFIG_PATH ?? '').split(':').filter(Boolean)) {
    for (const name of ['plugins.ini', 'nagios-plugins.ini', 'monitoring-plugins.ini']) {
      if (exists(`${dir}/${name}`)) return `${dir}/${name}`;
    }
  }
  return DEFAULT_INI_FILES.find(exists);
}

/** an ini file of plugin options; more is not one */
const MAX_INI_BYTES = 1024 * 1024;

function canRead(path: string): boolean {
  try {
    readSmallFile(path, MAX_INI_BYTES);
    return true;
  } catch {
    return false;
  }
}

/** Turns one `--extra-opts` locator into `--key=value` arguments. */
export function loadExtraOpts(locator: string, pluginName: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const at = locator.indexOf('@');
  const section = (at === -1 ? locator : locator.slice(0, at)) || pluginName;
  const file = at === -1 ? defaultFile(env, canRead) : locator.slice(at + 1);
  if (!file) throw new UsageError(`--extra-opts: no ini file found (set MP_CONFIG_FILE or use --extra-opts=${section}@FILE)`);
  let text: string;
  try {
    text = readTextFile(file, MAX_INI_BYTES);
  } catch (error) {
    throw new UsageError(`--extra-opts: cannot read ${file}: ${unreadableReason(error)}`);
  }
  const entries = readIniSection(text, section);
  if (!entries) throw new UsageError(`--extra-opts: section [${section}] not found in ${file}`);
  return entries.map(({ key, value }) => (value === undefined ? `--${key}` : `--${key}=${value}`));
}

/** Splits argv into the options `--extra-opts` names (from files) and those typed on the command line. */
export function expandExtraOpts(argv: readonly string[], pluginName: string, env: NodeJS.ProcessEnv = process.env): { fileArgs: string[]; cliArgs: string[] } {
  const fileArgs: string[] = [];
  const cliArgs: string[] = [];
  for (const arg of argv) {
    if (arg === '--extra-opts' || arg.startsWith('--extra-opts=')) {
      fileArgs.push(...loadExtraOpts(arg.slice('--extra-opts='.length), pluginName, env));
    } else cliArgs.push(arg);
  }
  return { fileArgs, cliArgs };
}

// `lbguard install-plugins [--libexec DIR]`: small launchers of lbguard's plugins in the directory Farm
// Guardian runs every command from (`$libexec_dir/<command>`, /usr/lib/nagios/plugins on an appliance).
// That directory already holds monitoring-plugins' C check_ftp, check_ssh and check_tcp, so ours go in
// under names of their own (lbguard_check_ftp, ...): a Farm Guardian command names exactly the plugin
// it means. A file there that lbguard did not write is never replaced.
import { closeSync, constants, fsyncSync, lstatSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { shellWord } from './shell-word.ts';

export const DEFAULT_LIBEXEC = '/usr/lib/nagios/plugins';

/** lbguard's plugin -> the name its launcher has in the libexec directory. */
export const LAUNCHER_NAMES = {
  check_ftp: 'lbguard_check_ftp',
  check_tftp: 'lbguard_check_tftp',
  check_ssh: 'lbguard_check_ssh',
} as const;

/** The second line of every launcher: how a file lbguard wrote is told from one it did not. */
const MARK = '# written by lbguard install-plugins: runs one of lbguard\'s plugins; rewritten by the next install';

export function launcherText(node: string, plugin: string): string {
  return `#!/bin/sh\n${MARK}\nexec ${shellWord(node)} ${shellWord(plugin)} "$@"\n`;
}

/** Whether the file at path is a launcher lbguard wrote (a symlink, a directory or another file is not). */
function writtenByUs(path: string): boolean | 'absent' {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw error;
  }
  if (!stat.isFile() || stat.size > 4096) return false;
  return readFileSync(path, 'utf8').split('\n')[1] === MARK;
}

export interface InstallResult {
  /** one line per plugin: what was done, or why not */
  readonly lines: string[];
  readonly ok: boolean;
}

/** Writes (or rewrites) each launcher; a name taken by a file lbguard did not write is left alone. */
export function installPlugins(options: { libexec: string; pluginsDir: string; node: string }): InstallResult {
  const lines: string[] = [];
  let ok = true;
  for (const [plugin, name] of Object.entries(LAUNCHER_NAMES)) {
    const target = join(options.libexec, name);
    const bundle = join(options.pluginsDir, `${plugin}.cjs`);
    try {
      lstatSync(bundle);
      const ours = writtenByUs(target);
      if (ours === false) {
        ok = false;
        lines.push(`${target}: left alone: lbguard did not write it (move it away to install lbguard's ${plugin} there)`);
        continue;
      }
      // written beside it, then renamed over: Farm Guardian never runs a half-written launcher
      const temporary = `${target}.lbguard-${process.pid}`;
      const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o755);
      try {
        writeSync(fd, launcherText(options.node, bundle));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      try {
        renameSync(temporary, target);
      } catch (error) {
        rmSync(temporary, { force: true });
        throw error;
      }
      lines.push(`${target}: ${ours === 'absent' ? 'installed' : 'updated'} (runs ${bundle})`);
    } catch (error) {
      ok = false;
      const code = (error as NodeJS.ErrnoException).code;
      lines.push(`${target}: not installed: ${code === 'ENOENT' && !exists(bundle) ? `${bundle} is missing (build lbguard first)` : (code ?? (error as Error).message)}`);
    }
  }
  return { lines, ok };
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

// Farm Guardian's round, as zevenet/zlb's usr/local/zevenet/bin/farmguardian runs it for an L4xNAT
// farm (read line by line; written here from that reading):
// - backends one after another, in the farm's order; one in maintenance is skipped;
// - the template's HOST, then PORT, replaced everywhere as plain text (a word holding HOST changes
//   too); PORT is the backend's port, or the farm's virtual port when it has none;
// - "$libexec_dir/" put in front, and for marked farms `MARK=<mark> LD_PRELOAD=<library> ` before it;
// - run through the shell as Perl's backticks do (sh -c, stdout captured), from the daemon's
//   working directory (/);
// - the guardian's timeout only arms an alarm whose handler returns: the check is NOT killed, the
//   round waits for it (and the next backend waits too); the verdict is the exit code: 0 up, else down.
import { spawn } from 'node:child_process';

export interface GuardedBackend {
  readonly ip: string;
  /** null: the farm's virtual port is used */
  readonly port: string | null;
  readonly status?: 'up' | 'fgDOWN' | 'maintenance';
  /** the backend's mark (farmguardian passes hex(tag) as a decimal) */
  readonly mark?: number;
}

export interface GuardedFarm {
  readonly vport: string;
  readonly backends: readonly GuardedBackend[];
}

export interface GuardianSettings {
  readonly command: string;
  readonly libexec: string;
  /** seconds; only measured against, as farmguardian does not end a check */
  readonly timeout: number;
  /** the mark library (Zevenet's fgmark): with it, each command gets MARK= and LD_PRELOAD= */
  readonly preload?: string;
  /** argv prefix to run the shell elsewhere, e.g. ['ip', 'netns', 'exec', NS] */
  readonly via?: readonly string[];
  readonly cwd?: string;
}

export interface GuardedResult {
  readonly ip: string;
  /** the line the shell ran */
  readonly line: string;
  readonly exitCode: number | null;
  readonly up: boolean;
  readonly stdout: string;
  readonly ms: number;
  /** ran longer than the guardian's timeout (and was waited for all the same) */
  readonly overTimeout: boolean;
}

/** The command line farmguardian hands to the shell for one backend. */
export function guardianLine(settings: GuardianSettings, farm: GuardedFarm, backend: GuardedBackend): string {
  const port = backend.port === null || backend.port === '' ? farm.vport : backend.port;
  // function replacements: Perl's s///g puts the value in as it is ($& and the like mean nothing)
  const command = settings.command.replace(/HOST/g, () => backend.ip).replace(/PORT/g, () => port);
  const line = `${settings.libexec}/${command}`;
  return settings.preload && backend.mark !== undefined ? `MARK=${backend.mark} LD_PRELOAD=${settings.preload} ${line}` : line;
}

function runShell(line: string, settings: GuardianSettings): Promise<{ exitCode: number | null; stdout: string }> {
  const argv = [...(settings.via ?? []), '/bin/sh', '-c', line];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: settings.cwd ?? '/', stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ exitCode: code, stdout }));
  });
}

/** One round over the farm's backends; maintenance ones are absent from the results. */
export async function guardianRound(settings: GuardianSettings, farm: GuardedFarm): Promise<GuardedResult[]> {
  const results: GuardedResult[] = [];
  for (const backend of farm.backends) {
    if (backend.status === 'maintenance') continue;
    const line = guardianLine(settings, farm, backend);
    const started = performance.now();
    const { exitCode, stdout } = await runShell(line, settings);
    const ms = performance.now() - started;
    results.push({ ip: backend.ip, line, exitCode, up: exitCode === 0, stdout, ms, overTimeout: ms > settings.timeout * 1000 });
  }
  return results;
}

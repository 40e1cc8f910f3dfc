import { evaluateScalar, responseTime, type Thresholds } from '../runtime/context.ts';
import type { Outcome } from '../runtime/outcome.ts';
import { printable } from '../runtime/outcome.ts';
import { type PerfDatum, phaseSeconds } from '../runtime/perfdata.ts';
import { CRITICAL } from '../runtime/state.ts';
import type { Trace } from '../runtime/trace.ts';
import { describeIdentification } from './identification.ts';
import { probeSsh, type SshProbeOptions, type SshProbeResult } from './probe.ts';

export interface SshCheckOptions extends SshProbeOptions {
  /** `-r`: CRITICAL unless the server's software version (with or without its comment) equals this */
  readonly remoteVersion?: string;
  /** `-P`: CRITICAL unless the protocol version equals this */
  readonly remoteProtocol?: string;
  readonly thresholds: Thresholds;
  /** perfdata max of `time`, as the C plugin prints it */
  readonly timeoutSeconds: number;
}

/** Phase timings as perfdata; the C plugin's single `time` comes first, exactly as it prints it. */
function perfdata(result: SshProbeResult, total: PerfDatum): PerfDatum[] {
  const phases: PerfDatum[] = [total];
  const t = result.timings;
  if (t.kex === undefined) return phases;
  const phase = (label: string, value: number | undefined) => {
    if (value !== undefined) phases.push(phaseSeconds(label, value));
  };
  phase('connect', t.connect);
  phase('identification', t.identification - t.connect);
  phase('kex', t.kex - t.identification);
  if (t.auth !== undefined) phase('auth', t.auth - t.kex);
  if (t.sftp !== undefined && t.auth !== undefined) phase('sftp', t.sftp - t.auth);
  return phases;
}

/** The versions -r accepts: the software part alone, or with its comment as 2.3.3 compares it. */
function versionMatches(result: SshProbeResult, wanted: string): boolean {
  const { software, comments } = result.identification;
  return wanted === software || wanted === (comments ? `${software} ${comments}` : software);
}

/** Probe, judge, summarise: the check_ssh verdict, shared by the CLI and the orchestrator. */
export async function checkSsh(options: SshCheckOptions, signal: AbortSignal, trace: Trace): Promise<Outcome> {
  const result = await probeSsh(options, signal, trace);
  const elapsed = trace.elapsed();
  const described = describeIdentification(result.identification);
  if (options.remoteVersion !== undefined && !versionMatches(result, options.remoteVersion)) {
    return { state: CRITICAL, text: `${described} version mismatch, expected '${printable(options.remoteVersion)}'`, perfdata: [], details: [] };
  }
  if (options.remoteProtocol !== undefined && result.identification.protocol !== options.remoteProtocol) {
    return { state: CRITICAL, text: `${described} protocol version mismatch, expected '${printable(options.remoteProtocol)}'`, perfdata: [], details: [] };
  }
  const time = evaluateScalar(responseTime(elapsed, options.timeoutSeconds), options.thresholds);
  const facts = [described];
  if (result.hostKeyFingerprint) facts.push(`host key ${result.hostKeyFingerprint}${options.hostKey ? ' as pinned' : ''}`);
  if (result.authenticatedUser !== undefined) facts.push(`user ${printable(result.authenticatedUser)} authenticated`);
  if (result.sftpStat) {
    const { path, size, directory } = result.sftpStat;
    facts.push(`SFTP ${printable(path)} ${directory ? 'is a directory' : `${size} bytes`}`);
  }
  const slow = time.state === CRITICAL ? ' (response time over the critical threshold)' : time.state ? ' (response time over the warning threshold)' : '';
  return {
    state: time.state,
    text: facts.join(', ') + slow,
    perfdata: perfdata(result, time.perfdata),
    details: result.prelude.length ? [`${result.prelude.length} line(s) before the identification`] : [],
  };
}

import { evaluateScalar, responseTime, type Thresholds } from '../runtime/context.ts';
import type { Outcome, Subcheck } from '../runtime/outcome.ts';
import { printable } from '../runtime/outcome.ts';
import { type PerfDatum, phaseSeconds } from '../runtime/perfdata.ts';
import { CRITICAL, OK } from '../runtime/state.ts';
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

/**
 * The session phases of a deep check (host key, login, SFTP): one long-output line each, and their
 * timings as perfdata continued on a later line. The first line keeps the C plugin's single `time`.
 */
function sessionPhases(result: SshProbeResult, options: SshCheckOptions): Pick<Outcome, 'details' | 'longPerfdata'> {
  const t = result.timings;
  if (t.kex === undefined) return { details: [], longPerfdata: [] };
  const details: string[] = [];
  const longPerfdata: PerfDatum[] = [];
  const phase = (label: string, value: number, line: string) => {
    details.push(`${line} in ${value.toFixed(3)} s`);
    longPerfdata.push(phaseSeconds(label, value));
  };
  phase('connect', t.connect, `connect: ${options.host} port ${options.port}`);
  phase('identification', t.identification - t.connect, `identification: ${describeIdentification(result.identification)}`);
  phase('kex', t.kex - t.identification, `key exchange: host key ${result.hostKeyFingerprint ?? 'not seen'}`);
  if (t.auth !== undefined) phase('auth', t.auth - t.kex, `authentication: user ${printable(result.authenticatedUser ?? '')}`);
  if (t.sftp !== undefined && t.auth !== undefined) {
    const stat = result.sftpStat;
    phase('sftp', t.sftp - t.auth, `SFTP stat: ${stat ? `${printable(stat.path)} ${stat.directory ? 'is a directory' : `${stat.size} bytes`}` : 'done'}`);
  }
  return { details, longPerfdata };
}

/**
 * monitoring-plugins 3's subchecks of a check_ssh that read an identification, newest first as it
 * lists them: the verdict on the version (`SSH server version: X (protocol version: 2.0)`, with the
 * time and the timings of a deep check's phases), then the identification line and the connection,
 * both fine by then.
 */
function versionChecks(result: SshProbeResult, verdict: Subcheck): Subcheck[] {
  return [
    verdict,
    { state: OK, output: `Valid protocol version control string ${printable(result.identification.line)}` },
    { state: OK, output: 'Initial connection succeeded' },
  ];
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
  const failed = (text: string): Outcome => ({ state: CRITICAL, text, perfdata: [], details: [], checks: versionChecks(result, { state: CRITICAL, output: text }) });
  if (options.remoteVersion !== undefined && !versionMatches(result, options.remoteVersion)) {
    return failed(`${described} version mismatch, expected '${printable(options.remoteVersion)}'`);
  }
  if (options.remoteProtocol !== undefined && result.identification.protocol !== options.remoteProtocol) {
    return failed(`${described} protocol version mismatch, expected '${printable(options.remoteProtocol)}'`);
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
  const phases = sessionPhases(result, options);
  const { protocol, software } = result.identification;
  const verdict = { state: time.state, output: `SSH server version: ${printable(software)} (protocol version: ${printable(protocol)})${slow}`, perfdata: [time.perfdata, ...(phases.longPerfdata ?? [])] };
  return {
    state: time.state,
    text: facts.join(', ') + slow,
    perfdata: [time.perfdata],
    details: [...(result.prelude.length ? [`${result.prelude.length} line(s) before the identification`] : []), ...phases.details],
    longPerfdata: phases.longPerfdata,
    checks: versionChecks(result, verdict),
  };
}

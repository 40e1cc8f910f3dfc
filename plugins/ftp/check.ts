import type { PeerCertificate } from 'node:tls';
import { evaluateScalar, responseTime, type Thresholds } from '../runtime/context.ts';
import { isSocketPath } from '../runtime/host.ts';
import { type Outcome, printable, type Subcheck } from '../runtime/outcome.ts';
import { type PerfDatum, phaseSeconds } from '../runtime/perfdata.ts';
import { CRITICAL, OK, type State, WARNING } from '../runtime/state.ts';
import type { Trace } from '../runtime/trace.ts';
import { type FtpProbeOptions, type FtpProbeResult, probeFtp } from './probe.ts';
import type { Operation } from './session.ts';

export interface FtpCheckOptions extends FtpProbeOptions {
  /** `-M`: the state when the greeting does not match the expect strings */
  readonly mismatchState: State;
  /** `-j`: keep the greeting out of the status line */
  readonly hideOutput: boolean;
  readonly thresholds: Thresholds;
  /** `-D WARN[,CRIT]`: days the TLS certificate must still be valid */
  readonly certificateDays?: { readonly warn: number; readonly crit: number };
  /** `--expect-size`: exact size of the --get file */
  readonly expectSize?: number;
}

const DAY_MS = 86_400_000;

/** `127.0.0.1 port 2121`, `port 2121` without -H, `socket /path`: check_tcp's wording */
function where(options: FtpCheckOptions): string {
  if (isSocketPath(options.host)) return `socket ${options.host}`;
  return options.hostGiven ? `${options.host} port ${options.port}` : `port ${options.port}`;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** strftime `%c %z` in the C locale, in UTC: `Wed Dec 23 12:14:38 2026 +0000`, as check_tcp prints expiry */
export function cTime(date: Date): string {
  const day = String(date.getUTCDate()).padStart(2, ' ');
  const time = date.toISOString().slice(11, 19);
  return `${WEEKDAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${day} ${time} ${date.getUTCFullYear()} +0000`;
}

/** The certificate verdict of `-D`, in check_tcp's words. */
function judgeCertificate(certificate: PeerCertificate | undefined, days: { warn: number; crit: number }): { state: State; text: string } {
  if (!certificate?.valid_to) return { state: CRITICAL, text: 'Cannot retrieve server certificate.' };
  const cn = printable(String(certificate.subject?.CN ?? ''));
  const expiry = Date.parse(certificate.valid_to);
  const stamp = cTime(new Date(expiry));
  const left = expiry - Date.now();
  const daysLeft = Math.floor(left / DAY_MS);
  if (left < 0) return { state: CRITICAL, text: `Certificate '${cn}' expired on ${stamp}.` };
  if (daysLeft <= days.warn) {
    const state = daysLeft > days.crit ? WARNING : CRITICAL;
    return { state, text: `Certificate '${cn}' expires in ${daysLeft} day(s) (${stamp}).` };
  }
  return { state: OK, text: `certificate '${cn}' will expire on ${stamp}` };
}

function describeOperation(op: Operation): string {
  switch (op.kind) {
    case 'list':
      return `LIST ${printable(op.target)} ${op.entries} line(s)`;
    case 'get':
      return `RETR ${printable(op.target)} ${op.bytes} bytes`;
    case 'put':
      return `STOR+DELE ${op.bytes} bytes`;
  }
}

/** A --get file that is not what the operator said it must be. */
function contentProblem(op: Operation, options: FtpCheckOptions): string | undefined {
  if (op.kind !== 'get') return undefined;
  if (options.expectSize !== undefined && op.bytes !== options.expectSize) {
    return `RETR ${printable(op.target)}: ${op.bytes} bytes, expected ${options.expectSize}`;
  }
  if (op.contentFound === false) {
    return `RETR ${printable(op.target)}: '${printable(options.session?.get?.expectContent ?? '', 60)}' not found in its ${op.bytes} bytes`;
  }
  return undefined;
}

/** The deep check's phases: one long-output line each, and their timings as continued perfdata. */
function sessionPhases(result: FtpProbeResult, options: FtpCheckOptions): Pick<Outcome, 'details' | 'longPerfdata'> {
  const session = result.session;
  if (!session) return { details: [], longPerfdata: [] };
  const { connect, greeting } = result.timings;
  const seconds = (value: number) => `${value.toFixed(3)} s`;
  const loginFrom = session.authTls ?? greeting;
  const details = [
    `connect: ${where(options)} in ${seconds(connect)}`,
    `greeting: ${options.hideOutput ? 'hidden (-j)' : printable(result.greeting.text, 200)} after ${seconds(greeting - connect)}`,
    ...(session.authTls === undefined ? [] : [`AUTH TLS: in ${seconds(session.authTls - greeting)}`]),
    `login: user ${printable(session.user)}${session.tls ? ' over TLS' : ''} in ${seconds(session.login - loginFrom)}`,
    ...session.operations.map((op) => `${describeOperation(op)}: ${op.channel} data connection open in ${seconds(op.open)}, transfer in ${seconds(op.transfer)}`),
  ];
  const longPerfdata: PerfDatum[] = [phaseSeconds('connect', connect)];
  if (session.authTls !== undefined) longPerfdata.push(phaseSeconds('auth_tls', session.authTls - greeting));
  longPerfdata.push(phaseSeconds('login', session.login - loginFrom));
  for (const op of session.operations) {
    longPerfdata.push(phaseSeconds(`${op.kind}_open`, op.open), phaseSeconds(`${op.kind}_transfer`, op.transfer), { label: `${op.kind}_bytes`, value: op.bytes, uom: 'B', min: 0 });
  }
  return { details, longPerfdata };
}

/**
 * monitoring-plugins 3's subchecks of check_tcp as FTP, newest first as it lists them: the expect
 * verdict, the connection time against -w/-c (with the time perfdata), the connection itself; a
 * deep check's session verdict comes before them.
 */
function greetingChecks(options: FtpCheckOptions, expect: Subcheck, time: { state: State; perfdata: PerfDatum }, elapsed: number, session?: Subcheck): Subcheck[] {
  const seconds = `${elapsed.toFixed(6)}s`;
  const { warning, critical } = options.thresholds;
  const timeText =
    time.state === CRITICAL ? `Connection time ${seconds} exceeded critical threshold (${critical?.text})`
    : time.state === WARNING ? `Connection time ${seconds} exceeded warning threshold (${warning?.text})`
    : `Connection time ${seconds} is within thresholds`;
  return [
    ...(session ? [session] : []),
    expect,
    { state: time.state, output: timeText, perfdata: [time.perfdata] },
    { state: OK, output: `Connection to ${options.host} on port ${options.port} was a SUCCESS` },
  ];
}

const MATCHED: Subcheck = { state: OK, output: 'The answer of the server matched the expectation' };

/** Probe, judge, summarise: the check_ftp verdict, shared by the CLI and the orchestrator. */
export async function checkFtp(options: FtpCheckOptions, signal: AbortSignal, trace: Trace): Promise<Outcome> {
  const result = await probeFtp(options, signal, trace);
  const certificate = options.certificateDays ? judgeCertificate(result.certificate, options.certificateDays) : undefined;
  if (certificate && certificate.state !== OK) return { state: certificate.state, text: certificate.text, perfdata: [], details: [] };
  const elapsed = result.session ? trace.elapsed() : result.timings.response;
  const metric = responseTime(elapsed, options.timeoutSeconds);
  const greeting = printable(result.greeting.text, 1024);
  if (!result.greeting.matched) {
    // check_tcp: a slow answer that is CRITICAL stays CRITICAL, otherwise -M decides; perfdata
    // thresholds print as 0 because the time of a wrong answer is not what they are about.
    const time = evaluateScalar(metric, options.thresholds);
    const zero = (range: Thresholds['warning']) => (range ? { ...range, text: (0).toFixed(6) } : undefined);
    const perf = evaluateScalar(metric, { warning: zero(options.thresholds.warning), critical: zero(options.thresholds.critical) }).perfdata;
    const text = options.hideOutput ? `Unexpected response from host/socket on ${where(options)}` : `Unexpected response from host/socket: ${greeting}`;
    const checks = greetingChecks(options, { state: options.mismatchState, output: 'Answer failed to match expectation' }, time, elapsed);
    return { state: time.state === CRITICAL ? CRITICAL : options.mismatchState, text, perfdata: [perf], details: [], checks };
  }
  const time = evaluateScalar(metric, options.thresholds);
  let text = `${elapsed.toFixed(3)} second response time on ${where(options)}${options.hideOutput ? '' : ` [${greeting}]`}`;
  const facts: string[] = [];
  if (certificate) facts.push(certificate.text);
  const session = result.session;
  if (session) {
    facts.push(`user ${printable(session.user)} logged in${session.tls ? ' over TLS' : ''}`);
    const ops = session.operations;
    if (ops.length) facts.push(`${options.session?.mode ?? 'passive'} ${ops.map(describeOperation).join(', ')}`);
    const problem = ops.map((op) => contentProblem(op, options)).find((p) => p !== undefined);
    if (problem) {
      const checks = greetingChecks(options, MATCHED, time, elapsed, { state: CRITICAL, output: problem });
      return { state: CRITICAL, text: problem, perfdata: [time.perfdata], ...sessionPhases(result, options), checks };
    }
  }
  if (facts.length) text += `, ${facts.join(', ')}`;
  const phases = sessionPhases(result, options);
  const sessionCheck = session ? { state: OK, output: facts.join(', '), perfdata: phases.longPerfdata } : undefined;
  return { state: time.state, text, perfdata: [time.perfdata], ...phases, checks: greetingChecks(options, MATCHED, time, elapsed, sessionCheck) };
}

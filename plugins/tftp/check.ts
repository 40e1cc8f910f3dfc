import { evaluateScalar, responseTime, type Thresholds } from '../runtime/context.ts';
import { type Outcome, printable } from '../runtime/outcome.ts';
import { type PerfDatum, phaseSeconds } from '../runtime/perfdata.ts';
import { CRITICAL, OK, type State } from '../runtime/state.ts';
import type { Trace } from '../runtime/trace.ts';
import { TftpFailure } from './client.ts';
import { operatorFailure, probeTftp, transferTftp, type TftpProbeOptions, type TftpProbeResult } from './probe.ts';

export interface TftpCheckOptions extends TftpProbeOptions {
  /** CRITICAL unless the file holds exactly this text (one trailing line ending is ignored) */
  readonly expectContent?: string;
  /** CRITICAL unless the file has exactly this many bytes */
  readonly expectSize?: number;
  readonly thresholds: Thresholds;
  /** perfdata max of `time` */
  readonly timeoutSeconds: number;
  /** OK when the server answers File not found (the classic --connect); getting the file is CRITICAL */
  readonly answer?: boolean;
}

/** `OK`, `OK\n` and `OK\r\n` all hold the text `OK`: files are written by `echo` as often as not. */
export function withoutLineEnding(content: Buffer): Buffer {
  let end = content.length;
  if (content[end - 1] === 0x0a) end--;
  if (end < content.length && content[end - 1] === 0x0d) end--;
  return content.subarray(0, end);
}

/** What is wrong with the file received, or undefined when it is what was asked for. */
function verify(options: TftpCheckOptions, result: TftpProbeResult): string | undefined {
  const { transfer } = result;
  if (options.expectSize !== undefined && transfer.bytes !== options.expectSize) {
    return `${transfer.bytes} bytes where ${options.expectSize} were expected`;
  }
  if (options.mode === 'octet' && transfer.tsize !== undefined && transfer.bytes !== transfer.tsize) {
    return `short file: ${transfer.bytes} of the ${transfer.tsize} bytes the server announced (tsize)`;
  }
  if (options.expectContent !== undefined) {
    const expected = Buffer.from(options.expectContent, 'utf8');
    if (!transfer.contentComplete || !withoutLineEnding(transfer.content).equals(expected)) {
      const got = printable(transfer.content.subarray(0, 40).toString('latin1'), 40);
      return `content '${got}'${transfer.bytes > 40 ? '...' : ''} where '${printable(options.expectContent, 40)}' was expected`;
    }
  }
  return undefined;
}

function perfdata(result: TftpProbeResult, time: PerfDatum): PerfDatum[] {
  const { transfer } = result;
  const rate = transfer.seconds > 0 ? transfer.bytes / transfer.seconds : 0;
  return [
    time,
    { label: 'size', value: transfer.bytes, uom: 'B', min: 0 },
    // bytes per second; the plugin guidelines have no unit for a rate
    { label: 'throughput', value: rate, decimals: 0, min: 0 },
  ];
}

const FIRST_ANSWER: Record<TftpProbeResult['transfer']['negotiation'], string> = {
  oack: 'options accepted (OACK)',
  ignored: 'DATA, options ignored',
  refused: 'options refused (ERROR 8), DATA when asked again without them',
  none: 'DATA',
};

/** The transfer's two phases: one long-output line each, their timings continued in perfdata. */
function phases(result: TftpProbeResult): Pick<Outcome, 'details' | 'longPerfdata'> {
  const { transfer } = result;
  const moving = Math.max(0, transfer.seconds - transfer.firstAnswerSeconds);
  return {
    details: [
      `first answer: ${FIRST_ANSWER[transfer.negotiation]} after ${transfer.firstAnswerSeconds.toFixed(3)} s`,
      `transfer: ${transfer.bytes} bytes in ${transfer.blocks} block(s) of up to ${transfer.blksize}, done ${moving.toFixed(3)} s after it`,
    ],
    longPerfdata: [phaseSeconds('first_answer', transfer.firstAnswerSeconds), phaseSeconds('transfer', moving)],
  };
}

/** --answer: the server is up when it says File not found for a name it cannot have. */
async function checkAnswer(options: TftpCheckOptions, signal: AbortSignal, trace: Trace): Promise<Outcome> {
  const where = `from ${options.host} port ${options.port}`;
  try {
    const { transfer } = await transferTftp(options, signal, trace);
    return { state: CRITICAL, text: `${printable(options.filename)}: the server sent ${transfer.bytes} bytes where File not found was expected (${where})`, perfdata: [], details: [] };
  } catch (error) {
    if (!(error instanceof TftpFailure) || error.kind !== 'server-error' || error.code !== 1) throw operatorFailure(error, options);
    const elapsed = trace.elapsed();
    const time = evaluateScalar(responseTime(elapsed, options.timeoutSeconds), options.thresholds);
    return { state: time.state, text: `File not found for ${printable(options.filename)}, as expected, in ${elapsed.toFixed(3)} s ${where}`, perfdata: [time.perfdata], details: [] };
  }
}

/** Probe, verify, judge, summarise: the check_tftp verdict, shared by the CLI and the orchestrator. */
export async function checkTftp(options: TftpCheckOptions, signal: AbortSignal, trace: Trace): Promise<Outcome> {
  if (options.answer) return checkAnswer(options, signal, trace);
  const result = await probeTftp(options, signal, trace);
  const elapsed = trace.elapsed();
  const { transfer } = result;
  const time = evaluateScalar(responseTime(elapsed, options.timeoutSeconds), options.thresholds);
  const facts = `${transfer.bytes} bytes in ${elapsed.toFixed(3)} s from ${options.host} port ${options.port} (${printable(options.filename)})`;
  const problem = verify(options, result);
  trace.note(1, `${transfer.negotiation === 'oack' ? 'options accepted' : `options ${transfer.negotiation}`}: blksize ${transfer.blksize}, windowsize ${transfer.windowsize}` +
    `${transfer.tsize === undefined ? '' : `, tsize ${transfer.tsize}`}; server transfer ID port ${transfer.serverPort}`);
  trace.note(1, `${transfer.blocks} blocks, ${transfer.wireBytes} bytes on the wire in ${transfer.seconds.toFixed(3)} s, sha256 ${transfer.sha256}`);
  if (transfer.retransmissions || transfer.duplicates || transfer.strays) {
    trace.note(1, `${transfer.retransmissions} retransmissions, ${transfer.duplicates} duplicate DATA, ${transfer.strays} packets from other ports rejected`);
  }
  let state: State = time.state;
  let text = facts;
  if (problem) {
    state = CRITICAL;
    text = `${printable(options.filename)}: ${problem} (${transfer.bytes} bytes in ${elapsed.toFixed(3)} s from ${options.host} port ${options.port})`;
  } else if (state !== OK) {
    text += state === CRITICAL ? ' (response time over the critical threshold)' : ' (response time over the warning threshold)';
  }
  return { state, text, perfdata: perfdata(result, time.perfdata), ...phases(result) };
}

import { UsageError } from '../runtime/errors.ts';
import type { OptionSpec } from '../runtime/getopt.ts';
import type { Args } from '../runtime/plugin.ts';
import type { TftpCheckOptions } from './check.ts';
import { MAX_BLKSIZE, MAX_WINDOWSIZE, MIN_BLKSIZE, type TransferMode } from './codec.ts';

/** The Zevenet convention: a small file on every backend whose content is `OK`. */
export const DEFAULT_FILE = 'tftp_check.txt';
export const DEFAULT_CONTENT = 'OK';
export const DEFAULT_WINDOWSIZE = 4;
export const DEFAULT_MAX_SIZE = 64 * 1024 * 1024;
/** the name the classic check_tftp --connect asks for: no server has it */
export const BOGUS_FILE = 'NaGiOs_ChEcK_FiLe';

export const TFTP_OPTIONS: readonly OptionSpec[] = [
  { long: 'file', short: 'f', arg: 'required', argName: 'NAME', help: `File to read (default ${DEFAULT_FILE}, expected to hold '${DEFAULT_CONTENT}')` },
  { long: 'expect-content', arg: 'required', argName: 'STRING', help: 'CRITICAL unless the file holds exactly STRING (one trailing line ending is ignored)' },
  { long: 'expect-size', arg: 'required', argName: 'BYTES', help: 'CRITICAL unless the file has exactly BYTES bytes' },
  { long: 'mode', arg: 'required', argName: 'octet|netascii', help: 'Transfer mode (default octet)' },
  { long: 'blksize', arg: 'required', argName: 'BYTES', help: `Block size to ask for, ${MIN_BLKSIZE}..${MAX_BLKSIZE} (RFC 2348; default 1468, 1448 over IPv6)` },
  { long: 'windowsize', arg: 'required', argName: 'BLOCKS', help: `Window to ask for (RFC 7440; default ${DEFAULT_WINDOWSIZE}, 1 does not ask)` },
  { long: 'no-options', arg: 'none', help: 'Send a plain RFC 1350 request (no blksize, tsize, timeout, windowsize)' },
  { long: 'retransmit', arg: 'required', argName: 'SECONDS', help: 'Wait this long for a packet before sending again (default 1; 5 tries without progress end the check)' },
  { long: 'answer', arg: 'none', help: `OK when the server answers File not found for --file (default ${BOGUS_FILE}, a name no server has): the classic check_tftp --connect` },
  { long: 'max-size', arg: 'required', argName: 'BYTES', help: `CRITICAL and stop when the file is larger (default ${DEFAULT_MAX_SIZE})` },
];

export function parseCount(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${what} must be an integer from ${min} to ${max} - ${text}`);
  }
  return Number(text);
}

function parseMode(text: string): TransferMode {
  const mode = text.toLowerCase();
  if (mode === 'octet' || mode === 'binary') return 'octet';
  if (mode === 'netascii' || mode === 'ascii') return 'netascii';
  throw new UsageError(`--mode must be octet or netascii - ${text}`);
}

function parseSeconds(text: string): number {
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(seconds >= 0.01) || seconds > 255) throw new UsageError(`--retransmit must be 0.01 to 255 seconds - ${text}`);
  return seconds;
}

export function tftpOptionsFromArgs(args: Args): TftpCheckOptions {
  const { common } = args;
  if (common.host === undefined) throw new UsageError('Could not parse arguments: no host given (-H)');
  if (args.positionals().length) throw new UsageError(`unexpected argument '${args.positionals()[0]}'`);
  const file = args.last('file');
  const content = args.last('expect-content');
  const sizeText = args.last('expect-size');
  if (content !== undefined && sizeText !== undefined) throw new UsageError('--expect-content and --expect-size exclude each other');
  const answer = args.has('answer');
  if (answer && (content !== undefined || sizeText !== undefined)) throw new UsageError('--answer expects File not found: it takes no --expect-content or --expect-size');
  if (file !== undefined && /\0/.test(file)) throw new UsageError('--file must not contain a NUL byte');
  const retransmit = parseSeconds(args.last('retransmit') ?? '1');
  const blksize = args.last('blksize');
  const windowsize = parseCount(args.last('windowsize') ?? String(DEFAULT_WINDOWSIZE), '--windowsize', 1, MAX_WINDOWSIZE);
  return {
    host: common.host,
    port: common.port,
    family: common.family,
    filename: file ?? (answer ? BOGUS_FILE : DEFAULT_FILE),
    ...(answer ? { answer } : {}),
    mode: parseMode(args.last('mode') ?? 'octet'),
    negotiate: args.has('no-options') ? false : {
      blksize: blksize === undefined ? undefined : parseCount(blksize, '--blksize', MIN_BLKSIZE, MAX_BLKSIZE),
      windowsize,
      tsize: true,
      // RFC 2349 timeout is whole seconds: the server retransmits as often as we do
      timeout: Math.min(255, Math.max(1, Math.round(retransmit))),
    },
    retransmitMs: retransmit * 1000,
    maxBytes: parseCount(args.last('max-size') ?? String(DEFAULT_MAX_SIZE), '--max-size', 1, Number.MAX_SAFE_INTEGER),
    // with neither a file nor an expectation given, the convention applies: tftp_check.txt holds OK
    expectContent: content ?? (file === undefined && sizeText === undefined && !answer ? DEFAULT_CONTENT : undefined),
    expectSize: sizeText === undefined ? undefined : parseCount(sizeText, '--expect-size', 0, Number.MAX_SAFE_INTEGER),
    thresholds: { warning: common.warning, critical: common.critical },
    timeoutSeconds: common.deadline.seconds,
  };
}

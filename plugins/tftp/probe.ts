import { CheckFailure, UsageError } from '../runtime/errors.ts';
import { type AddressFamily, isSocketPath, resolveHost } from '../runtime/host.ts';
import { printable } from '../runtime/outcome.ts';
import type { State } from '../runtime/state.ts';
import type { Trace } from '../runtime/trace.ts';
import { type TftpGetResult, tftpGet, TftpFailure, type TftpOptionRequest } from './client.ts';
import type { TransferMode } from './codec.ts';

export interface TftpProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly family: AddressFamily;
  readonly filename: string;
  readonly mode: TransferMode;
  /** options to negotiate (blksize defaults to what fits one Ethernet frame); false: plain RFC 1350 */
  readonly negotiate: TftpOptionRequest | false;
  readonly retransmitMs: number;
  readonly maxRetransmits?: number;
  readonly maxBytes: number;
  readonly keepBytes?: number;
  readonly unresolvedState?: State;
}

export interface TftpProbeResult {
  readonly address: string;
  readonly transfer: TftpGetResult;
}

/** 1500-byte Ethernet frame less the IP, UDP and TFTP headers: 1468 over IPv4, 1448 over IPv6. */
function frameBlksize(family: 4 | 6): number {
  return family === 6 ? 1448 : 1468;
}

/** Resolves the host and reads the file; throws TftpFailure as the client does (for callers that tell codes apart). */
export async function transferTftp(options: TftpProbeOptions, signal: AbortSignal, trace: Trace): Promise<TftpProbeResult> {
  if (isSocketPath(options.host)) throw new UsageError(`TFTP needs a host name or an IP address, not a socket path - ${options.host}`);
  trace.enter('resolving the host name');
  const resolved = await resolveHost(options.host, options.family, signal, options.unresolvedState);
  const negotiate = options.negotiate && { ...options.negotiate, blksize: options.negotiate.blksize ?? frameBlksize(resolved.family) };
  const transfer = await tftpGet(
    { address: resolved.address, family: resolved.family, port: options.port },
    {
      filename: options.filename,
      mode: options.mode,
      options: negotiate,
      retransmitMs: options.retransmitMs,
      maxRetransmits: options.maxRetransmits,
      maxBytes: options.maxBytes,
      keepBytes: options.keepBytes,
    },
    signal,
    trace,
  );
  return { address: resolved.address, transfer };
}

/** The probe of check_tftp: the transfer's facts, or a CheckFailure with the text an operator reads. */
export async function probeTftp(options: TftpProbeOptions, signal: AbortSignal, trace: Trace): Promise<TftpProbeResult> {
  try {
    return await transferTftp(options, signal, trace);
  } catch (error) {
    throw operatorFailure(error, options);
  }
}

/** A failed transfer as the line an operator reads (other errors unchanged). */
export function operatorFailure(error: unknown, options: Pick<TftpProbeOptions, 'host' | 'port' | 'filename'>): unknown {
  if (!(error instanceof TftpFailure)) return error;
  const where = `from ${options.host} port ${options.port}`;
  const file = printable(options.filename);
  if (error.kind === 'server-error') return new CheckFailure(`${printable(error.message)} for ${file} ${where}`);
  return new CheckFailure(`${file}: ${printable(error.message)}`);
}

import { CheckFailure } from '../runtime/errors.ts';
import { printable } from '../runtime/outcome.ts';
import type { SocketReader } from '../runtime/socket-reader.ts';
import type { Trace } from '../runtime/trace.ts';

/** The server's identification string, RFC 4253 section 4.2: `SSH-proto-software SP comments`. */
export interface SshIdentification {
  readonly line: string;
  readonly protocol: string;
  readonly software: string;
  readonly comments: string;
}

/** RFC 4253: at most 255 characters per line including CR LF */
export const MAX_LINE = 255;
const MAX_PRELUDE_BYTES = 8192;
const MAX_PRELUDE_LINES = 64;
/** how long to wait for a further line after a line that is not the identification */
const PRELUDE_GRACE_MS = 1000;

export function parseIdentification(line: string): SshIdentification | undefined {
  const match = /^SSH-([^-\s]+)-([^\s]+)(?: (.*))?$/.exec(line);
  if (!match) return undefined;
  return { line, protocol: match[1] as string, software: match[2] as string, comments: match[3] ?? '' };
}

/** `OpenSSH_9.2p1 Debian-2+deb12u10 (protocol 2.0)`, as monitoring-plugins 2.3.3 words it */
export function describeIdentification(id: SshIdentification): string {
  return `${printable(id.software)}${id.comments ? ` ${printable(id.comments)}` : ''} (protocol ${printable(id.protocol)})`;
}

function serverAnswer(buffer: Buffer): CheckFailure {
  return new CheckFailure(`Server answer: ${printable(buffer.subarray(0, 256).toString('latin1'), 256)}`);
}

export interface IdentificationRead {
  readonly identification: SshIdentification;
  /** lines the server sent before its identification (RFC 4253 allows them) */
  readonly prelude: readonly string[];
}

/**
 * Reads lines until one starts with `SSH-`. Lines before it are allowed (RFC 4253; monitoring-plugins
 * 2.3.3 fails on them, 2.4 accepts them), but a server that sends something else and then falls
 * silent (an FTP banner on port 22) is answered at once, not at the timeout.
 */
export async function readIdentification(reader: SocketReader, signal: AbortSignal, trace: Trace): Promise<IdentificationRead> {
  const prelude: string[] = [];
  let offset = 0;
  for (;;) {
    const buffer = reader.buffer;
    let newline: number;
    while ((newline = buffer.indexOf(0x0a, offset)) !== -1) {
      const line = buffer.subarray(offset, newline).toString('latin1').replace(/\r$/, '');
      offset = newline + 1;
      if (line.startsWith('SSH-')) return finish(line, prelude, trace);
      if (line.length > MAX_LINE) throw serverAnswer(buffer);
      prelude.push(line);
      trace.note(2, `server line before identification: ${printable(line)}`);
    }
    const partial = buffer.subarray(offset).toString('latin1');
    if (partial.length > MAX_LINE || offset > MAX_PRELUDE_BYTES || prelude.length > MAX_PRELUDE_LINES) throw serverAnswer(buffer);
    const waitForStragglers = prelude.length > 0 || partial.startsWith('SSH-');
    const result = await reader.waitForMore(signal, waitForStragglers ? PRELUDE_GRACE_MS : undefined);
    if (result === 'data') continue;
    // The stream ended or fell silent: an unterminated `SSH-...` line still counts, as in the C plugin.
    if (partial.startsWith('SSH-') && reader.buffer.length === buffer.length) return finish(partial.replace(/\r$/, ''), prelude, trace);
    if (reader.buffer.length === 0) throw new CheckFailure('No version control string received');
    throw serverAnswer(reader.buffer);
  }
}

/** Where the bytes after the identification line begin in what was read, if its line end has arrived. */
export function identificationEnd(buffer: Buffer): number | undefined {
  let offset = 0;
  for (let newline: number; (newline = buffer.indexOf(0x0a, offset)) !== -1; offset = newline + 1) {
    if (buffer.subarray(offset, offset + 4).toString('latin1') === 'SSH-') return newline + 1;
  }
  return undefined;
}

function finish(line: string, prelude: string[], trace: Trace): IdentificationRead {
  const identification = parseIdentification(line);
  if (!identification) throw new CheckFailure(`Invalid protocol version control string ${printable(line)}`);
  trace.note(1, `server identification: ${printable(line)}`);
  return { identification, prelude };
}

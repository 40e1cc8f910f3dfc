import { CheckFailure } from '../runtime/errors.ts';
import { printable } from '../runtime/outcome.ts';
import type { SocketReader } from '../runtime/socket-reader.ts';
import { type ExpectResult, type ExpectRule, matchExpect, trimEnd } from './expect.ts';

/** check_tcp's recv() buffer: it judges the greeting one kilobyte at a time */
export const CHUNK = 1024;
/** check_tcp's READ_TIMEOUT: how long it waits for more text while the expect string is not found */
export const READ_TIMEOUT_MS = 2000;
/** the most we keep of a greeting or any control reply (basic-ftp's limit as well) */
export const MAX_REPLY_BYTES = 64 * 1024;

export interface Greeting {
  /** what was read, trailing white space removed, as check_tcp prints it */
  readonly text: string;
  readonly matched: boolean;
  /** bytes of the buffer that belong to the greeting */
  readonly length: number;
}

const decode = (buffer: Buffer) => buffer.toString('latin1');

/**
 * Reads the greeting the way check_tcp 2.3.3 does: a chunk of at most 1 KiB, the expect rule, and
 * while the rule says "maybe with more text" another chunk if one comes within 2 s. A stream that
 * ends or fails before any byte is "No data received from host". `maxBytes` is `-m`.
 */
export async function readGreeting(reader: SocketReader, rule: ExpectRule, maxBytes: number, signal: AbortSignal): Promise<Greeting> {
  let taken = 0;
  let result: ExpectResult = 'retry';
  for (;;) {
    if (reader.buffer.length <= taken) {
      let wait: Awaited<ReturnType<SocketReader['waitForMore']>>;
      try {
        wait = await reader.waitForMore(signal, taken === 0 ? undefined : READ_TIMEOUT_MS);
      } catch (error) {
        if (signal.aborted) throw error;
        wait = 'end';
      }
      if (wait !== 'data') break;
      continue;
    }
    taken = Math.min(reader.buffer.length, taken + CHUNK);
    result = matchExpect(decode(reader.buffer.subarray(0, taken)), rule);
    if (result !== 'retry' || (maxBytes > 0 && taken >= maxBytes) || taken >= reader.maxBytes) break;
  }
  if (taken === 0) throw new CheckFailure('No data received from host');
  if (result === 'retry') result = matchExpect(decode(reader.buffer.subarray(0, taken)), rule);
  return { text: trimEnd(decode(reader.buffer.subarray(0, taken))), matched: result === 'success', length: taken };
}

/**
 * Where a complete FTP reply ends in `buffer` (RFC 959 4.2: `ddd text` or `ddd-` lines closed by
 * `ddd text` with the same code), or undefined while it is incomplete.
 */
export function replyEnd(buffer: Buffer): number | undefined {
  let start = 0;
  let code: string | undefined;
  for (;;) {
    const newline = buffer.indexOf(0x0a, start);
    if (newline === -1) return undefined;
    const line = decode(buffer.subarray(start, newline)).replace(/\r$/, '');
    if (code === undefined) {
      const first = /^(\d{3})(-?)/.exec(line);
      // a single-line reply, or no reply at all: either way the first line is all there is
      if (!first || first[2] !== '-') return newline + 1;
      code = first[1] as string;
    } else if (line === code || line.startsWith(`${code} `)) return newline + 1;
    start = newline + 1;
  }
}

/**
 * For a session after the greeting: waits until the greeting reply is complete (a multi-line
 * `220-` banner), within the reply limit, and checks it says "ready" (2xx).
 */
export async function completeGreeting(reader: SocketReader, greeting: Greeting, signal: AbortSignal): Promise<number> {
  for (;;) {
    const end = replyEnd(reader.buffer);
    if (end !== undefined) {
      const reply = decode(reader.buffer.subarray(0, end));
      if (!/^2\d\d/.test(reply)) throw new CheckFailure(`server not ready: ${printable(trimEnd(reply))}`);
      return end;
    }
    if (reader.full) throw new CheckFailure(`greeting longer than ${MAX_REPLY_BYTES / 1024} KiB without its final line: ${printable(greeting.text, 80)}`);
    const wait = await reader.waitForMore(signal);
    if (wait !== 'data') throw new CheckFailure(`server closed the connection inside its greeting: ${printable(greeting.text, 80)}`);
  }
}

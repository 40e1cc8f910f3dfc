/**
 * TFTP packets (RFC 1350) with the option extension (RFC 2347: OACK, option pairs after the mode).
 * Decoding is strict: a packet that does not follow the wire format is a MalformedPacket, never a
 * half-understood value. Strings are NUL-terminated netascii, read here as latin1 (byte-preserving).
 */
export const OPCODE = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 and RFC 2347 error codes with their standard texts (used when a server sends none). */
export const ERROR_TEXT: Readonly<Record<number, string>> = {
  0: 'Not defined',
  1: 'File not found',
  2: 'Access violation',
  3: 'Disk full or allocation exceeded',
  4: 'Illegal TFTP operation',
  5: 'Unknown transfer ID',
  6: 'File already exists',
  7: 'No such user',
  8: 'Option negotiation refused',
};

export type TransferMode = 'octet' | 'netascii';

/** RFC 2347: a request (opcode, name, mode and options) must fit in 512 bytes. */
export const MAX_REQUEST_BYTES = 512;
/** RFC 2348: blksize 8..65464 */
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
/** RFC 7440: windowsize 1..65535 */
export const MAX_WINDOWSIZE = 65535;

export type Packet =
  | { readonly op: 'RRQ' | 'WRQ'; readonly filename: string; readonly mode: string; readonly options: ReadonlyMap<string, string> }
  | { readonly op: 'DATA'; readonly block: number; readonly data: Buffer }
  | { readonly op: 'ACK'; readonly block: number }
  | { readonly op: 'ERROR'; readonly code: number; readonly message: string }
  | { readonly op: 'OACK'; readonly options: ReadonlyMap<string, string> };

export class MalformedPacket extends Error {
  override name = 'MalformedPacket';
}

function field(text: string, what: string): Buffer {
  if (text.includes('\0')) throw new RangeError(`${what} must not contain a NUL byte`);
  return Buffer.from(`${text}\0`, 'latin1');
}

function header(op: number, second?: number): Buffer {
  const buffer = Buffer.alloc(second === undefined ? 2 : 4);
  buffer.writeUInt16BE(op, 0);
  if (second !== undefined) buffer.writeUInt16BE(second, 2);
  return buffer;
}

function optionFields(options: ReadonlyMap<string, string>): Buffer[] {
  const parts: Buffer[] = [];
  for (const [name, value] of options) parts.push(field(name, 'option name'), field(value, 'option value'));
  return parts;
}

/** RRQ (or WRQ): name, mode, then the RFC 2347 option pairs; refuses what would exceed 512 bytes. */
export function encodeRequest(op: 'RRQ' | 'WRQ', filename: string, mode: string, options: ReadonlyMap<string, string> = new Map()): Buffer {
  if (filename === '') throw new RangeError('file name must not be empty');
  const packet = Buffer.concat([header(OPCODE[op]), field(filename, 'file name'), field(mode, 'mode'), ...optionFields(options)]);
  if (packet.length > MAX_REQUEST_BYTES) throw new RangeError(`request of ${packet.length} bytes exceeds the ${MAX_REQUEST_BYTES} bytes TFTP allows`);
  return packet;
}

export function encodeData(block: number, data: Buffer): Buffer {
  return Buffer.concat([header(OPCODE.DATA, block & 0xffff), data]);
}

export function encodeAck(block: number): Buffer {
  return header(OPCODE.ACK, block & 0xffff);
}

export function encodeError(code: number, message: string): Buffer {
  return Buffer.concat([header(OPCODE.ERROR, code), field(message, 'error message')]);
}

export function encodeOack(options: ReadonlyMap<string, string>): Buffer {
  return Buffer.concat([header(OPCODE.OACK), ...optionFields(options)]);
}

/** Splits NUL-terminated strings from `offset` to the end; every one must be terminated. */
function strings(buffer: Buffer, offset: number, what: string): string[] {
  const out: string[] = [];
  while (offset < buffer.length) {
    const nul = buffer.indexOf(0, offset);
    if (nul === -1) throw new MalformedPacket(`${what}: string not terminated by NUL`);
    out.push(buffer.toString('latin1', offset, nul));
    offset = nul + 1;
  }
  return out;
}

/** Option pairs; names are case-insensitive (RFC 2347) and are returned in lower case. */
function optionPairs(list: readonly string[], what: string): Map<string, string> {
  if (list.length % 2) throw new MalformedPacket(`${what}: option '${list[list.length - 1]}' has no value`);
  const options = new Map<string, string>();
  for (let i = 0; i < list.length; i += 2) {
    const name = (list[i] as string).toLowerCase();
    if (name === '') throw new MalformedPacket(`${what}: empty option name`);
    if (options.has(name)) throw new MalformedPacket(`${what}: option '${name}' given twice`);
    options.set(name, list[i + 1] as string);
  }
  return options;
}

const NAMES: Readonly<Record<number, string>> = { 1: 'RRQ', 2: 'WRQ', 3: 'DATA', 4: 'ACK', 5: 'ERROR', 6: 'OACK' };

/** Decodes one datagram; throws MalformedPacket for anything that is not a well-formed TFTP packet. */
export function decodePacket(buffer: Buffer): Packet {
  if (buffer.length < 2) throw new MalformedPacket(`${buffer.length}-byte datagram is shorter than a TFTP opcode`);
  const opcode = buffer.readUInt16BE(0);
  const name = NAMES[opcode];
  if (name === undefined) throw new MalformedPacket(`unknown opcode ${opcode}`);
  switch (opcode) {
    case OPCODE.RRQ:
    case OPCODE.WRQ: {
      const list = strings(buffer, 2, name);
      if (list.length < 2 || list[0] === '') throw new MalformedPacket(`${name} without file name and mode`);
      const [filename, mode, ...rest] = list as [string, string, ...string[]];
      return { op: name as 'RRQ' | 'WRQ', filename, mode: mode.toLowerCase(), options: optionPairs(rest, name) };
    }
    case OPCODE.DATA:
      if (buffer.length < 4) throw new MalformedPacket(`DATA of ${buffer.length} bytes is shorter than its 4-byte header`);
      return { op: 'DATA', block: buffer.readUInt16BE(2), data: buffer.subarray(4) };
    case OPCODE.ACK:
      if (buffer.length !== 4) throw new MalformedPacket(`ACK of ${buffer.length} bytes (an ACK has 4)`);
      return { op: 'ACK', block: buffer.readUInt16BE(2) };
    case OPCODE.ERROR: {
      if (buffer.length < 4) throw new MalformedPacket(`ERROR of ${buffer.length} bytes is shorter than its 4-byte header`);
      // The message should end in NUL; some servers omit it. Take the text up to the first NUL or the end.
      const nul = buffer.indexOf(0, 4);
      return { op: 'ERROR', code: buffer.readUInt16BE(2), message: buffer.toString('latin1', 4, nul === -1 ? buffer.length : nul) };
    }
    default: {
      const options = optionPairs(strings(buffer, 2, 'OACK'), 'OACK');
      if (options.size === 0) throw new MalformedPacket('OACK without options');
      return { op: 'OACK', options };
    }
  }
}

/** `ERROR 1 (File not found)` / `ERROR 0: custom text`: code and message for a status line. */
export function describeError(code: number, message: string): string {
  const standard = ERROR_TEXT[code];
  if (message === '' || message === standard) return `ERROR ${code} (${standard ?? 'unassigned code'})`;
  return `ERROR ${code}: ${message}`;
}

/**
 * netascii (RFC 764 via RFC 1350) to local bytes: CR LF becomes LF, CR NUL becomes CR. A CR at the
 * end of one block is held until the next block tells which pair it starts.
 */
export class NetasciiDecoder {
  private pendingCr = false;

  push(chunk: Buffer): Buffer {
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let n = 0;
    for (const byte of chunk) {
      if (this.pendingCr) {
        this.pendingCr = false;
        if (byte === 0x0a) { out[n++] = 0x0a; continue; }
        out[n++] = 0x0d;
        if (byte === 0x00) continue;
      }
      if (byte === 0x0d) this.pendingCr = true;
      else out[n++] = byte;
    }
    return out.subarray(0, n);
  }

  /** The transfer ended: a lone trailing CR is kept as it is. */
  end(): Buffer {
    const rest = this.pendingCr ? Buffer.from([0x0d]) : Buffer.alloc(0);
    this.pendingCr = false;
    return rest;
  }
}

/** Local bytes to netascii: LF becomes CR LF, CR becomes CR NUL (what a server sends in netascii mode). */
export function encodeNetascii(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length * 2);
  let n = 0;
  for (const byte of data) {
    if (byte === 0x0a) { out[n++] = 0x0d; out[n++] = 0x0a; }
    else if (byte === 0x0d) { out[n++] = 0x0d; out[n++] = 0x00; }
    else out[n++] = byte;
  }
  return out.subarray(0, n);
}

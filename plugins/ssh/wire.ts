import { CheckFailure } from '../runtime/errors.ts';

/**
 * The SSH data types of RFC 4251 section 5 (byte, boolean, uint32, string, mpint, name-list), for
 * the few messages the host-key probe builds and reads.
 */
export class WireWriter {
  private readonly parts: Buffer[] = [];

  byte(value: number): this {
    this.parts.push(Buffer.of(value));
    return this;
  }

  boolean(value: boolean): this {
    return this.byte(value ? 1 : 0);
  }

  uint32(value: number): this {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(value);
    this.parts.push(buffer);
    return this;
  }

  raw(bytes: Buffer): this {
    this.parts.push(bytes);
    return this;
  }

  string(value: Buffer | string): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return this.uint32(bytes.length).raw(bytes);
  }

  nameList(names: readonly string[]): this {
    return this.string(names.join(','));
  }

  /** An unsigned big-endian magnitude as an mpint: no leading zero bytes, one added if the top bit is set. */
  mpint(magnitude: Buffer): this {
    let start = 0;
    while (start < magnitude.length && magnitude[start] === 0) start++;
    const trimmed = magnitude.subarray(start);
    return this.string(trimmed.length > 0 && (trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.of(0), trimmed]) : trimmed);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads the same types from a message; anything short or out of place is a CheckFailure naming `what`. */
export class WireReader {
  private offset = 0;

  constructor(private readonly data: Buffer, private readonly what: string) {}

  private take(length: number): Buffer {
    if (length > this.data.length - this.offset) throw new CheckFailure(`malformed ${this.what} from the server (truncated)`);
    const bytes = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return bytes;
  }

  byte(): number {
    return this.take(1)[0] as number;
  }

  boolean(): boolean {
    return this.byte() !== 0;
  }

  uint32(): number {
    return this.take(4).readUInt32BE();
  }

  bytes(length: number): Buffer {
    return this.take(length);
  }

  string(): Buffer {
    return this.take(this.uint32());
  }

  text(): string {
    return this.string().toString('utf8');
  }

  nameList(): string[] {
    const text = this.string().toString('latin1');
    return text === '' ? [] : text.split(',');
  }

  /** A non-negative mpint as its unsigned big-endian magnitude (a negative one is malformed here). */
  mpint(): Buffer {
    const bytes = this.string();
    if (bytes.length > 0 && (bytes[0] as number) & 0x80) throw new CheckFailure(`malformed ${this.what} from the server (negative integer)`);
    let start = 0;
    while (start < bytes.length && bytes[start] === 0) start++;
    return bytes.subarray(start);
  }

  get remaining(): number {
    return this.data.length - this.offset;
  }
}

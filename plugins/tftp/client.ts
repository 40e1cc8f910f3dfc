import { createHash, type Hash } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { printable } from '../runtime/outcome.ts';
import type { Trace } from '../runtime/trace.ts';
import {
  decodePacket, describeError, encodeAck, encodeError, encodeRequest, MalformedPacket, MAX_BLKSIZE, MAX_WINDOWSIZE, MIN_BLKSIZE,
  NetasciiDecoder, type Packet, type TransferMode,
} from './codec.ts';

/**
 * A TFTP read client (RFC 1350) with option negotiation (RFC 2347/2348/2349), windowed transfer
 * (RFC 7440), netascii and octet modes, transfer-ID locking and bounded sizes. One request per call,
 * one UDP socket, closed however the call ends (done, failed, aborted by the signal).
 */
export interface TftpTarget {
  /** an IP address (already resolved) */
  readonly address: string;
  readonly family: 4 | 6;
  readonly port: number;
}

export interface TftpOptionRequest {
  /** RFC 2348; 8..65464 */
  readonly blksize?: number;
  /** RFC 7440; 1 (or absent) does not ask for it */
  readonly windowsize?: number;
  /** RFC 2349 timeout in whole seconds (1..255) the server should wait before retransmitting */
  readonly timeout?: number;
  /** RFC 2349 tsize: ask the server for the file size */
  readonly tsize?: boolean;
}

export interface TftpGetRequest {
  readonly filename: string;
  readonly mode?: TransferMode;
  /** options to negotiate; `false` sends a plain RFC 1350 request */
  readonly options?: TftpOptionRequest | false;
  /** our retransmission interval (default 1000 ms) */
  readonly retransmitMs?: number;
  /** consecutive retransmissions without progress before giving up (default 5) */
  readonly maxRetransmits?: number;
  /** refuse (and stop) a file larger than this many bytes (default 64 MiB) */
  readonly maxBytes?: number;
  /** keep the first bytes of the file for content checks (default 64 KiB) */
  readonly keepBytes?: number;
}

export interface TftpGetResult {
  /** file bytes after netascii decoding (= bytes on the wire in octet mode) */
  readonly bytes: number;
  readonly wireBytes: number;
  readonly blocks: number;
  /** the first keepBytes of the file */
  readonly content: Buffer;
  readonly contentComplete: boolean;
  readonly sha256: string;
  readonly blksize: number;
  readonly windowsize: number;
  /** `oack`: the server acknowledged options; `ignored`: it sent DATA at once; `refused`: ERROR 8, asked again without; `none`: not asked */
  readonly negotiation: 'oack' | 'ignored' | 'refused' | 'none';
  /** the size the server announced (tsize), if it did */
  readonly tsize: number | undefined;
  /** the server's transfer ID (source port of its answers) */
  readonly serverPort: number;
  /** seconds from the first request to the first answer and to the last DATA */
  readonly firstAnswerSeconds: number;
  readonly seconds: number;
  readonly retransmissions: number;
  readonly duplicates: number;
  /** packets from other sources than the server's transfer ID, answered with ERROR 5 */
  readonly strays: number;
}

export type TftpFailureKind = 'server-error' | 'timeout' | 'protocol' | 'too-large' | 'socket';

/** Why a transfer did not complete; `code`/`serverMessage` are set for an ERROR packet from the server. */
export class TftpFailure extends Error {
  override name = 'TftpFailure';
  constructor(
    readonly kind: TftpFailureKind,
    message: string,
    readonly code?: number,
    readonly serverMessage?: string,
  ) {
    super(message);
  }
}

const DEFAULT_KEEP = 64 * 1024;
const DEFAULT_MAX = 64 * 1024 * 1024;
/** notes about rejected strays and duplicates stop after this many (the counters go on) */
const MAX_NOTES = 5;

function optionMap(options: TftpOptionRequest): Map<string, string> {
  const map = new Map<string, string>();
  if (options.blksize !== undefined) map.set('blksize', String(options.blksize));
  if (options.tsize) map.set('tsize', '0');
  if (options.timeout !== undefined) map.set('timeout', String(options.timeout));
  if (options.windowsize !== undefined && options.windowsize > 1) map.set('windowsize', String(options.windowsize));
  return map;
}

function checkRequest(request: TftpGetRequest): void {
  const options = request.options || {};
  const int = (value: number | undefined, min: number, max: number, what: string) => {
    if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) throw new RangeError(`${what} must be an integer from ${min} to ${max}`);
  };
  int(options.blksize, MIN_BLKSIZE, MAX_BLKSIZE, 'blksize');
  int(options.windowsize, 1, MAX_WINDOWSIZE, 'windowsize');
  int(options.timeout, 1, 255, 'timeout');
}

function decimal(text: string): number | undefined {
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

class ReadTransfer {
  private readonly mode: TransferMode;
  private readonly retransmitMs: number;
  private readonly maxRetransmits: number;
  private readonly maxBytes: number;
  private readonly keepBytes: number;
  private readonly asked: Map<string, string>;
  private request: Buffer;
  private negotiation: TftpGetResult['negotiation'];
  private tid: { address: string; port: number } | undefined;
  private phase: 'request' | 'data' | 'done' = 'request';
  private blksize = 512;
  private windowsize = 1;
  private tsize: number | undefined;
  /** next block number expected (mod 65536); the last one received in order is expected - 1 */
  private expected = 1;
  private sinceAck = 0;
  private lastAckAt = 0;
  /**
   * true from our ACK until the event loop's next check phase: a duplicate read meanwhile was already
   * queued when we acknowledged (both copies came in one read), whatever the clock says after a pause
   */
  private ackedThisTurn = false;
  private readonly turnEnded = (): void => {
    this.ackedThisTurn = false;
  };
  private gapAcked = false;
  private retries = 0;
  private timer: NodeJS.Timeout | undefined;
  private progressAt = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly decoder = new NetasciiDecoder();
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private bytes = 0;
  private wireBytes = 0;
  private blocks = 0;
  private startedAt = 0;
  private requestSentAt = 0;
  private firstAnswerAt = 0;
  /** a duplicate DATA younger than this after our ACK is an echo, not a sign that the ACK was lost */
  private reackAfterMs = 0;
  private retransmissions = 0;
  private duplicates = 0;
  private strays = 0;
  private settle: { resolve: (r: TftpGetResult) => void; reject: (e: unknown) => void } | undefined;

  private socket!: Socket;

  constructor(
    private readonly target: TftpTarget,
    private readonly spec: TftpGetRequest,
    private readonly trace: Trace,
  ) {
    this.mode = spec.mode ?? 'octet';
    this.retransmitMs = spec.retransmitMs ?? 1000;
    this.maxRetransmits = spec.maxRetransmits ?? 5;
    this.maxBytes = spec.maxBytes ?? DEFAULT_MAX;
    this.keepBytes = spec.keepBytes ?? DEFAULT_KEEP;
    this.asked = spec.options ? optionMap(spec.options) : new Map();
    this.negotiation = this.asked.size ? 'oack' : 'none';
    this.request = encodeRequest('RRQ', spec.filename, this.mode, this.asked);
  }

  run(socket: Socket, signal: AbortSignal): Promise<TftpGetResult> {
    this.socket = socket;
    return new Promise<TftpGetResult>((resolve, reject) => {
      this.settle = { resolve, reject };
      if (signal.aborted) return this.end(signal.reason);
      const onAbort = () => this.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.settle = {
        resolve: (r) => { signal.removeEventListener('abort', onAbort); resolve(r); },
        reject: (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
      };
      this.socket.on('message', (message, rinfo) => this.onMessage(message, rinfo));
      this.socket.on('error', (error) => this.end(new TftpFailure('socket', `UDP socket error: ${error.message}`)));
      const options = this.asked.size ? ` with options ${[...this.asked].map(([k, v]) => `${k}=${v}`).join(' ')}` : '';
      this.trace.note(2, `RRQ ${printable(this.spec.filename)} mode ${this.mode}${options} to ${this.target.address} port ${this.target.port}`);
      this.trace.enter('waiting for the server to answer the read request');
      this.startedAt = performance.now();
      this.sendRequest();
    });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.phase = 'done';
  }

  // --- sending ---------------------------------------------------------------------------------

  private send(packet: Buffer, port: number, address: string, then?: () => void): void {
    this.socket.send(packet, port, address, (error) => {
      if (error && this.phase !== 'done') this.end(new TftpFailure('socket', `cannot send to ${address} port ${port}: ${error.message}`));
      else then?.();
    });
  }

  private sendRequest(): void {
    this.requestSentAt = performance.now();
    this.send(this.request, this.target.port, this.target.address);
    this.arm();
  }

  private sendAck(block: number): void {
    if (!this.tid) return;
    this.send(encodeAck(block), this.tid.port, this.tid.address);
    this.lastAckAt = performance.now();
    this.sinceAck = 0;
    if (!this.ackedThisTurn) {
      this.ackedThisTurn = true;
      setImmediate(this.turnEnded);
    }
  }

  /**
   * Restarts the retransmission clock. Per block this only notes the time: the one timer, when it
   * fires early, sleeps for the rest of the interval (a setTimeout per block costs more than the block).
   */
  private arm(): void {
    this.progressAt = performance.now();
    this.timer ??= setTimeout(() => this.onTimer(), this.retransmitMs);
  }

  private onTimer(): void {
    this.timer = undefined;
    const left = this.progressAt + this.retransmitMs - performance.now();
    if (this.phase === 'done') return;
    if (left > 1) this.timer = setTimeout(() => this.onTimer(), left);
    else this.onTimeout();
  }

  // --- ending ------------------------------------------------------------------------------------

  /** Settles the call once: with the result, or with the failure (a TftpFailure or the signal's reason). */
  private end(failure: unknown, result?: TftpGetResult): void {
    this.stop();
    const settle = this.settle;
    this.settle = undefined;
    if (settle && result) settle.resolve(result);
    else settle?.reject(failure);
  }

  /** Tells the server (ERROR code) why we stop, then fails; the packet is sent before the socket closes. */
  private failWith(code: number, text: string, failure: unknown): void {
    if (this.phase === 'done') return;
    this.stop();
    if (!this.tid) return this.end(failure);
    this.send(encodeError(code, text), this.tid.port, this.tid.address, () => this.end(failure));
  }

  private abort(reason: unknown): void {
    if (this.phase === 'done') return this.end(reason);
    this.failWith(0, 'transfer aborted by the client', reason);
  }

  private protocolError(text: string): void {
    this.failWith(4, 'Illegal TFTP operation', new TftpFailure('protocol', text));
  }

  // --- receiving -------------------------------------------------------------------------------

  private from(rinfo: RemoteInfo): string {
    return `${rinfo.address} port ${rinfo.port}`;
  }

  private onMessage(message: Buffer, rinfo: RemoteInfo): void {
    if (this.phase === 'done') return;
    const fromServerHost = rinfo.address === this.target.address;
    if (this.tid ? rinfo.address !== this.tid.address || rinfo.port !== this.tid.port : !fromServerHost) {
      return this.onStray(message, rinfo);
    }
    let packet: Packet;
    try {
      packet = decodePacket(message);
    } catch (error) {
      if (!(error instanceof MalformedPacket)) throw error;
      this.tid ??= { address: rinfo.address, port: rinfo.port };
      return this.protocolError(`malformed packet from ${this.from(rinfo)}: ${error.message}`);
    }
    if (!this.tid) {
      this.tid = { address: rinfo.address, port: rinfo.port };
      this.firstAnswerAt = performance.now();
      // twice the round trip seen on the request, within 10 ms .. half our retransmission interval
      this.reackAfterMs = Math.min(Math.max(2 * (this.firstAnswerAt - this.requestSentAt), 10), this.retransmitMs / 2);
      this.trace.note(2, `server answered from port ${rinfo.port} (its transfer ID) with ${packet.op}`);
    }
    switch (packet.op) {
      case 'ERROR': return this.onError(packet.code, packet.message);
      case 'OACK': return this.onOack(packet.options);
      case 'DATA': return this.onData(packet.block, packet.data);
      default: return this.protocolError(`server sent ${packet.op} during a read (illegal TFTP operation)`);
    }
  }

  /** RFC 1350 section 4: a packet from another port is not part of this transfer; answer ERROR 5 and go on. */
  private onStray(message: Buffer, rinfo: RemoteInfo): void {
    this.strays++;
    const expected = this.tid ? `the server's transfer ID is port ${this.tid.port}` : `the server is ${this.target.address}`;
    const isError = message.length >= 2 && message.readUInt16BE(0) === 5;
    if (this.strays <= MAX_NOTES) {
      this.trace.note(1, `rejected a packet from ${this.from(rinfo)}: not part of this transfer (${expected})${isError ? '' : '; answered ERROR 5'}`);
    }
    // Never answer an ERROR with an ERROR (RFC 1350: errors are not acknowledged).
    if (!isError) this.send(encodeError(5, 'Unknown transfer ID'), rinfo.port, rinfo.address);
  }

  private onError(code: number, message: string): void {
    if (this.phase === 'request' && code === 8 && this.asked.size && this.negotiation !== 'refused') {
      // RFC 2347: the server refuses the options; ask again without them.
      this.trace.note(1, `server refused the options (${printable(describeError(code, message))}); asking again without options`);
      this.negotiation = 'refused';
      this.tid = undefined;
      this.request = encodeRequest('RRQ', this.spec.filename, this.mode);
      this.retries = 0;
      return this.sendRequest();
    }
    this.phase = 'done';
    this.end(new TftpFailure('server-error', describeError(code, message), code, message));
  }

  private onOack(options: ReadonlyMap<string, string>): void {
    if (this.phase !== 'request' || !this.asked.size || this.negotiation === 'refused') {
      return this.protocolError('server sent an OACK that was not asked for');
    }
    const refuse = (text: string) => this.failWith(8, 'Option negotiation refused', new TftpFailure('protocol', `server's OACK refused: ${text}`));
    for (const [name, value] of options) {
      const asked = this.asked.get(name);
      if (asked === undefined) return refuse(`option '${name}' was not asked for`);
      const number = decimal(value);
      if (number === undefined) return refuse(`${name}=${value} is not a number`);
      if (name === 'blksize') {
        if (number < MIN_BLKSIZE || number > Number(asked)) return refuse(`blksize ${number} outside ${MIN_BLKSIZE}..${asked}`);
        this.blksize = number;
      } else if (name === 'windowsize') {
        if (number < 1 || number > Number(asked)) return refuse(`windowsize ${number} outside 1..${asked}`);
        this.windowsize = number;
      } else if (name === 'timeout') {
        if (number < 1 || number > 255) return refuse(`timeout ${number} outside 1..255`);
      } else if (name === 'tsize') {
        this.tsize = number;
      }
    }
    if (!options.has('blksize')) this.blksize = 512;
    const accepted = [...options].map(([k, v]) => `${k}=${v}`).join(' ');
    const dropped = [...this.asked.keys()].filter((k) => !options.has(k));
    this.trace.note(2, `OACK: ${printable(accepted)}${dropped.length ? ` (not accepted: ${dropped.join(', ')})` : ''}`);
    if (this.tsize !== undefined && this.tsize > this.maxBytes) {
      return this.failWith(8, 'Option negotiation refused', new TftpFailure('too-large', `the server announces ${this.tsize} bytes (tsize), more than the ${this.maxBytes} allowed`));
    }
    this.phase = 'data';
    this.expected = 1;
    this.sendAck(0);
    this.arm();
    this.trace.enter('waiting for DATA block 1');
  }

  private onData(block: number, data: Buffer): void {
    if (this.phase === 'request') {
      if (this.asked.size && this.negotiation === 'oack') {
        this.negotiation = 'ignored';
        this.trace.note(1, 'server ignored the options (DATA without OACK): RFC 1350 defaults, blksize 512, no window');
      }
      this.phase = 'data';
      this.blksize = 512;
      this.windowsize = 1;
    }
    if (data.length > this.blksize) {
      return this.protocolError(`DATA block ${block} carries ${data.length} bytes, more than the blksize of ${this.blksize}`);
    }
    if (block === this.expected) return this.accept(block, data);
    const behind = (this.expected - 1 - block) & 0xffff;
    const ahead = (block - this.expected) & 0xffff;
    if (behind < 2 * this.windowsize) {
      // A block we already have: our ACK was lost (the server timed out) or the server repeats itself.
      // Re-ACK only when our last ACK is older than a round trip or two, so it could have been lost,
      // and at most once per such interval: answering every duplicate at once is what feeds the
      // Sorcerer's Apprentice loop.
      this.duplicates++;
      const last = (this.expected - 1) & 0xffff;
      if (!this.ackedThisTurn && performance.now() - this.lastAckAt >= this.reackAfterMs) {
        if (this.duplicates <= MAX_NOTES) this.trace.note(2, `duplicate DATA block ${block}: ACK ${last} again`);
        this.sendAck(last);
      } else if (this.duplicates <= MAX_NOTES) {
        this.trace.note(2, `duplicate DATA block ${block} right after our ACK: ignored`);
      }
    } else if (ahead < this.windowsize) {
      // A gap inside the window (RFC 7440): ACK the last block received in order, once, so the server
      // resends from there.
      if (!this.gapAcked) {
        this.gapAcked = true;
        this.trace.note(2, `DATA block ${block} while expecting ${this.expected}: ACK ${(this.expected - 1) & 0xffff}`);
        this.sendAck((this.expected - 1) & 0xffff);
      }
    } else {
      this.trace.note(2, `DATA block ${block} far from the expected block ${this.expected}: ignored`);
    }
  }

  private accept(block: number, data: Buffer): void {
    this.blocks++;
    this.wireBytes += data.length;
    this.expected = (block + 1) & 0xffff;
    this.sinceAck++;
    this.retries = 0;
    this.gapAcked = false;
    const last = data.length < this.blksize;
    this.store(this.mode === 'netascii' ? this.decoder.push(data) : data);
    if (last && this.mode === 'netascii') this.store(this.decoder.end());
    if (this.bytes > this.maxBytes) {
      return this.failWith(3, 'Disk full or allocation exceeded', new TftpFailure('too-large', `the file exceeds the ${this.maxBytes} bytes allowed`));
    }
    if (last) {
      const seconds = (performance.now() - this.startedAt) / 1000;
      this.stop();
      this.trace.note(2, `last DATA block ${block} (${data.length} bytes); ${this.blocks} blocks, ${this.wireBytes} bytes on the wire`);
      this.send(encodeAck(block), this.tid!.port, this.tid!.address, () => this.end(undefined, this.result(seconds)));
      return;
    }
    if (this.sinceAck >= this.windowsize) this.sendAck(block);
    this.arm();
    this.trace.phase = `waiting for DATA block ${this.expected}`;
  }

  private store(chunk: Buffer): void {
    if (!chunk.length) return;
    this.bytes += chunk.length;
    this.hash.update(chunk);
    if (this.keptBytes < this.keepBytes) {
      const part = chunk.subarray(0, this.keepBytes - this.keptBytes);
      this.kept.push(Buffer.from(part));
      this.keptBytes += part.length;
    }
  }

  private onTimeout(): void {
    if (this.phase === 'done') return;
    if (++this.retries > this.maxRetransmits) {
      const seconds = ((performance.now() - this.startedAt) / 1000).toFixed(1);
      const text = this.phase === 'request'
        ? `no answer from ${this.target.address} port ${this.target.port} to the read request (${this.retries} tries in ${seconds} s)`
        : `no DATA block ${this.expected} from ${this.tid?.address} port ${this.tid?.port} after ${this.retries - 1} retransmissions (${this.bytes} bytes received)`;
      return this.failWith(0, 'Timed out', new TftpFailure('timeout', text));
    }
    this.retransmissions++;
    if (this.phase === 'request') {
      this.trace.note(2, `no answer after ${this.retransmitMs} ms: request sent again`);
      return this.sendRequest();
    }
    const last = (this.expected - 1) & 0xffff;
    this.trace.note(2, `no DATA block ${this.expected} after ${this.retransmitMs} ms: ACK ${last} sent again`);
    this.sendAck(last);
    this.arm();
  }

  private result(seconds: number): TftpGetResult {
    return {
      bytes: this.bytes,
      wireBytes: this.wireBytes,
      blocks: this.blocks,
      content: Buffer.concat(this.kept, this.keptBytes),
      contentComplete: this.keptBytes === this.bytes,
      sha256: this.hash.digest('hex'),
      blksize: this.blksize,
      windowsize: this.windowsize,
      negotiation: this.negotiation,
      tsize: this.tsize,
      serverPort: this.tid!.port,
      firstAnswerSeconds: (this.firstAnswerAt - this.startedAt) / 1000,
      seconds,
      retransmissions: this.retransmissions,
      duplicates: this.duplicates,
      strays: this.strays,
    };
  }
}

/** Reads one file; rejects with TftpFailure (or the signal's reason); the socket is always closed. */
export async function tftpGet(target: TftpTarget, request: TftpGetRequest, signal: AbortSignal, trace: Trace): Promise<TftpGetResult> {
  checkRequest(request);
  // the request is encoded (and refused if it cannot be sent) before a socket exists
  const transfer = new ReadTransfer(target, request, trace);
  // The target is an address already: answer dgram's per-send lookup at once instead of via dns.lookup.
  const lookup = (address: string, family: unknown, callback: (error: null, address: string, family: number) => void) => callback(null, address, target.family);
  const socket = createSocket({ type: target.family === 6 ? 'udp6' : 'udp4', lookup: lookup as never });
  try {
    return await transfer.run(socket, signal);
  } finally {
    transfer.stop();
    socket.close();
  }
}

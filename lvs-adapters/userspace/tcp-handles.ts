// Node's TCP handles (libuv's uv_tcp_t, as net.Socket holds them), for the relay of plain TCP farms.
//
// Why not net.Socket: a relayed connection is two sockets, and each net.Socket is a Duplex stream
// with its state machines, events, nextTicks and timers. Measured on loopback (wrk, one new connection
// per request, 2 cores): the relay on net.Socket spent 260 us of CPU per connection, the same relay
// on these handles 126 us, HAProxy 80 us. No library exposes handles; Node's own `net` is built on
// exactly these calls (lib/net.js, lib/internal/stream_base_commons.js of Node 20), reached through
// `process.binding`, whose list of allowed modules includes tcp_wrap, stream_wrap and uv. Their shape
// is checked at load; without them a TCP farm fails to start with the reason (requireTcpHandles).
// Node 20 is the supported runtime.
import { isIPv6 } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** A connected (or connecting) TCP handle. Only what the relay uses is typed. */
export interface TcpHandle {
  /** called with the handle as `this` after each read; nread in readBytes(). May return the next read's buffer. */
  onread: ((this: TcpHandle) => Uint8Array | undefined) | null;
  readStart(): number;
  readStop(): number;
  /** reads land in `buffer` (no allocation per read) until onread returns another */
  useUserBuffer(buffer: Uint8Array): void;
  writeBuffer(req: object, data: Uint8Array): number;
  shutdown(req: object): number;
  close(callback?: (this: TcpHandle) => void): void;
  setNoDelay(on: boolean): number;
  getpeername(out: { address?: string }): number;
  connect(req: object, address: string, port: number): number;
  connect6(req: object, address: string, port: number): number;
}

interface Bindings {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => object;
  SOCKET: number;
  WriteWrap: new () => object;
  ShutdownWrap: new () => object;
  state: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
  UV_EOF: number;
}

function load(): Bindings | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding('tcp_wrap');
    const stream = binding('stream_wrap');
    const uv = binding('uv');
    const b = {
      TCP: tcp.TCP,
      TCPConnectWrap: tcp.TCPConnectWrap,
      SOCKET: (tcp.constants as { SOCKET?: number } | undefined)?.SOCKET,
      WriteWrap: stream.WriteWrap,
      ShutdownWrap: stream.ShutdownWrap,
      state: stream.streamBaseState,
      kReadBytesOrError: stream.kReadBytesOrError,
      kLastWriteWasAsync: stream.kLastWriteWasAsync,
      UV_EOF: uv.UV_EOF,
    };
    const functions = [b.TCP, b.TCPConnectWrap, b.WriteWrap, b.ShutdownWrap].every((f) => typeof f === 'function');
    const numbers = [b.SOCKET, b.kReadBytesOrError, b.kLastWriteWasAsync, b.UV_EOF].every((n) => typeof n === 'number');
    return functions && numbers && b.state instanceof Int32Array ? (b as Bindings) : undefined;
  } catch {
    return undefined;
  }
}

const bindings = load();

function need(): Bindings {
  if (!bindings) throw new Error(`this Node (${process.version}) does not expose the TCP handles the userspace balancer relays with (Node 20 does)`);
  return bindings;
}

/** Throws, saying why, when this Node lacks the handles (a TCP farm then fails to start, not the process). */
export function requireTcpHandles(): void {
  need();
}

/** a request object (write, shutdown, connect) carries its completion and the context it needs */
export type Request<C> = { oncomplete: (this: Request<C>, status: number) => void; context: C; handle?: TcpHandle };

// Read on every read and write of every relayed connection: taken once here, not looked up per
// call. Handles exist only once requireTcpHandles() or newTcpHandle() found the bindings.
const state = bindings?.state ?? new Int32Array(4);
const READ_BYTES = bindings?.kReadBytesOrError ?? 0;
const LAST_WRITE_ASYNC = bindings?.kLastWriteWasAsync ?? 0;
const EOF = bindings?.UV_EOF ?? 0;

/** The result of the last read: bytes read (> 0), EOF (isEof) or a negative libuv error. */
export const readBytes = (): number => state[READ_BYTES]!;
export const isEof = (status: number): boolean => status === EOF;

/** libuv's error name for a negative status (ECONNREFUSED...) */
export const errorName = (status: number): string => {
  try {
    return getSystemErrorName(status);
  } catch {
    return `error ${status}`;
  }
};

/** A new, unconnected TCP handle. */
export const newTcpHandle = (): TcpHandle => {
  const b = need();
  return new b.TCP(b.SOCKET);
};

/**
 * Writes `data`; `oncomplete(status)` runs only for a write that goes on after the call. Returns
 * 'done' (the kernel took every byte), 'pending', or a negative error.
 */
export function writeTo<C>(handle: TcpHandle, data: Uint8Array, oncomplete: Request<C>['oncomplete'], context: C): 'done' | 'pending' | number {
  const req = new bindings!.WriteWrap() as Request<C>;
  req.handle = handle;
  req.oncomplete = oncomplete;
  req.context = context;
  const error = handle.writeBuffer(req, data);
  if (error < 0) return error;
  return state[LAST_WRITE_ASYNC] ? 'pending' : 'done';
}

/** Shuts the write side once pending writes are out; `oncomplete(status)` follows. 0 or a negative error. */
export function shutdownOf<C>(handle: TcpHandle, oncomplete: Request<C>['oncomplete'], context: C): number {
  const req = new bindings!.ShutdownWrap() as Request<C>;
  req.handle = handle;
  req.oncomplete = oncomplete;
  req.context = context;
  return handle.shutdown(req);
}

/** Starts connecting `handle` to an IP literal; `oncomplete(status)` follows. 0 or a negative error. */
export function connectTo<C>(handle: TcpHandle, host: string, port: number, oncomplete: Request<C>['oncomplete'], context: C): number {
  const req = new bindings!.TCPConnectWrap() as Request<C>;
  req.oncomplete = oncomplete;
  req.context = context;
  return isIPv6(host) ? handle.connect6(req, host, port) : handle.connect(req, host, port);
}

/** the peer's address (a getpeername), '' when it cannot be read */
export function peerAddress(handle: TcpHandle): string {
  const out: { address?: string } = {};
  return handle.getpeername(out) === 0 ? (out.address ?? '') : '';
}

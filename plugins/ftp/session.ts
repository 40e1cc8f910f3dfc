import type { Socket } from 'node:net';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { CheckFailure } from '../runtime/errors.ts';
import { printable } from '../runtime/outcome.ts';
import type { Trace } from '../runtime/trace.ts';
import { ControlChannel, describeError, phaseFailure } from './control.ts';
import { type DataChannel, type DataMode, openDataChannel, protect } from './data-channel.ts';

export interface SessionOptions {
  readonly user: string;
  readonly password: string;
  readonly authTls: boolean;
  readonly mode: DataMode;
  readonly allowPasvRedirect: boolean;
  /** LIST this directory ('' = the login directory) */
  readonly list?: string;
  /** RETR this file; `expectContent` is searched for while it streams, nothing is kept */
  readonly get?: { readonly path: string; readonly expectContent?: string };
  /** STOR a scratch file in this directory ('' = the login directory), then DELE it */
  readonly put?: { readonly dir: string };
}

export type OperationKind = 'list' | 'get' | 'put';

export interface Operation {
  readonly kind: OperationKind;
  readonly target: string;
  readonly channel: string;
  /** seconds to open the data connection (command, connect or accept, TLS) */
  readonly open: number;
  /** seconds from the open data connection to the server's final reply */
  readonly transfer: number;
  readonly bytes: number;
  /** LIST: lines received */
  readonly entries?: number;
  /** RETR with expectContent: whether it was found */
  readonly contentFound?: boolean;
}

export interface SessionFacts {
  readonly user: string;
  readonly tls: boolean;
  /** seconds from the start of the check */
  readonly authTls?: number;
  readonly login: number;
  readonly operations: readonly Operation[];
  readonly certificate?: PeerCertificate;
}

export interface SessionContext {
  readonly tls: ConnectionOptions;
  readonly budgetMs: () => number;
}

/** Counts bytes and looks for a string across chunk boundaries, keeping only a short tail. */
class Sink {
  bytes = 0;
  lines = 0;
  found = false;
  private tail = '';
  private readonly needle: string | undefined;
  constructor(needle: string | undefined, private readonly onProgress: (bytes: number) => void) {
    // compared byte for byte: latin1 maps each byte to one character
    this.needle = needle === undefined ? undefined : Buffer.from(needle).toString('latin1');
  }

  take(chunk: Buffer): void {
    this.bytes += chunk.length;
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) this.lines++;
    if (this.needle && !this.found) {
      const text = this.tail + chunk.toString('latin1');
      this.found = text.includes(this.needle);
      this.tail = this.needle.length > 1 ? text.slice(1 - this.needle.length) : '';
    }
    this.onProgress(this.bytes);
  }
}

async function drain(socket: Socket, sink: Sink): Promise<void> {
  for await (const chunk of socket) sink.take(chunk as Buffer);
}

async function upload(socket: Socket, payload: Buffer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.end(payload, () => resolve());
  });
}

function joinPath(dir: string, name: string): string {
  if (dir === '') return name;
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/**
 * One data transfer: the data connection and the command run side by side (in active mode the
 * server connects only after the command), and the transfer is done when both the data stream has
 * ended and the server has sent its final reply.
 */
async function transfer(
  control: ControlChannel,
  context: SessionContext,
  options: SessionOptions,
  command: string,
  what: string,
  io: (socket: Socket) => Promise<void>,
  signal: AbortSignal,
  trace: Trace,
): Promise<{ channel: string; open: number; transfer: number }> {
  const started = trace.enter(`opening a data connection for ${what}`);
  const channel: DataChannel = await openDataChannel(control, { ...context, mode: options.mode, allowPasvRedirect: options.allowPasvRedirect }, signal, trace);
  let opened = started;
  let data: Socket | undefined;
  const reply = control.transferCommand(command).catch((error: unknown) => Promise.reject(phaseFailure(what, error)));
  const stream = channel
    .connection()
    .then((socket) => protect(socket, control, context.tls, signal))
    .then(async (socket) => {
      data = socket;
      opened = trace.enter(`${what} over the ${channel.description} data connection`);
      await io(socket);
    });
  stream.catch(() => undefined);
  try {
    await Promise.all([reply, stream]);
  } catch (error) {
    throw error instanceof CheckFailure ? error : new CheckFailure(`${what}: data connection failed: ${describeError(error)}`);
  } finally {
    data?.destroy();
    channel.close();
  }
  return { channel: channel.description, open: opened - started, transfer: trace.elapsed() - opened };
}

/** Login and the asked-for operations over a control connection whose greeting was read already. */
export async function runSession(socket: Socket, leftover: Buffer, options: SessionOptions, context: SessionContext, signal: AbortSignal, trace: Trace): Promise<SessionFacts> {
  const control = await ControlChannel.adopt(socket, leftover, signal);
  try {
    let authTls: number | undefined;
    if (options.authTls) {
      trace.enter('negotiating AUTH TLS');
      await control.authTls(context.tls).catch((error: unknown) => Promise.reject(phaseFailure('AUTH TLS', error)));
      authTls = trace.elapsed();
    }
    trace.enter(`logging in as ${printable(options.user)}`);
    await control.login(options.user, options.password).catch((error: unknown) => Promise.reject(phaseFailure('login', error)));
    const login = trace.elapsed();
    trace.note(1, `logged in as ${printable(options.user)}`);
    trace.enter('setting binary mode');
    await control.send('TYPE I').catch((error: unknown) => Promise.reject(phaseFailure('TYPE I', error)));
    if (control.secure) {
      await control.send('PBSZ 0').catch((error: unknown) => Promise.reject(phaseFailure('PBSZ 0', error)));
      await control.send('PROT P').catch((error: unknown) => Promise.reject(phaseFailure('PROT P', error)));
    }
    const operations: Operation[] = [];
    const progress = (what: string) => (bytes: number) => {
      trace.phase = `${what} (${bytes} bytes so far)`;
    };
    if (options.list !== undefined) {
      const what = `LIST ${options.list || '.'}`;
      const sink = new Sink(undefined, progress(what));
      const done = await transfer(control, context, options, options.list ? `LIST ${options.list}` : 'LIST', what, (s) => drain(s, sink), signal, trace);
      operations.push({ kind: 'list', target: options.list || '.', ...done, bytes: sink.bytes, entries: sink.lines });
    }
    if (options.get) {
      const { path, expectContent } = options.get;
      const what = `RETR ${path}`;
      const sink = new Sink(expectContent, progress(what));
      const done = await transfer(control, context, options, `RETR ${path}`, what, (s) => drain(s, sink), signal, trace);
      operations.push({ kind: 'get', target: path, ...done, bytes: sink.bytes, contentFound: expectContent === undefined ? undefined : sink.found });
    }
    if (options.put) {
      const name = joinPath(options.put.dir, `.lbguard-check-${process.pid}-${Date.now().toString(36)}`);
      const payload = Buffer.from(`lbguard check_ftp scratch file, deleted at once (${new Date().toISOString()})\n`);
      const done = await transfer(control, context, options, `STOR ${name}`, `STOR ${name}`, (s) => upload(s, payload), signal, trace);
      trace.enter(`deleting ${name}`);
      await control.send(`DELE ${name}`).catch((error: unknown) => Promise.reject(phaseFailure(`DELE ${name}`, error)));
      operations.push({ kind: 'put', target: name, ...done, bytes: payload.length });
    }
    control.quit();
    return { user: options.user, tls: control.secure, authTls, login, operations, certificate: control.peerCertificate };
  } finally {
    control.close();
  }
}

import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionOptions, PeerCertificate, TLSSocket } from 'node:tls';
import { CheckFailure } from '../runtime/errors.ts';
import type { AddressFamily } from '../runtime/host.ts';
import { SocketReader } from '../runtime/socket-reader.ts';
import type { State } from '../runtime/state.ts';
import { connectTcp } from '../runtime/tcp.ts';
import type { Trace } from '../runtime/trace.ts';
import { describeError } from './control.ts';
import type { ExpectRule } from './expect.ts';
import { completeGreeting, type Greeting, MAX_REPLY_BYTES, readGreeting } from './greeting.ts';
import { runSession, type SessionFacts, type SessionOptions } from './session.ts';

export interface FtpProbeOptions {
  readonly host: string;
  /** false when -H was omitted: the status line then says `on port N`, as check_tcp's */
  readonly hostGiven: boolean;
  readonly port: number;
  readonly family: AddressFamily;
  readonly refusedState: State;
  readonly implicitTls: boolean;
  readonly sni?: string;
  /** CA certificates to verify the server against; without them the certificate is not verified */
  readonly ca?: Buffer;
  readonly send?: string;
  readonly quit: string;
  readonly delaySeconds: number;
  readonly maxBytes: number;
  readonly expect: ExpectRule;
  /** log in and use data connections (the deep check); absent: the banner check of check_tcp */
  readonly session?: SessionOptions;
  /** the check's deadline, so that data connections can fail with their own message before it */
  readonly timeoutSeconds: number;
}

/** Seconds from the start of the check at the end of each phase. */
export interface FtpTimings {
  connect: number;
  greeting: number;
  /** the banner check's response time (check_tcp's `time`: connect, greeting, quit, less -d) */
  response: number;
}

export interface FtpProbeResult {
  readonly greeting: Greeting;
  readonly timings: FtpTimings;
  readonly certificate?: PeerCertificate;
  readonly session?: SessionFacts;
}

export function tlsOptions(options: FtpProbeOptions): ConnectionOptions {
  return { host: options.host, servername: options.sni, ca: options.ca, rejectUnauthorized: options.ca !== undefined };
}

async function implicitTls(socket: Socket, options: FtpProbeOptions, signal: AbortSignal, trace: Trace): Promise<TLSSocket> {
  trace.enter('negotiating TLS');
  // node:tls only for the checks that use it: loading it is a good part of a start-up
  const { connect: tlsConnect } = await import('node:tls');
  const secured = tlsConnect({ ...tlsOptions(options), socket });
  signal.addEventListener('abort', () => secured.destroy(), { once: true });
  await new Promise<void>((resolve, reject) => {
    secured.once('secureConnect', () => resolve());
    // check_tcp prints OpenSSL's error on a second line; the reason alone keeps ours to one line
    secured.once('error', (error: Error & { reason?: string }) => reject(new CheckFailure(`Cannot make SSL connection. (${error.reason ?? describeError(error)})`)));
  });
  secured.on('error', () => undefined);
  return secured;
}

/**
 * Connects, reads the greeting as check_tcp does and, for a deep check, goes on over the same
 * connection: login, listing, download, upload, each over its own data connection.
 */
export async function probeFtp(options: FtpProbeOptions, signal: AbortSignal, trace: Trace): Promise<FtpProbeResult> {
  const tcp = await connectTcp(options, signal, trace);
  let socket: Socket = tcp;
  try {
    if (options.implicitTls) socket = await implicitTls(tcp, options, signal, trace);
    const connect = trace.elapsed();
    const certificate = options.implicitTls ? (socket as TLSSocket).getPeerCertificate() : undefined;
    if (options.send !== undefined) socket.write(options.send);
    if (options.delaySeconds) {
      trace.enter(`waiting ${options.delaySeconds} s (-d) before reading`);
      await sleep(options.delaySeconds * 1000, undefined, { signal });
    }
    trace.enter('waiting for the greeting');
    const reader = new SocketReader(socket, MAX_REPLY_BYTES);
    const greeting = await readGreeting(reader, options.expect, options.maxBytes, signal);
    const greetingAt = trace.elapsed();
    trace.note(1, `greeting: ${greeting.text.length} characters, ${greeting.matched ? 'as expected' : 'not as expected'}`);
    if (!options.session || !greeting.matched) {
      reader.detach();
      socket.end(options.quit);
      const response = trace.elapsed() - options.delaySeconds;
      return { greeting, certificate, timings: { connect, greeting: greetingAt, response } };
    }
    trace.enter('waiting for the end of the greeting');
    const end = await completeGreeting(reader, greeting, signal);
    const timings = { connect, greeting: trace.elapsed(), response: trace.elapsed() - options.delaySeconds };
    const leftover = reader.detach().subarray(end);
    const session = await runSession(socket, leftover, options.session, { tls: tlsOptions(options), budgetMs: () => budgetMs(options, trace) }, signal, trace);
    return { greeting, certificate: certificate ?? session.certificate, timings, session };
  } finally {
    socket.destroySoon();
  }
}

/** Time left for a data connection to open: what the deadline leaves, less a margin to report it. */
function budgetMs(options: FtpProbeOptions, trace: Trace): number {
  return Math.max(50, options.timeoutSeconds * 1000 - trace.elapsed() * 1000 - 250);
}

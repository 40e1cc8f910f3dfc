import type { Socket } from 'node:net';
import { CheckFailure } from '../runtime/errors.ts';
import type { AddressFamily } from '../runtime/host.ts';
import { printable } from '../runtime/outcome.ts';
import { SocketReader } from '../runtime/socket-reader.ts';
import type { State } from '../runtime/state.ts';
import { connectTcp } from '../runtime/tcp.ts';
import type { Trace } from '../runtime/trace.ts';
import { identificationEnd, type IdentificationRead, readIdentification } from './identification.ts';
import { type ClientHello, exchangeHostKey, sendClientHello } from './host-key-exchange.ts';
import { fingerprint } from './host-keys.ts';
import { loadSsh2 } from './load-ssh2.ts';

export interface SshProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly family: AddressFamily;
  readonly unresolvedState?: State;
  /** what we send back after reading the server's identification */
  readonly clientIdentification: string;
  /** `SHA256:...` as `ssh-keygen -lf` prints it; the connection is dropped before auth on mismatch */
  readonly hostKey?: string;
  readonly user?: string;
  readonly password?: string;
  readonly privateKey?: Buffer;
  readonly passphrase?: string;
  /** stat this path over SFTP (needs `user`) */
  readonly sftpPath?: string;
}

/** Seconds from the start of the check at the end of each phase. */
export interface SshTimings {
  connect: number;
  identification: number;
  kex?: number;
  auth?: number;
  sftp?: number;
}

export interface SshProbeResult extends IdentificationRead {
  readonly timings: SshTimings;
  readonly hostKeyFingerprint?: string;
  readonly authenticatedUser?: string;
  readonly sftpStat?: { readonly path: string; readonly size: number; readonly directory: boolean };
}

export function needsSshSession(options: SshProbeOptions): boolean {
  return options.hostKey !== undefined || options.user !== undefined || options.sftpPath !== undefined;
}

/** A login needs a whole SSH client (ssh2); pinning the host key alone needs only the key exchange. */
function needsLogin(options: SshProbeOptions): boolean {
  return options.user !== undefined || options.sftpPath !== undefined;
}

/**
 * Connects, reads the server identification and, when a host key is pinned, does the key exchange
 * up to the server's signed host key (host-key-exchange.ts). A login or an SFTP path continues as
 * a full SSH client instead (ssh2, loaded only then) over the same connection.
 */
export async function probeSsh(options: SshProbeOptions, signal: AbortSignal, trace: Trace): Promise<SshProbeResult> {
  const socket = await connectTcp(options, signal, trace);
  try {
    const connect = trace.enter('waiting for the server identification');
    // pinning a host key without a login: our side of the key exchange goes out at once (node:crypto
    // is loaded here, not at start: the banner check does without it)
    const hello = needsSshSession(options) && !needsLogin(options) ? sendClientHello(socket, options.clientIdentification) : undefined;
    // room for one whole packet of the key exchange (35000 bytes at most) after the identification
    const reader = new SocketReader(socket, needsSshSession(options) ? 48 * 1024 : 16 * 1024);
    const read = await readIdentification(reader, signal, trace);
    const identification = trace.elapsed();
    if (!needsSshSession(options)) {
      reader.detach();
      socket.end(`${options.clientIdentification}\r\n`);
      return { ...read, timings: { connect, identification } };
    }
    if (hello) return await pinHostKey(socket, reader, read, hello, { connect, identification }, options, signal, trace);
    const replay = reader.detach();
    return await continueSession(socket, replay, read, { connect, identification }, options, signal, trace);
  } finally {
    socket.destroySoon();
  }
}

async function pinHostKey(
  socket: Socket,
  reader: SocketReader,
  read: IdentificationRead,
  hello: ClientHello,
  timings: SshTimings,
  options: SshProbeOptions,
  signal: AbortSignal,
  trace: Trace,
): Promise<SshProbeResult> {
  // an identification without its line end leaves the server nothing to follow it with: the read below ends or times out
  reader.consume(identificationEnd(reader.buffer) ?? reader.buffer.length);
  trace.enter('exchanging keys');
  const seen = await exchangeHostKey(socket, reader, hello, read.identification.line, signal, trace);
  timings.kex = trace.enter('closing');
  trace.note(1, `key exchange done, host key ${seen.fingerprint}`);
  if (seen.fingerprint !== options.hostKey) throw new CheckFailure(`host key mismatch: server offers ${seen.fingerprint}, expected ${options.hostKey}`);
  return { ...read, timings, hostKeyFingerprint: seen.fingerprint };
}

async function continueSession(
  socket: Socket,
  replay: Buffer,
  read: IdentificationRead,
  timings: SshTimings,
  options: SshProbeOptions,
  signal: AbortSignal,
  trace: Trace,
): Promise<SshProbeResult> {
  const ssh2 = await loadSsh2();
  socket.unshift(replay);
  const client = new ssh2.Client();
  let seenFingerprint: string | undefined;
  let keyMismatch = false;
  const closed = () => client.end();
  signal.addEventListener('abort', closed, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      let authenticated = false;
      client.on('handshake', () => {
        timings.kex = trace.enter(options.user ? 'authenticating' : 'closing');
        trace.note(1, `key exchange done, host key ${seenFingerprint}`);
        if (!options.user) resolve();
      });
      client.on('ready', () => {
        authenticated = true;
        timings.auth = trace.enter('opening the SFTP subsystem');
        resolve();
      });
      client.on('error', (error: Error & { level?: string }) => {
        if (keyMismatch) {
          reject(new CheckFailure(`host key mismatch: server offers ${seenFingerprint}, expected ${options.hostKey}`));
        } else if (error.level === 'client-authentication') {
          reject(new CheckFailure(`authentication failed for user ${printable(options.user ?? '')}: ${printable(error.message)}`));
        } else {
          reject(new CheckFailure(`SSH session failed${authenticated ? '' : ' before authentication'}: ${printable(error.message)}`));
        }
      });
      client.on('close', () => reject(new CheckFailure('server closed the connection during the SSH handshake')));
      trace.enter('exchanging keys');
      client.connect({
        sock: socket,
        username: options.user ?? 'lbguard-hostkey-check',
        password: options.password,
        privateKey: options.privateKey,
        passphrase: options.passphrase,
        tryKeyboard: false,
        readyTimeout: 0,
        hostVerifier: (key: Buffer) => {
          seenFingerprint = fingerprint(key);
          keyMismatch = options.hostKey !== undefined && options.hostKey !== seenFingerprint;
          return !keyMismatch;
        },
      });
    });
    let sftpStat: SshProbeResult['sftpStat'];
    if (options.sftpPath !== undefined) {
      sftpStat = await statOverSftp(client, options.sftpPath, trace);
      timings.sftp = trace.elapsed();
    }
    return { ...read, timings, hostKeyFingerprint: seenFingerprint, authenticatedUser: options.user, sftpStat };
  } finally {
    signal.removeEventListener('abort', closed);
    client.end();
  }
}

async function statOverSftp(client: import('ssh2').Client, path: string, trace: Trace): Promise<NonNullable<SshProbeResult['sftpStat']>> {
  const sftp = await new Promise<import('ssh2').SFTPWrapper>((resolve, reject) => {
    client.sftp((error, session) => (error ? reject(new CheckFailure(`SFTP subsystem unavailable: ${printable(error.message)}`)) : resolve(session)));
  });
  trace.enter(`stat of ${printable(path)} over SFTP`);
  return new Promise((resolve, reject) => {
    sftp.stat(path, (error, stats) => {
      sftp.end();
      if (error) reject(new CheckFailure(`SFTP ${printable(path)}: ${printable(error.message)}`));
      else resolve({ path, size: stats.size, directory: stats.isDirectory() });
    });
  });
}

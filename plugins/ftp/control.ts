import type { Socket } from 'node:net';
import type { ConnectionOptions, PeerCertificate, TLSSocket } from 'node:tls';
import { CheckFailure } from '../runtime/errors.ts';
import { loadLibrary } from '../runtime/library.ts';
import { printable } from '../runtime/outcome.ts';
import { trimEnd } from './expect.ts';

type BasicFtp = typeof import('basic-ftp');
type Client = import('basic-ftp').Client;

export interface Reply {
  readonly code: number;
  readonly message: string;
}

/** An FTP reply or a failure of the control connection, as one printable line. */
export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return printable(trimEnd(message), 200);
}

/** `login failed: 530 Login incorrect.`: which phase failed, and the server's own words. */
export function phaseFailure(phase: string, error: unknown): CheckFailure {
  if (error instanceof CheckFailure) return error;
  return new CheckFailure(`${phase} failed: ${describeError(error)}`);
}

/**
 * The control connection of a deep check, driven by basic-ftp (loaded only then): it parses the
 * replies (multi-line, capped at 64 KiB), refuses CR/LF injection in commands, upgrades to TLS and
 * logs in. It takes over the socket on which the greeting was already read, so the connect and
 * greeting phases stay those of the check_tcp-compatible banner check.
 */
export class ControlChannel {
  private constructor(private readonly client: Client) {}

  static async adopt(socket: Socket, leftover: Buffer, signal: AbortSignal): Promise<ControlChannel> {
    const ftp = await loadLibrary<BasicFtp>('basic-ftp', () => import('basic-ftp'));
    // No basic-ftp timeout: the check's deadline (an abort) ends every phase, with its name.
    const client = new ftp.Client(0);
    if (leftover.length) socket.unshift(leftover);
    client.ftp.socket = socket;
    socket.resume();
    const close = () => client.close();
    signal.addEventListener('abort', close, { once: true });
    return new ControlChannel(client);
  }

  get socket(): Socket {
    return this.client.ftp.socket;
  }

  get secure(): boolean {
    return this.client.ftp.hasTLS;
  }

  /** the TLS session to resume on data connections (servers such as vsftpd require it) */
  get tlsSession(): Buffer | undefined {
    return this.client.ftp.tlsSessionStore ?? (this.secure ? (this.socket as TLSSocket).getSession() : undefined);
  }

  get peerCertificate(): PeerCertificate | undefined {
    return this.secure ? (this.socket as TLSSocket).getPeerCertificate() : undefined;
  }

  async authTls(options: ConnectionOptions): Promise<void> {
    await this.client.useTLS(options);
  }

  async login(user: string, password: string): Promise<Reply> {
    return this.client.login(user, password);
  }

  /** Sends a command; a 4xx/5xx reply rejects with basic-ftp's FTPError (`550 ...`). */
  async send(command: string): Promise<Reply> {
    return this.client.send(command);
  }

  /**
   * Sends a transfer command (RETR, LIST, STOR) and resolves on its final positive reply; 1xx
   * replies are the server saying the data connection is in use.
   */
  transferCommand(command: string): Promise<Reply> {
    return this.client.ftp.handle(command, (reply, task) => {
      if (reply instanceof Error) task.reject(reply);
      else if (reply.code >= 200 && reply.code < 300) task.resolve(reply);
      else if (reply.code >= 300) task.reject(new Error(`unexpected reply ${reply.message}`));
    }) as Promise<Reply>;
  }

  /** QUIT without waiting long: the check is over, the answer only tells us the server is polite. */
  quit(): void {
    try {
      this.client.ftp.send('QUIT');
    } catch {
      // the connection is already gone; nothing to say goodbye to
    }
  }

  close(): void {
    this.client.close();
  }
}

import { connect, type Socket } from 'node:net';

/**
 * Reads an FTP control connection's replies: next() resolves with the next final reply line
 * (`227 ...`), skipping continuation lines; seen() is everything received so far.
 */
export function ftpReplies(socket: Socket): { next(): Promise<string>; seen(): string } {
  let buffer = '';
  let seen = '';
  socket.on('data', (d) => (buffer += d));
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = /^(\d{3}) .*\r?\n/m.exec(buffer);
        if (!match) return false;
        seen += buffer.slice(0, match.index + match[0].length);
        buffer = buffer.slice(match.index + match[0].length);
        socket.off('data', check);
        resolve(match[0].trim());
        return true;
      };
      if (check()) return;
      socket.on('data', check);
      socket.once('close', () => reject(new Error(`closed; buffered: ${buffer}`)));
    });
  return { next, seen: () => seen + buffer };
}

export interface FtpControlSession {
  readonly socket: Socket;
  /** sends a line, resolves with its final reply */
  command(line: string): Promise<string>;
  seen(): string;
  close(): void;
}

/** A raw control session to host:port (from `localAddress`), greeting read, logged in anonymously unless `login` is false. */
export async function ftpControl(port: number, host: string, options: { localAddress?: string; login?: boolean } = {}): Promise<FtpControlSession> {
  const socket: Socket = connect({ port, host, localAddress: options.localAddress });
  socket.on('error', () => undefined);
  const { next, seen } = ftpReplies(socket);
  const command = (line: string) => {
    socket.write(`${line}\r\n`);
    return next();
  };
  await next();
  if (options.login !== false) {
    await command('USER anonymous');
    await command('PASS x');
  }
  return { socket, command, seen, close: () => socket.destroy() };
}

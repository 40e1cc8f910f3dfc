import { createServer, type Server, type Socket } from 'node:net';

export interface FakeServer {
  readonly port: number;
  readonly connections: () => number;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 whose behaviour per connection is the given function. */
export async function fakeTcpServer(onConnection: (socket: Socket) => void): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** accepts and never says a word */
export const silent = () => fakeTcpServer(() => undefined);
/** sends `text` and keeps the connection open */
export const banner = (text: string) => fakeTcpServer((s) => s.write(text));
/** accepts and closes at once */
export const closeAtOnce = () => fakeTcpServer((s) => s.end());
/** sends `bytes` of `A` without a newline */
export const flood = (bytes: number) => fakeTcpServer((s) => s.write(Buffer.alloc(bytes, 0x41)));
/** sends `text` after `ms` */
export const slowBanner = (text: string, ms: number) =>
  fakeTcpServer((s) => {
    const timer = setTimeout(() => s.writable && s.write(text), ms);
    s.on('close', () => clearTimeout(timer));
  });

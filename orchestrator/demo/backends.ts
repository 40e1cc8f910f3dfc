import { generateKeyPairSync } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import { decodePacket, encodeData, encodeError } from '../../plugins/tftp/codec.ts';

/** A backend of the demo: a real server on a loopback port that can be stopped and started again. */
export interface DemoBackend {
  readonly name: string;
  readonly port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A listening server and how to close it together with every connection it accepted. */
interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

/** Keeps a backend's port across restarts so the farm config stays valid while it is down. */
async function restartable(name: string, listen: (port: number) => Promise<Listening>): Promise<DemoBackend> {
  let current: Listening | undefined;
  let port = 0;
  const backend: DemoBackend = {
    name,
    get port() {
      return port;
    },
    async start() {
      current ??= await listen(port);
      port = current.port;
    },
    async stop() {
      const closing = current;
      current = undefined;
      await closing?.close();
    },
  };
  await backend.start();
  return backend;
}

/** What net.Server and ssh2's Server have in common, enough to listen on loopback and close. */
interface ServerLike {
  once(event: 'error', listener: (error: Error) => void): unknown;
  listen(port: number, host: string, callback: () => void): unknown;
  address(): unknown;
  close(callback: () => void): unknown;
}

/** Listens on 127.0.0.1:port (0: any); close() ends the connections first, then the server. */
function listen(server: ServerLike, port: number, endConnections: () => void): Promise<Listening> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address() as { port?: number } | null;
      resolve({
        port: address?.port ?? port,
        close: () => new Promise<void>((done) => {
          endConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

function listenTcp(port: number, onConnection: (socket: Socket) => void): Promise<Listening> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket)).on('error', () => undefined);
    onConnection(socket);
  });
  return listen(server, port, () => sockets.forEach((socket) => socket.destroy()));
}

const FTP_REPLIES: Record<string, string> = { USER: '331 Any password will do', PASS: '230 Logged in', SYST: '215 UNIX Type: L8', PWD: '257 "/"', NOOP: '200 OK', TYPE: '200 OK', QUIT: '221 Bye' };

/** A minimal FTP server: greeting, USER/PASS, SYST, PWD, NOOP, QUIT; enough for banner and login checks. */
export function demoFtp(name: string): Promise<DemoBackend> {
  return restartable(name, (port) =>
    listenTcp(port, (socket) => {
      socket.write(`220 lbguard demo FTP (${name})\r\n`);
      let buffer = '';
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('latin1');
        if (buffer.length > 4096) return socket.destroy();
        let newline: number;
        while ((newline = buffer.indexOf('\n')) !== -1) {
          const verb = buffer.slice(0, newline).trim().split(' ')[0]?.toUpperCase() ?? '';
          buffer = buffer.slice(newline + 1);
          socket.write(`${FTP_REPLIES[verb] ?? '502 Not implemented in the demo'}\r\n`);
          if (verb === 'QUIT') socket.end();
        }
      });
    }),
  );
}

let hostKey: string | undefined;
function demoHostKey(): string {
  hostKey ??= generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'pkcs1', format: 'pem' } }).privateKey;
  return hostKey;
}

/** A real SSH server (ssh2) that lets user `demo` in and serves SFTP stat requests. */
export async function demoSsh(name: string): Promise<DemoBackend> {
  // the daemon's own ssh2 from node_modules (the plugins' loader has the client only)
  const { default: ssh2 } = await import('ssh2');
  return restartable(name, (port) => {
    const clients = new Set<import('ssh2').Connection>();
    const server = new ssh2.Server({ hostKeys: [demoHostKey()], ident: `lbguard_demo_${name}` }, (client) => {
      clients.add(client);
      client.on('close', () => clients.delete(client)).on('error', () => undefined);
      client.on('authentication', (ctx) => (ctx.username === 'demo' ? ctx.accept() : ctx.reject()));
      client.on('session', (accept) => {
        accept().on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          sftp.on('STAT', (id) => sftp.attrs(id, { mode: 0o40755, uid: 0, gid: 0, size: 4096, atime: 0, mtime: 0 }));
        });
      });
    });
    return listen(server, port, () => clients.forEach((client) => client.end()));
  });
}

const TFTP_FILES: Record<string, string> = { 'tftp_check.txt': 'OK', 'pxelinux.0': 'demo boot loader\n' };

/**
 * A minimal TFTP server (RFC 1350 reads of one-block files, no options): each read gets a socket of
 * its own (a new TID), its DATA is sent again until ACKed, three tries at most.
 */
export function demoTftp(name: string): Promise<DemoBackend> {
  return restartable(name, (port) => {
    const sessions = new Set<UdpSocket>();
    const serve = (request: Buffer, client: RemoteInfo) => {
      let packet;
      try {
        packet = decodePacket(request);
      } catch {
        return; // malformed: dropped
      }
      if (packet.op !== 'RRQ') return;
      const session = createSocket('udp4');
      sessions.add(session);
      const content = packet.filename === 'whoami.txt' ? `${name}\n` : TFTP_FILES[packet.filename];
      const reply = content === undefined ? encodeError(1, 'File not found') : encodeData(1, Buffer.from(content));
      let tries = 0;
      const close = () => {
        clearInterval(resend);
        sessions.delete(session);
        session.close();
      };
      const send = () => (++tries > 3 ? close() : session.send(reply, client.port, client.address));
      const resend = setInterval(send, 500);
      session.on('message', (ack, from) => {
        if (from.port === client.port && ack.readUInt16BE(0) === 4) close();
      });
      session.bind(0, '127.0.0.1', () => (content === undefined ? (send(), close()) : send()));
    };
    const server = createSocket('udp4');
    server.on('message', serve);
    return new Promise<Listening>((resolve, reject) => {
      server.once('error', reject);
      server.bind(port, '127.0.0.1', () => {
        resolve({
          port: server.address().port,
          close: async () => {
            for (const session of sessions) session.close();
            server.close();
          },
        });
      });
    });
  });
}

// The test helpers that stand for a dead backend: ports that refuse (TCP) or stay silent (UDP),
// held so that no other test's daemon can take them meanwhile.
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import t from 'tap';
import { refusingPort } from '../helpers/processes.ts';
import { silentUdpPort } from '../helpers/tftp-daemons.ts';

const connectError = (port: number) =>
  new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve('connected'); });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });

const listenError = (port: number, host: string) =>
  new Promise<string>((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen(port, host, () => server.close(() => resolve('listening')));
  });

t.test('a refusing TCP port refuses, and nobody can listen on it until it is released', async (t) => {
  const held = await refusingPort();
  t.equal(await connectError(held.port), 'ECONNREFUSED');
  for (const host of ['127.0.0.1', '0.0.0.0', '::']) t.equal(await listenError(held.port, host), 'EADDRINUSE', `a listener on ${host} is refused`);
  await held.release();
  t.equal(await listenError(held.port, '127.0.0.1'), 'listening', 'released: the port is free again');
});

t.test('a silent UDP port cannot be bound by another socket while held', async (t) => {
  const held = await silentUdpPort();
  const other = createSocket('udp4');
  const code = await new Promise<string>((resolve) => {
    other.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    other.bind(held.port, '127.0.0.1', () => resolve('bound'));
  });
  other.close();
  t.equal(code, 'EADDRINUSE');
  await held.close();
});

// A TFTP session's socket toward its server (lvs-adapters/userspace/server-socket.ts), through the
// addon and through Node's dgram: a request to the service port, the answer from the server's
// transfer port, connected to it from then on, another address counted as stray, datagrams of many
// sockets in one event-loop turn each with its own bytes, an ICMP refusal reported, and no descriptor
// left after close().
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import t from 'tap';
import { openServerSocket, type ServerSocket } from '../../lvs-adapters/userspace/server-socket.ts';
import { requireUdpBatch } from '../helpers/processes.ts';

const openDescriptors = () => readdirSync('/proc/self/fd').length;

async function udp(address = '127.0.0.1'): Promise<{ socket: Socket; port: number; received: { text: string; port: number }[] }> {
  const socket = createSocket('udp4');
  const received: { text: string; port: number }[] = [];
  socket.on('message', (m, from) => received.push({ text: m.toString(), port: from.port }));
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return { socket, port: socket.address().port, received };
}

const until = async (done: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return done();
};

const close = (socket: Socket) => new Promise<void>((resolve) => socket.close(() => resolve()));

interface Heard {
  datagrams: { text: string; port: number }[];
  stray: number;
  errors: number;
}

function open(native: boolean): { socket: ServerSocket; heard: Heard } {
  const heard: Heard = { datagrams: [], stray: 0, errors: 0 };
  const socket = openServerSocket(
    '127.0.0.1',
    {
      // the socket's memory is reused: what is kept is a copy (toString)
      onDatagram: (message, port) => heard.datagrams.push({ text: message.toString(), port }),
      onStray: () => heard.stray++,
      onError: () => heard.errors++,
    },
    { native },
  );
  return { socket, heard };
}


for (const native of [true, false]) {
  const kind = native ? 'addon' : 'dgram';

  t.test(`${kind}: a request to the service port, answers from the transfer port, then connected to it`, async (t) => {
    if (native) requireUdpBatch();
    const service = await udp();
    const transfer = await udp();
    const other = await udp();
    const elsewhere = await udp('127.0.0.5');
    t.teardown(() => Promise.all([service, transfer, other, elsewhere].map((p) => close(p.socket))));
    const { socket, heard } = open(native);
    t.equal(socket.native, native);
    socket.send(Buffer.from('request'), service.port);
    t.ok(await until(() => service.received.length === 1), 'the service port got the request');
    const ours = service.received[0]!.port;
    transfer.socket.send('block 1', ours, '127.0.0.1');
    t.ok(await until(() => heard.datagrams.length === 1));
    t.same(heard.datagrams[0], { text: 'block 1', port: transfer.port }, 'the answer, with the port it came from');

    // another address is stray, whatever its port
    elsewhere.socket.send('from elsewhere', ours, '127.0.0.1');
    t.ok(await until(() => heard.stray === 1), 'a datagram from another address is counted as stray');
    t.equal(heard.datagrams.length, 1, 'and not handed on');

    socket.connect(transfer.port);
    const reused = Buffer.from('ack 1');
    socket.send(reused);
    reused.write('XXXXX'); // the caller's memory, reused at once: what left was the bytes at the call
    t.ok(await until(() => transfer.received.length === 1), 'a send without a port goes to the connected port');
    t.same(transfer.received[0], { text: 'ack 1', port: ours });
    // connected: the kernel keeps the server's other ports away
    other.socket.send('not the transfer port', ours, '127.0.0.1');
    transfer.socket.send('block 2', ours, '127.0.0.1');
    t.ok(await until(() => heard.datagrams.length === 2));
    await new Promise((r) => setTimeout(r, 100));
    t.same(heard.datagrams.map((d) => d.text), ['block 1', 'block 2'], 'only the transfer port is heard once connected');
    t.equal(heard.errors, 0);
    socket.close();
    transfer.socket.send('after close', ours, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    t.equal(heard.datagrams.length, 2, 'nothing is handed on after close()');
  });

  t.test(`${kind}: 150 sockets answered at once, each datagram with its own bytes; nothing open after close`, async (t) => {
    if (native) requireUdpBatch();
    const before = openDescriptors();
    const server = await udp();
    const sockets = Array.from({ length: 150 }, () => open(native));
    for (const [i, { socket }] of sockets.entries()) socket.send(Buffer.from(`request ${i}`), server.port);
    t.ok(await until(() => server.received.length === 150), `the server got 150 requests (${server.received.length})`);
    // answered in one go: the addon reads them in one loop turn, more than its 64 slots
    for (const request of server.received) server.socket.send(`answer to ${request.text}`, request.port, '127.0.0.1');
    t.ok(await until(() => sockets.every((s) => s.heard.datagrams.length === 1)), 'every socket got its answer');
    t.ok(
      sockets.every((s, i) => s.heard.datagrams[0]!.text === `answer to request ${i}` && s.heard.datagrams[0]!.port === server.port),
      'each its own answer, none overwritten by another socket\'s',
    );
    // the largest UDP payload over IPv4, whole
    const largest = Buffer.alloc(65507, 0x61);
    server.socket.send(largest, server.received[0]!.port, '127.0.0.1');
    t.ok(await until(() => sockets[0]!.heard.datagrams.length === 2));
    t.equal(sockets[0]!.heard.datagrams[1]!.text, largest.toString(), 'the largest datagram, whole');
    for (const { socket } of sockets) socket.close();
    await close(server.socket);
    t.ok(await until(() => openDescriptors() <= before, 2000), `descriptors back to ${before} (${openDescriptors()})`);
  });

  t.test(`${kind}: a server port that refuses (ICMP port unreachable) is reported`, async (t) => {
    if (native) requireUdpBatch();
    const gone = await udp();
    const port = gone.port;
    await close(gone.socket);
    const { socket, heard } = open(native);
    t.teardown(() => socket.close());
    socket.connect(port);
    socket.send(Buffer.from('ack'));
    await new Promise((r) => setTimeout(r, 50));
    socket.send(Buffer.from('ack again'));
    t.ok(await until(() => heard.errors > 0), `the refusal counted (${heard.errors})`);
    t.equal(heard.datagrams.length, 0, 'and no datagram made of it');
    // the socket still reads after the error (libuv stops watching a socket it saw an error on):
    // the port comes back, as a restarted server's would
    const back = createSocket('udp4');
    const received: number[] = [];
    back.on('message', (_m, from) => received.push(from.port));
    await new Promise<void>((resolve) => back.bind(port, '127.0.0.1', resolve));
    t.teardown(() => close(back));
    // the first send may meet the refusal of 'ack again' still queued (send(2) returns it): sent
    // again, as TFTP does
    t.ok(
      await until(() => {
        if (received.length === 0) socket.send(Buffer.from('hello again'));
        return received.length > 0;
      }),
      'a send after the refusal leaves',
    );
    back.send('still read', received[0] ?? 0, '127.0.0.1');
    t.ok(await until(() => heard.datagrams.length === 1), 'and an answer after the refusal is read');
  });
}

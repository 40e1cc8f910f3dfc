// The TFTP relay's port toward clients (lvs-adapters/userspace/client-port.ts), batched through the
// addon and through Node's dgram: every datagram read with its sender, replies sent intact, the
// largest and the empty datagram, and nothing left open after close().
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import t from 'tap';
import { type Client, clientAt, type ClientKey, openClientPort } from '../../lvs-adapters/userspace/client-port.ts';
import { requireUdpBatch } from '../helpers/processes.ts';

const openDescriptors = () => readdirSync('/proc/self/fd').length;

async function peer(): Promise<{ socket: Socket; port: number; received: Buffer[] }> {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, received };
}

const until = async (done: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return done();
};

t.test('the addon is built (a missing one fails here, as a missing daemon does)', async (t) => {
  t.doesNotThrow(requireUdpBatch, 'native/build/Release/udp_batch.node loads');
});

for (const batched of [true, false]) {
  t.test(`${batched ? 'batched (recvmmsg/sendmmsg)' : 'dgram'}: datagrams in, their sender, replies out intact`, async (t) => {
    if (batched) requireUdpBatch();
    const before = openDescriptors();
    const seen: { text: string; key: ClientKey; from: Client }[] = [];
    let dropped = 0;
    const port = openClientPort(
      '127.0.0.1',
      (message, key, from) => {
        // the port's memory is reused by the next batch: kept is a copy
        seen.push({ text: message.toString(), key, from: from() });
        port.send(Buffer.concat([Buffer.from('re:'), message]), from());
      },
      (count) => (dropped += count),
      { batched },
    );
    t.equal(port.batched, batched);
    await until(() => port.port > 0);
    const client = await peer();
    const expected = clientAt('127.0.0.1', client.port);
    for (let i = 0; i < 150; i++) client.socket.send(`datagram ${i}`, port.port, '127.0.0.1');
    t.ok(await until(() => client.received.length === 150), `150 replies (got ${client.received.length})`);
    t.same(
      seen.map((s) => s.text),
      Array.from({ length: 150 }, (_, i) => `datagram ${i}`),
      'every datagram, in order, each its own bytes (none overwritten by a later batch)',
    );
    t.ok(
      seen.every((s) => s.key === expected.key && s.from.address === '127.0.0.1' && s.from.port === client.port),
      'each keyed and addressed as clientAt() keys the sender',
    );
    t.same(
      client.received.map(String),
      Array.from({ length: 150 }, (_, i) => `re:datagram ${i}`),
    );

    // the largest UDP payload over IPv4, and an empty datagram
    const largest = Buffer.alloc(65507, 7);
    largest.write('big', 0);
    client.received.length = 0;
    seen.length = 0;
    client.socket.send(largest, port.port, '127.0.0.1');
    client.socket.send(Buffer.alloc(0), port.port, '127.0.0.1');
    t.ok(await until(() => seen.length === 2), 'both read');
    t.equal(seen[0]!.text.length, 65507, 'the largest datagram whole');
    t.equal(seen[1]!.text, '', 'the empty one, as empty');
    t.ok(await until(() => client.received.length === 1), 'the reply to the empty one came');
    t.equal(client.received[0]!.toString(), 're:', 'the reply to the empty one');
    await until(() => dropped > 0, 500);
    t.equal(dropped, 1, 'the reply to the largest (3 bytes too long for UDP) is counted as dropped, not sent');

    port.close();
    port.close();
    client.socket.close();
    await new Promise((r) => setTimeout(r, 50));
    t.equal(openDescriptors(), before, 'no descriptor left');
  });
}

t.test('batched: many ports share one set of buffers; sends interleaved across ports each leave from their own', async (t) => {
  requireUdpBatch();
  const ports = [];
  const first = openClientPort('127.0.0.1', () => undefined, () => undefined);
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 200; i++) ports.push(openClientPort('127.0.0.1', () => undefined, () => undefined));
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(grown < 1 << 20, `200 more ports: ${grown} bytes of buffers more (a set of their own each would be 1.6 GB)`);
  for (const port of ports) port.close();

  const second = openClientPort('127.0.0.1', () => undefined, () => undefined);
  const client = await peer();
  const from: number[] = [];
  client.socket.removeAllListeners('message');
  client.socket.on('message', (m, r) => {
    client.received.push(m);
    from.push(r.port);
  });
  const to = clientAt('127.0.0.1', client.port);
  // outside a batch (as a server's block is): each switch of port sends what the other queued
  for (let i = 0; i < 10; i++) (i % 2 ? second : first).send(Buffer.from(`n${i}`), to);
  t.ok(await until(() => client.received.length === 10), 'all ten arrived');
  t.same(
    client.received.map((m, i) => [m.toString(), from[i]]),
    Array.from({ length: 10 }, (_, i) => [`n${i}`, (i % 2 ? second : first).port]),
    'in order, each from the port that sent it',
  );
  first.close();
  second.close();
  client.socket.close();
});

t.test('keys: IPv4 as a number, IPv6 as text; the same client, the same key', async (t) => {
  t.equal(clientAt('10.0.0.1', 69).key, (10 * 2 ** 24 + 1) * 65536 + 69);
  t.equal(clientAt('255.255.255.255', 65535).key, 2 ** 48 - 1, 'the largest key is an exact integer');
  t.equal(clientAt('::1', 69).key, '::1|69');
  t.ok(Number.isNaN(clientAt('::1', 69).address4));
});

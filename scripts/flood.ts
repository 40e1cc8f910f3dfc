// Bounded floods against a balancer on loopback or in a namespace of one's own, for the flood tests
// and the fuzz figures in the README:
//   node --import tsx scripts/flood.ts tftp-requests HOST PORT COUNT [FROM-PREFIX ADDRESSES]
//     COUNT read requests, each from a fresh source port, spread over ADDRESSES source addresses
//     FROM-PREFIX.1 .. FROM-PREFIX.ADDRESSES (default 127.0.1, 30); the sockets close at once.
// Prints one JSON line: what was sent and how long it took. Only for addresses you own.
import { createSocket, type Socket } from 'node:dgram';
import { encodeRequest } from '../plugins/tftp/codec.ts';

const BATCH = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tftpRequests(host: string, port: number, count: number, prefix: string, addresses: number): Promise<Record<string, number>> {
  const request = encodeRequest('RRQ', 'who.txt', 'octet');
  const started = performance.now();
  let sent = 0;
  for (let first = 0; first < count; first += BATCH) {
    const batch: Socket[] = [];
    for (let i = first; i < Math.min(count, first + BATCH); i++) {
      const socket = createSocket('udp4');
      socket.on('error', () => undefined);
      batch.push(socket);
      await new Promise<void>((resolve) => socket.bind(0, `${prefix}.${1 + (i % addresses)}`, () => resolve()));
      socket.send(request, port, host, () => sent++);
    }
    await sleep(20);
    for (const socket of batch) socket.close();
  }
  return { sent, ms: Math.round(performance.now() - started) };
}

const [mode, host = '127.0.0.1', portText = '69', countText = '1000', ...rest] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
if (mode === 'tftp-requests') {
  const [prefix = '127.0.1', addresses = '30'] = rest;
  process.stdout.write(`${JSON.stringify({ mode, ...(await tftpRequests(host, port, count, prefix, Number(addresses))) })}\n`);
} else {
  process.stderr.write('usage: flood.ts tftp-requests HOST PORT COUNT [FROM-PREFIX ADDRESSES]\n');
  process.exitCode = 2;
}

// Bounded floods against a balancer on loopback or in a namespace of one's own, for the flood tests
// and the fuzz figures in the README:
//   node --import tsx scripts/flood.ts tftp-requests HOST PORT COUNT [FROM-PREFIX ADDRESSES]
//     COUNT read requests, each from a fresh source port, spread over ADDRESSES source addresses
//     FROM-PREFIX.1 .. FROM-PREFIX.ADDRESSES (default 127.0.1, 30); the sockets close at once.
//   node --import tsx scripts/flood.ts tftp-junk HOST PORT COUNT
//     COUNT malformed datagrams in turn: random bytes, a lone byte, every opcode 0..9 with short or
//     odd bodies, 65,000-byte datagrams, read requests with junk options.
//   node --import tsx scripts/flood.ts ftp-lines HOST PORT COUNT
//     COUNT hostile control lines over connections of 100 lines each: NUL bytes, out-of-range
//     PORT/EPRT, PASV/EPSV floods, random bytes, 5 KB lines; counts the replies by code.
// Prints one JSON line: what was sent and how long it took. Only for addresses you own.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
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

/** The n-th malformed datagram of the rotation. */
function junkDatagram(n: number): Buffer {
  switch (n % 6) {
    case 0: return randomBytes(1 + (n % 600));
    case 1: return Buffer.from([n & 0xff]);
    case 2: { // every opcode, bodies from empty to odd
      const body = randomBytes(n % 7);
      return Buffer.concat([Buffer.from([0, (n >> 3) % 10]), body]);
    }
    case 3: return Buffer.alloc(65_000, n & 0xff);
    case 4: return Buffer.concat([encodeRequest('RRQ', 'who.txt', 'octet'), Buffer.from(`blksize\0${'9'.repeat(n % 40)}\0windowsize\0-1\0junk`, 'latin1')]);
    default: return Buffer.concat([Buffer.from([0, 1]), randomBytes(50)]); // RRQ without its NULs
  }
}

async function tftpJunk(host: string, port: number, count: number): Promise<Record<string, number>> {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined);
  let answers = 0;
  socket.on('message', () => answers++);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const started = performance.now();
  for (let n = 0; n < count; n++) {
    socket.send(junkDatagram(n), port, host);
    if (n % 200 === 199) await new Promise((r) => setImmediate(r)); // let the send queue drain
  }
  await sleep(500);
  socket.close();
  return { sent: count, answers, ms: Math.round(performance.now() - started) };
}

const HOSTILE_LINES = [
  () => 'RETR a\0b', () => 'PORT 127,0,0,1,256,1', () => 'PORT 127,0,0,1,0,0', () => 'EPRT |1|127.0.0.1|70000|',
  () => 'EPRT |9|x|1|', () => 'PASV', () => 'EPSV', () => 'PORT 192,0,2,7,4,1', () => randomBytes(40).toString('latin1').replace(/[\r\n]/g, ' '),
  () => 'NOOP',
];

async function ftpLines(host: string, port: number, count: number): Promise<Record<string, number>> {
  const codes: Record<string, number> = {};
  const started = performance.now();
  let sent = 0;
  while (sent < count) {
    const socket = connect({ host, port });
    socket.on('error', () => undefined);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      for (const m of d.matchAll(/^(\d{3}) /gm)) codes[m[1]!] = (codes[m[1]!] ?? 0) + 1;
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()).once('close', () => resolve()));
    const lines: string[] = ['USER anonymous', 'PASS x'];
    for (let i = 0; i < 100 && sent + lines.length < count; i++) lines.push(HOSTILE_LINES[(sent + i) % HOSTILE_LINES.length]!());
    // every tenth connection ends with a 5 KB line (the balancer answers 500 and closes)
    if ((sent / 100) % 10 >= 9) lines.push('X'.repeat(5000));
    socket.write(`${lines.join('\r\n')}\r\n`, 'latin1');
    sent += lines.length;
    await sleep(100);
    socket.end();
    const timer = setTimeout(() => socket.destroy(), 5000);
    await closed;
    clearTimeout(timer);
  }
  return { sent, ms: Math.round(performance.now() - started), ...Object.fromEntries(Object.entries(codes).map(([k, v]) => [`reply-${k}`, v])) };
}

const [mode, host = '127.0.0.1', portText = '69', countText = '1000', ...rest] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
if (mode === 'tftp-requests') {
  const [prefix = '127.0.1', addresses = '30'] = rest;
  process.stdout.write(`${JSON.stringify({ mode, ...(await tftpRequests(host, port, count, prefix, Number(addresses))) })}\n`);
} else if (mode === 'tftp-junk') {
  process.stdout.write(`${JSON.stringify({ mode, ...(await tftpJunk(host, port, count)) })}\n`);
} else if (mode === 'ftp-lines') {
  process.stdout.write(`${JSON.stringify({ mode, ...(await ftpLines(host, port, count)) })}\n`);
} else {
  process.stderr.write('usage: flood.ts tftp-requests|tftp-junk|ftp-lines HOST PORT COUNT [FROM-PREFIX ADDRESSES]\n');
  process.exitCode = 2;
}

// The TFTP client and check in-process, as the orchestrator calls them: results, and no UDP socket
// left open whether the transfer ends, fails or is aborted by the deadline.
import { Socket } from 'node:dgram';
import t from 'tap';
import { runCheck } from '../../plugins/runtime/deadline.ts';
import { Trace } from '../../plugins/runtime/trace.ts';
import { checkTftp } from '../../plugins/tftp/check.ts';
import { TftpFailure, tftpGet } from '../../plugins/tftp/client.ts';
import { startFakeTftp } from '../helpers/tftp-fake.ts';

const udpHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
/** UDP handles still open once closing ones have gone (a closed handle leaves on a later loop turn) */
async function openUdpHandles(before: number): Promise<number> {
  for (let i = 0; i < 50 && udpHandles() > before; i++) await new Promise((r) => setTimeout(r, 10));
  return udpHandles();
}
const FILES = { 'tftp_check.txt': 'OK\n', 'multi.bin': Buffer.alloc(3000, 0x61) };

t.test('checkTftp in-process: the Outcome the plugin prints, and no socket left', async (t) => {
  const before = await openUdpHandles(0);
  const server = await startFakeTftp({ files: FILES });
  t.teardown(() => server.close());
  const outcome = await runCheck(checkTftp, {
    host: '127.0.0.1', port: server.port, family: 0, filename: 'tftp_check.txt', mode: 'octet',
    negotiate: { tsize: true, timeout: 1, windowsize: 4 }, retransmitMs: 1000, maxBytes: 1 << 20,
    expectContent: 'OK', thresholds: {}, timeoutSeconds: 10,
  }, { seconds: 10, state: 2 });
  t.equal(outcome.state, 0);
  t.match(outcome.text, /^3 bytes in \d+\.\d{3} s from 127\.0\.0\.1 port \d+ \(tftp_check\.txt\)$/);
  t.same(outcome.perfdata.map((p) => p.label), ['time', 'size', 'throughput']);
  await server.close();
  t.equal(await openUdpHandles(before), before, 'the client socket is closed');
});

t.test('tftpGet: the result tells what was negotiated and received', async (t) => {
  const server = await startFakeTftp({ files: FILES });
  t.teardown(() => server.close());
  const result = await tftpGet({ address: '127.0.0.1', family: 4, port: server.port },
    { filename: 'multi.bin', options: { blksize: 1024, tsize: true, windowsize: 2 } }, new AbortController().signal, new Trace());
  t.match(result, { bytes: 3000, blocks: 3, blksize: 1024, windowsize: 2, tsize: 3000, negotiation: 'oack', contentComplete: true });
  t.ok(result.content.equals(FILES['multi.bin']));
});

t.test('an ERROR rejects with its code; sockets are closed', async (t) => {
  const before = await openUdpHandles(0);
  const server = await startFakeTftp({ files: FILES });
  t.teardown(() => server.close());
  await t.rejects(tftpGet({ address: '127.0.0.1', family: 4, port: server.port }, { filename: 'nope' }, new AbortController().signal, new Trace()),
    new TftpFailure('server-error', 'ERROR 1 (File not found)', 1, 'File not found'));
  await server.close();
  t.equal(await openUdpHandles(before), before);
});

t.test('an abort in the middle of a transfer rejects with the reason, tells the server, closes the socket', async (t) => {
  const before = await openUdpHandles(0);
  const server = await startFakeTftp({ files: FILES, stallAfterBlock: 1 });
  t.teardown(() => server.close());
  const controller = new AbortController();
  const trace = new Trace();
  const pending = tftpGet({ address: '127.0.0.1', family: 4, port: server.port },
    { filename: 'multi.bin', options: false }, controller.signal, trace);
  setTimeout(() => controller.abort(new Error('deadline')), 150);
  await t.rejects(pending, { message: 'deadline' });
  t.equal(trace.phase, 'waiting for DATA block 2');
  await new Promise((r) => setTimeout(r, 30));
  t.same(server.stats.errors.map((e) => e.code), [0], 'ERROR 0 sent to the server before closing');
  await server.close();
  t.equal(await openUdpHandles(before), before, 'the client socket is closed');
});

t.test('a request that cannot be sent fails before any socket is opened', async (t) => {
  const before = await openUdpHandles(0);
  await t.rejects(tftpGet({ address: '127.0.0.1', family: 4, port: 9 }, { filename: 'x', options: { blksize: 4 } }, new AbortController().signal, new Trace()),
    /blksize must be an integer from 8 to 65464/);
  await t.rejects(tftpGet({ address: '127.0.0.1', family: 4, port: 9 }, { filename: 'x'.repeat(600) }, new AbortController().signal, new Trace()),
    /exceeds the 512 bytes/);
  t.equal(await openUdpHandles(before), before);
});

t.test('both copies of a DATA read together: the second is an echo, not re-ACKed, however long the first took', async (t) => {
  const server = await startFakeTftp({ files: FILES, duplicateData: true });
  t.teardown(() => server.close());
  // a pause of 200 ms between the two copies' handling, as a loaded machine gives: the clock jumps
  // right after the client's callback for the first copy of block 2 (microtasks run between callbacks)
  const realNow = performance.now.bind(performance);
  let skew = 0;
  performance.now = () => realNow() + skew;
  const realSend = Socket.prototype.send;
  Socket.prototype.send = function (this: Socket, ...args: Parameters<Socket['send']>) {
    const message = args[0];
    if (Buffer.isBuffer(message) && message.length === 4 && message.readUInt16BE(0) === 4 && message.readUInt16BE(2) === 2) queueMicrotask(() => (skew += 200));
    return realSend.apply(this, args);
  } as Socket['send'];
  t.teardown(() => {
    performance.now = realNow;
    Socket.prototype.send = realSend;
  });
  const result = await tftpGet({ address: '127.0.0.1', family: 4, port: server.port }, { filename: 'multi.bin' }, new AbortController().signal, new Trace());
  t.equal(result.bytes, 3000);
  t.equal(skew, 200, 'the clock jumped once');
  // the final ACK leaves as the result is given: let the server read it
  await new Promise((r) => setTimeout(r, 50));
  t.same([...server.stats.acks.values()], [1, 1, 1, 1, 1, 1], 'each of the 6 blocks acknowledged once');
});

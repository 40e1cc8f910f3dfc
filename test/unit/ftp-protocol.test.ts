// The pieces of check_ftp that need no server: check_tcp's expect rule, the greeting reader fed by a
// socket pair, FTP reply framing, PASV/EPSV/PORT wording, and what the options turn into.
import { createServer, connect, type Socket } from 'node:net';
import t from 'tap';
import { matchExpect, unescape, trimEnd } from '../../plugins/ftp/expect.ts';
import { readGreeting, replyEnd } from '../../plugins/ftp/greeting.ts';
import { parseEpsv, parsePasv, portCommand } from '../../plugins/ftp/data-channel.ts';
import { cTime } from '../../plugins/ftp/check.ts';
import { SocketReader } from '../../plugins/runtime/socket-reader.ts';

const exact = { strings: ['220'], atStart: true, all: false };

t.test('expect rule: the default 220 must begin the greeting, -e finds a string anywhere', async (t) => {
  t.equal(matchExpect('220 (vsFTPd 3.0.3)', exact), 'success');
  t.equal(matchExpect('22', exact), 'retry', 'a prefix of 220 waits for more');
  t.equal(matchExpect('421 Service not available', exact), 'failure');
  t.equal(matchExpect('SSH-2.0-OpenSSH', exact), 'failure');
  const anywhere = { strings: ['vsFTPd'], atStart: false, all: false };
  t.equal(matchExpect('220 (vsFTPd 3.0.3)', anywhere), 'success');
  t.equal(matchExpect('220 ProFTPD', anywhere), 'retry', 'anywhere-in keeps reading until silence');
  const all = { strings: ['220', 'vsFTPd', 'ProFTPD'], atStart: false, all: true };
  t.equal(matchExpect('220 (vsFTPd 3.0.3)', all), 'retry', '-A: one missing is not enough');
  t.equal(matchExpect('220 (vsFTPd 3.0.3)', { ...all, all: false }), 'success');
});

t.test('-E escapes and trailing white space', async (t) => {
  t.equal(unescape('USER x\\r\\nQUIT\\t\\\\'), 'USER x\r\nQUIT\t\\');
  t.equal(unescape('no escapes \\x'), 'no escapes \\x');
  t.equal(trimEnd('220 ready \r\n\t '), '220 ready');
});

t.test('reply framing: single line, multi-line, incomplete, not FTP at all', async (t) => {
  t.equal(replyEnd(Buffer.from('220 ready\r\nrest')), 11);
  t.equal(replyEnd(Buffer.from('220-Welcome\r\n220-line 2\r\n220 ready\r\n')), 36);
  t.equal(replyEnd(Buffer.from('220-Welcome\r\n 220 indented is not the end\r\n')), undefined);
  t.equal(replyEnd(Buffer.from('220-Welcome\r\n220 rea')), undefined);
  t.equal(replyEnd(Buffer.from('SSH-2.0-x\r\n')), 11, 'a line that is no reply ends there');
});

t.test('PASV, EPSV and PORT', async (t) => {
  t.same(parsePasv('227 Entering Passive Mode (127,0,0,1,156,64).'), { host: '127.0.0.1', port: 40000 });
  t.same(parsePasv('227 Entering Passive Mode (10,0,0,2,156,85)'), { host: '10.0.0.2', port: 40021 });
  t.equal(parsePasv('227 Entering Passive Mode (300,0,0,1,1,1)'), undefined);
  t.equal(parsePasv('227 nothing here'), undefined);
  t.equal(parseEpsv('229 Entering Extended Passive Mode (|||40021|)'), 40021);
  t.equal(parseEpsv('229 Entering Extended Passive Mode (!!!6446!)'), 6446);
  t.equal(parseEpsv('229 (|||99999|)'), undefined);
  t.equal(portCommand('127.0.0.1', 40021), 'PORT 127,0,0,1,156,85');
  t.equal(portCommand('::1', 40021), 'EPRT |2|::1|40021|');
});

t.test('certificate dates as check_tcp prints them', async (t) => {
  t.equal(cTime(new Date('2026-12-03T02:04:05Z')), 'Thu Dec  3 02:04:05 2026 +0000');
});

/** A connected socket pair on loopback; `server` writes what the test scripts. */
async function socketPair(t: { teardown(fn: () => void): void }): Promise<{ client: Socket; server: Socket }> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect(port, '127.0.0.1');
  const server = await accepted;
  listener.close();
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server };
}

t.test('greeting reader: check_tcp reads at most 1 KiB when the start does not match', async (t) => {
  const { client, server } = await socketPair(t);
  server.write(Buffer.alloc(100_000, 0x41));
  const reader = new SocketReader(client, 64 * 1024);
  await new Promise((r) => setTimeout(r, 50));
  const greeting = await readGreeting(reader, exact, 0, AbortSignal.timeout(5000));
  t.equal(greeting.matched, false);
  t.equal(greeting.text, 'A'.repeat(1024));
});

t.test('greeting reader: a greeting in pieces is joined while it is a prefix of 220', async (t) => {
  const { client, server } = await socketPair(t);
  server.write('2');
  setTimeout(() => server.write('20 late but fine\r\n'), 100);
  const greeting = await readGreeting(new SocketReader(client, 1024), exact, 0, AbortSignal.timeout(5000));
  t.same(greeting, { text: '220 late but fine', matched: true, length: 19 });
});

t.test('greeting reader: nothing before the end of the stream is "No data received from host"', async (t) => {
  const { client, server } = await socketPair(t);
  server.end();
  await t.rejects(readGreeting(new SocketReader(client, 1024), exact, 0, AbortSignal.timeout(5000)), { message: 'No data received from host' });
});

t.test('greeting reader: -e that never matches gives up after 2 s of silence', async (t) => {
  const { client, server } = await socketPair(t);
  server.write('220 (vsFTPd 3.0.3)\r\n');
  const started = Date.now();
  const greeting = await readGreeting(new SocketReader(client, 1024), { strings: ['230'], atStart: false, all: false }, 0, AbortSignal.timeout(5000));
  t.equal(greeting.matched, false);
  t.ok(Date.now() - started >= 1900, 'waited for READ_TIMEOUT');
});

// check_tftp against a TFTP server that misbehaves on purpose (test/helpers/tftp-fake.ts): lost and
// repeated packets, the Sorcerer's Apprentice bug, answers from other ports, malformed packets,
// ERRORs, lies in the OACK, stalls. What the operator sees (exit code, first line, -v lines) and what
// the server saw (ACKs, ERRORs) are both checked.
import t from 'tap';
import { runPlugin } from '../helpers/processes.ts';
import { type FakeTftpBehaviour, type FakeTftpServer, startFakeTftp } from '../helpers/tftp-fake.ts';

const SMALL = 'OK\n';
// 10 blocks of 512 bytes and a short last one: enough to see per-block behaviour
const MULTI = Buffer.from(Array.from({ length: 5300 }, (_, i) => 65 + (i % 26)));
const FILES = { 'tftp_check.txt': SMALL, 'multi.bin': MULTI };

async function fake(t: { teardown(fn: () => unknown): void }, behaviour: Partial<FakeTftpBehaviour>): Promise<FakeTftpServer> {
  const server = await startFakeTftp({ files: FILES, ...behaviour });
  t.teardown(() => server.close());
  return server;
}

const tftp = (server: FakeTftpServer, ...args: string[]) =>
  runPlugin('check_tftp', ['-H', '127.0.0.1', '-p', String(server.port), ...args], { timeoutMs: 20000 });

const classic = (server: FakeTftpServer, ...args: string[]) =>
  runPlugin('check_tftp', ['--connect', '127.0.0.1', '-p', String(server.port), ...args], { timeoutMs: 20000 });

const multiArgs = ['-f', 'multi.bin', '--expect-size', String(MULTI.length), '--no-options', '-v'];

t.test('the first DATA is lost: the server sends it again and the check is OK', async (t) => {
  const server = await fake(t, { dropFirstData: true });
  const run = await tftp(server, '-v');
  t.equal(run.code, 0, run.stdout);
  t.match(run.firstLine, /^TFTP OK - 3 bytes in /);
  t.notMatch(run.stdout, /retransmissions/, 'the server\'s retransmission was taken, ours was not needed');
});

t.test('every DATA arrives twice: one ACK per block, no Sorcerer\'s Apprentice', async (t) => {
  const server = await fake(t, { duplicateData: true });
  const run = await tftp(server, ...multiArgs);
  t.equal(run.code, 0, run.stdout);
  t.match(run.stdout, /11 blocks, 5300 bytes on the wire/);
  t.same([...server.stats.acks.values()], Array(11).fill(1), 'each block acknowledged exactly once');
  t.equal(server.stats.dataSent, 22, 'the duplicates did not breed more DATA');
});

t.test('a server with the Sorcerer\'s Apprentice bug and duplicated DATA: traffic does not grow', async (t) => {
  const server = await fake(t, { duplicateData: true, sorcerer: true });
  const run = await tftp(server, ...multiArgs);
  t.equal(run.code, 0, run.stdout);
  t.ok(server.stats.dataSent <= 22, `${server.stats.dataSent} DATA sent for 11 blocks`);
  t.ok([...server.stats.acks.values()].every((n) => n === 1), 'never a duplicate ACK to feed the bug');
});

t.test('our ACK is lost: the repeated DATA is acknowledged again and the transfer goes on', async (t) => {
  const server = await fake(t, { dropFirstAckOf: 3 });
  const run = await tftp(server, ...multiArgs);
  t.equal(run.code, 0, run.stdout);
  t.ok((server.stats.acks.get(3) ?? 0) >= 2, 'block 3 acknowledged again after the server repeated it');
  // the last long-output line: the phases' perfdata continues after its |
  t.match(run.stdout, /\n0 retransmissions, [1-9]\d* duplicate DATA, 0 packets from other ports rejected\|first_answer=\S+ transfer=\S+\n$/, 'repaired without waiting for our own 1 s timer');
});

t.test('a forged DATA from another port is refused with ERROR 5 and the real file arrives', async (t) => {
  const server = await fake(t, { strayBeforeBlock: 1 });
  const run = await tftp(server, '-v');
  t.equal(run.code, 0, run.stdout);
  t.match(run.firstLine, /^TFTP OK - 3 bytes in /, 'content OK: the forged block was not taken');
  t.match(run.stdout, /rejected a packet from 127\.0\.0\.1 port \d+: not part of this transfer \(the server's transfer ID is port \d+\); answered ERROR 5/);
  t.same(server.stats.strayErrors.map((e) => [e.code, e.message]), [[5, 'Unknown transfer ID']]);
  t.same(server.stats.errors, [], 'the real transfer was not disturbed');
});

t.test('the server switches ports in the middle: refused, then CRITICAL when the real port falls silent', async (t) => {
  const server = await fake(t, { switchPortAtBlock: 2 });
  const run = await tftp(server, ...multiArgs, '--retransmit', '0.2');
  t.equal(run.code, 2, run.stdout);
  t.match(run.firstLine, /^TFTP CRITICAL - multi\.bin: no DATA block 2 from 127\.0\.0\.1 port \d+ after 5 retransmissions \(512 bytes received\)$/);
  t.ok(server.stats.strayErrors.length >= 1 && server.stats.strayErrors.every((e) => e.code === 5), 'ERROR 5 to the other port');
});

t.test('malformed answers are CRITICAL and the server is told ERROR 4', async (t) => {
  const cases: [Buffer, RegExp][] = [
    [Buffer.from([0, 3, 0]), /malformed packet from 127\.0\.0\.1 port \d+: DATA of 3 bytes is shorter than its 4-byte header$/],
    [Buffer.from([0, 9, 0, 1]), /malformed packet from 127\.0\.0\.1 port \d+: unknown opcode 9$/],
    [Buffer.from('\x00\x06blksize\x00', 'latin1'), /OACK: option 'blksize' has no value$/],
    [Buffer.from([0, 4, 0, 0]), /server sent ACK during a read \(illegal TFTP operation\)$/],
  ];
  for (const [packet, line] of cases) {
    const server = await fake(t, { malformed: packet });
    const run = await tftp(server);
    t.equal(run.code, 2, run.stdout);
    t.match(run.firstLine, /^TFTP CRITICAL - tftp_check\.txt: /);
    t.match(run.firstLine, line);
    await new Promise((r) => setTimeout(r, 50));
    t.same(server.stats.errors.map((e) => e.code), [4]);
  }
});

t.test('an ERROR packet is CRITICAL and shows code and message', async (t) => {
  const access = await fake(t, { error: { code: 2, message: 'Access violation' } });
  const run = await tftp(access);
  t.equal(run.code, 2);
  t.equal(run.stdout, `TFTP CRITICAL - ERROR 2 (Access violation) for tftp_check.txt from 127.0.0.1 port ${access.port}\n`);
  const custom = await fake(t, { error: { code: 0, message: 'disk on fire\r\n|x' } });
  const own = await tftp(custom);
  t.equal(own.stdout, `TFTP CRITICAL - ERROR 0: disk on fire\\r\\n\\x7cx for tftp_check.txt from 127.0.0.1 port ${custom.port}\n`, 'network text made printable');
  const connect = await classic(access);
  t.equal(connect.stdout, 'Error code 2: Access violation\n', 'the tftp client line the classic script printed');
  t.equal(connect.code, 0, 'exit 0: nanny judges the line');
});

t.test('a server that stalls after the first block: timeout within -t, naming the block', async (t) => {
  const server = await fake(t, { stallAfterBlock: 1 });
  const run = await tftp(server, '-f', 'multi.bin', '--no-options', '-t', '1');
  t.equal(run.code, 2);
  t.equal(run.stdout, 'TFTP CRITICAL - Socket timeout after 1 seconds while waiting for DATA block 2\n');
  t.ok(run.ms < 2500, `${run.ms.toFixed(0)} ms`);
  await new Promise((r) => setTimeout(r, 50));
  t.same(server.stats.errors.map((e) => e.code), [0], 'the server is told the transfer is over');
});

t.test('a server that never answers: the classic form prints Transfer timed out within -t', async (t) => {
  const server = await fake(t, { silent: true });
  const run = await classic(server, '-t', '1');
  t.equal(run.stdout, 'Transfer timed out\n');
  t.equal(run.code, 0);
  const before = server.stats.requests.length;
  const own = await tftp(server, '-t', '3', '--retransmit', '0.2');
  t.equal(own.code, 2);
  t.match(own.firstLine, /^TFTP CRITICAL - tftp_check\.txt: no answer from 127\.0\.0\.1 port \d+ to the read request \(6 tries in 1\.\d s\)$/);
  t.equal(server.stats.requests.length - before, 6, 'the request was sent 6 times');
});

t.test('option fallback: ignored (DATA at once) and refused (ERROR 8, asked again without options)', async (t) => {
  const ignoring = await fake(t, { ignoreOptions: true });
  const ignored = await tftp(ignoring, '-v');
  t.equal(ignored.code, 0, ignored.stdout);
  t.match(ignored.stdout, 'server ignored the options (DATA without OACK)');
  const refusing = await fake(t, { refuseOptions: true });
  const refused = await tftp(refusing, '-v');
  t.equal(refused.code, 0, refused.stdout);
  t.match(refused.stdout, 'server refused the options (ERROR 8 (Option negotiation refused)); asking again without options');
  t.same(refusing.stats.requests.map((r) => r.options.size), [4, 0]);
});

t.test('an OACK that grants what was not asked is refused with ERROR 8', async (t) => {
  const big = await fake(t, { oack: new Map([['blksize', '9000']]) });
  const run = await tftp(big, '--blksize', '1024');
  t.equal(run.code, 2);
  t.match(run.firstLine, /^TFTP CRITICAL - tftp_check\.txt: server's OACK refused: blksize 9000 outside 8\.\.1024$/);
  await new Promise((r) => setTimeout(r, 50));
  t.same(big.stats.errors.map((e) => e.code), [8]);
  const unasked = await fake(t, { oack: new Map([['multicast', '1']]) });
  t.match((await tftp(unasked)).firstLine, /option 'multicast' was not asked for$/);
});

t.test('a file shorter than its announced tsize is CRITICAL', async (t) => {
  const server = await fake(t, { oack: new Map([['tsize', '100']]) });
  const run = await tftp(server);
  t.equal(run.code, 2);
  t.match(run.firstLine, /^TFTP CRITICAL - tftp_check\.txt: short file: 3 of the 100 bytes the server announced \(tsize\) \(/);
});

t.test('--max-size stops a file that is too large, from tsize or while it arrives', async (t) => {
  const announced = await fake(t, {});
  const run = await tftp(announced, '-f', 'multi.bin', '--max-size', '1000');
  t.equal(run.code, 2);
  t.match(run.firstLine, /the server announces 5300 bytes \(tsize\), more than the 1000 allowed$/);
  const unannounced = await fake(t, { ignoreOptions: true });
  const stopped = await tftp(unannounced, '-f', 'multi.bin', '--max-size', '1000');
  t.match(stopped.firstLine, /multi\.bin: the file exceeds the 1000 bytes allowed$/);
  await new Promise((r) => setTimeout(r, 50));
  t.same(unannounced.stats.errors.map((e) => e.code), [3], 'ERROR 3 to the server');
  t.equal(unannounced.stats.acks.get(2), undefined, 'block 2 (past the limit) was not acknowledged');
});

t.test('netascii on the wire (OK CR LF) is OK LF here', async (t) => {
  const server = await fake(t, {});
  const run = await tftp(server, '--mode', 'netascii', '-v');
  t.equal(run.code, 0, run.stdout);
  t.match(run.stdout, /1 blocks, 4 bytes on the wire/);
  t.match(run.firstLine, /^TFTP OK - 3 bytes in /);
  t.equal(server.stats.requests[0]?.mode, 'netascii');
});

t.test('a window of 4 with its first block lost: gap ACK, resent window, file intact', async (t) => {
  const server = await fake(t, { dropFirstData: true });
  const run = await tftp(server, '-f', 'multi.bin', '--expect-size', String(MULTI.length), '--blksize', '512', '--windowsize', '4', '-vv');
  t.equal(run.code, 0, run.stdout);
  t.match(run.stdout, 'DATA block 2 while expecting 1: ACK 0');
  t.match(run.stdout, /windowsize 4/);
});

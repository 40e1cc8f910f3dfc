// check_tftp against two real TFTP servers (tftpd-hpa and atftpd), each started by the test on a free
// loopback UDP port serving a temporary directory, run as an operator runs it: the built bundle, its
// exit code and its stdout.
import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { runPlugin } from '../helpers/processes.ts';
import { freeUdpPort, startAtftpd, startTftpdHpa, type TftpServerDir } from '../helpers/tftp-daemons.ts';

const BIG = randomBytes(10 * 1024 * 1024);
const BIG_SHA = createHash('sha256').update(BIG).digest('hex');
const TEXT = 'first line\nsecond\r\nthird\n';
const FILES = { 'tftp_check.txt': 'OK\n', 'big.bin': BIG, 'text.txt': TEXT, 'wrong.txt': 'NOT OK\n', 'empty.txt': '' };

const OK_LINE = (port: number, file: string, bytes: number) =>
  new RegExp(`^TFTP OK - ${bytes} bytes in \\d+\\.\\d{3} s from 127\\.0\\.0\\.1 port ${port} \\(${file.replace('.', '\\.')}\\)` +
    `\\|time=\\d+\\.\\d{6}s;;;0\\.000000;10\\.000000 size=${bytes}B;;;0 throughput=\\d+;;;0$`);

const tftp = (...args: string[]) => runPlugin('check_tftp', args, { timeoutMs: 20000 });

let hpa: TftpServerDir;
let atftpd: TftpServerDir;
t.before(async () => {
  hpa = await startTftpdHpa(FILES);
  atftpd = await startAtftpd(FILES);
});
t.teardown(async () => {
  await hpa?.stop();
  await atftpd?.stop();
});

for (const [name, server] of [['tftpd-hpa', () => hpa], ['atftpd', () => atftpd]] as const) {
  t.test(`${name}: the default check reads tftp_check.txt and finds OK`, async (t) => {
    const { port } = server();
    const run = await tftp('-H', '127.0.0.1', '-p', String(port));
    t.equal(run.code, 0, run.stdout);
    t.match(run.firstLine, OK_LINE(port, 'tftp_check.txt', 3));
    t.match(run.firstLine, /\|time=\d+\.\d{6}s;;;0\.000000;10\.000000 size=3B;;;0 throughput=\d+;;;0$/, 'the first line\'s perfdata: the whole check');
    t.match(run.stdout.split('\n').slice(1), [
      /^first answer: options accepted \(OACK\) after \d+\.\d{3} s$/,
      /^transfer: 3 bytes in 1 block\(s\) of up to 1468, done \d+\.\d{3} s after it\|first_answer=\d+\.\d{6}s;;;0\.000000 transfer=\d+\.\d{6}s;;;0\.000000$/,
      /^$/,
    ], 'two phase lines, their timings continued after a | on the last');
    t.equal(run.stdout.split('\n').length, 4);
  });

  t.test(`${name}: 10 MiB arrive intact (size and sha256)`, async (t) => {
    const { port } = server();
    const run = await tftp('-H', '127.0.0.1', '-p', String(port), '-f', 'big.bin', '--expect-size', String(BIG.length), '-v');
    t.equal(run.code, 0, run.stdout);
    t.match(run.firstLine, OK_LINE(port, 'big.bin', BIG.length));
    t.match(run.stdout, `sha256 ${BIG_SHA}`, 'same bytes as the file served');
    t.match(run.stdout, /options accepted: blksize 1468, windowsize \d+, tsize 10485760/);
    t.match(run.stdout, /\ntransfer: 10485760 bytes in 7143 block\(s\) of up to 1468, done \d+\.\d{3} s after it\n/, 'the phase lines come before the -v details');
    t.match(run.stdout, /\|first_answer=\S+ transfer=\S+\n$/, 'the continued perfdata ends the output');
  });

  t.test(`${name}: netascii mode gives back the local text`, async (t) => {
    const { port } = server();
    const run = await tftp('-H', '127.0.0.1', '-p', String(port), '-f', 'text.txt', '--mode', 'netascii', '--expect-content', TEXT.replace(/\n$/, ''));
    t.equal(run.code, 0, run.stdout);
    t.match(run.firstLine, /^TFTP OK - \d+ bytes in /);
  });

  t.test(`${name}: a missing file is CRITICAL with the ERROR code and message`, async (t) => {
    const { port } = server();
    const run = await tftp('-H', '127.0.0.1', '-p', String(port), '-f', 'missing.txt');
    t.equal(run.code, 2);
    t.equal(run.stdout, `TFTP CRITICAL - ERROR 1 (File not found) for missing.txt from 127.0.0.1 port ${port}\n`);
  });

  t.test(`${name}: the classic --connect and --get forms`, async (t) => {
    const { port } = server();
    const connect = await tftp('--connect', '127.0.0.1', '-p', String(port));
    t.equal(connect.stdout, 'OK - answer from server\n', 'the line LVS nanny expects');
    t.equal(connect.code, 0);
    const get = await tftp('--get', '127.0.0.1', 'tftp_check.txt', '3', '-p', String(port));
    t.match(get.stdout, /^OK - Received 3 bytes in \d+\.\d{3} seconds\n$/);
    t.equal(get.code, 0);
    const big = await tftp('--get', '127.0.0.1', 'big.bin', String(BIG.length), '-p', String(port));
    t.match(big.stdout, new RegExp(`^OK - Received ${BIG.length} bytes in \\d+\\.\\d{3} seconds\\n$`));
  });
}

t.test('tftpd-hpa: an empty file is a valid transfer of 0 bytes', async (t) => {
  const run = await tftp('-H', '127.0.0.1', '-p', String(hpa.port), '-f', 'empty.txt', '--expect-size', '0');
  t.equal(run.code, 0, run.stdout);
  t.match(run.firstLine, OK_LINE(hpa.port, 'empty.txt', 0));
});

t.test('tftpd-hpa: wrong content and wrong size are CRITICAL, with what was found', async (t) => {
  const port = String(hpa.port);
  const content = await tftp('-H', '127.0.0.1', '-p', port, '-f', 'wrong.txt', '--expect-content', 'OK');
  t.equal(content.code, 2);
  t.match(content.firstLine, /^TFTP CRITICAL - wrong\.txt: content 'NOT OK\\n' where 'OK' was expected \(7 bytes in \d+\.\d{3} s from 127\.0\.0\.1 port \d+\)\|time=/);
  const defaults = await tftp('-H', '127.0.0.1', '-p', port, '--expect-content', 'READY');
  t.equal(defaults.code, 2, 'the default file with another expectation');
  const size = await tftp('-H', '127.0.0.1', '-p', port, '-f', 'tftp_check.txt', '--expect-size', '4');
  t.equal(size.code, 2);
  t.match(size.firstLine, /^TFTP CRITICAL - tftp_check\.txt: 3 bytes where 4 were expected \(/);
  const any = await tftp('-H', '127.0.0.1', '-p', port, '-f', 'wrong.txt');
  t.equal(any.code, 0, 'a file named without expectation only has to arrive');
});

t.test('tftpd-hpa: --answer (the classic --connect as a native check): File not found is OK, a file served is not', async (t) => {
  const port = String(hpa.port);
  const answer = await tftp('-H', '127.0.0.1', '-p', port, '--answer');
  t.equal(answer.code, 0, answer.stdout);
  t.match(answer.firstLine, /^TFTP OK - File not found for NaGiOs_ChEcK_FiLe, as expected, in \d+\.\d{3} s from 127\.0\.0\.1 port \d+\|time=\d+\.\d{6}s;;;0\.000000;10\.000000$/);
  const served = await tftp('-H', '127.0.0.1', '-p', port, '--answer', '-f', 'tftp_check.txt');
  t.equal(served.code, 2);
  t.match(served.firstLine, /^TFTP CRITICAL - tftp_check\.txt: the server sent 3 bytes where File not found was expected/);
  const silent = await tftp('-H', '127.0.0.1', '-p', String(await freeUdpPort()), '--answer', '-t', '1');
  t.equal(silent.code, 2, 'no answer at all is CRITICAL');
  const both = await tftp('-H', '127.0.0.1', '-p', port, '--answer', '--expect-size', '3');
  t.equal(both.code, 3);
  t.match(both.firstLine, /--answer expects File not found: it takes no --expect-content or --expect-size/);
});

t.test('tftpd-hpa: response time thresholds give WARNING and CRITICAL with the ranges in perfdata', async (t) => {
  const port = String(hpa.port);
  const warn = await tftp('-H', '127.0.0.1', '-p', port, '-w', '0', '-c', '5');
  t.equal(warn.code, 1);
  t.match(warn.firstLine, /^TFTP WARNING - 3 bytes in .* \(response time over the warning threshold\)\|time=\d+\.\d+s;0;5;0\.000000;10\.000000 /);
  const crit = await tftp('-H', '127.0.0.1', '-p', port, '-w', '0', '-c', '0');
  t.equal(crit.code, 2);
  t.match(crit.firstLine, /^TFTP CRITICAL - .*critical threshold\)\|time=\d+\.\d+s;0;0;/);
  const fine = await tftp('-H', '127.0.0.1', '-p', port, '-w', '5', '-c', '9');
  t.equal(fine.code, 0);
});

t.test('tftpd-hpa refusing every option: the client falls back to RFC 1350 and says so with -v', async (t) => {
  const plain = await startTftpdHpa(FILES, ['--refuse', 'blksize', '--refuse', 'tsize', '--refuse', 'timeout']);
  t.teardown(() => plain.stop());
  const run = await tftp('-H', '127.0.0.1', '-p', String(plain.port), '-f', 'big.bin', '--expect-size', String(BIG.length), '-v');
  t.equal(run.code, 0, run.stdout);
  t.match(run.stdout, 'server ignored the options (DATA without OACK): RFC 1350 defaults, blksize 512');
  t.match(run.stdout, `sha256 ${BIG_SHA}`);
  t.match(run.stdout, /20481 blocks/, '512-byte blocks, the last one empty');
});

t.test('tftpd-hpa: the largest and the smallest block sizes', async (t) => {
  for (const blksize of ['65464', '8']) {
    const file = blksize === '8' ? 'text.txt' : 'big.bin';
    const run = await tftp('-H', '127.0.0.1', '-p', String(hpa.port), '-f', file, '--blksize', blksize, '-v');
    t.equal(run.code, 0, run.stdout);
    t.match(run.stdout, `blksize ${blksize},`);
  }
  const plain = await tftp('-H', '127.0.0.1', '-p', String(hpa.port), '--no-options', '-v');
  t.equal(plain.code, 0);
  t.match(plain.stdout, 'options none: blksize 512, windowsize 1');
});

t.test('atftpd grants a window of 8 (RFC 7440)', async (t) => {
  const run = await tftp('-H', '127.0.0.1', '-p', String(atftpd.port), '-f', 'big.bin', '--windowsize', '8', '-v');
  t.equal(run.code, 0, run.stdout);
  t.match(run.stdout, 'windowsize 8');
  t.match(run.stdout, `sha256 ${BIG_SHA}`);
});

t.test('tftpd-hpa on ::1: IPv6 socket, a block size that fits an IPv6 frame', async (t) => {
  const v6 = await startTftpdHpa(FILES, [], '::1');
  t.teardown(() => v6.stop());
  const run = await tftp('-H', '::1', '-p', String(v6.port), '-v');
  t.equal(run.code, 0, run.stdout);
  t.match(run.firstLine, /^TFTP OK - 3 bytes in \d+\.\d{3} s from ::1 port \d+ \(tftp_check\.txt\)\|/);
  t.match(run.stdout, 'blksize 1448,');
  const connect = await tftp('--connect', '::1', '-p', String(v6.port));
  t.equal(connect.stdout, 'OK - answer from server\n');
});

t.test('nothing listens on the port: timeout within -t', async (t) => {
  const port = await freeUdpPort();
  const run = await tftp('-H', '127.0.0.1', '-p', String(port), '-t', '1');
  t.equal(run.code, 2);
  t.equal(run.stdout, 'TFTP CRITICAL - Socket timeout after 1 seconds while waiting for the server to answer the read request\n');
  t.ok(run.ms < 2500, `ended after ${run.ms.toFixed(0)} ms`);
  const unknown = await tftp('-H', '127.0.0.1', '-p', String(port), '-t', '1:UNKNOWN');
  t.equal(unknown.code, 3, '-t SECONDS:STATE');
  const classic = await tftp('--connect', '127.0.0.1', '-p', String(port), '-t', '1');
  t.equal(classic.stdout, 'Transfer timed out\n');
  t.equal(classic.code, 0, 'the classic form is nanny\'s: exit 0, the line says down');
  t.ok(classic.ms < 2500, `classic form ended after ${classic.ms.toFixed(0)} ms, not 25 s`);
});

t.test('bad arguments are UNKNOWN with a usage', async (t) => {
  const cases: string[][] = [
    [],
    ['-H', '127.0.0.1', '-p', '0'],
    ['-H', '127.0.0.1', '--expect-content', 'OK', '--expect-size', '3'],
    ['-H', '127.0.0.1', '--mode', 'mail'],
    ['-H', '127.0.0.1', '--blksize', '4'],
    ['-H', '127.0.0.1', '--windowsize', '0'],
    ['-H', '127.0.0.1', '--expect-size', '-1'],
    ['-H', 'x;rm -rf /'],
    ['-H', '127.0.0.1', 'extra'],
  ];
  for (const args of cases) {
    const run = await tftp(...args);
    t.equal(run.code, 3, args.join(' '));
    t.match(run.firstLine, /^TFTP UNKNOWN - /, args.join(' '));
  }
});

// check_tftp against a local tftpd-hpa, next to tftp-hpa's own client doing the same transfer in the
// same run: one check of a 4-byte file (wall time of the whole command) and a 10 MiB file
// (throughput). Every byte is verified once after the timings: sha256 for check_tftp (-v), a byte
// compare of the file tftp-hpa wrote.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pluginPath, requireBinary } from '../test/helpers/processes.ts';
import { startTftpdHpa, TFTP_CLIENT } from '../test/helpers/tftp-daemons.ts';
import { heading, printTimings, type Timing, timeCommands } from './lib.ts';

const SMALL = Buffer.from('OK\r\n');
const BIG = randomBytes(10 * 1024 * 1024);

function verifyCheck(argv: readonly string[], content: Buffer): void {
  const run = spawnSync(argv[0] as string, [...argv.slice(1), '-v'], { encoding: 'utf8' });
  const sha = createHash('sha256').update(content).digest('hex');
  if (run.status !== 0 || !run.stdout.includes(`sha256 ${sha}`)) throw new Error(`check_tftp did not receive the bytes served: ${run.stdout}`);
}

function verifyClient(argv: readonly string[], out: string, content: Buffer): void {
  rmSync(out, { force: true });
  const run = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
  if (run.status !== 0 || !readFileSync(out).equals(content)) throw new Error(`tftp-hpa did not write the bytes served: ${run.stdout}${run.stderr}`);
}

function printThroughput(title: string, timings: readonly Timing[], bytes: number, reference: string): void {
  const ref = timings.find((t) => t.name === reference);
  heading(title);
  console.log(`| command | median s | MiB/s at the median | best MiB/s | throughput ratio to ${reference} |`);
  console.log('|---|---|---|---|---|');
  for (const t of timings) {
    const rate = bytes / 1048576 / (t.medianMs / 1000);
    const ratio = ref ? (ref.medianMs / t.medianMs).toFixed(2) : '-';
    console.log(`| ${t.name} | ${(t.medianMs / 1000).toFixed(3)} | ${rate.toFixed(1)} | ${(bytes / 1048576 / (t.minMs / 1000)).toFixed(1)} | ${ratio} |`);
  }
}

export default async function tftpBench(): Promise<void> {
  const client = requireBinary(TFTP_CLIENT, 'tftp-hpa');
  const server = await startTftpdHpa({ 'four.txt': SMALL, '10M.bin': BIG });
  const out = mkdtempSync(join(tmpdir(), 'lbguard-bench-tftp-'));
  try {
    const port = String(server.port);
    const check = (...args: string[]) => [process.execPath, pluginPath('check_tftp'), '-H', '127.0.0.1', '-p', port, ...args];
    const hpa = (file: string) => [client, '-m', 'binary', '127.0.0.1', port, '-c', 'get', file, join(out, file)];
    const runs = Number(process.env.BENCH_RUNS ?? 30);

    const small = [
      { name: 'tftp-hpa get (4 B)', argv: hpa('four.txt'), expectExit: 0 },
      { name: 'node -e 0', argv: [process.execPath, '-e', '0'], expectExit: 0 },
      { name: 'lbguard check_tftp (4 B)', argv: check('-f', 'four.txt', '--expect-size', '4'), expectExit: 0 },
      { name: 'lbguard check_tftp --get (4 B)', argv: [process.execPath, pluginPath('check_tftp'), '--get', '127.0.0.1', 'four.txt', '4', '-p', port], expectExit: 0 },
    ];
    verifyCheck(small[2]!.argv, SMALL);
    verifyClient(small[0]!.argv, join(out, 'four.txt'), SMALL);
    printTimings('check_tftp: one check of a 4-byte file against a local tftpd-hpa', timeCommands(small, runs), 'tftp-hpa get (4 B)');

    const big = [
      { name: 'tftp-hpa get (blksize 512)', argv: hpa('10M.bin'), expectExit: 0 },
      { name: 'lbguard --no-options (blksize 512)', argv: check('-f', '10M.bin', '--expect-size', String(BIG.length), '--no-options'), expectExit: 0 },
      { name: 'lbguard default (blksize 1468)', argv: check('-f', '10M.bin', '--expect-size', String(BIG.length)), expectExit: 0 },
    ];
    for (const command of big.slice(1)) verifyCheck(command.argv, BIG);
    verifyClient(big[0]!.argv, join(out, '10M.bin'), BIG);
    const bigRuns = Math.max(3, Math.round(runs / 3));
    printThroughput(`10 MiB from a local tftpd-hpa, ${bigRuns} runs each, whole command`, timeCommands(big, bigRuns, 1), BIG.length, 'tftp-hpa get (blksize 512)');
  } finally {
    rmSync(out, { recursive: true, force: true });
    await server.stop();
  }
}

// `dataplane: {type: nftlb, start: true}`: lbguard runs nftlb itself. nftlb generates its API key
// when given none and prints it (`Key: ...`) on stdout, so the key never appears on a command line;
// stdbuf makes that line arrive at once (nftlb's stdout is fully buffered on a pipe).
import { type ChildProcess, spawn } from 'node:child_process';

export const NFTLB = '/usr/sbin/nftlb';
const STDBUF = '/usr/bin/stdbuf';
const KEY_LINE = /^Key: (.*)$/m;

export interface NftlbProcessOptions {
  readonly host: string;
  readonly port: number;
  readonly binary?: string;
  /** argv put before stdbuf, e.g. `ip netns exec NS` to run nftlb in another network namespace */
  readonly prefix?: readonly string[];
  /** how long to wait for the key line; default 5000 ms */
  readonly startTimeoutMs?: number;
}

export interface NftlbProcess {
  readonly pid: number;
  readonly key: string;
  running(): boolean;
  /** nftlb's recent output with the key line removed */
  output(): string;
  stop(): Promise<void>;
}

export async function startNftlb(options: NftlbProcessOptions): Promise<NftlbProcess> {
  const binary = options.binary ?? NFTLB;
  const argv = [...(options.prefix ?? []), STDBUF, '-oL', '-eL', binary, '-H', options.host, '-P', String(options.port), '-l', '4', '-L', 'stdout'];
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let key: string | undefined;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const gotKey = new Promise<void>((resolve) => {
    const take = (data: Buffer) => {
      output += data.toString();
      const match = key === undefined ? KEY_LINE.exec(output) : null;
      if (match) {
        key = match[1]!.replace(/\r$/, '');
        output = output.replace(KEY_LINE, '');
        resolve();
      }
      if (output.length > 8192) output = output.slice(-8192);
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (!running()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  const timeoutMs = options.startTimeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    gotKey.then(() => 'key' as const),
    exited.then(() => 'exited' as const),
    spawnError.then((e) => e),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'key' || key === undefined) {
    await stop();
    const why = outcome instanceof Error ? outcome.message : outcome === 'exited' ? `it exited (${child.exitCode ?? child.signalCode})` : `no key line after ${timeoutMs} ms`;
    throw new Error(`could not start ${binary} on ${options.host}:${options.port}: ${why}${output.trim() ? `: ${output.trim().slice(-500)}` : ''}`);
  }
  const pid = child.pid!;
  const theKey = key;
  return { pid, key: theKey, running, output: () => output, stop };
}

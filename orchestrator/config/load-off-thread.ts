import { Worker } from 'node:worker_threads';
import { threadEntry } from '../worker-entry.ts';
import { ConfigError, type ConfigProblem } from './read.ts';
import type { Config } from './schema.ts';

/** What the reading thread (load-worker.ts) answers: the validated file, or why it is refused. */
export type LoadAnswer =
  | { readonly kind: 'config'; readonly config: Config }
  /** the first problems, and how many there are */
  | { readonly kind: 'refused'; readonly problems: readonly ConfigProblem[]; readonly total: number }
  | { readonly kind: 'failed'; readonly message: string };

/** A farms file of 3.5 MB and 30,000 backends took 5-14 s on a 2-core machine at load 3-9. */
export const RELOAD_TIMEOUT_MS = 30_000;
/**
 * The reading thread's heap. A farms file of 3.5 MB and 30,000 backends needs 200-256 MB to parse
 * and validate; 4 MB of one-character entries (a million YAML nodes) needs more than 512.
 */
export const RELOAD_HEAP_MB = 512;

export interface OffThreadOptions {
  /** past it the thread is terminated and the file refused */
  readonly timeoutMs?: number;
  /** the thread's heap cap (V8's old generation), MB: a file that needs more is refused */
  readonly heapMb?: number;
  /** aborting terminates the thread (the daemon stops); the promise rejects with the reason */
  readonly signal?: AbortSignal;
}

function refusal(file: string, message: string): ConfigError {
  return new ConfigError(file, [{ path: '(file)', message }]);
}

/**
 * loadValidConfig(file) in a worker thread: reading, parsing and validating a large file costs that
 * thread, not the caller's event loop, whose only cost is taking the result (a structured clone:
 * the Config is plain data). Rejects with a ConfigError: the file's problems, or that it took longer
 * than the timeout or needed more memory than the heap cap (the thread is gone either way).
 */
export function loadConfigOffThread(file: string, options: OffThreadOptions = {}): Promise<Config> {
  const timeoutMs = options.timeoutMs ?? RELOAD_TIMEOUT_MS;
  const heapMb = options.heapMb ?? RELOAD_HEAP_MB;
  const entry = threadEntry(import.meta.url, 'load-worker.ts', 'config-worker.mjs');
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(refusal(file, 'not read: lbguard is stopping'));
    const worker = new Worker(entry.script, { ...entry.options, workerData: { file }, resourceLimits: { maxOldGenerationSizeMb: heapMb } });
    let answer: LoadAnswer | undefined;
    let failure: string | undefined;
    const fail = (message: string) => {
      failure ??= message;
      void worker.terminate();
    };
    const timer = setTimeout(() => fail(`took longer than ${timeoutMs / 1000} s to read and validate; not loaded`), timeoutMs);
    const abort = () => fail('not read: lbguard is stopping');
    options.signal?.addEventListener('abort', abort, { once: true });
    worker.on('message', (message: LoadAnswer) => (answer = message));
    worker.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') fail(`needs more than the ${heapMb} MB of memory allowed to parse it; not loaded`);
      else fail(`cannot be read: ${error.message}`);
    });
    // settled once the thread is gone: nothing of it outlives the answer
    worker.once('exit', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', abort);
      if (failure !== undefined) reject(refusal(file, failure));
      else if (answer?.kind === 'config') resolve(answer.config);
      else if (answer?.kind === 'refused') reject(new ConfigError(file, answer.problems, answer.total));
      else reject(refusal(file, answer?.kind === 'failed' ? answer.message : `the thread reading it exited with code ${code} and no answer`));
    });
  });
}

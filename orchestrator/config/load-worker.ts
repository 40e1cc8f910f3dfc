// The thread that reads, parses and validates a farms file for a reload (load-off-thread.ts starts
// it): a file that takes seconds to parse costs this thread, never the daemon's event loop. The
// file is read and its shape checked before the parser, the schema and the probes are loaded
// (import() below, a chunk of its own once built): a pathological file is refused as soon as the
// thread runs.
import { parentPort, workerData } from 'node:worker_threads';
import type { LoadAnswer } from './load-off-thread.ts';
import { ConfigError, readConfigText, SHOWN_PROBLEMS } from './read.ts';

async function answer(file: string): Promise<LoadAnswer> {
  try {
    const text = readConfigText(file);
    const { validConfigFromText } = await import('./semantics.ts');
    return { kind: 'config', config: validConfigFromText(file, text) };
  } catch (error) {
    // a million problems would cost the main thread their copy: it shows the first ones anyway
    if (error instanceof ConfigError) return { kind: 'refused', problems: error.problems.slice(0, SHOWN_PROBLEMS), total: error.total };
    return { kind: 'failed', message: (error as Error).message };
  }
}

parentPort?.postMessage(await answer(String((workerData as { file: unknown }).file)));

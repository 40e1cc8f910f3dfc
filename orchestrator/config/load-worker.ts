// The thread that reads, parses and validates a farms file for a reload (load-off-thread.ts starts
// it): a file that takes seconds to parse costs this thread, never the daemon's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, SHOWN_PROBLEMS } from './load.ts';
import type { LoadAnswer } from './load-off-thread.ts';
import { loadValidConfig } from './semantics.ts';

function answer(file: string): LoadAnswer {
  try {
    return { kind: 'config', config: loadValidConfig(file) };
  } catch (error) {
    // a million problems would cost the main thread their copy: it shows the first ones anyway
    if (error instanceof ConfigError) return { kind: 'refused', problems: error.problems.slice(0, SHOWN_PROBLEMS), total: error.total };
    return { kind: 'failed', message: (error as Error).message };
  }
}

parentPort?.postMessage(answer(String((workerData as { file: unknown }).file)));

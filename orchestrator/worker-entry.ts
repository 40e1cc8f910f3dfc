import { fileURLToPath } from 'node:url';

export interface WorkerEntry {
  /** the file a worker process or thread runs */
  readonly path: string;
  /** Node's options for it: the caller's own, with the tsx loader added when run from source */
  readonly execArgv: string[];
}

/**
 * Where the code of a worker (a process or a thread) is. From the source tree (tests, tsx), the
 * module `source` beside the caller, run with the tsx loader the caller has, or given it; once built,
 * `bundle` beside the bundle the caller is part of (dist/). `callerUrl` is the caller's import.meta.url.
 */
export function workerEntry(callerUrl: string, source: string, bundle: string): WorkerEntry {
  if (!callerUrl.endsWith('.ts')) return { path: fileURLToPath(new URL(`./${bundle}`, callerUrl)), execArgv: process.execArgv };
  const hasLoader = process.execArgv.some((arg) => /tsx|typescript/.test(arg));
  return { path: fileURLToPath(new URL(`./${source}`, callerUrl)), execArgv: hasLoader ? process.execArgv : [...process.execArgv, '--import', 'tsx'] };
}

/** How to start a worker thread on its code: new Worker(script, options). */
export interface ThreadEntry {
  readonly script: string;
  readonly options: { readonly eval?: boolean; readonly execArgv?: string[] };
}

/**
 * workerEntry for a worker thread. From source, the thread's entry is a small script that loads the
 * module through tsx's API: on Node 20 a thread given a .ts file fails (ERR_UNKNOWN_FILE_EXTENSION)
 * even with the tsx loader in its options.
 */
export function threadEntry(callerUrl: string, source: string, bundle: string): ThreadEntry {
  const entry = workerEntry(callerUrl, source, bundle);
  if (!callerUrl.endsWith('.ts')) return { script: entry.path, options: {} };
  const api = import.meta.resolve('tsx/esm/api');
  const module = new URL(`./${source}`, callerUrl).href;
  const script = `import(${JSON.stringify(api)}).then(({ tsImport }) => tsImport(${JSON.stringify(module)}, ${JSON.stringify(callerUrl)}))`;
  return { script, options: { eval: true, execArgv: [] } };
}

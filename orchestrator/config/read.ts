// A farms file's text and what can be wrong with it: the part of loading that needs neither the YAML
// parser nor the schema (a reload's thread answers with it before it loads them).
import { readTextFile, unreadableReason } from '../../plugins/runtime/read-file.ts';
import { shapeProblem } from './bounds.ts';

/** One thing wrong with a farms file, with where it is: `farms[2].backends[0].port`. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

/** A broken file can hold a million problems: the first ones tell the operator what to fix. */
export const SHOWN_PROBLEMS = 50;

function shownProblems(problems: readonly ConfigProblem[], total: number): string {
  const lines = problems.slice(0, SHOWN_PROBLEMS).map((p) => `  ${p.path}: ${p.message}`);
  if (total > SHOWN_PROBLEMS) lines.push(`  ... and ${total - SHOWN_PROBLEMS} more`);
  return lines.join('\n');
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  /**
   * `total`: how many problems the file has, when `problems` holds only the first ones (a reload's
   * worker thread sends no more than it shows)
   */
  constructor(readonly file: string, readonly problems: readonly ConfigProblem[], readonly total = problems.length) {
    super(`${file}: ${total} problem(s)\n${shownProblems(problems, total)}`);
  }
}

/** A farms file is written by hand: thousands of backends fit in far less. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * The text of a farms file, read within MAX_CONFIG_BYTES and checked for the shapes that make the
 * YAML parser slow (bounds.ts): cheap, so a pathological file is refused before the parser runs.
 */
export function readConfigText(file: string): string {
  let text: string;
  try {
    text = readTextFile(file, MAX_CONFIG_BYTES);
  } catch (error) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read: ${unreadableReason(error)}` }]);
  }
  const shape = shapeProblem(text);
  if (shape) throw new ConfigError(file, [{ path: `line ${shape.line}`, message: `${shape.message}; not parsed` }]);
  return text;
}

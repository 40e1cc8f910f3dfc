import { parseDocument } from 'yaml';
import type * as z from 'zod';
import { readTextFile, unreadableReason } from '../../plugins/runtime/read-file.ts';
import { shapeProblem } from './bounds.ts';
import { type Config, configSchema } from './schema.ts';

/** One thing wrong with a farms file, with where it is: `farms[2].backends[0].port`. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

/** A broken file can hold a million problems: the first ones tell the operator what to fix. */
const SHOWN_PROBLEMS = 50;

function shownProblems(problems: readonly ConfigProblem[]): string {
  const lines = problems.slice(0, SHOWN_PROBLEMS).map((p) => `  ${p.path}: ${p.message}`);
  if (problems.length > SHOWN_PROBLEMS) lines.push(`  ... and ${problems.length - SHOWN_PROBLEMS} more`);
  return lines.join('\n');
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly file: string, readonly problems: readonly ConfigProblem[]) {
    super(`${file}: ${problems.length} problem(s)\n${shownProblems(problems)}`);
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(top level)';
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}

/** Zod's issues reworded for operators: what was expected, and what was found. */
function problemOf(issue: z.core.$ZodIssue): ConfigProblem[] {
  const path = formatPath(issue.path);
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: 'unknown key' }));
    case 'too_big':
    case 'too_small': {
      if (issue.origin === 'array') return [{ path, message: issue.code === 'too_small' ? `expected at least ${issue.minimum} entries` : `expected at most ${issue.maximum} entries` }];
      // numbers carry their whole range in the message (see intIn in schema.ts)
      return [{ path, message: issue.message }];
    }
    case 'invalid_type':
      if (input === undefined) return [{ path, message: 'missing' }];
      // a schema's own message (ranges: `expected 1..65535, got "ftp"`) beats the generic one
      return [{ path, message: issue.message.startsWith('Invalid input') ? `expected ${issue.expected}, got ${describe(input)}` : issue.message }];
    case 'invalid_value':
      return [{ path, message: `expected one of ${issue.values.map(String).join('|')}, got ${describe(input)}` }];
    case 'invalid_union': {
      const tag = (issue as { note?: string }).note;
      // a union's own message (workers: `expected ... or "auto", got ...`) beats the generic one
      const own = issue.message.startsWith('Invalid input') ? undefined : issue.message;
      return [{ path, message: own ?? tag ?? `not a valid value: ${describe(input)}` }];
    }
    default:
      return [{ path, message: issue.message }];
  }
}

/** Validates an already parsed document. */
export function validateConfig(data: unknown, file = '(config)'): Config {
  const result = configSchema.safeParse(data, { reportInput: true });
  if (result.success) return result.data;
  const issues = result.error.issues;
  throw new ConfigError(file, issues.flatMap(problemOf));
}

/** A farms file is written by hand: thousands of backends fit in far less. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** Reads, parses (YAML, duplicate keys refused) and validates a farms file. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readTextFile(file, MAX_CONFIG_BYTES);
  } catch (error) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read: ${unreadableReason(error)}` }]);
  }
  const shape = shapeProblem(text);
  if (shape) throw new ConfigError(file, [{ path: `line ${shape.line}`, message: `${shape.message}; not parsed` }]);
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length) {
    throw new ConfigError(file, document.errors.map((e) => ({ path: `line ${e.linePos?.[0]?.line ?? '?'}`, message: e.message.split('\n')[0] ?? e.message })));
  }
  let data: unknown;
  try {
    data = document.toJS(); // aliases are expanded here; the yaml library refuses an alias bomb
  } catch (error) {
    throw new ConfigError(file, [{ path: '(file)', message: (error as Error).message }]);
  }
  return validateConfig(data, file);
}

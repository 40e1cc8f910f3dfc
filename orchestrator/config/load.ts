import { parseDocument } from 'yaml';
import type * as z from 'zod';
import { ConfigError, type ConfigProblem, readConfigText } from './read.ts';
import { type Config, configSchema } from './schema.ts';

export { ConfigError, type ConfigProblem, MAX_CONFIG_BYTES, readConfigText } from './read.ts';

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

/** Reads, parses (YAML, duplicate keys refused) and validates a farms file. */
export function loadConfig(file: string): Config {
  return parseConfigText(file, readConfigText(file));
}

/** Parses (YAML, duplicate keys refused) and validates the text of a farms file read by readConfigText. */
export function parseConfigText(file: string, text: string): Config {
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

import { UsageError } from './errors.ts';

/**
 * Command-line parsing with GNU getopt_long semantics, which Nagios command definitions are written
 * against. Hand-written because node:util parseArgs refuses option values that start with a dash
 * (`-w -5:`, legal ranges) and has no unique-prefix long options (`--host` for `--hostname`).
 */
export interface OptionSpec {
  readonly long: string;
  readonly short?: string;
  /** `optional`: a value only in the `--name=value` form, as getopt's optional_argument */
  readonly arg: 'none' | 'required' | 'optional';
  readonly aliases?: readonly string[];
  readonly argName?: string;
  readonly help: string;
  /** secrets: accepted from --extra-opts files only, refused on argv where `ps` shows them */
  readonly secret?: boolean;
}

export interface ParsedCommandLine {
  /** values per long name, in order given; a flag records '' each time it appears */
  readonly values: ReadonlyMap<string, readonly string[]>;
  readonly positionals: readonly string[];
}

function findLong(specs: readonly OptionSpec[], name: string): OptionSpec {
  const names = (s: OptionSpec) => [s.long, ...(s.aliases ?? [])];
  const exact = specs.find((s) => names(s).includes(name));
  if (exact) return exact;
  const matches = specs.filter((s) => names(s).some((n) => n.startsWith(name)));
  if (matches.length === 1 && matches[0]) return matches[0];
  if (matches.length > 1) {
    throw new UsageError(`option '--${name}' is ambiguous; possibilities: ${matches.map((m) => `'--${m.long}'`).join(' ')}`);
  }
  throw new UsageError(`unrecognized option '--${name}'`);
}

export function parseCommandLine(argv: readonly string[], specs: readonly OptionSpec[]): ParsedCommandLine {
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  const record = (spec: OptionSpec, value: string) => {
    const list = values.get(spec.long) ?? [];
    list.push(value);
    values.set(spec.long, list);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = findLong(specs, name);
      if (eq !== -1) {
        if (spec.arg === 'none') throw new UsageError(`option '--${spec.long}' doesn't allow an argument`);
        record(spec, arg.slice(eq + 1));
      } else if (spec.arg === 'required') {
        if (i + 1 >= argv.length) throw new UsageError(`option '--${spec.long}' requires an argument`);
        record(spec, argv[++i] as string);
      } else {
        record(spec, '');
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j] as string;
        const spec = specs.find((s) => s.short === letter);
        if (!spec) throw new UsageError(`invalid option -- '${letter}'`);
        if (spec.arg === 'none') {
          record(spec, '');
          continue;
        }
        const rest = arg.slice(j + 1);
        if (rest !== '') record(spec, rest);
        else if (spec.arg === 'optional') record(spec, '');
        else if (i + 1 < argv.length) record(spec, argv[++i] as string);
        else throw new UsageError(`option requires an argument -- '${letter}'`);
        break;
      }
      continue;
    }
    positionals.push(arg);
  }
  return { values, positionals };
}

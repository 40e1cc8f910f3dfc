import { HostNotFound, InvalidHost, UsageError } from './errors.ts';
import { expandExtraOpts } from './extra-opts.ts';
import { INTEGRATION_HELP, integrationFor } from './integration.ts';
import { type OptionSpec, type ParsedCommandLine, parseCommandLine } from './getopt.ts';
import { type AddressFamily, validateHost } from './host.ts';
import { type CheckFunction, type Deadline, runCheck } from './deadline.ts';
import { type Outcome, renderOutcome } from './outcome.ts';
import { type OutputFormat, parseOutputFormat, renderMultiLine, renderTestJson } from './output-format.ts';
import { portFromList } from './port-list.ts';
export { parsePort } from './port-list.ts';
import { parseRange, type Range } from './range.ts';
import { CRITICAL, OK, parseStateName, UNKNOWN } from './state.ts';

declare const __LBGUARD_VERSION__: string | undefined;
export const VERSION = typeof __LBGUARD_VERSION__ === 'string' ? __LBGUARD_VERSION__ : '0.0.0-dev';

/** The options every plugin has (monitoring-plugins' reserved letters plus -4/-6 and --extra-opts). */
export const STANDARD_OPTIONS: readonly OptionSpec[] = [
  { long: 'hostname', short: 'H', arg: 'required', aliases: ['host'], argName: 'ADDRESS', help: 'Host name, IP address or Unix socket (absolute path)' },
  { long: 'port', short: 'p', arg: 'required', argName: 'INTEGER', help: 'Port number' },
  { long: 'warning', short: 'w', arg: 'required', argName: 'RANGE', help: 'Response time (seconds) that results in WARNING' },
  { long: 'critical', short: 'c', arg: 'required', argName: 'RANGE', help: 'Response time (seconds) that results in CRITICAL' },
  { long: 'timeout', short: 't', arg: 'required', argName: 'SECONDS[:STATE]', help: 'Seconds before the check gives up (default 10); STATE is reported then (default CRITICAL)' },
  { long: 'verbose', short: 'v', arg: 'none', help: 'Show details for command-line debugging (repeat for more)' },
  { long: 'version', short: 'V', arg: 'none', help: 'Print version information' },
  { long: 'help', short: 'h', arg: 'none', help: 'Print detailed help screen' },
  { long: 'use-ipv4', short: '4', arg: 'none', help: 'Use IPv4 only' },
  { long: 'use-ipv6', short: '6', arg: 'none', help: 'Use IPv6 only' },
  { long: 'extra-opts', arg: 'optional', argName: '[section][@file]', help: 'Read options from an ini file (default section: the plugin name)' },
  { long: 'output-format', arg: 'required', argName: 'FORMAT', help: "monitoring-plugins 3's forms: multi-line or mp-test-json (default: the SERVICE STATE - text line)" },
];

export interface CommonOptions {
  readonly host: string | undefined;
  readonly port: number;
  readonly warning: Range | undefined;
  readonly critical: Range | undefined;
  readonly deadline: Deadline;
  readonly verbosity: number;
  readonly family: AddressFamily;
  /** `--output-format`; undefined: our own form */
  readonly outputFormat: OutputFormat | undefined;
}

/** Parsed argv with typed accessors; `common` holds the standard options, already validated. */
export class Args {
  constructor(readonly parsed: ParsedCommandLine, readonly common: CommonOptions) {}
  all(name: string): readonly string[] {
    return this.parsed.values.get(name) ?? [];
  }
  last(name: string): string | undefined {
    const list = this.all(name);
    return list[list.length - 1];
  }
  has(name: string): boolean {
    return this.all(name).length > 0;
  }
  count(name: string): number {
    return this.all(name).length;
  }
  positionals(): readonly string[] {
    return this.parsed.positionals;
  }
}

export interface PluginDefinition<O> {
  readonly name: string;
  readonly service: string;
  readonly synopsis: string;
  readonly description: readonly string[];
  readonly options: readonly OptionSpec[];
  readonly defaultPort: number;
  /** ` | ` for check_ssh, `|` for check_ftp, as the C plugins print */
  readonly perfSeparator?: string;
  /** take the host from the first positional argument when -H is absent (`check_ssh HOST`) */
  readonly positionalHost?: boolean;
  /** old spellings the C plugin rewrites before parsing, wherever they stand (`-wt` is `-w`) */
  readonly oldSpellings?: ReadonlyMap<string, string>;
  /**
   * The C plugin's answer to a host that is malformed or does not resolve, one case for it
   * (is_host): check_tcp prints a CRITICAL line, check_ssh a usage error. Without it a malformed
   * host is a usage error and an unknown one the probe's failure.
   */
  readonly hostError?: (host: string) => Outcome;
  /** the summary of an OK result in monitoring-plugins 3's output formats */
  readonly okSummary: string;
  readonly toOptions: (args: Args) => O;
  readonly check: CheckFunction<O>;
  /**
   * The check in a form without runCheck's signal and trace, for these options (undefined when they
   * need the full form): the same lines as `check`, at less CPU for a probe the daemon runs
   * thousands of times a second (the tcp connect to an address).
   */
  readonly leanCheck?: (options: O, deadline: Deadline) => LeanCheck | undefined;
}

/** A check with its options and deadline bound; `signal`: the caller's (the daemon stopping). */
export type LeanCheck = (signal?: AbortSignal) => Promise<Outcome>;

/** `-t 10`, `-t 2.5`, `-t 10:UNKNOWN` (monitoring-plugins' timeout-state form) */
export function parseTimeout(text: string): Deadline {
  const [secondsText = '', stateText, ...extra] = text.split(':');
  const seconds = Number(secondsText);
  if (!/^\d+(\.\d+)?$/.test(secondsText) || !(seconds > 0) || seconds > 86400 || extra.length) {
    throw new UsageError(`Timeout interval must be a positive number of seconds - ${text}`);
  }
  const state = stateText === undefined ? CRITICAL : parseStateName(stateText);
  if (state === undefined) throw new UsageError(`Timeout state must be ok, warning, critical or unknown - ${stateText}`);
  return { seconds, state };
}

function commonOptions(parsed: ParsedCommandLine, definition: PluginDefinition<unknown>): CommonOptions {
  const last = (name: string) => parsed.values.get(name)?.at(-1);
  let hostText = last('hostname');
  if (hostText === undefined && definition.positionalHost && parsed.positionals.length > 0) hostText = parsed.positionals[0];
  const v4 = parsed.values.has('use-ipv4');
  const v6 = parsed.values.has('use-ipv6');
  if (v4 && v6) throw new UsageError('-4 and -6 exclude each other');
  const warningText = last('warning');
  const criticalText = last('critical');
  const timeoutText = last('timeout');
  const portText = last('port');
  const formatText = last('output-format');
  return {
    host: hostText === undefined ? undefined : validateHost(hostText),
    port: portText === undefined ? definition.defaultPort : portFromList(portText, definition.defaultPort),
    warning: warningText === undefined ? undefined : parseRange(warningText),
    critical: criticalText === undefined ? undefined : parseRange(criticalText),
    deadline: timeoutText === undefined ? { seconds: 10, state: CRITICAL } : parseTimeout(timeoutText),
    verbosity: parsed.values.get('verbose')?.length ?? 0,
    family: v4 ? 4 : v6 ? 6 : 0,
    outputFormat: formatText === undefined ? undefined : parseOutputFormat(formatText),
  };
}

export function helpText<O>(definition: PluginDefinition<O>): string {
  const specs = [...STANDARD_OPTIONS, ...definition.options];
  const lines = [
    `${definition.name} v${VERSION} (lbguard ${VERSION})`,
    '',
    ...definition.description,
    '',
    'Usage:',
    definition.synopsis,
    '',
    'Options:',
  ];
  for (const spec of specs) {
    const arg = spec.arg === 'none' ? '' : spec.arg === 'optional' ? `[=${spec.argName ?? 'VALUE'}]` : `=${spec.argName ?? 'VALUE'}`;
    const names = spec.short ? `-${spec.short}, --${spec.long}${arg}` : `    --${spec.long}${arg}`;
    lines.push(` ${names}`, `    ${spec.help}${spec.secret ? ' (only from --extra-opts or the environment)' : ''}`);
  }
  lines.push(
    '',
    'Output:',
    ' The first line is SERVICE STATE - text|perfdata, as monitoring-plugins print it. Long output',
    ' follows: the -v details, and one line per phase of check_ftp\'s login and transfer checks and',
    ' check_ssh\'s host key, login and SFTP checks, whose timings continue the perfdata after a | on',
    ' the last line. At most 4096 bytes: long-output lines go first, never a perfdata item.',
    '',
    ...INTEGRATION_HELP,
    '',
    'Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad arguments, help, version).',
  );
  return lines.join('\n') + '\n';
}

/** Parses a plugin's argv into its options; throws UsageError, or returns 'help' / 'version'. */
export function parsePluginArgs<O>(definition: PluginDefinition<O>, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { options: O; common: CommonOptions } | 'help' | 'version' {
  const specs = [...STANDARD_OPTIONS, ...definition.options];
  const expanded = expandExtraOpts(argv, definition.name, env);
  // after --extra-opts, as check_tcp does it: every argument that is an old spelling, nothing else
  const modern = (args: readonly string[]) => args.map((arg) => definition.oldSpellings?.get(arg) ?? arg);
  const [fileArgs, cliArgs] = [modern(expanded.fileArgs), modern(expanded.cliArgs)];
  const typed = parseCommandLine(cliArgs, specs);
  for (const spec of definition.options) {
    if (spec.secret && typed.values.has(spec.long)) {
      throw new UsageError(`--${spec.long} is refused on the command line, where the process list shows it; put it in an --extra-opts file or the environment`);
    }
  }
  if (typed.values.has('help')) return 'help';
  if (typed.values.has('version')) return 'version';
  return optionsOf(definition, fileArgs.length ? parseCommandLine([...fileArgs, ...cliArgs], specs) : typed);
}

function optionsOf<O>(definition: PluginDefinition<O>, parsed: ParsedCommandLine): { options: O; common: CommonOptions } {
  const common = commonOptions(parsed, definition as PluginDefinition<unknown>);
  return { options: definition.toOptions(new Args(parsed, common)), common };
}

/**
 * A plugin's options from a trusted source (the orchestrator's config file, which may hold secrets
 * just as an --extra-opts file does): `{get: 'pub/f', 'expect-content': 'OK'}` becomes
 * `--get=pub/f --expect-content=OK`, parsed exactly as the CLI parses them. Throws UsageError.
 */
export function optionsFromSettings<O>(definition: PluginDefinition<O>, settings: Readonly<Record<string, string | number | boolean | readonly (string | number)[]>>): { options: O; common: CommonOptions } {
  const argv: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (value === false) continue;
    if (value === true) argv.push(`--${key}`);
    else if (Array.isArray(value)) argv.push(...value.map((v) => `--${key}=${v}`));
    else argv.push(`--${key}=${value}`);
  }
  return optionsOf(definition, parseCommandLine(argv, [...STANDARD_OPTIONS, ...definition.options]));
}

function usageOutput<O>(definition: PluginDefinition<O>, message: string): string {
  const text = renderOutcome(definition.service, { state: UNKNOWN, text: message, perfdata: [], details: [] });
  return `${text}Usage:\n${definition.synopsis}\n`;
}

/** A bad argument the way the C plugins print it (usage2): `check_ssh: message`, then the usage. */
function cUsageOutput<O>(definition: PluginDefinition<O>, message: string): string {
  return `${definition.name}: ${message}\nUsage:\n${definition.synopsis}\n`;
}

/** The check, with a host that does not resolve answered as the plugin's C peer answers it. */
function answeringHostErrors<O>(definition: PluginDefinition<O>): CheckFunction<O> {
  const { check, hostError } = definition;
  if (!hostError) return check;
  return async (options, signal, trace) => {
    try {
      return await check(options, signal, trace);
    } catch (error) {
      if (error instanceof HostNotFound) return hostError(error.host);
      throw error;
    }
  };
}

/** The output and exit status of a finished check in the chosen format. */
function present<O>(definition: PluginDefinition<O>, outcome: Outcome, format: OutputFormat | undefined): { output: string; state: number } {
  if (outcome.usage) return { output: cUsageOutput(definition, outcome.text), state: UNKNOWN };
  // monitoring-plugins 3 exits 0 after mp-test-json: the state is in the JSON
  if (format === 'mp-test-json') return { output: renderTestJson(outcome, definition.okSummary), state: OK };
  if (format === 'multi-line') return { output: renderMultiLine(outcome, definition.okSummary), state: outcome.state };
  return { output: renderOutcome(definition.service, outcome, { perfSeparator: definition.perfSeparator }), state: outcome.state };
}

/** The whole life of a plugin process: parse, check within the deadline, print, exit. */
export async function runPlugin<O>(definition: PluginDefinition<O>, commandLine: readonly string[] = process.argv.slice(2)): Promise<never> {
  // nanny, keepalived's misc_dynamic and ldirectord read the result their own way (integration.ts)
  const integration = integrationFor(commandLine);
  const argv = integration.argv;
  const end = (output: string, state: number): never => {
    const { stdout, code } = integration.finish(output, state);
    process.stdout.write(stdout);
    process.exit(code);
  };
  // The guard of nagiosplugin's runtime: whatever escapes is one UNKNOWN line, never a stack trace.
  const guard = (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    end(renderOutcome(definition.service, { state: UNKNOWN, text: `internal error: ${message}`, perfdata: [], details: [] }), UNKNOWN);
  };
  process.on('uncaughtException', guard);
  process.on('unhandledRejection', guard);
  let parsed: ReturnType<typeof parsePluginArgs<O>>;
  try {
    if (integration.problem) throw new UsageError(integration.problem);
    parsed = parsePluginArgs(definition, argv);
  } catch (error) {
    if (error instanceof InvalidHost && definition.hostError) {
      const answer = present(definition, definition.hostError(error.host), undefined);
      return end(answer.output, answer.state);
    }
    const message = error instanceof Error ? error.message : String(error);
    return end(usageOutput(definition, message), UNKNOWN);
  }
  if (parsed === 'help') {
    process.stdout.write(helpText(definition));
    process.exit(UNKNOWN);
  }
  if (parsed === 'version') {
    process.stdout.write(`${definition.name} v${VERSION} (lbguard ${VERSION})\n`);
    process.exit(UNKNOWN);
  }
  const { options, common } = parsed;
  const outcome = await runCheck(answeringHostErrors(definition), options, common.deadline, { verbosity: common.verbosity });
  const answer = present(definition, outcome, common.outputFormat);
  // Exit at once: a probe aborted by the deadline may still hold a handle that would keep Node alive.
  return end(answer.output, answer.state);
}

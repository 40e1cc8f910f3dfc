import { formatPerfdata, type PerfDatum } from './perfdata.ts';
import { type State, stateName } from './state.ts';

/** What a check concluded: the state, one line of text, perfdata, and optional long-output lines. */
export interface Outcome {
  readonly state: State;
  readonly text: string;
  readonly perfdata: readonly PerfDatum[];
  /** long output: shown by Nagios below the first line (`-v` detail goes here) */
  readonly details: readonly string[];
}

export interface RenderStyle {
  /** monitoring-plugins' check_ssh writes ` | `, check_tcp/check_ftp write `|` */
  readonly perfSeparator?: string;
  /** cap of the whole output in bytes; Nagios 4 keeps 8 KiB, nanny reads 4 KiB */
  readonly maxBytes?: number;
}

/**
 * Text that came from the network or the user, made safe for a status line: control characters
 * become visible escapes (`\r`, `\n`, `\x07`), a `|` cannot start perfdata, and long text is cut.
 */
export function printable(raw: string, maxChars = 200): string {
  let out = '';
  let count = 0;
  for (const ch of raw) {
    if (count >= maxChars) return `${out}... (${raw.length} chars)`;
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\r') out += '\\r';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '|') out += '\\x7c';
    else if (code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0)) {
      out += `\\x${code.toString(16).padStart(2, '0')}`;
    } else out += ch;
    count++;
  }
  return out;
}

/** The plugin's stdout: `SERVICE STATE - text|perfdata` then the long-output lines. */
export function renderOutcome(service: string, outcome: Outcome, style: RenderStyle = {}): string {
  const separator = style.perfSeparator ?? '|';
  const prefix = service ? `${service} ${stateName(outcome.state)}` : stateName(outcome.state);
  const perf = formatPerfdata(outcome.perfdata);
  const first = `${prefix} - ${outcome.text.replace(/[\r\n|]/g, ' ')}${perf ? separator + perf : ''}`;
  const lines = [first, ...outcome.details.map((line) => line.replace(/[\r\n|]/g, ' '))];
  let text = lines.join('\n') + '\n';
  const max = style.maxBytes ?? 4096;
  if (Buffer.byteLength(text) > max) {
    // Keep the whole first line when possible; Nagios acts on it and on the exit code alone.
    const head = Buffer.from(text).subarray(0, max - 16).toString('utf8').replace(/\uFFFD$/, '');
    text = head.endsWith('\n') ? `${head}(truncated)\n` : `${head}\n(truncated)\n`;
  }
  return text;
}

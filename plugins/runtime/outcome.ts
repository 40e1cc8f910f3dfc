import { formatPerfdata, type PerfDatum } from './perfdata.ts';
import { type State, stateName } from './state.ts';

/** What a check concluded: the state, one line of text, perfdata, and optional long-output lines. */
export interface Outcome {
  readonly state: State;
  readonly text: string;
  readonly perfdata: readonly PerfDatum[];
  /** long output: shown by Nagios below the first line (`-v` detail goes here) */
  readonly details: readonly string[];
  /** perfdata continued after a `|` on the last long-output line (per-phase timings) */
  readonly longPerfdata?: readonly PerfDatum[];
  /**
   * What was checked, one entry each, as monitoring-plugins 3 lists its subchecks (its output
   * formats print them, output-format.ts); without them the line above stands for the only one.
   */
  readonly checks?: readonly Subcheck[];
  /** the C plugin answers this as a bad argument: `NAME: text`, then the usage, exit 3 */
  readonly usage?: boolean;
}

/** One thing a check looked at, with its own state (monitoring-plugins 3's mp_subcheck). */
export interface Subcheck {
  readonly state: State;
  readonly output: string;
  readonly perfdata?: readonly PerfDatum[];
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

/**
 * The plugin's stdout: `SERVICE STATE - text|perfdata`, the long-output lines, and the perfdata that
 * continues after a `|` on the last long-output line (the plugin guidelines' multi-line form). Nagios
 * keeps the first line as plugin_output, the other text as long_plugin_output and joins both perfdata
 * parts into performance_data; that `|` has no blank around it, which Nagios would keep in both.
 * Over the byte cap, long-output lines are dropped from the end for a `(truncated)` line: the first
 * line and every perfdata item stay whole.
 */
export function renderOutcome(service: string, outcome: Outcome, style: RenderStyle = {}): string {
  const separator = style.perfSeparator ?? '|';
  const max = style.maxBytes ?? 4096;
  const head = `${service ? `${service} ${stateName(outcome.state)}` : stateName(outcome.state)} - `;
  const perf = formatPerfdata(outcome.perfdata);
  const tail = perf ? separator + perf : '';
  const text = oneLine(outcome.text);
  const details = outcome.details.map(oneLine);
  const more = formatPerfdata(outcome.longPerfdata ?? []);
  const continuation = more ? `|${more}` : '';
  const whole = [head + text + tail, ...details];
  if (continuation) whole.push(`${whole.length > 1 ? whole.pop() : ''}${continuation}`);
  const all = whole.join('\n') + '\n';
  if (bytes(all) <= max) return all;
  // Keep the first line (Nagios acts on it and on the exit code alone), shortening its text if it
  // must, and room for the marker line; then the long-output lines that fit.
  const firstMax = max - bytes(TRUNCATED) - 2;
  let first = head + text + tail;
  if (bytes(first) > firstMax) first = head + cutToBytes(text, firstMax - bytes(head) - bytes(tail) - 3) + '...' + tail;
  const kept = [first];
  let used = bytes(first) + 1;
  const marker = `${TRUNCATED}${used + bytes(TRUNCATED) + bytes(continuation) + 1 <= max ? continuation : ''}`;
  for (const line of details) {
    if (used + bytes(line) + 1 + bytes(marker) + 1 > max) break;
    kept.push(line);
    used += bytes(line) + 1;
  }
  return [...kept, marker].join('\n') + '\n';
}

const TRUNCATED = '(truncated)';

function bytes(text: string): number {
  return Buffer.byteLength(text);
}

/** The longest start of TEXT within LIMIT bytes, never splitting a character. */
function cutToBytes(text: string, limit: number): string {
  let out = '';
  let used = 0;
  for (const ch of text) {
    used += bytes(ch);
    if (used > limit) break;
    out += ch;
  }
  return out;
}

/** Our own text on one output line: no line break, no `|` that would start perfdata, no control bytes. */
function oneLine(text: string): string {
  return text.replace(/\r\n|[\r\n]/g, ' ').replace(/[|\x00-\x08\x0b-\x1f\x7f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

import { UsageError } from './errors.ts';
import type { Outcome, Subcheck } from './outcome.ts';
import { formatPerfdata, formatNumber, type PerfDatum } from './perfdata.ts';
import { parseRange, type Range } from './range.ts';
import { OK, type State, stateName } from './state.ts';

/**
 * monitoring-plugins 3's `--output-format` (lib/output.c): `multi-line` is its default form, a
 * `[STATE] - summary` line with one indented `\_[STATE] - text` line per subcheck and the perfdata of
 * all of them after a `|`; `mp-test-json` is the one JSON object its own test suite decodes, after
 * which the plugin exits 0 whatever the state. Names are matched without regard to case. Without
 * the option a plugin prints lbguard's own form (outcome.ts), the 2.3 line its Nagios users know.
 */
export const OUTPUT_FORMATS = ['multi-line', 'mp-test-json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(text: string): OutputFormat {
  const format = OUTPUT_FORMATS.find((name) => name === text.toLowerCase());
  // the C plugins' words for it, with the values they accept
  if (!format) throw new UsageError(`Invalid output format: ${text} (valid: ${OUTPUT_FORMATS.join(', ')})`);
  return format;
}

/** The outcome's subchecks, or the one its line stands for when the check gave none. */
export function subchecksOf(outcome: Outcome): readonly Subcheck[] {
  if (outcome.checks?.length) return outcome.checks;
  return [{ state: outcome.state, output: outcome.text, perfdata: [...outcome.perfdata, ...(outcome.longPerfdata ?? [])] }];
}

/** C's ranking for the summary: CRITICAL, then UNKNOWN, then WARNING (mp_compare_state). */
const RANK: Readonly<Record<State, number>> = { 0: 0, 1: 1, 3: 2, 2: 3 };

/** The first line's text: `okSummary` when all is well, else the first of the worst subchecks. */
function summaryOf(outcome: Outcome, checks: readonly Subcheck[], okSummary: string): string {
  if (outcome.state === OK) return okSummary;
  let worst: Subcheck | undefined;
  for (const check of checks) if (check.state !== OK && (!worst || RANK[check.state] > RANK[worst.state])) worst = check;
  return worst?.output ?? outcome.text;
}

/** Our text on a line of the multi-line form: no line break, no `|` (C turns it into a blank). */
function flat(text: string): string {
  return text.replace(/\r\n|[\r\n]/g, ' ').replace(/\|/g, ' ');
}

export function renderMultiLine(outcome: Outcome, okSummary: string): string {
  const checks = subchecksOf(outcome);
  const lines = [`[${stateName(outcome.state)}] - ${flat(summaryOf(outcome, checks, okSummary))}`];
  for (const check of checks) lines.push(`\t\\_[${stateName(check.state)}] - ${flat(check.output)}`);
  for (const detail of outcome.details) lines.push(flat(detail));
  const perfdata = formatPerfdata(checks.flatMap((check) => check.perfdata ?? []));
  return `${lines.join('\n')}${perfdata ? `|${perfdata}` : ''}\n`;
}

interface JsonValue {
  readonly type: 'double';
  readonly value: string;
}

/** C prints every number with `%f` and names its type; all of ours are doubles. */
const jsonNumber = (value: number): JsonValue => ({ type: 'double', value: formatNumber(value, 6) });

function jsonRange(text: string): object | undefined {
  let range: Range;
  try {
    range = parseRange(text);
  } catch {
    return undefined;
  }
  return {
    alert_on_inside: range.inside,
    end: Number.isFinite(range.end) ? jsonNumber(range.end) : 'inf',
    start: Number.isFinite(range.start) ? jsonNumber(range.start) : 'inf',
  };
}

function jsonPerfDatum(p: PerfDatum): object {
  const warn = p.warn === undefined || p.warn === '' ? undefined : jsonRange(p.warn);
  const crit = p.crit === undefined || p.crit === '' ? undefined : jsonRange(p.crit);
  return {
    label: p.label,
    ...(p.value === undefined ? {} : { value: jsonNumber(p.value) }),
    uom: p.uom ?? '',
    ...(warn ? { warn } : {}),
    ...(crit ? { crit } : {}),
    ...(p.min === undefined ? {} : { min: jsonNumber(p.min) }),
    ...(p.max === undefined ? {} : { max: jsonNumber(p.max) }),
  };
}

export function renderTestJson(outcome: Outcome, okSummary: string): string {
  const checks = subchecksOf(outcome);
  const json = {
    state: stateName(outcome.state),
    summary: summaryOf(outcome, checks, okSummary),
    checks: checks.map((check) => ({
      output: check.output,
      state: stateName(check.state),
      ...(check.perfdata?.length ? { perfdata: check.perfdata.map(jsonPerfDatum) } : {}),
    })),
  };
  return `${JSON.stringify(json)}\n`;
}

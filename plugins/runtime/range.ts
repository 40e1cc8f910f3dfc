import { UsageError } from './errors.ts';

/**
 * A Nagios threshold range (development guidelines, "Threshold and ranges"):
 * `10` alerts outside 0..10, `10:` below 10, `~:10` above 10, `10:20` outside 10..20,
 * `@10:20` inside 10..20 (endpoints included). Start greater than end is an error.
 */
export interface Range {
  readonly start: number;
  readonly end: number;
  /** true for `@`: alert when the value lies inside start..end */
  readonly inside: boolean;
  /** the range as given, for perfdata */
  readonly text: string;
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

function parseBound(text: string, what: string, whole: string): number {
  if (!NUMBER.test(text)) {
    throw new UsageError(`Range format incorrect: ${what} '${text}' of '${whole}' is not a number`);
  }
  return Number(text);
}

export function parseRange(raw: string): Range {
  const text = raw.trim();
  if (text === '') throw new UsageError('Range format incorrect: empty range');
  const inside = text.startsWith('@');
  const body = inside ? text.slice(1) : text;
  const colon = body.indexOf(':');
  let start = 0;
  let end: number;
  if (colon === -1) {
    end = parseBound(body, 'end', text);
  } else {
    const startText = body.slice(0, colon);
    const endText = body.slice(colon + 1);
    start = startText === '~' ? -Infinity : startText === '' ? 0 : parseBound(startText, 'start', text);
    end = endText === '' ? Infinity : parseBound(endText, 'end', text);
  }
  if (start > end) {
    throw new UsageError(`Range format incorrect: start ${start} is greater than end ${end} in '${text}'`);
  }
  return { start, end, inside, text };
}

/** true when the value should raise an alert for this range */
export function rangeAlerts(range: Range, value: number): boolean {
  const within = value >= range.start && value <= range.end;
  return range.inside ? within : !within;
}

// A farms file's shape checked before the YAML parser sees it. The parser is slow on some shapes: a
// '[' followed by 100,000 ']' took it 35-53 s and 357 MB (each stray bracket an error, composed at
// a growing cost), and deep nesting costs stack and time. One pass over the characters finds them in
// milliseconds, so `lbguard check` and a SIGHUP refuse such a file at once with the reason.

/** deeper flow collections ([ { ) or compact sequences (- - -) than a hand-written farms file needs */
export const MAX_NESTING = 64;
/** closing brackets that close nothing: a few may be text in a plain scalar, thousands are not */
export const MAX_STRAY_CLOSERS = 100;
/** deeper indentation means block nesting past what the parser's stack holds (about 900 levels) */
export const MAX_INDENT = 256;

export interface ShapeProblem {
  readonly line: number;
  readonly message: string;
}

/**
 * Scans YAML text for flow nesting deeper than MAX_NESTING, more than MAX_STRAY_CLOSERS brackets
 * that close nothing, lines opening more than MAX_NESTING compact sequences, and indentation past
 * MAX_INDENT columns. Quoted strings and
 * comments are skipped; a bracket inside a plain scalar (`a[1]`) is not an indicator.
 */
export function shapeProblem(text: string): ShapeProblem | null {
  let depth = 0;
  let stray = 0;
  let line = 1;
  let quote: '"' | "'" | null = null;
  let comment = false;
  let lineStart = true; // only indentation and '- ' seen on this line so far
  let dashes = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const before = i === 0 ? '\n' : text[i - 1]!;
    if (ch === '\n') {
      line++;
      comment = false;
      lineStart = true;
      dashes = 0;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (ch === '\\' && quote === '"') i++;
      else if (ch === quote) quote = null;
      continue;
    }
    const tokenStart = before === ' ' || before === '\t' || before === '\n' || '[]{},:'.includes(before);
    if (ch === '#' && (before === ' ' || before === '\t' || before === '\n')) {
      comment = true;
      continue;
    }
    if ((ch === '"' || ch === "'") && tokenStart) {
      quote = ch;
      lineStart = false;
      continue;
    }
    if (lineStart && ch === '-' && (text[i + 1] === ' ' || text[i + 1] === '\n' || i + 1 === text.length)) {
      if (++dashes > MAX_NESTING) return { line, message: `more than ${MAX_NESTING} nested sequences ("- - -") on one line` };
      continue;
    }
    if (lineStart && ch === ' ' && i - text.lastIndexOf('\n', i) > MAX_INDENT) return { line, message: `indented more than ${MAX_INDENT} columns` };
    if (ch !== ' ' && ch !== '\t') lineStart = false;
    if ((ch === '[' || ch === '{') && (depth > 0 || tokenStart)) {
      if (++depth > MAX_NESTING) return { line, message: `collections nested more than ${MAX_NESTING} deep` };
    } else if ((ch === ']' || ch === '}') && (depth > 0 || tokenStart)) {
      if (depth > 0) depth--;
      else if (++stray > MAX_STRAY_CLOSERS) return { line, message: `more than ${MAX_STRAY_CLOSERS} "${ch}" that close nothing` };
    }
  }
  return null;
}

/**
 * The expect-string logic of monitoring-plugins' check_tcp (2.3.3), which check_ftp is: the default
 * `220` must begin the greeting; any `-e` switches to "anywhere in it"; `-A` needs every string.
 */
export type ExpectResult = 'success' | 'retry' | 'failure';

export interface ExpectRule {
  readonly strings: readonly string[];
  /** true: each string must begin the text (the default `220`); false: anywhere (any `-e`) */
  readonly atStart: boolean;
  /** `-A`: all strings must be found, not just one */
  readonly all: boolean;
}

/**
 * 'retry' means "read more before deciding": the text so far is a prefix of a wanted string, or
 * the search is anywhere-in and nothing matched yet (more text may still bring it).
 */
export function matchExpect(text: string, rule: ExpectRule): ExpectResult {
  let found = 0;
  let partial = 0;
  for (const wanted of rule.strings) {
    if (rule.atStart ? text.startsWith(wanted) : text.includes(wanted)) found++;
    else if (rule.atStart && wanted.startsWith(text)) partial++;
  }
  if (rule.all ? found === rule.strings.length : found > 0) return 'success';
  return partial > 0 || !rule.atStart ? 'retry' : 'failure';
}

/** `-E`: `\n`, `\r`, `\t` and `\\` in -s/-q become the characters they name. */
export function unescape(text: string): string {
  return text.replace(/\\([nrt\\])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t', '\\': '\\' })[c] as string);
}

/** check_tcp strips trailing white space from what it received before printing it. */
export function trimEnd(text: string): string {
  return text.replace(/[\s\x0b]+$/, '');
}

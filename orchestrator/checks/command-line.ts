// How each consumer turns its one-line check command into an argv, reproduced without a shell,
// and how it puts the backend's address and port into that argv.
//
// - nanny (piranha nanny.c external_check): strtok(" ") — split on runs of spaces only, no quoting,
//   no escapes; a token that is exactly `%h` / `%p` becomes the address / port.
// - keepalived (parser.c alloc_strvec_quoted_escaped, used for misc_path): blanks separate words,
//   '…' and "…" group, a backslash escapes (also inside quotes: \n \t \xHH \0oo \cX …). keepalived
//   itself substitutes nothing; lbguard accepts the `%h`/`%p`/`HOST`/`PORT` arguments of the other
//   two forms so one check line can serve every backend of a farm.
// - Farm Guardian (zevenet farmguardian): the template goes through /bin/sh after `HOST` and `PORT`
//   were replaced as plain text, anywhere in a word. lbguard splits it the way sh would split its
//   words (quotes and backslashes) but refuses what only a shell could do (pipes, `;`, `$var`, …).
//
// Substitution happens AFTER splitting and only inside arguments, never in the program: an address
// like `x;rm -rf /` stays one literal argument and nothing ever interprets it.

export type CommandStyle = 'farmguardian' | 'nanny' | 'keepalived';

export interface CommandTarget {
  readonly address: string;
  readonly port: number;
}

/** A command line that cannot be split the way its consumer would; the message says why. */
export class CommandSyntaxError extends Error {
  override name = 'CommandSyntaxError';
}

export function splitCommandLine(style: CommandStyle, line: string): string[] {
  const argv = style === 'nanny' ? splitNanny(line) : style === 'keepalived' ? splitKeepalived(line) : splitShellWords(line);
  if (argv.length === 0 || argv[0] === '') throw new CommandSyntaxError('the command is empty');
  return argv;
}

/** nanny: strtok(temp, " ") — only the space character separates, tabs stay inside tokens. */
export function splitNanny(line: string): string[] {
  return line.split(' ').filter((token) => token !== '');
}

const BLANKS = ' \t';

function escapedByte(text: string, at: number): { bytes: number[]; next: number } {
  const ch = text[at];
  if (ch === undefined) throw new CommandSyntaxError('the command ends with a lone backslash');
  const hex = /^x([0-9A-Fa-f]+)/.exec(text.slice(at));
  if (hex?.[1]) return { bytes: [parseInt(hex[1].slice(-2), 16)], next: at + hex[0].length };
  if (ch === 'c' && at + 1 < text.length) return { bytes: [text.charCodeAt(at + 1) & 0x1f], next: at + 2 };
  const octal = /^[0-7]{1,3}/.exec(text.slice(at));
  if (octal) return { bytes: [parseInt(octal[0], 8) & 0xff], next: at + octal[0].length };
  const named: Record<string, number> = { a: 7, b: 8, E: 0x1b, f: 12, n: 10, r: 13, t: 9, v: 11 };
  const code = named[ch];
  if (code !== undefined) return { bytes: [code], next: at + 1 };
  return { bytes: [...Buffer.from(ch)], next: at + 1 };
}

/** keepalived: words of blanks-separated text, '' and "" group, backslash escapes everywhere. */
export function splitKeepalived(line: string): string[] {
  const words: string[] = [];
  let at = 0;
  while (at < line.length) {
    while (at < line.length && BLANKS.includes(line[at] ?? '')) at++;
    if (at >= line.length) break;
    const bytes: number[] = [];
    let quote = '';
    while (at < line.length) {
      const ch = line[at] ?? '';
      if (ch === '\\') {
        const escaped = escapedByte(line, at + 1);
        bytes.push(...escaped.bytes);
        at = escaped.next;
      } else if (quote) {
        if (ch === quote) quote = '';
        else bytes.push(...Buffer.from(ch));
        at++;
      } else if (ch === '"' || ch === "'") {
        quote = ch;
        at++;
      } else if (BLANKS.includes(ch)) {
        break;
      } else {
        bytes.push(...Buffer.from(ch));
        at++;
      }
    }
    if (quote) throw new CommandSyntaxError(`missing terminating ${quote}`);
    words.push(Buffer.from(bytes).toString('utf8'));
  }
  return words;
}

// Characters that make sh do more than split words; a check line using them needs a script.
const SHELL_ONLY = new Set(['|', '&', ';', '<', '>', '(', ')', '$', '`']);

/** Farm Guardian: sh's word splitting and quote removal, refusing operators and expansions. */
export function splitShellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  const needsShell = (what: string) =>
    new CommandSyntaxError(`uses ${what}, which needs a shell; lbguard runs checks without one (put it in a script)`);
  for (let at = 0; at < line.length; at++) {
    const ch = line[at] ?? '';
    if (ch === ' ' || ch === '\t' || ch === '\n') {
      if (word !== null) words.push(word);
      word = null;
    } else if (ch === '#' && word === null) {
      break; // a comment, as sh reads it
    } else if (ch === "'") {
      const end = line.indexOf("'", at + 1);
      if (end < 0) throw new CommandSyntaxError("missing terminating '");
      word = (word ?? '') + line.slice(at + 1, end);
      at = end;
    } else if (ch === '"') {
      word ??= '';
      for (at++; ; at++) {
        const inner = line[at];
        if (inner === undefined) throw new CommandSyntaxError('missing terminating "');
        if (inner === '"') break;
        if (inner === '$' || inner === '`') throw needsShell(`"${inner}" inside double quotes`);
        if (inner === '\\' && '"\\\n$`'.includes(line[at + 1] ?? 'x')) {
          at++;
          if (line[at] !== '\n') word += line[at];
        } else word += inner;
      }
    } else if (ch === '\\') {
      const next = line[at + 1];
      if (next === undefined) throw new CommandSyntaxError('the command ends with a lone backslash');
      at++;
      if (next !== '\n') word = (word ?? '') + next;
    } else if (SHELL_ONLY.has(ch)) {
      throw needsShell(`"${ch}"`);
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== null) words.push(word);
  if (words[0] !== undefined && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) {
    throw new CommandSyntaxError(`starts with the variable assignment "${words[0]}", which needs a shell; set it in the check's env instead`);
  }
  return words;
}

/**
 * Puts the target into the arguments (never into argv[0], the program):
 * - farmguardian: every `HOST` / `PORT` inside an argument, as Farm Guardian's text substitution does
 *   (one pass, so an address containing "PORT" is not substituted again);
 * - nanny: arguments that are exactly `%h` / `%p`;
 * - keepalived: arguments that are exactly `%h`, `%p`, `HOST` or `PORT`.
 */
export function substituteTarget(style: CommandStyle, argv: readonly string[], target: CommandTarget): string[] {
  const port = String(target.port);
  const whole: Record<string, string> =
    style === 'nanny' ? { '%h': target.address, '%p': port } : { '%h': target.address, '%p': port, HOST: target.address, PORT: port };
  return argv.map((arg, index) => {
    if (index === 0) return arg;
    if (style === 'farmguardian') return arg.replace(/HOST|PORT/g, (token) => (token === 'HOST' ? target.address : port));
    return Object.hasOwn(whole, arg) ? (whole[arg] ?? arg) : arg;
  });
}

// The operator guides in docs/ carry their examples as fenced blocks whose info string names a
// file, e.g. ```cfg file=lbguard-commands.cfg. Tests read those blocks back and parse or run them,
// so an example that stops working fails a test instead of misleading an operator.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes.ts';

/** Every block of docs/PAGE that has `file=NAME` in its info string, by NAME. */
export function docExamples(page: string): Map<string, string> {
  const text = readFileSync(join(ROOT, 'docs', page), 'utf8');
  const blocks = new Map<string, string>();
  const fence = /^```[^\n]*\bfile=(\S+)[^\n]*\n([\s\S]*?)^```$/gm;
  for (const match of text.matchAll(fence)) {
    const name = match[1] as string;
    if (blocks.has(name)) throw new Error(`docs/${page}: two examples named ${name}`);
    blocks.set(name, match[2] as string);
  }
  return blocks;
}

/** One named example of docs/PAGE; a missing one is an error naming the page. */
export function docExample(page: string, name: string): string {
  const block = docExamples(page).get(name);
  if (block === undefined) throw new Error(`docs/${page} has no example named ${name}`);
  return block;
}

// npm run bench: every bench/*.bench.ts in turn. Each prints its own table, with ratios against the
// anchor (C plugin, node -e 0, tftp-hpa...) measured in the same run on the same machine.
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here).filter((f) => f.endsWith('.bench.ts') && (only.length === 0 || only.some((o) => f.includes(o))));
console.log(`# lbguard benchmarks (${new Date().toISOString()}, node ${process.version})`);
for (const file of files.sort()) {
  const module = (await import(pathToFileURL(`${here}/${file}`).href)) as { default: () => Promise<void> };
  await module.default();
}

// Bundles each plugin into one self-contained CommonJS file (CJS starts ~12 ms faster than ESM on
// Node 20 and there is no compile cache). ssh2 stays external: it is loaded lazily, only by checks
// that need a full SSH session, and it carries optional native parts. The lbguard daemon is an ESM
// bundle of our code that loads its npm dependencies from node_modules (start-up time is no concern).
import { build } from 'esbuild';
import { chmodSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const plugins = readdirSync(join(root, 'plugins')).filter((f) => /^check_\w+\.ts$/.test(f));
const entries = plugins.map((f) => ({ in: join(root, 'plugins', f), out: `plugins/${f.replace(/\.ts$/, '')}` }));
const define = { __LBGUARD_VERSION__: JSON.stringify(version) };

await build({
  entryPoints: entries,
  outdir: join(root, 'dist'),
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  external: ['ssh2', 'cpu-features', 'basic-ftp'],
  define,
  logLevel: 'warning',
});
// the daemon, and the userspace balancer's worker process it forks beside itself (workers.ts finds
// it next to the bundle)
await build({
  entryPoints: [
    { in: join(root, 'orchestrator', 'cli.ts'), out: 'lbguard' },
    { in: join(root, 'lvs-adapters', 'userspace', 'worker.ts'), out: 'userspace-worker' },
  ],
  outdir: join(root, 'dist'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  define,
  logLevel: 'warning',
});
const built = [...entries.map((e) => `dist/${e.out}.cjs`), 'dist/lbguard.mjs'];
for (const file of built) chmodSync(join(root, file), 0o755);
console.log(`built ${built.join(', ')}`);

// Bundles each plugin into one self-contained CommonJS file (CJS starts ~12 ms faster than ESM on
// Node 20 and there is no compile cache API). ssh2 and basic-ftp are bundled apart
// (dist/plugins/vendor/) and loaded lazily, only by the checks that need a full SSH or FTP session. The lbguard daemon is an
// ESM bundle of our code that loads its npm dependencies from node_modules (start-up time is no concern).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const plugins = readdirSync(join(root, 'plugins')).filter((f) => /^check_\w+\.ts$/.test(f));
const entries = plugins.map((f) => ({ in: join(root, 'plugins', f), out: `plugins/${f.replace(/\.ts$/, '')}` }));
const define = { __LBGUARD_VERSION__: JSON.stringify(version) };

// The libraries only the deep checks use, each prebundled into one file beside the plugins
// (plugins/runtime/library.ts loads them): one file instead of a package tree to resolve and read
// (ssh2 is some 30 modules), and ssh2's client alone. Each file is one function expression, as Node
// wraps a CommonJS module, so that the loader can compile it with the V8 code cache written here
// for the Node that builds it. ssh2's optional native parts stay out, as modules that throw when
// required: it falls back to its own JavaScript, as it does now that they are never built (see
// allowScripts), without looking for them in node_modules at every start (~9 ms for cpu-features).
const VENDORED = {
  ssh2: "exports.Client = require('ssh2/lib/client.js');",
  'basic-ftp': "module.exports = require('basic-ftp');",
};
const withoutNativeParts = {
  name: 'without-native-parts',
  setup(plugin) {
    plugin.onResolve({ filter: /^cpu-features$|\.node$/ }, (args) => ({ path: args.path, namespace: 'absent' }));
    plugin.onLoad({ filter: /.*/, namespace: 'absent' }, (args) => ({ contents: `throw new Error(${JSON.stringify(`${args.path} is not bundled`)});` }));
  },
};
mkdirSync(join(root, 'dist', 'plugins', 'vendor'), { recursive: true });
for (const [name, contents] of Object.entries(VENDORED)) {
  const bundled = await build({
    stdin: { contents, resolveDir: root, sourcefile: `vendor-${name}.cjs` },
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    plugins: [withoutNativeParts],
    logLevel: 'error',
  });
  const file = join(root, 'dist', 'plugins', 'vendor', `${name}.js`);
  const source = `(function (exports, require, module, __filename, __dirname) {${bundled.outputFiles[0].text}\n})`;
  writeFileSync(file, source);
  // compile and run it once, as the loader does, then keep what V8 compiled
  const script = new Script(source, { filename: file });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  writeFileSync(`${file}.cache`, script.createCachedData());
}
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
  // a lazy import() of a dependency becomes require(): import() from CommonJS goes through the ESM
  // loader, which first runs its CommonJS export lexer over every file of the package
  supported: { 'dynamic-import': false },
  define: { ...define, __LBGUARD_VENDORED__: 'true' },
  logLevel: 'warning',
});
// the daemon, and the userspace balancer's worker process it forks beside itself (workers.ts finds
// it next to the bundle)
/** ESM bundles of our code that load their npm dependencies from node_modules */
const esm = {
  outdir: join(root, 'dist'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  define,
  logLevel: 'warning',
};
await build({
  ...esm,
  entryPoints: [
    { in: join(root, 'orchestrator', 'cli.ts'), out: 'lbguard' },
    { in: join(root, 'lvs-adapters', 'userspace', 'worker.ts'), out: 'userspace-worker' },
  ],
});
// the thread that reads the farms file at SIGHUP (load-off-thread.ts finds it next to the bundle):
// what it imports lazily (the YAML parser, the schema, the probes) in a chunk of its own, loaded only
// once the file passed the cheap checks
// chunk names carry a hash: the ones an earlier build left go first, or npm pack would ship them too
for (const old of readdirSync(join(root, 'dist'))) if (/^config-worker-.+\.mjs$/.test(old)) rmSync(join(root, 'dist', old));
await build({
  ...esm,
  entryPoints: [{ in: join(root, 'orchestrator', 'config', 'load-worker.ts'), out: 'config-worker' }],
  chunkNames: 'config-worker-[name]-[hash]',
  splitting: true,
});

// The TFTP relay's batched UDP port (native/udp-batch.c, lvs-adapters/userspace/client-port.ts),
// built with node-gyp against this Node's own headers, as npm builds any addon. It is optional: where
// it cannot be built the relay uses Node's dgram, and this says so.
function buildAddon() {
  const source = join(root, 'native');
  const out = join(root, 'dist', 'udp_batch.node');
  const made = join(source, 'build', 'Release', 'udp_batch.node');
  const newest = Math.max(...['udp-batch.c', 'binding.gyp'].map((f) => statSync(join(source, f)).mtimeMs));
  if (existsSync(made) && statSync(made).mtimeMs >= newest) {
    copyFileSync(made, out);
    return 'dist/udp_batch.node';
  }
  const npmGyp = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const gyp = process.env.npm_config_node_gyp ?? npmGyp;
  const prefix = join(dirname(process.execPath), '..');
  const headers = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? ['--nodedir', prefix] : [];
  try {
    execFileSync(process.execPath, [gyp, 'rebuild', '--directory', source, ...headers], { stdio: ['ignore', 'pipe', 'pipe'] });
    copyFileSync(made, out);
    return 'dist/udp_batch.node';
  } catch (error) {
    rmSync(out, { force: true });
    const said = `${error.stderr ?? ''}`.split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join(' | ');
    console.warn(`udp_batch not built (the TFTP relay will use Node's dgram, a datagram per system call): ${said || error.message}`);
    return undefined;
  }
}
const addon = buildAddon();
const built = [...entries.map((e) => `dist/${e.out}.cjs`), 'dist/lbguard.mjs', ...(addon ? [addon] : [])];
for (const file of built) chmodSync(join(root, file), 0o755);
console.log(`built ${built.join(', ')}`);

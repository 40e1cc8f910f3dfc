import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** set by scripts/build.mjs in the plugin bundles only: the libraries lie prebundled beside them */
declare const __LBGUARD_VENDORED__: boolean | undefined;

/**
 * The npm libraries only the deep checks need (ssh2, basic-ftp), loaded when a check first needs
 * one. A plugin bundle finds each prebundled in `vendor/NAME.js` beside it, with the V8 code cache
 * the build wrote for it (`NAME.js.cache`): one file, compiled from the cache, instead of a
 * package tree to resolve, read and parse (ssh2 is some 30 modules) at every start. A cache
 * another Node wrote is refused by V8, and the file is then simply compiled. Run from source (the
 * daemon, the tests), `fromPackage` imports the installed package.
 */
export async function loadLibrary<T>(name: 'ssh2' | 'basic-ftp', fromPackage: () => Promise<unknown>): Promise<T> {
  const loaded = typeof __LBGUARD_VENDORED__ === 'boolean' ? await requireVendored(join(__dirname, 'vendor', `${name}.js`)) : await fromPackage();
  // CommonJS through import() arrives under `default`
  return ((loaded as { default?: T }).default ?? loaded) as T;
}

/**
 * A vendored file is one function expression, `(function (exports, require, module, __filename,
 * __dirname) {...})`, the way Node wraps a CommonJS module: compiled here with its code cache.
 */
export async function requireVendored(path: string): Promise<unknown> {
  // node:vm and node:module only here, not at every plugin start
  const [{ Script }, { createRequire }] = await Promise.all([import('node:vm'), import('node:module')]);
  const source = readFileSync(path, 'utf8');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(`${path}.cache`);
  } catch {
    // no cache: compiled without one
  }
  const script = new Script(source, { filename: path, ...(cachedData ? { cachedData } : {}) });
  const module = { exports: {} as unknown };
  const body = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;
  body.call(module.exports, module.exports, createRequire(path), module, path, join(path, '..'));
  return module.exports;
}

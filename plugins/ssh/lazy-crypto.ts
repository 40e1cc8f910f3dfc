import type * as NodeCrypto from 'node:crypto';

let loaded: typeof NodeCrypto | undefined;

/**
 * node:crypto, loaded on first use rather than at start: the banner check never needs it, and its
 * ~36 internal modules are milliseconds of every start. process.getBuiltinModule, not import():
 * an import() of our own modules would add chunks to the daemon's code-split bundles.
 */
export function nodeCrypto(): typeof NodeCrypto {
  loaded ??= process.getBuiltinModule('node:crypto');
  return loaded;
}

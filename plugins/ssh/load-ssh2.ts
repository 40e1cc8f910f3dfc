/** ssh2, loaded only by the code paths that need a full SSH session (it costs ~40 ms to load). */
export type Ssh2 = typeof import('ssh2');

export async function loadSsh2(): Promise<Ssh2> {
  const loaded: unknown = await import('ssh2');
  // from the CJS bundle the module arrives as its exports; from ESM, under `default`
  return ((loaded as { default?: Ssh2 }).default ?? loaded) as Ssh2;
}

import { loadLibrary } from '../runtime/library.ts';

/** ssh2, loaded only by the code paths that need a full SSH session (its client alone in a bundle). */
export type Ssh2 = Pick<typeof import('ssh2'), 'Client'>;

export async function loadSsh2(): Promise<Ssh2> {
  return loadLibrary<Ssh2>('ssh2', () => import('ssh2'));
}

import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import type { Stats } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { readTextFile, UnreadableFile, unreadableReason } from '../../plugins/runtime/read-file.ts';
import type { Config } from '../config/schema.ts';

export type StatusConfig = Config['status'];

const MAX_TOKEN_BYTES = 4096;
const MAX_PEM_BYTES = 1024 * 1024;
const MIN_TOKEN_LENGTH = 16;

/**
 * A file holding a secret must be its owner's alone, as ssh insists for a private key: no permission
 * bit for group or others, and owned by the user lbguard runs as (or root).
 */
export function ownerOnly(stat: Stats): void {
  const mode = stat.mode & 0o777;
  if (mode & 0o077) throw new UnreadableFile(`permissions ${mode.toString(8).padStart(4, '0')} are too open: group or others may use it (chmod 600)`);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid && stat.uid !== 0) throw new UnreadableFile(`owned by uid ${stat.uid}, neither this user (${uid}) nor root`);
}

/** The token in FILE: one line of 16 to 4096 visible ASCII characters (it travels in a header). */
export function readToken(file: string): string {
  let text: string;
  try {
    text = readTextFile(file, MAX_TOKEN_BYTES, ownerOnly);
  } catch (error) {
    throw new Error(`cannot use ${file}: ${unreadableReason(error)}`);
  }
  const token = text.trim();
  if (!/^[\x21-\x7e]*$/.test(token)) throw new Error(`cannot use ${file}: the token must be one line of visible ASCII characters`);
  if (token.length < MIN_TOKEN_LENGTH) throw new Error(`cannot use ${file}: the token has ${token.length} characters, fewer than ${MIN_TOKEN_LENGTH} (openssl rand -hex 32 makes a good one)`);
  return token;
}

/** A token kept only as its digest: what a request presents is compared digest to digest, in constant time. */
export class Token {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = sha256(token);
  }

  matches(presented: string): boolean {
    return timingSafeEqual(this.digest, sha256(presented));
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** The status server's certificate and key (PEM); the key is a secret file, and must match the certificate. */
export function readTls(tls: NonNullable<StatusConfig['tls']>): TlsFiles {
  let cert: string;
  let key: string;
  try {
    cert = readTextFile(tls['cert-file'], MAX_PEM_BYTES);
  } catch (error) {
    throw new Error(`cannot use ${tls['cert-file']}: ${unreadableReason(error)}`);
  }
  try {
    key = readTextFile(tls['key-file'], MAX_PEM_BYTES, ownerOnly);
  } catch (error) {
    throw new Error(`cannot use ${tls['key-file']}: ${unreadableReason(error)}`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new Error(`${tls['cert-file']} and ${tls['key-file']} are not a certificate and its key: ${(error as Error).message}`);
  }
  return { cert, key };
}

/** The certificate's SHA-256 fingerprint as Node shows a peer's (`AB:CD:...`). */
export function certificateFingerprint(cert: string): string {
  return new X509Certificate(cert).fingerprint256;
}

export interface StatusSecrets {
  /** state-changing requests need it; absent: accepted from loopback only */
  readonly admin?: Token;
  /** read-only requests need it (or the admin one); absent: open */
  readonly read?: Token;
  readonly tls?: TlsFiles;
}

/** Every secret file named in `status:`, each problem with its place in the farms file. */
export function statusSecretProblems(status: StatusConfig): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const attempt = (path: string, read: () => unknown) => {
    try {
      read();
    } catch (error) {
      problems.push({ path, message: (error as Error).message });
    }
  };
  if (status['admin-token-file']) attempt('status.admin-token-file', () => readToken(status['admin-token-file']!));
  if (status['read-token-file']) attempt('status.read-token-file', () => readToken(status['read-token-file']!));
  if (status.tls) attempt('status.tls', () => readTls(status.tls!));
  return problems;
}

/** Reads the secrets of `status:` (at start and at each reload); throws with the first problem. */
export function loadStatusSecrets(status: StatusConfig): StatusSecrets {
  return {
    admin: status['admin-token-file'] ? new Token(readToken(status['admin-token-file'])) : undefined,
    read: status['read-token-file'] ? new Token(readToken(status['read-token-file'])) : undefined,
    tls: status.tls ? readTls(status.tls) : undefined,
  };
}

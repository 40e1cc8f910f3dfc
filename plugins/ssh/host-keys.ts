import type { JsonWebKey, KeyObject } from 'node:crypto';
import { CheckFailure } from '../runtime/errors.ts';
import { printable } from '../runtime/outcome.ts';
import { nodeCrypto } from './lazy-crypto.ts';
import { WireReader } from './wire.ts';

/** OpenSSH's fingerprint form: `SHA256:` + unpadded base64 of the SHA-256 of the key blob. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${nodeCrypto().createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

interface HostKeyAlgorithm {
  /** the key type named inside the blob */
  readonly keyType: string;
  /** how the signature hashes the exchange hash (null: Ed25519 signs it whole) */
  readonly hash: 'sha1' | 'sha256' | 'sha384' | 'sha512' | null;
  readonly ecdsa?: { readonly curveId: string; readonly jwkCurve: string; readonly size: number };
}

const ecdsa = (bits: 256 | 384 | 521, hash: HostKeyAlgorithm['hash']): HostKeyAlgorithm => ({
  keyType: `ecdsa-sha2-nistp${bits}`,
  hash,
  ecdsa: { curveId: `nistp${bits}`, jwkCurve: `P-${bits}`, size: Math.ceil(bits / 8) },
});

/**
 * The host key algorithms offered, in ssh2's default order (Ed25519 first), so that a server with
 * several keys shows the same one a `--user` check (ssh2) sees: the one pinned keeps matching.
 * ssh2 still offers ssh-rsa (SHA-1 signatures) last; so do we.
 */
export const HOST_KEY_ALGORITHMS: ReadonlyMap<string, HostKeyAlgorithm> = new Map([
  ['ssh-ed25519', { keyType: 'ssh-ed25519', hash: null }],
  ['ecdsa-sha2-nistp256', ecdsa(256, 'sha256')],
  ['ecdsa-sha2-nistp384', ecdsa(384, 'sha384')],
  ['ecdsa-sha2-nistp521', ecdsa(521, 'sha512')],
  ['rsa-sha2-512', { keyType: 'ssh-rsa', hash: 'sha512' }],
  ['rsa-sha2-256', { keyType: 'ssh-rsa', hash: 'sha256' }],
  ['ssh-rsa', { keyType: 'ssh-rsa', hash: 'sha1' }],
]);

function malformedKey(detail: string): CheckFailure {
  return new CheckFailure(`server sent a malformed host key (${detail})`);
}

/** The key blob (RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4) as a KeyObject, through its JWK form. */
function importKey(algorithm: HostKeyAlgorithm, blob: Buffer): KeyObject {
  const reader = new WireReader(blob, 'host key');
  const type = reader.string().toString('latin1');
  if (type !== algorithm.keyType) throw malformedKey(`key type ${printable(type, 40)} where ${algorithm.keyType} was agreed`);
  const b64 = (bytes: Buffer) => bytes.toString('base64url');
  let jwk: JsonWebKey;
  if (algorithm.ecdsa) {
    const curve = reader.string().toString('latin1');
    const point = reader.string();
    const size = algorithm.ecdsa.size;
    if (curve !== algorithm.ecdsa.curveId || point.length !== 1 + 2 * size || point[0] !== 4) throw malformedKey(`bad ${algorithm.keyType} point`);
    jwk = { kty: 'EC', crv: algorithm.ecdsa.jwkCurve, x: b64(point.subarray(1, 1 + size)), y: b64(point.subarray(1 + size)) };
  } else if (algorithm.keyType === 'ssh-ed25519') {
    const key = reader.string();
    if (key.length !== 32) throw malformedKey('Ed25519 key not 32 bytes');
    jwk = { kty: 'OKP', crv: 'Ed25519', x: b64(key) };
  } else {
    const e = reader.mpint();
    const n = reader.mpint();
    jwk = { kty: 'RSA', e: b64(e), n: b64(n) };
  }
  try {
    return nodeCrypto().createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw malformedKey(`not a valid ${algorithm.keyType} key`);
  }
}

/** ECDSA signatures travel as two mpints (RFC 5656 3.1.2); Node verifies them as r || s of the curve's size. */
function ecdsaSignature(blob: Buffer, size: number): Buffer | undefined {
  const reader = new WireReader(blob, 'host key signature');
  const r = reader.mpint();
  const s = reader.mpint();
  if (r.length > size || s.length > size) return undefined;
  return Buffer.concat([Buffer.alloc(size - r.length), r, Buffer.alloc(size - s.length), s]);
}

/**
 * Checks the server's signature over the exchange hash with the key it sent. True only when the
 * signature is of the agreed algorithm and verifies; a key blob that cannot be read throws.
 */
export function verifyHostKeySignature(algorithmName: string, keyBlob: Buffer, signatureBlob: Buffer, exchangeHash: Buffer): boolean {
  const algorithm = HOST_KEY_ALGORITHMS.get(algorithmName);
  if (!algorithm) throw new CheckFailure(`host key algorithm ${printable(algorithmName, 40)} not supported`);
  const key = importKey(algorithm, keyBlob);
  const reader = new WireReader(signatureBlob, 'host key signature');
  if (reader.string().toString('latin1') !== algorithmName) return false;
  let signature = reader.string();
  try {
    if (algorithm.ecdsa) {
      const raw = ecdsaSignature(signature, algorithm.ecdsa.size);
      return raw !== undefined && nodeCrypto().verify(algorithm.hash, exchangeHash, { key, dsaEncoding: 'ieee-p1363' }, raw);
    }
    if (algorithm.keyType === 'ssh-rsa') {
      // some servers drop leading zero bytes of the signature; OpenSSL wants the modulus' length
      const modulusBytes = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
      if (signature.length < modulusBytes) signature = Buffer.concat([Buffer.alloc(modulusBytes - signature.length), signature]);
    }
    return nodeCrypto().verify(algorithm.hash, exchangeHash, key, signature);
  } catch {
    return false;
  }
}

import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync, getDiffieHellman } from 'node:crypto';
import { CheckFailure } from '../runtime/errors.ts';

/** One side of a key agreement: our public value, and the shared secret K once the server's arrives. */
export interface KeyAgreement {
  readonly clientPublic: Buffer;
  /** K as an unsigned big-endian magnitude (it enters the exchange hash as an mpint) */
  sharedSecret(serverPublic: Buffer): Buffer;
}

export interface KexMethod {
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  /** ECDH and curve25519 send their public values as strings (Q_C, Q_S), finite-field DH as mpints (e, f) */
  readonly publicEncoding: 'string' | 'mpint';
  start(): KeyAgreement;
}

function badServerValue(method: string): CheckFailure {
  return new CheckFailure(`server sent an invalid ${method} public value`);
}

/** curve25519-sha256 (RFC 8731): X25519, K the 32 output bytes read as a big-endian number. */
function curve25519(): KexMethod {
  return {
    hash: 'sha256',
    publicEncoding: 'string',
    start() {
      const { publicKey, privateKey } = generateKeyPairSync('x25519');
      return {
        clientPublic: Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url'),
        sharedSecret(serverPublic) {
          if (serverPublic.length !== 32) throw badServerValue('X25519');
          const peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: serverPublic.toString('base64url') }, format: 'jwk' });
          const secret = diffieHellman({ privateKey, publicKey: peer });
          // RFC 8731 section 3: an all-zero result means a low-order point; abort
          if (secret.every((b) => b === 0)) throw badServerValue('X25519');
          return secret;
        },
      };
    },
  };
}

/** ecdh-sha2-nistp* (RFC 5656 section 4): uncompressed points, K the x coordinate. */
function nistEcdh(curve: string, hash: KexMethod['hash']): KexMethod {
  return {
    hash,
    publicEncoding: 'string',
    start() {
      const ecdh = createECDH(curve);
      const clientPublic = ecdh.generateKeys();
      return {
        clientPublic,
        sharedSecret(serverPublic) {
          try {
            return ecdh.computeSecret(serverPublic);
          } catch {
            throw badServerValue('ECDH');
          }
        },
      };
    },
  };
}

/** diffie-hellman-groupN-shaX (RFC 8268): the MODP groups of RFC 3526, which Node carries by name. */
function modpGroup(group: string, hash: KexMethod['hash']): KexMethod {
  return {
    hash,
    publicEncoding: 'mpint',
    start() {
      const dh = getDiffieHellman(group);
      const clientPublic = dh.generateKeys();
      const prime = BigInt(`0x${dh.getPrime('hex')}`);
      return {
        clientPublic,
        sharedSecret(serverPublic) {
          // RFC 4253 section 8: f must lie in [1, p-1]; 1 and p-1 give away the secret
          const f = serverPublic.length === 0 ? 0n : BigInt(`0x${serverPublic.toString('hex')}`);
          if (f <= 1n || f >= prime - 1n) throw badServerValue('Diffie-Hellman');
          return dh.computeSecret(serverPublic);
        },
      };
    },
  };
}

/**
 * The key exchanges the host-key probe offers, in the order it prefers them (the server takes the
 * first it also supports): ssh2's default order, without group exchange (an extra round trip) and
 * the SHA-1 ones it does not offer by default either.
 */
const X25519 = curve25519();
export const KEX_METHODS: ReadonlyMap<string, KexMethod> = new Map([
  ['curve25519-sha256@libssh.org', X25519],
  ['curve25519-sha256', X25519],
  ['ecdh-sha2-nistp256', nistEcdh('prime256v1', 'sha256')],
  ['ecdh-sha2-nistp384', nistEcdh('secp384r1', 'sha384')],
  ['ecdh-sha2-nistp521', nistEcdh('secp521r1', 'sha512')],
  ['diffie-hellman-group14-sha256', modpGroup('modp14', 'sha256')],
  ['diffie-hellman-group15-sha512', modpGroup('modp15', 'sha512')],
  ['diffie-hellman-group16-sha512', modpGroup('modp16', 'sha512')],
  ['diffie-hellman-group17-sha512', modpGroup('modp17', 'sha512')],
  ['diffie-hellman-group18-sha512', modpGroup('modp18', 'sha512')],
]);

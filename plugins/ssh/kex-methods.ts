import type { DiffieHellman } from 'node:crypto';
import { CheckFailure } from '../runtime/errors.ts';
import { nodeCrypto } from './lazy-crypto.ts';

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
  /** Diffie-Hellman group exchange (RFC 4419): the server names the group first, then one DH round */
  readonly groupExchange?: boolean;
  start(group?: FiniteFieldGroup): KeyAgreement;
}

/** a prime and generator, as unsigned big-endian magnitudes */
export interface FiniteFieldGroup {
  readonly prime: Buffer;
  readonly generator: Buffer;
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
      const { publicKey, privateKey } = nodeCrypto().generateKeyPairSync('x25519');
      return {
        clientPublic: Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url'),
        sharedSecret(serverPublic) {
          if (serverPublic.length !== 32) throw badServerValue('X25519');
          let secret: Buffer;
          try {
            const peer = nodeCrypto().createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: serverPublic.toString('base64url') }, format: 'jwk' });
            secret = nodeCrypto().diffieHellman({ privateKey, publicKey: peer });
          } catch {
            throw badServerValue('X25519');
          }
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
      const ecdh = nodeCrypto().createECDH(curve);
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

const toBigInt = (magnitude: Buffer) => (magnitude.length === 0 ? 0n : BigInt(`0x${magnitude.toString('hex')}`));

/** One finite-field Diffie-Hellman round: e = g^x mod p, K = f^x mod p. */
function finiteField(dh: Pick<DiffieHellman, 'generateKeys' | 'getPrime' | 'computeSecret'>): KeyAgreement {
  const clientPublic = dh.generateKeys();
  const prime = toBigInt(dh.getPrime());
  return {
    clientPublic,
    sharedSecret(serverPublic) {
      // RFC 4253 section 8: f must lie in [1, p-1]; 1 and p-1 give away the secret
      const f = toBigInt(serverPublic);
      if (f <= 1n || f >= prime - 1n) throw badServerValue('Diffie-Hellman');
      return dh.computeSecret(serverPublic);
    },
  };
}

/** diffie-hellman-groupN-shaX (RFC 8268): the MODP groups of RFC 3526, which Node carries by name. */
function modpGroup(group: string, hash: KexMethod['hash']): KexMethod {
  return { hash, publicEncoding: 'mpint', start: () => finiteField(nodeCrypto().getDiffieHellman(group)) };
}

/** The group sizes we ask for in a group exchange (RFC 4419 section 3; RFC 8270 raised the floor to 2048). */
export const GROUP_EXCHANGE_BITS = { min: 2048, preferred: 4096, max: 8192 } as const;

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let square = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * square) % modulus;
    square = (square * square) % modulus;
  }
  return result;
}

const toMagnitude = (value: bigint) => {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
};

/**
 * diffie-hellman-group-exchange-sha256 (RFC 4419): DH in a group the server picks. Computed with
 * BigInt, not node:crypto: Node runs OpenSSL's full primality check on a prime it is given, some
 * seconds for 4096 bits, and the group comes from a server we do not trust for anything but its
 * host key anyway. The private exponent has 512 bits: RFC 4419 section 6.2 asks for at least twice
 * the length of the key material derived from the secret (at most 256 bits here).
 */
const groupExchange: KexMethod = {
  hash: 'sha256',
  publicEncoding: 'mpint',
  groupExchange: true,
  start(group) {
    if (!group) throw new Error('group exchange started without a group');
    const prime = toBigInt(group.prime);
    const generator = toBigInt(group.generator);
    const bits = prime.toString(2).length;
    if (bits < GROUP_EXCHANGE_BITS.min || bits > GROUP_EXCHANGE_BITS.max || prime % 2n === 0n || generator <= 1n || generator >= prime - 1n) {
      throw new CheckFailure(`server offered an unacceptable Diffie-Hellman group (${bits} bits)`);
    }
    const exponent = toBigInt(nodeCrypto().randomBytes(64)) | (1n << 511n);
    return {
      clientPublic: toMagnitude(modPow(generator, exponent, prime)),
      sharedSecret(serverPublic) {
        const f = toBigInt(serverPublic);
        if (f <= 1n || f >= prime - 1n) throw badServerValue('Diffie-Hellman');
        return toMagnitude(modPow(f, exponent, prime));
      },
    };
  },
};

/**
 * The key exchanges the host-key probe offers, in the order it prefers them (the server takes the
 * first it also supports): ssh2's default order, without the SHA-1 ones it does not offer by
 * default either.
 */
const X25519 = curve25519();
export const KEX_METHODS: ReadonlyMap<string, KexMethod> = new Map([
  ['curve25519-sha256@libssh.org', X25519],
  ['curve25519-sha256', X25519],
  ['ecdh-sha2-nistp256', nistEcdh('prime256v1', 'sha256')],
  ['ecdh-sha2-nistp384', nistEcdh('secp384r1', 'sha384')],
  ['ecdh-sha2-nistp521', nistEcdh('secp521r1', 'sha512')],
  ['diffie-hellman-group-exchange-sha256', groupExchange],
  ['diffie-hellman-group14-sha256', modpGroup('modp14', 'sha256')],
  ['diffie-hellman-group15-sha512', modpGroup('modp15', 'sha512')],
  ['diffie-hellman-group16-sha512', modpGroup('modp16', 'sha512')],
  ['diffie-hellman-group17-sha512', modpGroup('modp17', 'sha512')],
  ['diffie-hellman-group18-sha512', modpGroup('modp18', 'sha512')],
]);

// The pieces of check_ssh's own key exchange that a real sshd never exercises: the wire encoding's
// edge cases, the packet framing, and the server values a hostile server could send.
import t from 'tap';
import { CheckFailure } from '../../plugins/runtime/errors.ts';
import { verifyHostKeySignature } from '../../plugins/ssh/host-keys.ts';
import { KEX_METHODS } from '../../plugins/ssh/kex-methods.ts';
import { encodePacket } from '../../plugins/ssh/packets.ts';
import { WireReader, WireWriter } from '../../plugins/ssh/wire.ts';

t.test('mpint: no leading zero bytes, one added when the top bit is set (RFC 4251 section 5)', async (t) => {
  const mpint = (hex: string) => new WireWriter().mpint(Buffer.from(hex, 'hex')).toBuffer().toString('hex');
  t.equal(mpint(''), '00000000', 'zero is the empty string');
  t.equal(mpint('0000'), '00000000');
  t.equal(mpint('09a378f9b2e332a7'), '0000000809a378f9b2e332a7', 'the RFC example');
  t.equal(mpint('80'), '000000020080');
  t.equal(mpint('00ff'), '0000000200ff');
  t.throws(() => new WireReader(Buffer.from('0000000180', 'hex'), 'test').mpint(), CheckFailure, 'a negative mpint from the server');
  t.throws(() => new WireReader(Buffer.from('000000ff01', 'hex'), 'test').string(), /malformed test from the server \(truncated\)/);
});

t.test('packets: a multiple of 8 bytes, 4 to 11 bytes of padding', async (t) => {
  for (let size = 0; size < 40; size++) {
    const packet = encodePacket(Buffer.alloc(size, 1));
    const padding = packet[4] as number;
    t.equal(packet.length % 8, 0, `payload ${size}`);
    t.ok(padding >= 4 && padding < 12, `payload ${size}: padding ${padding}`);
    t.equal(packet.readUInt32BE(0), packet.length - 4);
    t.ok(packet.length >= 16);
  }
});

t.test('server public values that would give the secret away are refused', async (t) => {
  const x25519 = KEX_METHODS.get('curve25519-sha256')!.start();
  t.throws(() => x25519.sharedSecret(Buffer.alloc(32)), /invalid X25519 public value/, 'the all-zero point');
  t.throws(() => x25519.sharedSecret(Buffer.alloc(31, 9)), /invalid X25519 public value/, 'a short one');
  const ecdh = KEX_METHODS.get('ecdh-sha2-nistp256')!.start();
  t.throws(() => ecdh.sharedSecret(Buffer.concat([Buffer.of(4), Buffer.alloc(64, 1)])), /invalid ECDH public value/, 'a point off the curve');
  const modp = KEX_METHODS.get('diffie-hellman-group14-sha256')!.start();
  t.throws(() => modp.sharedSecret(Buffer.of(1)), /invalid Diffie-Hellman public value/, 'f = 1');
  t.throws(() => modp.sharedSecret(Buffer.alloc(0)), /invalid Diffie-Hellman public value/, 'f = 0');
  const gex = KEX_METHODS.get('diffie-hellman-group-exchange-sha256')!;
  t.throws(() => gex.start({ prime: Buffer.from('ffffffffffffffc5', 'hex'), generator: Buffer.of(2) }), /unacceptable Diffie-Hellman group \(64 bits\)/, 'a group too small to hold a secret');
  const prime2048 = Buffer.alloc(256, 0xff);
  t.throws(() => gex.start({ prime: prime2048, generator: Buffer.of(1) }), /unacceptable Diffie-Hellman group/, 'generator 1');
});

t.test('a signature blob of another algorithm, or garbage, does not verify', async (t) => {
  const { generateKeyPairSync, sign } = await import('node:crypto');
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const blob = new WireWriter().string('ssh-ed25519').string(raw).toBuffer();
  const hash = Buffer.alloc(32, 3);
  const good = new WireWriter().string('ssh-ed25519').string(sign(null, hash, privateKey)).toBuffer();
  t.ok(verifyHostKeySignature('ssh-ed25519', blob, good, hash), 'the control: a right signature verifies');
  t.notOk(verifyHostKeySignature('ssh-ed25519', blob, good, Buffer.alloc(32, 4)), 'over another hash');
  const renamed = new WireWriter().string('ssh-rsa').string(sign(null, hash, privateKey)).toBuffer();
  t.notOk(verifyHostKeySignature('ssh-ed25519', blob, renamed, hash), 'named as another algorithm');
  t.notOk(verifyHostKeySignature('ssh-ed25519', blob, new WireWriter().string('ssh-ed25519').string(Buffer.alloc(3)).toBuffer(), hash), 'too short');
  t.throws(() => verifyHostKeySignature('ecdsa-sha2-nistp256', blob, good, hash), /malformed host key \(key type ssh-ed25519 where ecdsa-sha2-nistp256 was agreed\)/);
});

import type { Socket } from 'node:net';
import { CheckFailure } from '../runtime/errors.ts';
import { printable } from '../runtime/outcome.ts';
import type { SocketReader } from '../runtime/socket-reader.ts';
import type { Trace } from '../runtime/trace.ts';
import { fingerprint, HOST_KEY_ALGORITHMS, verifyHostKeySignature } from './host-keys.ts';
import { GROUP_EXCHANGE_BITS, KEX_METHODS, type KexMethod, type KeyAgreement } from './kex-methods.ts';
import { nodeCrypto } from './lazy-crypto.ts';
import { encodePacket, readPacket } from './packets.ts';
import { WireReader, WireWriter } from './wire.ts';

// RFC 4250 section 4.1
const MSG_DISCONNECT = 1;
const MSG_IGNORE = 2;
const MSG_UNIMPLEMENTED = 3;
const MSG_DEBUG = 4;
const MSG_KEXINIT = 20;
const MSG_KEX_INIT = 30; // SSH_MSG_KEXDH_INIT and SSH_MSG_KEX_ECDH_INIT
const MSG_KEX_REPLY = 31; // SSH_MSG_KEXDH_REPLY and SSH_MSG_KEX_ECDH_REPLY
// RFC 4419 section 5: group exchange
const MSG_GEX_GROUP = 31;
const MSG_GEX_INIT = 32;
const MSG_GEX_REPLY = 33;
const MSG_GEX_REQUEST = 34;
const DISCONNECT_BY_APPLICATION = 11;

/**
 * What we offer besides the key exchange and host key: never used (we leave before NEWKEYS), but
 * a server that finds nothing in common here ends the exchange, so they are ones OpenSSH accepts.
 */
const CIPHERS = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr', 'chacha20-poly1305@openssh.com'];
const MACS = ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512', 'hmac-sha1'];
const COMPRESSION = ['none'];

/** The name-lists of a KEXINIT (RFC 4253 section 7.1), in their wire order, with what each one is called. */
const KEXINIT_FIELDS = [
  ['key exchange', [...KEX_METHODS.keys()]],
  ['host key algorithm', [...HOST_KEY_ALGORITHMS.keys()]],
  ['cipher (client to server)', CIPHERS],
  ['cipher (server to client)', CIPHERS],
  ['MAC (client to server)', MACS],
  ['MAC (server to client)', MACS],
  ['compression (client to server)', COMPRESSION],
  ['compression (server to client)', COMPRESSION],
] as const;

export interface HostKeySeen {
  readonly fingerprint: string;
  readonly algorithm: string;
  readonly kex: string;
}

function kexinitPayload(): Buffer {
  const writer = new WireWriter().byte(MSG_KEXINIT).raw(nodeCrypto().randomBytes(16));
  for (const [, names] of KEXINIT_FIELDS) writer.nameList(names);
  // no languages, no guessed packet, reserved 0
  return writer.nameList([]).nameList([]).boolean(false).uint32(0).toBuffer();
}

/** Reads packets until one that belongs to the exchange: IGNORE and DEBUG are skipped, DISCONNECT ends it. */
async function nextKexMessage(reader: SocketReader, signal: AbortSignal, trace: Trace): Promise<{ type: number; payload: Buffer }> {
  for (;;) {
    const payload = await readPacket(reader, signal);
    const type = payload[0];
    if (type === undefined) throw new CheckFailure('server sent an empty packet during the key exchange');
    if (type === MSG_IGNORE || type === MSG_DEBUG || type === MSG_UNIMPLEMENTED) {
      trace.note(3, `server message ${type} skipped during the key exchange`);
      continue;
    }
    if (type === MSG_DISCONNECT) {
      const message = new WireReader(payload.subarray(1), 'disconnect message');
      const reason = message.uint32();
      throw new CheckFailure(`server disconnected during the key exchange: ${printable(message.text(), 200)} (reason ${reason})`);
    }
    return { type, payload };
  }
}

async function expect(type: number, name: string, reader: SocketReader, signal: AbortSignal, trace: Trace): Promise<Buffer> {
  const message = await nextKexMessage(reader, signal, trace);
  if (message.type !== type) throw new CheckFailure(`server sent message ${message.type} where ${name} was expected`);
  return message.payload;
}

/** The first of our names the server also lists (RFC 4253 section 7.1). */
function agree(field: string, ours: readonly string[], theirs: readonly string[]): string {
  const chosen = ours.find((name) => theirs.includes(name));
  if (chosen === undefined) throw new CheckFailure(`no ${field} in common with the server, which offers ${printable(theirs.join(','), 200)}`);
  return chosen;
}

/** Reads the server's KEXINIT (after its type and cookie) and agrees on every algorithm list. */
function negotiate(serverKexinit: Buffer): { kexName: string; hostKeyAlgorithm: string; guessFollows: boolean } {
  const offer = new WireReader(serverKexinit.subarray(17), 'KEXINIT');
  const chosen = KEXINIT_FIELDS.map(([field, ours]) => agree(field, ours, offer.nameList()));
  offer.nameList();
  offer.nameList();
  return { kexName: chosen[0] as string, hostKeyAlgorithm: chosen[1] as string, guessFollows: offer.boolean() };
}

/** What we sent first: our identification and KEXINIT (both enter the exchange hash), and a key pair made ahead. */
export interface ClientHello {
  readonly identification: string;
  readonly kexinit: Buffer;
  readonly prepared: { readonly method: KexMethod; readonly agreement: KeyAgreement };
}

/**
 * Opens the transport from our side as soon as the connection stands, as OpenSSH's client does:
 * our identification and KEXINIT go out before the server's identification arrives (RFC 4253
 * sections 4.2 and 7.1 allow it), and the key pair of the exchange we prefer is made while the
 * server is still starting, so that neither waits on the other.
 */
export function sendClientHello(socket: Socket, identification: string): ClientHello {
  const kexinit = kexinitPayload();
  socket.write(Buffer.concat([Buffer.from(`${identification}\r\n`, 'latin1'), encodePacket(kexinit)]));
  const method = KEX_METHODS.values().next().value as KexMethod;
  const prepared = { method, agreement: method.start() };
  warmUp(prepared.agreement, kexinit);
  return { identification, kexinit, prepared };
}

/** RFC 8032's first Ed25519 test key, as an SSH key blob: any valid key serves to warm up. */
const SAMPLE_ED25519_KEY = new WireWriter().string('ssh-ed25519').string(Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex')).toBuffer();

/**
 * The first call of each node:crypto operation costs about a millisecond more than the next ones
 * (lazy compilation, OpenSSL set-up), and so, less, does our own parsing. Made once on throw-away
 * values (our own KEXINIT, our own public key) while the server is still forking, the calls after
 * its answers, which the check waits for, are the fast ones. For the usual case: curve25519 and
 * an Ed25519 host key.
 */
function warmUp(agreement: KeyAgreement, kexinit: Buffer): void {
  negotiate(kexinit);
  encodePacket(kexinit);
  agreement.sharedSecret(agreement.clientPublic);
  const signature = new WireWriter().string('ssh-ed25519').string(Buffer.alloc(64)).toBuffer();
  verifyHostKeySignature('ssh-ed25519', SAMPLE_ED25519_KEY, signature, Buffer.alloc(32));
  fingerprint(SAMPLE_ED25519_KEY);
}

/**
 * Our side of the key agreement for the method agreed on. A group exchange first asks the server
 * for its group (RFC 4419 section 3), whose sizes and values enter the exchange hash.
 */
async function startAgreement(
  method: KexMethod,
  hello: ClientHello,
  socket: Socket,
  reader: SocketReader,
  signal: AbortSignal,
  trace: Trace,
): Promise<{ agreement: KeyAgreement; groupFields?: Buffer }> {
  if (!method.groupExchange) return { agreement: method === hello.prepared.method ? hello.prepared.agreement : method.start() };
  const { min, preferred, max } = GROUP_EXCHANGE_BITS;
  socket.write(encodePacket(new WireWriter().byte(MSG_GEX_REQUEST).uint32(min).uint32(preferred).uint32(max).toBuffer()));
  const offered = new WireReader((await expect(MSG_GEX_GROUP, 'the Diffie-Hellman group', reader, signal, trace)).subarray(1), 'Diffie-Hellman group');
  const group = { prime: offered.mpint(), generator: offered.mpint() };
  const groupFields = new WireWriter().uint32(min).uint32(preferred).uint32(max).mpint(group.prime).mpint(group.generator).toBuffer();
  return { agreement: method.start(group), groupFields };
}

/**
 * The rest of the SSH transport's first key exchange, by hand, up to the host key (RFC 4253
 * sections 7-8, RFC 5656, RFC 8731, RFC 8268, RFC 4419): agree on the algorithms, one (EC)DH
 * round, check the server's signature over the exchange hash, then leave with SSH_MSG_DISCONNECT.
 * Only what pinning a host key needs. The server's identification line must have been consumed
 * from `reader`; every read is bounded by `signal`.
 */
export async function exchangeHostKey(
  socket: Socket,
  reader: SocketReader,
  hello: ClientHello,
  serverIdentification: string,
  signal: AbortSignal,
  trace: Trace,
): Promise<HostKeySeen> {
  const serverKexinit = await expect(MSG_KEXINIT, 'KEXINIT', reader, signal, trace);
  const { kexName, hostKeyAlgorithm, guessFollows } = negotiate(serverKexinit);
  trace.note(2, `key exchange ${kexName}, host key algorithm ${hostKeyAlgorithm}`);
  const method = KEX_METHODS.get(kexName)!;
  const { agreement, groupFields } = await startAgreement(method, hello, socket, reader, signal, trace);
  const init = new WireWriter().byte(method.groupExchange ? MSG_GEX_INIT : MSG_KEX_INIT);
  socket.write(encodePacket((method.publicEncoding === 'string' ? init.string(agreement.clientPublic) : init.mpint(agreement.clientPublic)).toBuffer()));
  // A server may send its first kex packet on a guess; it is ignored when the guess was wrong.
  // Our methods start with the client's packet, so any such guess is for another method.
  if (guessFollows) await nextKexMessage(reader, signal, trace);
  const replyType = method.groupExchange ? MSG_GEX_REPLY : MSG_KEX_REPLY;
  const reply = new WireReader((await expect(replyType, 'the key exchange reply', reader, signal, trace)).subarray(1), 'key exchange reply');
  const hostKey = reply.string();
  const serverPublic = method.publicEncoding === 'string' ? reply.string() : reply.mpint();
  const signature = reply.string();
  const secret = agreement.sharedSecret(serverPublic);
  const hashed = new WireWriter().string(hello.identification).string(serverIdentification).string(hello.kexinit).string(serverKexinit).string(hostKey);
  if (groupFields) hashed.raw(groupFields);
  if (method.publicEncoding === 'string') hashed.string(agreement.clientPublic).string(serverPublic);
  else hashed.mpint(agreement.clientPublic).mpint(serverPublic);
  const exchangeHash = nodeCrypto().createHash(method.hash).update(hashed.mpint(secret).toBuffer()).digest();
  const seen = { fingerprint: fingerprint(hostKey), algorithm: hostKeyAlgorithm, kex: kexName };
  if (!verifyHostKeySignature(hostKeyAlgorithm, hostKey, signature, exchangeHash)) {
    throw new CheckFailure(`host key signature does not verify: server presents ${seen.fingerprint} (${hostKeyAlgorithm}) without proof it holds that key`);
  }
  const goodbye = new WireWriter().byte(MSG_DISCONNECT).uint32(DISCONNECT_BY_APPLICATION).string('host key checked').string('');
  socket.end(encodePacket(goodbye.toBuffer()));
  return seen;
}

// A fake SSH server for the host-key check's hostile cases: it speaks just enough of RFC 4253 to
// present a host key (curve25519-sha256 and an Ed25519 key), and can lie on purpose. Its wire
// encoding is written here apart from plugins/ssh/, so that a mistake there cannot hide here.
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { Socket } from 'node:net';
import { type FakeServer, fakeTcpServer } from './fake-servers.ts';

export type FakeSshBehaviour =
  /** a correct exchange, signed with the key it presents */
  | 'honest'
  /** presents one key and signs with another, as a man in the middle with a stolen public key would */
  | 'wrong-signature'
  /** sends its KEXINIT, then nothing */
  | 'stall-after-kexinit'
  /** sends its KEXINIT, then resets the connection (TCP RST) */
  | 'reset-after-kexinit'
  | { readonly offerKex: string }
  | { readonly afterIdentification: Buffer };

export interface FakeSsh extends FakeServer {
  /** the presented host key as an OpenSSH public key line (`ssh-ed25519 AAAA...`) */
  readonly publicKeyLine: string;
  /** the message numbers each client sent, in order, and the reason code of its DISCONNECT */
  readonly received: () => { messages: number[]; disconnectReason?: number }[];
}

const IDENTIFICATION = 'SSH-2.0-FakeKex_1.0';

export function sshString(value: Buffer | string): Buffer {
  const data = typeof value === 'string' ? Buffer.from(value) : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, data]);
}

function sshMpint(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  const bytes = magnitude.subarray(i);
  return sshString(bytes.length && (bytes[0] as number) >= 0x80 ? Buffer.concat([Buffer.of(0), bytes]) : bytes);
}

export function packet(payload: Buffer): Buffer {
  let padding = 8 - ((payload.length + 5) % 8);
  if (padding < 4) padding += 8;
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length + padding + 1);
  header[4] = padding;
  return Buffer.concat([header, payload, Buffer.alloc(padding)]);
}

function kexinit(kex: string): Buffer {
  const lists = [kex, 'ssh-ed25519', 'aes128-ctr', 'aes128-ctr', 'hmac-sha2-256', 'hmac-sha2-256', 'none', 'none', '', ''];
  return Buffer.concat([Buffer.of(20), Buffer.alloc(16, 7), ...lists.map((l) => sshString(l)), Buffer.of(0), Buffer.alloc(4)]);
}

const rawEd25519 = (key: KeyObject) => Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url');

/** Splits what a client sent into its identification line and its packets' payloads (unencrypted). */
function parseClient(data: Buffer): { identification?: string; payloads: Buffer[] } {
  const newline = data.indexOf('\n');
  if (newline === -1) return { payloads: [] };
  const payloads: Buffer[] = [];
  let offset = newline + 1;
  while (data.length - offset >= 4) {
    const length = data.readUInt32BE(offset);
    if (data.length - offset < 4 + length) break;
    const padding = data[offset + 4] as number;
    payloads.push(data.subarray(offset + 5, offset + 4 + length - padding));
    offset += 4 + length;
  }
  return { identification: data.subarray(0, newline).toString('latin1').replace(/\r$/, ''), payloads };
}

export async function fakeSshServer(behaviour: FakeSshBehaviour): Promise<FakeSsh> {
  const presented = generateKeyPairSync('ed25519');
  const impostor = generateKeyPairSync('ed25519');
  const hostKeyBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(rawEd25519(presented.publicKey))]);
  const sessions: { messages: number[]; disconnectReason?: number }[] = [];
  const server = await fakeTcpServer((socket: Socket) => {
    const session: (typeof sessions)[number] = { messages: [] };
    sessions.push(session);
    const serverKexinit = kexinit(typeof behaviour === 'object' && 'offerKex' in behaviour ? behaviour.offerKex : 'curve25519-sha256');
    if (typeof behaviour === 'object' && 'afterIdentification' in behaviour) {
      socket.write(Buffer.concat([Buffer.from(`${IDENTIFICATION}\r\n`), behaviour.afterIdentification]));
    } else {
      socket.write(Buffer.concat([Buffer.from(`${IDENTIFICATION}\r\n`), packet(serverKexinit)]));
      if (behaviour === 'reset-after-kexinit') setTimeout(() => socket.resetAndDestroy(), 100);
    }
    let data = Buffer.alloc(0);
    let replied = false;
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const { identification, payloads } = parseClient(data);
      session.messages = payloads.map((p) => p[0] as number);
      const disconnect = payloads.find((p) => p[0] === 1);
      if (disconnect) session.disconnectReason = disconnect.readUInt32BE(1);
      if (replied || (behaviour !== 'honest' && behaviour !== 'wrong-signature')) return;
      const clientKexinit = payloads.find((p) => p[0] === 20);
      const init = payloads.find((p) => p[0] === 30);
      if (!identification || !clientKexinit || !init) return;
      replied = true;
      const clientPublic = init.subarray(5, 5 + init.readUInt32BE(1));
      const ours = generateKeyPairSync('x25519');
      const serverPublic = rawEd25519(ours.publicKey);
      const peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: clientPublic.toString('base64url') }, format: 'jwk' });
      const secret = diffieHellman({ privateKey: ours.privateKey, publicKey: peer });
      const hash = createHash('sha256')
        .update(Buffer.concat([sshString(identification), sshString(IDENTIFICATION), sshString(clientKexinit), sshString(serverKexinit), sshString(hostKeyBlob), sshString(clientPublic), sshString(serverPublic), sshMpint(secret)]))
        .digest();
      const signer = behaviour === 'honest' ? presented.privateKey : impostor.privateKey;
      const signature = Buffer.concat([sshString('ssh-ed25519'), sshString(sign(null, hash, signer))]);
      socket.write(packet(Buffer.concat([Buffer.of(31), sshString(hostKeyBlob), sshString(serverPublic), sshString(signature)])));
    });
  });
  return { ...server, publicKeyLine: `ssh-ed25519 ${hostKeyBlob.toString('base64')}`, received: () => sessions };
}

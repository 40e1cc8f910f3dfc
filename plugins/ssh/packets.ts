import { CheckFailure } from '../runtime/errors.ts';
import type { SocketReader } from '../runtime/socket-reader.ts';
import { strerror } from '../runtime/tcp.ts';
import { nodeCrypto } from './lazy-crypto.ts';

/** RFC 4253 section 6.1: every implementation handles packets of 35000 bytes; we accept no more. */
export const MAX_PACKET_LENGTH = 35000;
/** packet_length + padding_length + payload + padding, a multiple of 8 (no cipher yet), at least 16 */
const BLOCK = 8;

/** Frames a payload as an unencrypted binary packet (RFC 4253 section 6), before any NEWKEYS. */
export function encodePacket(payload: Buffer): Buffer {
  let padding = BLOCK - ((5 + payload.length) % BLOCK);
  if (padding < 4) padding += BLOCK;
  const packet = Buffer.alloc(5 + payload.length + padding);
  packet.writeUInt32BE(1 + payload.length + padding, 0);
  packet[4] = padding;
  payload.copy(packet, 5);
  nodeCrypto().randomFillSync(packet, 5 + payload.length, padding);
  return packet;
}

/**
 * Reads the next unencrypted packet and returns its payload. A length over the cap is refused as
 * soon as its 4 bytes arrive, before anything is buffered; every wait is bounded by the signal.
 */
export async function readPacket(reader: SocketReader, signal: AbortSignal): Promise<Buffer> {
  for (;;) {
    const buffer = reader.buffer;
    if (buffer.length >= 4) {
      const length = buffer.readUInt32BE(0);
      if (length > MAX_PACKET_LENGTH) throw new CheckFailure(`server sent a packet of ${length} bytes during the key exchange (at most ${MAX_PACKET_LENGTH} allowed)`);
      if (length < 12 || (length + 4) % BLOCK !== 0) throw new CheckFailure(`server sent a malformed packet during the key exchange (length ${length})`);
      if (buffer.length >= 4 + length) {
        const padding = buffer[4] as number;
        if (padding < 4 || padding > length - 1) throw new CheckFailure(`server sent a malformed packet during the key exchange (padding ${padding})`);
        const payload = Buffer.from(buffer.subarray(5, 4 + length - padding));
        reader.consume(4 + length);
        return payload;
      }
    }
    let more: Awaited<ReturnType<SocketReader['waitForMore']>>;
    try {
      more = await reader.waitForMore(signal);
    } catch (error) {
      if (signal.aborted) throw error;
      throw new CheckFailure(`connection lost during the key exchange: ${strerror(error)}`);
    }
    if (more === 'end') throw new CheckFailure('server closed the connection during the SSH handshake');
  }
}

import { networkInterfaces } from 'node:os';
import type { VrrpConfig, VrrpPeer } from '../config/schema.ts';

/** Every address configured on this host's interfaces (in the network namespace lbguard runs in). */
export function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/**
 * Which peer of vrrp.peers this director is: the one named (`--node NAME`), else the one whose
 * address is on this host. Undefined when the file has no peers (the single-node form). Throws
 * with what to do when neither finds exactly one.
 */
export function selectNode(vrrp: VrrpConfig, requested: string | undefined, addresses: readonly string[] = localAddresses()): VrrpPeer | undefined {
  const peers = vrrp.peers;
  if (!peers) {
    if (requested !== undefined) throw new Error(`--node ${requested}: the farms file's vrrp: has no peers`);
    return undefined;
  }
  if (requested !== undefined) {
    const peer = peers.find((p) => p.name === requested);
    if (!peer) throw new Error(`--node ${requested}: no such peer in vrrp.peers (${peers.map((p) => p.name).join(', ')})`);
    return peer;
  }
  const here = peers.filter((p) => addresses.includes(p.address));
  if (here.length === 1) return here[0];
  if (here.length === 0) throw new Error(`none of vrrp.peers' addresses (${peers.map((p) => p.address).join(', ')}) is on this host: give --node NAME`);
  throw new Error(`several of vrrp.peers' addresses are on this host (${here.map((p) => p.name).join(', ')}): give --node NAME`);
}

// While a new master commits the sessions it was sent (conntrackd -c), packets of those sessions
// already reach it: the virtual addresses moved first. The kernel would take such a packet as a new
// connection (TCP loose pick-up), find no farm for a passive data port and answer with a reset that
// ends the session on both sides. This table drops, on the virtual addresses only, TCP packets that
// start no connection (neither SYN nor RST) and match no tracked session: the peers send them again
// (TCP retransmits) and by then the committed session carries them.
import { isIP } from 'node:net';
import { runChecked } from '../tools/run-tool.ts';
import type { Logger } from 'pino';

export const GUARD_TABLE = 'lbguard_sync';

export function renderPickupGuard(addresses: readonly string[]): string {
  const v4 = addresses.filter((a) => isIP(a) === 4);
  const v6 = addresses.filter((a) => isIP(a) === 6);
  const rule = (family: 'ip' | 'ip6', list: readonly string[]) => `\t\t${family} daddr { ${list.join(', ')} } tcp flags & (syn | rst) == 0 ct state new counter drop`;
  return [
    // declared then deleted: the file replaces any table of this name, and works when there is none
    `table inet ${GUARD_TABLE}`,
    `delete table inet ${GUARD_TABLE}`,
    `table inet ${GUARD_TABLE} {`,
    '\tchain pickup {',
    '\t\ttype filter hook prerouting priority mangle; policy accept;',
    ...(v4.length ? [rule('ip', v4)] : []),
    ...(v6.length ? [rule('ip6', v6)] : []),
    '\t}',
    '}',
    '',
  ].join('\n');
}

const NFT_MISSING = 'Debian: apt-get install nftables';

export async function installPickupGuard(addresses: readonly string[], logger: Logger, nft = '/usr/sbin/nft'): Promise<void> {
  try {
    await runChecked('nft -f -', nft, ['-f', '-'], { input: renderPickupGuard(addresses), timeoutMs: 5000, missing: NFT_MISSING });
  } catch (error) {
    throw new Error(`vrrp.sync: the pick-up guard table: ${(error as Error).message}`);
  }
  logger.info({ event: 'sync-guard', table: `inet ${GUARD_TABLE}`, addresses }, `vrrp.sync: table inet ${GUARD_TABLE} drops mid-stream TCP packets to ${addresses.join(', ')} that match no session`);
}

export async function removePickupGuard(logger: Logger, nft = '/usr/sbin/nft'): Promise<void> {
  try {
    await runChecked(`nft delete table inet ${GUARD_TABLE}`, nft, ['delete', 'table', 'inet', GUARD_TABLE], { timeoutMs: 5000, missing: NFT_MISSING });
  } catch (error) {
    const message = (error as Error).message;
    logger.warn({ event: 'sync-guard-remove-failed', error: message }, `vrrp.sync: could not delete the pick-up guard table: ${message}`);
  }
}

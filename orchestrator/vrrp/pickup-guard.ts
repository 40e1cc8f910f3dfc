// While a new master commits the sessions it was sent (conntrackd -c), packets of those sessions
// already reach it: the virtual addresses moved first. The kernel would take such a packet as a new
// connection (TCP loose pick-up), find no farm for a passive data port and answer with a reset that
// ends the session on both sides. This table drops, on the virtual addresses only, TCP packets that
// start no connection (neither SYN nor RST) and match no tracked session: the peers send them again
// (TCP retransmits) and by then the committed session carries them.
import { isIP } from 'node:net';
import { execa } from 'execa';
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

export async function installPickupGuard(addresses: readonly string[], logger: Logger, nft = '/usr/sbin/nft'): Promise<void> {
  const run = await execa(nft, ['-f', '-'], { input: renderPickupGuard(addresses), reject: false, timeout: 5000 });
  if (run.exitCode !== 0) {
    const said = run.stderr.trim().slice(0, 300) || (run.exitCode === undefined ? `${nft} could not run (${run.code ?? run.message}; Debian: apt-get install nftables)` : `exit ${run.exitCode}`);
    throw new Error(`vrrp.sync: nft refused the pick-up guard table: ${said}`);
  }
  logger.info({ event: 'sync-guard', table: `inet ${GUARD_TABLE}`, addresses }, `vrrp.sync: table inet ${GUARD_TABLE} drops mid-stream TCP packets to ${addresses.join(', ')} that match no session`);
}

export async function removePickupGuard(logger: Logger, nft = '/usr/sbin/nft'): Promise<void> {
  const run = await execa(nft, ['delete', 'table', 'inet', GUARD_TABLE], { reject: false, stdin: 'ignore', timeout: 5000 });
  if (run.exitCode !== 0) logger.warn({ event: 'sync-guard-remove-failed', error: run.stderr.trim().slice(0, 300) }, `vrrp.sync: could not delete table inet ${GUARD_TABLE}: ${run.stderr.trim().slice(0, 300)}`);
}

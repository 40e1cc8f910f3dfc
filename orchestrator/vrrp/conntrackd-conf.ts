// conntrackd.conf for one director of a pair: FT-FW mode (every state change acknowledged by the
// peer, lost messages sent again) over UDP to the other director, the peer's states kept in the
// external cache until this director becomes master (then committed to the kernel). Only flows
// through the farms are worth replicating: traffic of the directors themselves (their own and the
// virtual addresses, loopback) is ignored, as conntrack-tools' primary-backup example does.
import { isIP } from 'node:net';
import type { Config, VrrpPeer } from '../config/schema.ts';
import { pairAddresses } from '../config/schema.ts';

export interface ConntrackdPaths {
  /** conntrackd refuses to start while this file exists */
  readonly lockFile: string;
  /** the UNIX socket its client commands (-c, -f, -R, -B, -n, -t) talk to */
  readonly socket: string;
}

/** The helpers whose expectations are synced: the configured list, else those of the nftlb farms. */
export function syncedHelpers(config: Config): string[] {
  const sync = config.vrrp?.sync;
  const listed = sync?.engine === 'conntrackd' ? sync.expectations : undefined;
  if (listed) return [...listed];
  const services = config.farms.filter((f) => f.dataplane.type === 'nftlb').map((f) => f.service);
  return (['ftp', 'tftp'] as const).filter((s) => services.includes(s));
}

/** The two ends of the sync channel: this director's sync address and the other one's. */
export function syncEnds(config: Config, self: VrrpPeer): { local: string; remote: string } {
  const other = config.vrrp?.peers?.find((p) => p.name !== self.name);
  if (!other) throw new Error('vrrp.sync needs the other director in vrrp.peers');
  return { local: self['sync-address'] ?? self.address, remote: other['sync-address'] ?? other.address };
}

function addressLine(keyword: 'address' | 'Destination_Address', address: string): string {
  return `IPv${isIP(address) === 6 ? 6 : 4}_${keyword} ${address}`;
}

export function renderConntrackdConf(config: Config, self: VrrpPeer, paths: ConntrackdPaths): string {
  const sync = config.vrrp?.sync;
  if (sync?.engine !== 'conntrackd') throw new Error('the farms file has no vrrp.sync with engine conntrackd');
  const { local, remote } = syncEnds(config, self);
  if (isIP(local) !== isIP(remote)) throw new Error(`vrrp.sync: ${local} and ${remote} are not of one address family`);
  const ignored = [...new Set(['127.0.0.1', '::1', ...pairAddresses(config.vrrp!, config.farms), ...config.vrrp!.peers!.flatMap((p) => [p.address, p['sync-address'] ?? p.address])])];
  const helpers = syncedHelpers(config);
  return [
    '# written by lbguard run (vrrp.sync): replaced at every start and reload',
    'Sync {',
    '\tMode FTFW {',
    '\t\tDisableExternalCache Off',
    '\t}',
    '\tUDP {',
    `\t\t${addressLine('address', local)}`,
    `\t\t${addressLine('Destination_Address', remote)}`,
    `\t\tPort ${sync.port}`,
    `\t\tInterface ${sync.interface}`,
    '\t\tChecksum on',
    '\t}',
    ...(helpers.length ? ['\tOptions {', '\t\tExpectationSync {', ...helpers.map((h) => `\t\t\t${h}`), '\t\t}', '\t}'] : []),
    '}',
    'General {',
    '\tSystemd off',
    '\tLogFile off',
    '\tSyslog off',
    `\tLockFile ${paths.lockFile}`,
    '\tUNIX {',
    `\t\tPath ${paths.socket}`,
    '\t}',
    '\tHashSize 32768',
    '\tHashLimit 131072',
    '\tNetlinkEventsReliable On',
    '\tFilter From Userspace {',
    '\t\tProtocol Accept {',
    '\t\t\tTCP',
    '\t\t\tUDP',
    '\t\t}',
    '\t\tAddress Ignore {',
    ...ignored.map((a) => `\t\t\t${isIP(a) === 6 ? 'IPv6' : 'IPv4'}_address ${a}`),
    '\t\t}',
    '\t}',
    '}',
    '',
  ].join('\n');
}

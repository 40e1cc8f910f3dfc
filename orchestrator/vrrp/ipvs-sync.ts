// vrrp.sync with engine ipvs: the kernel's IPVS connection sync daemon for ipvsadm farms, set the
// way keepalived's lvs_sync_daemon sets it. The MASTER runs the master daemon (it multicasts its
// IPVS connections on the interface), every other role the backup daemon (it fills its IPVS
// table from them), so the director that takes over already holds the connections. Each role
// first stops both daemons (a stop of one that is not running fails, and that is ignored), then
// starts its own.
import type { Logger } from 'pino';
import { ipvsadm } from '../../lvs-adapters/ipvsadm/runner.ts';
import type { Config } from '../config/schema.ts';
import type { SessionSyncStatus } from './conntrackd-process.ts';
import type { VrrpState } from './notify.ts';
import { RoleQueue } from './role-queue.ts';

export interface IpvsSyncOptions {
  readonly ipvsadm: string;
  readonly interface: string;
  readonly syncid: number;
  readonly logger: Logger;
}

/** The daemon each role runs: master on the MASTER; backup on BACKUP and FAULT; none before a role is known or when keepalived is stopped. */
export function daemonFor(state: VrrpState): 'master' | 'backup' | undefined {
  if (state === 'MASTER') return 'master';
  if (state === 'BACKUP' || state === 'FAULT') return 'backup';
  return undefined;
}

/** The ipvsadm argument lists that stop both sync daemons (each fails when its daemon is not running). */
export function ipvsSyncStopCommands(): string[][] {
  return [['--stop-daemon', 'master'], ['--stop-daemon', 'backup']];
}

/** The ipvsadm argument lists for a role, in order; the stops may fail. */
export function ipvsSyncCommands(state: VrrpState, iface: string, syncid: number): { stops: string[][]; start?: string[] } {
  const daemon = daemonFor(state);
  return daemon ? { stops: ipvsSyncStopCommands(), start: ['--start-daemon', daemon, '--mcast-interface', iface, '--syncid', String(syncid)] } : { stops: [] };
}

export function ipvsSyncOptions(config: Config, logger: Logger): IpvsSyncOptions {
  const sync = config.vrrp?.sync;
  if (sync?.engine !== 'ipvs') throw new Error('the farms file has no vrrp.sync with engine ipvs');
  const plane = config.farms.map((f) => f.dataplane).find((d) => d.type === 'ipvsadm');
  return {
    ipvsadm: sync.ipvsadm ?? (plane?.type === 'ipvsadm' ? plane.ipvsadm : '/sbin/ipvsadm'),
    interface: sync.interface,
    syncid: sync.syncid ?? config.vrrp!['virtual-router-id'],
    logger,
  };
}

export class IpvsSync {
  private daemon: 'master' | 'backup' | undefined;
  private readonly roles = new RoleQueue();
  private options: IpvsSyncOptions;

  constructor(options: IpvsSyncOptions) {
    this.options = options;
  }

  status(): SessionSyncStatus {
    return { engine: 'ipvs', running: this.daemon !== undefined, restarts: 0, ...(this.daemon ? { daemon: this.daemon } : {}), ...(this.roles.last ? { lastRole: this.roles.last } : {}) };
  }

  /** INIT and STOP start no daemon and run nothing. */
  onRole(state: VrrpState): void {
    if (daemonFor(state)) this.roles.enqueue(state, () => this.apply(state));
  }

  settled(): Promise<void> {
    return this.roles.settled();
  }

  /** A new interface or sync id takes effect at the next role change. */
  reload(options: IpvsSyncOptions): void {
    this.options = options;
  }

  async stop(): Promise<void> {
    await this.roles.settled();
    await this.stopAll();
    this.daemon = undefined;
  }

  /** a stop of a daemon that is not running fails: that is ignored */
  private async stopAll(stops = ipvsSyncStopCommands()): Promise<void> {
    for (const argv of stops) await ipvsadm(this.options.ipvsadm, argv, { timeoutMs: 5000 }).catch(() => undefined);
  }

  /** Stops both daemons, starts the role's; throws (ipvsadm's error) when the start failed. */
  private async apply(state: VrrpState): Promise<void> {
    const { stops, start } = ipvsSyncCommands(state, this.options.interface, this.options.syncid);
    if (!start) return;
    await this.stopAll(stops);
    this.daemon = undefined;
    try {
      await ipvsadm(this.options.ipvsadm, start, { timeoutMs: 5000 });
    } catch (error) {
      const message = (error as Error).message;
      this.options.logger.error({ event: 'ipvs-sync-failed', role: state, error: message }, `vrrp.sync: as ${state}, ${message}`);
      throw error;
    }
    this.daemon = daemonFor(state);
    this.options.logger.info({ event: 'ipvs-sync-role', role: state, argv: start }, `vrrp.sync: as ${state}, ran ipvsadm ${start.join(' ')}`);
  }
}

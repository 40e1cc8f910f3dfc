import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { renderVrrpOnly } from '../../lvs-adapters/keepalived/keepalived.ts';
import { type Config, pairAddresses, type VrrpPeer } from '../config/schema.ts';
import { renderConntrackdConf } from './conntrackd-conf.ts';
import { ConntrackdProcess, type SessionSyncStatus } from './conntrackd-process.ts';
import { IpvsSync, ipvsSyncOptions } from './ipvs-sync.ts';
import { KeepalivedProcess, type VrrpStatus } from './keepalived-process.ts';
import type { VrrpState } from './notify.ts';
import { allowNonlocalBind } from './nonlocal-bind.ts';
import { selectNode } from './node.ts';
import { installPickupGuard, removePickupGuard } from './pickup-guard.ts';

/** One director of the pair as `lbguard run` drives it: keepalived for VRRP, its role for /status. */
export interface Director {
  status(): VrrpStatus;
  reload(next: Config): void;
  stop(): Promise<void>;
}

/** the pair's addresses the pick-up guard covers */
const guarded = (config: Config) => pairAddresses(config.vrrp!, config.farms).filter((a) => isIP(a) !== 0);

/** vrrp.sync as the director drives it, whatever the engine. */
interface SessionSync {
  onRole(state: VrrpState): void;
  status(): SessionSyncStatus;
  reload(next: Config): void;
  stop(): Promise<void>;
}

/**
 * vrrp.sync with conntrackd: the pick-up guard on the pair's addresses, then conntrackd. Stopped in
 * the reverse order.
 */
async function startConntrackd(config: Config, node: VrrpPeer, logger: Logger): Promise<SessionSync> {
  const sync = config.vrrp!.sync!;
  if (sync.engine !== 'conntrackd') throw new Error('vrrp.sync: not conntrackd');
  await installPickupGuard(guarded(config), logger);
  const conntrackd = new ConntrackdProcess({
    conntrackd: sync.conntrackd,
    logger,
    id: `${config.vrrp!['virtual-router-id']}-${node.name}`,
    render: (paths) => renderConntrackdConf(config, node, paths),
  });
  try {
    await conntrackd.start();
  } catch (error) {
    await conntrackd.stop();
    await removePickupGuard(logger);
    throw error;
  }
  logger.info({ event: 'sync-started', node: node.name, pid: conntrackd.status().pid }, `vrrp.sync: conntrackd started for ${node.name} (${conntrackd.dir}/conntrackd.conf)`);
  return {
    onRole: (state) => conntrackd.onRole(state),
    status: () => conntrackd.status(),
    reload(next) {
      const self = next.vrrp ? selectNode(next.vrrp, node.name) : undefined;
      if (next.vrrp?.sync?.engine !== 'conntrackd' || !self) {
        logger.warn({ event: 'sync-kept' }, 'vrrp.sync: the reloaded file has no conntrackd sync for this node; conntrackd keeps running until lbguard restarts');
        return;
      }
      conntrackd.reload((paths) => renderConntrackdConf(next, self, paths));
      installPickupGuard(guarded(next), logger).catch((error: Error) => logger.error({ event: 'sync-guard-failed', error: error.message }, error.message));
    },
    async stop() {
      await conntrackd.stop();
      await removePickupGuard(logger);
    },
  };
}

/** vrrp.sync with ipvs: the IPVS sync daemons, set on each role. */
function startIpvsSync(config: Config, logger: Logger): SessionSync {
  const ipvs = new IpvsSync(ipvsSyncOptions(config, logger));
  return {
    onRole: (state) => ipvs.onRole(state),
    status: () => ipvs.status(),
    reload(next) {
      if (next.vrrp?.sync?.engine === 'ipvs') ipvs.reload(ipvsSyncOptions(next, logger));
      else logger.warn({ event: 'sync-kept' }, 'vrrp.sync: the reloaded file has no ipvs sync; the sync daemon is kept until lbguard restarts');
    },
    stop: () => ipvs.stop(),
  };
}

async function startSessionSync(config: Config, node: VrrpPeer | undefined, logger: Logger): Promise<SessionSync | undefined> {
  const sync = config.vrrp?.sync;
  if (sync?.engine === 'ipvs') return startIpvsSync(config, logger);
  if (sync?.engine === 'conntrackd' && node) return startConntrackd(config, node, logger);
  return undefined;
}

/**
 * Checks what can be checked before anything starts (which peer this is, that keepalived.conf
 * and conntrackd.conf render); lbguard refuses to start otherwise. Undefined without vrrp:.
 */
export function prepareDirector(config: Config, requestedNode: string | undefined, logger: Logger): { node?: VrrpPeer; start(): Promise<Director> } | undefined {
  if (!config.vrrp) {
    if (requestedNode !== undefined) throw new Error(`--node ${requestedNode}: the farms file has no vrrp: section`);
    return undefined;
  }
  const node = selectNode(config.vrrp, requestedNode);
  // the node keeps its name across reloads; its priority is the reloaded file's
  const renderFor = (c: Config) => {
    const self = c.vrrp && node ? selectNode(c.vrrp, node.name) : undefined;
    return (fifo: string) => renderVrrpOnly(c, fifo, { ...(self ? { node: self } : {}) });
  };
  renderFor(config)('/run/lbguard/check.fifo'); // a password that cannot be read refuses the start
  if (config.vrrp.sync?.engine === 'conntrackd' && node) renderConntrackdConf(config, node, { lockFile: '/run/lbguard/check.lock', socket: '/run/lbguard/check.ctl' });
  return {
    ...(node ? { node } : {}),
    async start() {
      if (config.farms.some((f) => f.dataplane.type === 'userspace')) allowNonlocalBind(logger);
      const sync = await startSessionSync(config, node, logger);
      const keepalived = new KeepalivedProcess({
        keepalived: config.vrrp!.keepalived,
        logger,
        id: `${config.vrrp!['virtual-router-id']}-${node?.name ?? 'single'}`,
        ...(node ? { node: node.name } : {}),
        render: renderFor(config),
        ...(sync ? { onState: (state) => sync.onRole(state) } : {}),
      });
      const stopSync = async () => sync?.stop();
      try {
        await keepalived.start();
      } catch (error) {
        await stopSync();
        throw error;
      }
      logger.info({ event: 'vrrp-started', node: node?.name, pid: keepalived.status().keepalived.pid }, `vrrp: keepalived started${node ? ` for ${node.name} (priority ${node.priority})` : ''}`);
      return {
        status: () => ({ ...keepalived.status(), ...(sync ? { sync: sync.status() } : {}) }),
        reload(next) {
          if (!next.vrrp) {
            logger.warn({ event: 'vrrp-kept' }, 'vrrp: the reloaded file has no vrrp: section; keepalived keeps running until lbguard restarts');
            return;
          }
          keepalived.reload(renderFor(next));
          sync?.reload(next);
        },
        // keepalived first: it gives the addresses up, then nothing is left to sync
        async stop() {
          await keepalived.stop();
          await stopSync();
        },
      };
    },
  };
}

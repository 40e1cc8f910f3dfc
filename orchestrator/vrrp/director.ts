import type { Logger } from 'pino';
import { renderVrrpOnly } from '../../lvs-adapters/keepalived/keepalived.ts';
import type { Config, VrrpPeer } from '../config/schema.ts';
import { KeepalivedProcess, type VrrpStatus } from './keepalived-process.ts';
import { allowNonlocalBind } from './nonlocal-bind.ts';
import { selectNode } from './node.ts';

/** One director of the pair as `lbguard run` drives it: keepalived for VRRP, its role for /status. */
export interface Director {
  status(): VrrpStatus;
  reload(next: Config): void;
  stop(): Promise<void>;
}

/**
 * Checks what can be checked before anything starts (which peer this is, that keepalived.conf
 * renders); lbguard refuses to start otherwise. Undefined without vrrp:.
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
  return {
    ...(node ? { node } : {}),
    async start() {
      if (config.farms.some((f) => f.dataplane.type === 'userspace')) allowNonlocalBind(logger);
      const keepalived = new KeepalivedProcess({
        keepalived: config.vrrp!.keepalived,
        logger,
        id: `${config.vrrp!['virtual-router-id']}-${node?.name ?? 'single'}`,
        ...(node ? { node: node.name } : {}),
        render: renderFor(config),
      });
      await keepalived.start();
      logger.info({ event: 'vrrp-started', node: node?.name, pid: keepalived.status().keepalived.pid }, `vrrp: keepalived started${node ? ` for ${node.name} (priority ${node.priority})` : ''}`);
      return {
        status: () => keepalived.status(),
        reload(next) {
          if (!next.vrrp) {
            logger.warn({ event: 'vrrp-kept' }, 'vrrp: the reloaded file has no vrrp: section; keepalived keeps running until lbguard restarts');
            return;
          }
          keepalived.reload(renderFor(next));
        },
        stop: () => keepalived.stop(),
      };
    },
  };
}

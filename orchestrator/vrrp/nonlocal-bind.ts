import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';

const SYSCTLS = ['/proc/sys/net/ipv4/ip_nonlocal_bind', '/proc/sys/net/ipv6/ip_nonlocal_bind'];

/**
 * The backup director's userspace data plane listens on the virtual addresses before keepalived
 * puts them on this host, so service resumes the moment they move: that takes the kernel's
 * ip_nonlocal_bind (Node has no IP_FREEBIND). The setting belongs to the network namespace; lbguard
 * sets it when it may (root) and says so, or says what to set by hand.
 */
export function allowNonlocalBind(logger: Logger, sysctls: readonly string[] = SYSCTLS): boolean {
  let ok = true;
  for (const path of sysctls) {
    if (!existsSync(path)) continue;
    const name = path.slice('/proc/sys/'.length).replace(/\//g, '.');
    try {
      if (readFileSync(path, 'utf8').trim() === '1') continue;
      writeFileSync(path, '1\n');
      logger.info({ event: 'nonlocal-bind', sysctl: name }, `vrrp: set ${name}=1 so the userspace data plane listens on virtual addresses this director does not hold yet`);
    } catch (error) {
      ok = false;
      logger.warn({ event: 'nonlocal-bind-failed', sysctl: name, error: (error as NodeJS.ErrnoException).code ?? (error as Error).message }, `vrrp: cannot set ${name}=1 (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): the userspace data plane listens on a virtual address only once this director holds it; set it with sysctl`);
    }
  }
  return ok;
}

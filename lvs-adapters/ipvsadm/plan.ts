import { destKey, destRule, type IpvsService, serviceArgs, serviceKey, serviceRule } from './table.ts';

/**
 * The ipvsadm commands that turn the kernel's services into the wanted ones, for the services
 * lbguard owns: `owned` are keys that may be deleted when no longer wanted (a farm removed, or its
 * port changed). Services outside `wanted` and `owned` are never touched. Order: real servers out,
 * services out, services in or edited, real servers in or edited — so a key that moves from one
 * farm to another is free before it is declared again.
 */
export function planCommands(wanted: readonly IpvsService[], kernel: readonly IpvsService[], owned: ReadonlySet<string> = new Set()): string[][] {
  const current = new Map(kernel.map((s) => [serviceKey(s), s]));
  const wantedKeys = new Set(wanted.map(serviceKey));
  const removeDests: string[][] = [];
  const removeServices: string[][] = [];
  const declare: string[][] = [];
  const servers: string[][] = [];
  for (const key of owned) {
    const there = current.get(key);
    if (there && !wantedKeys.has(key)) removeServices.push(['-D', ...serviceArgs(there)]);
  }
  for (const service of wanted) {
    const there = current.get(serviceKey(service));
    if (!there) {
      declare.push(serviceRule('-A', service));
      for (const dest of service.dests) servers.push(destRule('-a', service, dest));
      continue;
    }
    if (serviceRule('-E', service).join(' ') !== serviceRule('-E', there).join(' ')) declare.push(serviceRule('-E', service));
    const existing = new Map(there.dests.map((d) => [destKey(d), d]));
    for (const dest of service.dests) {
      const old = existing.get(destKey(dest));
      existing.delete(destKey(dest));
      if (!old) servers.push(destRule('-a', service, dest));
      else if (old.weight !== dest.weight || old.forward !== dest.forward || (old.upperThreshold ?? 0) !== (dest.upperThreshold ?? 0)) servers.push(destRule('-e', service, dest));
    }
    for (const stale of existing.values()) removeDests.push(['-d', ...serviceArgs(service), '-r', destKey(stale)]);
  }
  return [...removeDests, ...removeServices, ...declare, ...servers];
}

/** The wanted services exactly as `ipvsadm -Sn` would list them, for comparing after applying. */
export function sameServices(a: IpvsService, b: IpvsService): boolean {
  if (serviceRule('-A', a).join(' ') !== serviceRule('-A', b).join(' ')) return false;
  const line = (s: IpvsService) => s.dests.map((d) => destRule('-a', s, d).join(' ')).sort().join('\n');
  return line(a) === line(b);
}

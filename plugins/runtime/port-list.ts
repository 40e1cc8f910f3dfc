// `-p` as Zevenet's Farm Guardian fills it: a backend without a port of its own gets the farm's virtual
// port as PORT, and an L4xNAT farm's is a list, a range or every port: `20,21`, `1024:65535`, `*`
// (zevenet/zlb, usr/local/zevenet/bin/farmguardian). The service lives on one port of it: the
// plugin's own (21 FTP, 69 TFTP, 22 SSH) when the list holds it, else the list's first port.
import { UsageError } from './errors.ts';

export function parsePort(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`Port number must be an integer from 1 to 65535 - ${text}`);
  }
  return Number(text);
}

/** The port to check for `-p TEXT`: one port as it is, a list or range narrowed to one (see above). */
export function portFromList(text: string, servicePort: number): number {
  if (/^\d+$/.test(text)) return parsePort(text);
  if (text === '*') {
    if (servicePort > 0) return servicePort;
    throw new UsageError('Port "*" (every port) needs a plugin with a port of its own: give one port');
  }
  const ranges = text.split(',').map((part) => {
    const bounds = /^(\d+)(?:[:-](\d+))?$/.exec(part.trim());
    if (!bounds) throw new UsageError(`Port must be a number, a list (20,21), a range (1024:65535) or * - ${text}`);
    const from = parsePort(bounds[1]!);
    const to = bounds[2] === undefined ? from : parsePort(bounds[2]);
    if (from > to) throw new UsageError(`Port range must go upwards - ${part}`);
    return { from, to };
  });
  const holdsOwn = servicePort > 0 && ranges.some((r) => r.from <= servicePort && servicePort <= r.to);
  return holdsOwn ? servicePort : ranges[0]!.from;
}

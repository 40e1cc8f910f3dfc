import type { StatusSnapshot } from '../daemon.ts';
import { type StatusTarget, statusRequest } from './client.ts';

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** Rows of text in aligned columns, the way `ipvsadm -L` and `haproxy show stat` are read. */
export function formatStatusTable(status: StatusSnapshot): string {
  const rows: string[][] = [['FARM', 'BACKEND', 'ADDRESS', 'STATE', 'WEIGHT', 'LATENCY', 'LAST CHECK']];
  for (const farm of status.farms) {
    for (const b of farm.backends) {
      rows.push([farm.name, b.name, `${b.address}:${b.port}`, b.state, b.dataplaneWeight === undefined ? String(b.weight) : `${b.weight} (${farm.dataplane.type} ${b.dataplaneWeight})`, b.last ? `${b.last.ms} ms` : '-', b.last?.line ?? 'not checked yet']);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : pad(cell, widths[i]!))).join('  '));
  const broken = status.farms.filter((f) => !f.dataplane.ok).map((f) => `data plane of ${f.name} (${f.dataplane.type}): ${f.dataplane.error ?? 'not applied yet'}`);
  const vrrp = status.vrrp ? [`vrrp: ${status.vrrp.state}${status.vrrp.node ? ` on ${status.vrrp.node}` : ''} since ${status.vrrp.since}${status.vrrp.keepalived.running ? '' : ' (keepalived not running)'}`] : [];
  const sync = status.vrrp?.sync;
  const syncLine = sync
    ? [`vrrp.sync: ${sync.engine === 'ipvs' ? `IPVS sync daemon ${sync.daemon ?? 'not started'}` : `conntrackd ${sync.running ? 'running' : 'not running'}`}${sync.restarts ? `, restarted ${sync.restarts} times` : ''}${sync.lastRole ? `; as ${sync.lastRole.state} (${sync.lastRole.at}): ${sync.lastRole.ok ? 'its commands ran' : sync.lastRole.error}` : ''}`]
    : [];
  return [...vrrp, ...syncLine, ...lines, ...broken].join('\n') + '\n';
}

export async function printStatusTable(target: StatusTarget): Promise<number> {
  try {
    const answer = await statusRequest(target, 'GET', '/status');
    if (answer.status !== 200) throw new Error(`HTTP ${answer.status}${answer.status === 401 ? ' (a token is needed: -c FILE with status.read-token-file, or --token-file)' : ''}`);
    process.stdout.write(formatStatusTable(JSON.parse(answer.text) as StatusSnapshot));
    return 0;
  } catch (error) {
    process.stderr.write(`lbguard: cannot read ${target.url}/status: ${(error as Error).message}\n`);
    return 1;
  }
}

// The nft table the ipvsadm adapter writes for TFTP under IPVS-NAT (firewall marks and the source NAT
// of the backends' new-port answers), checked by the real nft (`nft -c`, nothing loaded).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { markRules, markScript, snatRules } from '../../lvs-adapters/ipvsadm/fwmark.ts';
import { requireBinary, runCommand } from '../helpers/processes.ts';

t.test('nft -c accepts the mark and source NAT table of IPv4 and IPv6 TFTP farms', async (t) => {
  const nft = requireBinary('/usr/sbin/nft', 'nftables');
  const tftp = { farm: 'tftp', service: 'tftp' as const, protocol: 'udp' as const, address: '192.0.2.11', fwmark: 69, scheduler: 'rr', persistence: { timeoutSeconds: 45, netmask: '255.255.255.255' } };
  const v6 = { ...tftp, farm: 'tftp6', address: '2001:db8::11', fwmark: 70 };
  const servers = [{ name: 'a', address: '10.0.1.2', port: 69, weight: 1 }, { name: 'b', address: '10.0.1.3', port: 69, weight: 0 }];
  const snat = snatRules([{ service: tftp, servers }, { service: v6, servers: [{ name: 'c', address: '2001:DB8::3', port: 69, weight: 1 }] }], 'nat');
  t.equal(snat.length, 2, 'a source NAT rule per family');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-nft-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'marks.nft'), markScript(markRules([tftp, v6]), snat));
  const check = await runCommand(nft, ['-c', '-f', join(dir, 'marks.nft')]);
  t.equal(check.code, 0, `nft -c accepts the script ${check.stderr}`);
  // a broken table is refused, so the check above can fail
  writeFileSync(join(dir, 'broken.nft'), markScript(markRules([tftp]), ['ip saddr 10.0.1.2 snat to nowhere']));
  t.not((await runCommand(nft, ['-c', '-f', join(dir, 'broken.nft')])).code, 0, 'nft -c refuses a broken rule');
});

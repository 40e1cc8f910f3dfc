// Two farms whose data planes would take the same clients are refused when the file is read
// (`lbguard check`, start, reload), not found out by the data plane.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { loadValidConfig } from '../../orchestrator/config/semantics.ts';
import { sharedAddressProblems } from '../../orchestrator/config/shared-addresses.ts';
import { DATAPLANE_KINDS } from '../../orchestrator/dataplane-kinds.ts';

type Farm = Record<string, unknown>;
const farm = (name: string, service: string, address: string, ports: unknown[], dataplane: Farm = { type: 'userspace' }, extra: Farm = {}): Farm => ({
  name,
  service,
  virtual: { address, ports },
  dataplane,
  check: { probe: 'tcp', interval: '2s', timeout: '500ms' },
  backends: [{ name: 'b1', address: '10.0.0.1', port: 7000 }],
  ...extra,
});

const problemsOf = (...farms: Farm[]) => sharedAddressProblems(validateConfig({ farms }).farms).map((p) => `${p.path}: ${p.message}`);

t.test('the same address, protocol and port in two farms is refused on the later one', async (t) => {
  t.same(problemsOf(farm('plain', 'tcp', '127.0.0.9', [7001]), farm('files', 'ftp', '127.0.0.9', [7001])), [
    "farms[1].virtual.ports: farm files: TCP 127.0.0.9 port 7001 is farm plain's already (127.0.0.9); a data plane cannot send one client to two farms",
  ]);
  t.same(problemsOf(farm('a', 'tftp', '192.0.2.1', [69], { type: 'ipvsadm' }), farm('b', 'udp', '192.0.2.1', [69], { type: 'nftlb' })), [
    "farms[1].virtual.ports: farm b: UDP 192.0.2.1 port 69 is farm a's already (192.0.2.1); a data plane cannot send one client to two farms",
  ]);
});

t.test('overlapping ranges, a wildcard listen address and a shared firewall mark are refused too', async (t) => {
  t.match(problemsOf(farm('a', 'tcp', '192.0.2.1', ['7000-7010']), farm('b', 'tcp', '192.0.2.1', [9000, '7010-7020'])), [/^farms\[1\]\.virtual\.ports: farm b: TCP 192\.0\.2\.1 port 7010 is farm a's/]);
  t.match(problemsOf(farm('a', 'tcp', '192.0.2.1', [7000]), farm('b', 'tcp', '192.0.2.2', [7000], { type: 'userspace', 'listen-address': '0.0.0.0' })), [/farm b: TCP 0\.0\.0\.0 port 7000 is farm a's already \(192\.0\.2\.1\)/]);
  // one IPv6 address written two ways
  t.match(problemsOf(farm('a', 'tcp', '2001:db8::1', [7000]), farm('b', 'tcp', '2001:0DB8:0:0::1', [7000])), [/farm b: TCP 2001:db8::1 port 7000 is farm a's already \(2001:db8::1\)/]);
  // Node listens on :: for IPv4 too
  t.match(problemsOf(farm('a', 'tcp', '::', [7000]), farm('b', 'tcp', '192.0.2.2', [7000])), [/farm b: TCP 192\.0\.2\.2 port 7000 is farm a's already \(::\)/]);
  const marked = (name: string, port: number) => ({ ...farm(name, 'ftp', '192.0.2.1', [port], { type: 'ipvsadm' }), virtual: { address: '192.0.2.1', ports: [port], fwmark: 5 } });
  t.same(problemsOf(marked('a', 21), marked('b', 2121)), ["farms[1].virtual.fwmark: farm b: firewall mark 5 is farm a's already"]);
});

t.test('what may share: other protocol, other address, 0.0.0.0 and IPv6, no data plane, ranges that only touch', async (t) => {
  t.same(problemsOf(farm('tcp', 'tcp', '192.0.2.1', [53]), farm('udp', 'udp', '192.0.2.1', [53])), []);
  t.same(problemsOf(farm('a', 'tcp', '192.0.2.1', [7000]), farm('b', 'tcp', '192.0.2.2', [7000])), []);
  t.same(problemsOf(farm('a', 'tcp', '0.0.0.0', [7000]), farm('b', 'tcp', '2001:db8::1', [7000])), []);
  t.same(problemsOf(farm('watch', 'tcp', '192.0.2.1', [7000], { type: 'none' }), farm('serve', 'tcp', '192.0.2.1', [7000])), []);
  t.same(problemsOf(farm('a', 'tcp', '192.0.2.1', ['7000-7010']), farm('b', 'tcp', '192.0.2.1', ['7011-7020'])), []);
  // the userspace balancer listening elsewhere frees the virtual address
  t.same(problemsOf(farm('a', 'tcp', '192.0.2.1', [7000]), farm('b', 'tcp', '192.0.2.1', [7000], { type: 'userspace', 'listen-address': '127.0.0.5' })), []);
});

t.test('each pair once, however many ports it shares; 2,000 farms on distinct ports pass', async (t) => {
  t.equal(problemsOf(farm('a', 'tcp', '192.0.2.1', ['7000-7100', 8000]), farm('b', 'tcp', '192.0.2.1', ['7050-7060', 8000])).length, 1);
  const many = Array.from({ length: 2000 }, (_, i) => farm(`f${i}`, 'tcp', '192.0.2.1', [1000 + i]));
  t.same(problemsOf(...many), []);
  t.equal(problemsOf(...many, farm('late', 'tcp', '192.0.2.1', ['1000-2999'])).length, 2000, 'a range over all of them: one problem per farm it meets');
});

t.test('lbguard refuses the whole file with the problem', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-shared-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'farms.json');
  writeFileSync(file, JSON.stringify({ farms: [farm('plain', 'tcp', '127.0.0.9', [7001]), farm('files', 'ftp', '127.0.0.9', [7001], { type: 'userspace' }, { check: { probe: 'ftp', interval: '2s', timeout: '1s' } })] }));
  t.throws(() => loadValidConfig(file, DATAPLANE_KINDS), /farms\[1\]\.virtual\.ports: farm files: TCP 127\.0\.0\.9 port 7001 is farm plain's already/);
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ipvsNetmask } from '../../lvs-adapters/ipvsadm/farm-map.ts';
import { planCommands } from '../../lvs-adapters/ipvsadm/plan.ts';
import { describeFailure } from '../../lvs-adapters/ipvsadm/runner.ts';
import { destRule, type IpvsService, parseSave, parseThresholds, serviceRule, withThresholds } from '../../lvs-adapters/ipvsadm/table.ts';
import { ROOT } from '../helpers/processes.ts';

/** The transcript of ipvsadm runs on a real 6.1 kernel: `### $ command`, its output, `### rc=N`. */
function transcript(name: string): { command: string; output: string; rc: number }[] {
  const text = readFileSync(join(ROOT, 'test', 'fixtures', 'ipvs', name), 'utf8');
  const runs: { command: string; output: string; rc: number }[] = [];
  let current: { command: string; lines: string[] } | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('### $ ')) current = { command: line.slice(6), lines: [] };
    else if (line.startsWith('### rc=') && current) {
      runs.push({ command: current.command, output: current.lines.map((l) => `${l}\n`).join(''), rc: Number(line.slice(7)) });
      current = undefined;
    } else current?.lines.push(line);
  }
  return runs;
}

const basic = transcript('ipvs-basic.transcript.txt');

/** A table in `ipvsadm -Sn` form, one rule per line, from the same rules the adapter runs. */
const saveLines = (services: readonly IpvsService[]): string[] =>
  services.flatMap((s) => [serviceRule('-A', s), ...s.dests.map((d) => destRule('-a', s, d))].map((argv) => argv.join(' ')));

t.test('-Sn of the real kernel parses and renders back byte for byte', async (t) => {
  const saves = basic.filter((r) => /^ipvsadm-save -n > (\S+); cat \1$/.test(r.command) || r.command === 'ipvsadm -S');
  t.equal(saves.length, 3);
  for (const save of saves) {
    const rendered = saveLines(parseSave(save.output)).join('\n');
    t.equal(rendered, save.output.trimEnd().replace(/ --tun-type ipip/g, ''), save.command);
  }
});

t.test('connection limits: -Sn of the real kernel leaves -x/-y out, -Ln --thresholds has them, -e without -x lifts one', async (t) => {
  const runs = transcript('ipvs-thresholds.transcript.txt');
  const output = (command: string, nth = 0) => runs.filter((r) => r.command === command)[nth]?.output ?? '';
  t.same(runs.filter((r) => r.rc !== 0).map((r) => [r.command, r.output.trim(), r.rc]), [['ipvsadm -a -t 10.9.0.1:80 -r 10.9.1.5:80 -m -w 1 -y 3', 'Numerical result out of range', 255]], 'a lower threshold above the upper one is refused');
  t.notMatch(output('ipvsadm -Sn'), /-x|-y/, 'ipvsadm -Sn prints no thresholds: they must be read from the listing');
  const limits = parseThresholds(output('ipvsadm -Ln --thresholds'));
  t.same(limits.get('-t 10.9.0.1:80')?.map((d) => [d.address, d.upperThreshold, d.lowerThreshold]), [['10.9.1.1', 10, 0], ['10.9.1.2', 10, 0], ['10.9.1.3', 10, 5], ['10.9.1.4', 0, 0]], '-x 10 alone and -x 10 -y 0 read the same: the kernel default lower threshold is 0');
  t.same(limits.get('-f 21')?.map((d) => [d.address, d.port, d.upperThreshold]), [['10.9.1.1', 0, 250]]);
  const table = withThresholds(parseSave(output('ipvsadm -Sn')), limits);
  t.same(table[0]?.dests.map((d) => destRule('-a', table[0]!, d).join(' ')), [
    '-a -t 10.9.0.1:80 -r 10.9.1.1:80 -m -w 1 -x 10',
    '-a -t 10.9.0.1:80 -r 10.9.1.2:80 -m -w 1 -x 10',
    '-a -t 10.9.0.1:80 -r 10.9.1.3:80 -m -w 1 -x 10',
    '-a -t 10.9.0.1:80 -r 10.9.1.4:80 -m -w 1',
  ], 'the table with the limits written in reads as the commands that made it (-y is not ours to set)');
  const after = parseThresholds(output('ipvsadm -Ln --thresholds', 1));
  t.same(after.get('-t 10.9.0.1:80')?.map((d) => d.upperThreshold), [0, 0, 10, 30], '-e without -x and -e -x 0 both lift the limit; -e -x 30 sets one');
  t.same([...parseThresholds(output('ipvsadm -Ln --thresholds -f 21')).keys()], ['-f 21'], 'one service listed without the version line');
  t.same(destRule('-e', table[0]!, { address: '10.9.1.4', port: 80, forward: 'masq', weight: 1 }), ['-e', '-t', '10.9.0.1:80', '-r', '10.9.1.4:80', '-m', '-w', '1', '-x', '0'], 'an edit without a limit says -x 0');
  t.same(parseSave('-A -f 1 -s rr\n-a -f 1 -r 10.0.0.2:0 -m -w 1 -x 5 -y 2')[0]?.dests, [{ address: '10.0.0.2', port: 0, forward: 'masq', weight: 1, upperThreshold: 5, lowerThreshold: 2 }], 'an ipvsadm that prints -x/-y in -Sn is read too');
  const planned = planCommands(parseSave('-A -f 21 -s wlc\n-a -f 21 -r 10.9.1.1:0 -m -w 2 -x 100'), withThresholds(parseSave(output('ipvsadm -Sn')), limits), new Set());
  t.same(planned.map((c) => c.join(' ')), ['-E -f 21 -s wlc', '-e -f 21 -r 10.9.1.1:0 -m -w 2 -x 100'], 'a changed limit alone is an edit');
});

t.test('garbage is an error with its line number', async (t) => {
  t.throws(() => parseSave('-A -t 10.0.0.1:21 -s wlc\n-x nonsense'), /line 2/);
  t.throws(() => parseThresholds('TCP  10.0.0.1:21 wlc\n  -> what'), /line 2/);
  t.throws(() => parseSave('-a -t 10.0.0.1:21 -r 10.0.0.2:21 -m -w 1'), /no -A line/);
});

t.test('plan: only the difference, edits with the full spec, deletes only what is owned', async (t) => {
  const kernel = parseSave('-A -t 10.0.0.1:21 -s wlc -p 300\n-a -t 10.0.0.1:21 -r 10.0.1.2:21 -m -w 1\n-a -t 10.0.0.1:21 -r 10.0.1.9:21 -m -w 1\n-A -u 10.0.0.9:53 -s rr\n-A -f 5 -s rr');
  const wanted = parseSave('-A -t 10.0.0.1:21 -s wlc -p 300\n-a -t 10.0.0.1:21 -r 10.0.1.2:21 -m -w 0\n-a -t 10.0.0.1:21 -r 10.0.1.3:21 -m -w 1');
  t.same(planCommands(wanted, kernel, new Set(['-f 5'])).map((c) => c.join(' ')), [
    '-d -t 10.0.0.1:21 -r 10.0.1.9:21',
    '-D -f 5',
    '-e -t 10.0.0.1:21 -r 10.0.1.2:21 -m -w 0 -x 0',
    '-a -t 10.0.0.1:21 -r 10.0.1.3:21 -m -w 1',
  ], 'the UDP service nobody said is ours stays');
  t.same(planCommands(wanted, parseSave(saveLines(wanted).join('\n'))), [], 'nothing to do when equal');
  const rescheduled = parseSave('-A -t 10.0.0.1:21 -s rr -p 60 -M 255.255.255.0');
  t.same(planCommands(rescheduled, kernel).find((c) => c[0] === '-E')?.join(' '), '-E -t 10.0.0.1:21 -s rr -p 60 -M 255.255.255.0', 'the whole spec, never a partial -E');
});

t.test('errors name the command, the tool\'s words and what they mean', async (t) => {
  t.match(describeFailure(['-A', '-t', '10.0.0.1:21', '-s', 'wlc'], 255, 'Service already exists\n'), /^ipvsadm -A -t 10.0.0.1:21 -s wlc: the kernel refused it \(exit 255\): Service already exists — the virtual service is already declared$/);
  t.match(describeFailure(['-a', '-f', '7', '-r', '[2001:db8::3]'], 2, 'illegal real server address[:port] specified\n'), /rejected the arguments \(exit 2\): illegal real server/);
  t.match(describeFailure(['-Sn'], 2, "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n"), /this kernel has no IPVS/);
});

t.test('netmasks: prefix lengths become dotted masks for IPv4', async (t) => {
  t.equal(ipvsNetmask('24', false), '255.255.255.0');
  t.equal(ipvsNetmask('32', false), '255.255.255.255');
  t.equal(ipvsNetmask('255.255.0.0', false), '255.255.0.0');
  t.equal(ipvsNetmask('64', true), '64');
});

t.test('farm mapping: IPv6 fwmark services, several ports, ranges refused; marks per family', async (t) => {
  const { farmServices, markedPorts } = await import('../../lvs-adapters/ipvsadm/farm-map.ts');
  const { markRules } = await import('../../lvs-adapters/ipvsadm/fwmark.ts');
  const v6 = { farm: 'f6', service: 'tftp' as const, protocol: 'udp' as const, address: '2001:db8::10', fwmark: 7, scheduler: 'rr', persistence: { timeoutSeconds: 30, netmask: '64' } };
  const [svc] = farmServices({ service: v6, servers: [{ name: 'a', address: '2001:DB8::2', port: 69, weight: 1 }] }, 'dr');
  t.same(saveLines(svc ? [svc] : []), ['-A -f 7 -6 -s rr -p 30 -M 64', '-a -f 7 -6 -r [2001:db8::2]:0 -g -w 1']);
  t.same(markRules([v6]), ['ip6 daddr 2001:db8::10 udp dport { 69, 1024-65535 } meta mark set 0x00000007 comment "farm f6"']);
  const ftp = { farm: 'ftp', service: 'ftp' as const, protocol: 'tcp' as const, address: '192.0.2.1', ports: [{ from: 21, to: 21 }, { from: 20, to: 20 }], scheduler: 'wlc' };
  t.same(saveLines(farmServices({ service: ftp, servers: [{ name: 'a', address: '10.0.0.2', port: 2121, weight: 2 }] }, 'nat')), [
    '-A -t 192.0.2.1:21 -s wlc', '-a -t 192.0.2.1:21 -r 10.0.0.2:2121 -m -w 2',
    '-A -t 192.0.2.1:20 -s wlc', '-a -t 192.0.2.1:20 -r 10.0.0.2:20 -m -w 2',
  ], 'the first port goes to the backend port, further ports keep their number');
  t.same(saveLines(farmServices({ service: ftp, servers: [{ name: 'a', address: '10.0.0.2', port: 2121, weight: 2 }] }, 'dr')).filter((l) => l.startsWith('-a')), [
    '-a -t 192.0.2.1:21 -r 10.0.0.2:21 -g -w 2', '-a -t 192.0.2.1:20 -r 10.0.0.2:20 -g -w 2',
  ], 'DR keeps the service port, as ipvsadm does for -g');
  t.throws(() => farmServices({ service: { ...ftp, ports: [{ from: 10000, to: 10100 }] }, servers: [] }, 'nat'), /port range 10000-10100 cannot be an IPVS service; give virtual.fwmark/);
  t.same(markedPorts({ ...ftp, fwmark: 21, ports: [{ from: 21, to: 21 }, { from: 10000, to: 10100 }] }), [{ from: 21, to: 21 }, { from: 10000, to: 10100 }], 'ports given with a fwmark are what gets marked');
  t.same(markedPorts({ ...ftp, service: 'sftp', ports: undefined, fwmark: 3 }), [], 'no default marks for other services');
});

t.test('TFTP under IPVS-NAT: the backends\' new-port answers leave as the VIP (nft source NAT)', async (t) => {
  const { markRules, markScript, snatRules } = await import('../../lvs-adapters/ipvsadm/fwmark.ts');
  const tftp = { farm: 'tftp', service: 'tftp' as const, protocol: 'udp' as const, address: '192.0.2.11', fwmark: 69, scheduler: 'rr', persistence: { timeoutSeconds: 45, netmask: '255.255.255.255' } };
  const servers = [{ name: 'a', address: '10.0.1.2', port: 69, weight: 1 }, { name: 'b', address: '10.0.1.3', port: 69, weight: 0 }];
  const v6 = { ...tftp, farm: 'tftp6', address: '2001:db8::11', fwmark: 70 };
  const snat = snatRules([{ service: tftp, servers }, { service: v6, servers: [{ name: 'c', address: '2001:DB8::3', port: 69, weight: 1 }] }], 'nat');
  t.same(snat, [
    'ip saddr { 10.0.1.2, 10.0.1.3 } udp sport 1024-65535 snat ip to 192.0.2.11 comment "farm tftp: a transfer\'s first packet"',
    'ip6 saddr 2001:db8::3 udp sport 1024-65535 snat ip6 to 2001:db8::11 comment "farm tftp6: a transfer\'s first packet"',
  ], 'every backend of the farm, weight 0 too (its running transfers)');
  t.same(snatRules([{ service: tftp, servers }], 'dr'), [], 'DR: the backends answer as the VIP themselves');
  t.same(snatRules([{ service: { ...tftp, service: 'ftp', protocol: 'tcp' }, servers }], 'nat'), [], 'FTP has ip_vs_ftp');
  const script = markScript(markRules([tftp, v6]), snat);
  t.match(script, '\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr { 10.0.1.2, 10.0.1.3 }');
});

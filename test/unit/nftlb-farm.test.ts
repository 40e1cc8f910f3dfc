// lbguard's farm model <-> nftlb's farm objects, without nftlb (the system tests run the real one).
import t from 'tap';
import type { VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import type { NftlbFarm } from '../../zevenet-adapters/nftlb/client.ts';
import { backendFields, farmFields, farmHolds, parsePorts, portsText, serversFromFarm, serviceFromFarm } from '../../zevenet-adapters/nftlb/farm.ts';

const ftp: VirtualServiceSpec = { farm: 'ftp', service: 'ftp', protocol: 'tcp', address: '10.1.1.1', ports: [{ from: 21, to: 21 }, { from: 20, to: 20 }], scheduler: 'wlc' };

t.test('helpers follow the service; schedulers map to what nftlb has', async (t) => {
  t.match(farmFields(ftp, 'snat'), { helper: 'ftp', protocol: 'tcp', 'virtual-ports': '21,20', scheduler: 'weight', persistence: 'none', family: 'ipv4' });
  t.match(farmFields({ ...ftp, service: 'tftp', protocol: 'udp', scheduler: 'rr' }, 'dnat'), { helper: 'tftp', protocol: 'udp', scheduler: 'rr', mode: 'dnat' });
  t.match(farmFields({ ...ftp, service: 'sftp', scheduler: 'sh' }, 'snat'), { helper: 'none', scheduler: 'hash', 'sched-param': 'srcip' });
  t.match(farmFields({ ...ftp, address: 'fd00::1' }, 'snat'), { family: 'ipv6' });
  t.throws(() => farmFields({ ...ftp, address: 'ftp.example' }, 'snat'), /needs an IP address/);
  t.throws(() => farmFields({ ...ftp, ports: undefined, fwmark: 3 }, 'snat'), /need virtual ports/);
});

t.test('ports: ranges both ways', async (t) => {
  t.equal(portsText([{ from: 20, to: 21 }, { from: 990, to: 990 }]), '20-21,990');
  t.same(parsePorts(' 20-21, 990 '), [{ from: 20, to: 21 }, { from: 990, to: 990 }]);
});

t.test('backends: weight 0 is off without a weight; a port among the virtual ones is left to the client', async (t) => {
  t.same(backendFields(ftp, { name: 'b', address: '10.2.2.2', port: 21, weight: 0 }), { name: 'b', 'ip-addr': '10.2.2.2', port: '', state: 'off', 'est-connlimit': '0' });
  t.same(backendFields(ftp, { name: 'b', address: '10.2.2.2', port: 2121, weight: 4 }), { name: 'b', 'ip-addr': '10.2.2.2', port: '2121', state: 'up', weight: '4', 'est-connlimit': '0' });
  t.same(backendFields(ftp, { name: 'b', address: '10.2.2.2', port: 21, weight: 1, maxConnections: 30 })['est-connlimit'], '30', 'a connection limit');
});

t.test('read back: padded values match, down is absent, config_error shows with its empty address', async (t) => {
  const observed: NftlbFarm = { ...farmFields(ftp, 'snat'), name: 'ftp', persistence: 'none ', 'sched-param': 'none ', priority: '1', backends: [
    { name: 'a', 'ip-addr': '10.2.2.1', port: '', weight: '2', state: 'up' },
    { name: 'b', 'ip-addr': '10.2.2.2', port: '', weight: '1', state: 'down' },
    { name: 'c', 'ip-addr': '10.2.2.3', port: '2121', weight: '1', state: 'off' },
    { name: 'typo', 'ip-addr': '', port: '', weight: '1', state: 'config_error' },
  ] };
  t.ok(farmHolds(observed, farmFields(ftp, 'snat')));
  t.notOk(farmHolds({ ...observed, helper: 'none' }, farmFields(ftp, 'snat')));
  t.same(serversFromFarm(observed, () => 21), [
    { name: 'a', address: '10.2.2.1', port: 21, weight: 2 },
    { name: 'c', address: '10.2.2.3', port: 2121, weight: 0 },
    { name: 'typo', address: '', port: 21, weight: 0 },
  ]);
  t.match(serviceFromFarm(observed), { farm: 'ftp', service: 'ftp', protocol: 'tcp', scheduler: 'wlc', ports: [{ from: 21, to: 21 }, { from: 20, to: 20 }] });
});

// The pair's farms file (vrrp.peers, version 3), which director a host is, what keepalived is given
// to run, and how its notify FIFO lines are read.
import t from 'tap';
import { renderVrrpOnly } from '../../lvs-adapters/keepalived/keepalived.ts';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { parseNotifyLine } from '../../orchestrator/vrrp/notify.ts';
import { selectNode } from '../../orchestrator/vrrp/node.ts';

const farms = [{ name: 'tftp', service: 'tftp', virtual: { address: '10.96.0.100', ports: [69] }, check: { probe: 'tftp' }, backends: [{ name: 'a', address: '10.96.0.11' }] }];
const peers = [{ name: 'd1', address: '10.96.0.1', priority: 254 }, { name: 'd2', address: '10.96.0.2', priority: 250 }];
const pair = (vrrp: Record<string, unknown>) => validateConfig({ vrrp: { interface: 'e0', 'virtual-router-id': 7, ...vrrp }, farms });

t.test('vrrp.peers and version 3: what the schema accepts and refuses, with the path', async (t) => {
  t.match(pair({ peers, version: 3, 'advert-int': 0.2 }).vrrp, { version: 3, 'advert-int': 0.2, peers });
  t.throws(() => pair({ peers, 'advert-int': 0.5 }), /vrrp.advert-int: VRRP version 2 advertises in whole seconds, got 0.5; set version: 3/);
  t.throws(() => pair({ version: 3, 'advert-int': 0.255 }), /VRRP version 3 advertises in hundredths of a second up to 40.95, got 0.255/);
  t.throws(() => pair({ version: 4 }), /vrrp.version: expected 2 or 3, got 4/);
  t.throws(() => pair({ peers, priority: 100 }), /vrrp.priority: with peers, each peer has its own priority/);
  t.throws(() => pair({ peers: [peers[0], { ...peers[1], name: 'd1' }] }), /vrrp.peers\[1\].name: duplicate peer name "d1"/);
  t.throws(() => pair({ peers: [peers[0], { ...peers[1], address: '10.96.0.1' }] }), /vrrp.peers\[1\].address: duplicate peer address 10.96.0.1/);
  t.throws(() => pair({ peers: [peers[0]] }), /vrrp.peers: expected at least 2 entries/);
  t.throws(() => pair({ peers: [peers[0], { ...peers[1], address: 'backup-host' }] }), /vrrp.peers\[1\].address: expected an IP address/);
});

t.test('selectNode: --node, else the peer whose address is here', async (t) => {
  const vrrp = pair({ peers }).vrrp!;
  t.equal(selectNode(vrrp, 'd2', [])?.priority, 250);
  t.equal(selectNode(vrrp, undefined, ['127.0.0.1', '10.96.0.1'])?.name, 'd1');
  t.throws(() => selectNode(vrrp, 'd3', []), /--node d3: no such peer in vrrp.peers \(d1, d2\)/);
  t.throws(() => selectNode(vrrp, undefined, ['192.0.2.1']), /none of vrrp.peers' addresses \(10.96.0.1, 10.96.0.2\) is on this host: give --node NAME/);
  t.throws(() => selectNode(vrrp, undefined, ['10.96.0.1', '10.96.0.2']), /several of vrrp.peers' addresses are on this host \(d1, d2\)/);
  t.equal(selectNode(pair({}).vrrp!, undefined, []), undefined, 'the single-node form');
  t.throws(() => selectNode(pair({}).vrrp!, 'd1', []), /--node d1: the farms file's vrrp: has no peers/);
});

t.test('renderVrrpOnly: VRRP alone, the node\'s priority, the notify FIFO', async (t) => {
  const config = pair({ peers, version: 3, 'advert-int': 0.2 });
  const text = renderVrrpOnly(config, '/run/lbguard/vrrp-7-d2/notify.fifo', { node: config.vrrp!.peers![1]! });
  t.match(text, 'global_defs {\n    vrrp_notify_fifo /run/lbguard/vrrp-7-d2/notify.fifo\n    fifo_write_vrrp_states_on_reload\n}\n');
  t.match(text, '    priority 250\n    version 3\n    advert_int 0.2\n');
  t.notMatch(text, 'virtual_server', 'no checker: lbguard checks the backends itself');
  t.throws(() => renderVrrpOnly(config, '/tmp/x.fifo'), /vrrp.peers: say which director this is for \(--node NAME\)/);
  t.throws(() => renderVrrpOnly(config, '/tmp/a b', { node: config.vrrp!.peers![0]! }), /must be one word/);
});

t.test('notify FIFO lines', async (t) => {
  t.same(parseNotifyLine('INSTANCE "lbguard" MASTER 254\n'), { instance: 'lbguard', state: 'MASTER', priority: 254 });
  t.same(parseNotifyLine('INSTANCE "lbguard" FAULT 0'), { instance: 'lbguard', state: 'FAULT', priority: 0 });
  for (const line of ['GROUP "g" MASTER 0', 'INSTANCE "lbguard" MASTER_RX_LOWER_PRI 254', 'INSTANCE "lbguard" INIT 1', 'INSTANCE lbguard MASTER 1', 'INSTANCE "lbguard" MASTER 1 extra', '']) {
    t.equal(parseNotifyLine(line), undefined, JSON.stringify(line));
  }
});

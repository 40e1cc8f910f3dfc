import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { wideBlockSize } from '../../lvs-adapters/userspace/tftp-relay.ts';

t.test('wide TFTP reads ask the server for a block that fits the smallest MTU of the host', async (t) => {
  const net = (mtus: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'lbguard-net-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    for (const [name, mtu] of Object.entries(mtus)) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'mtu'), `${mtu}\n`);
    }
    return dir;
  };
  t.equal(wideBlockSize(false, net({ lo: '65536', eth0: '1500' })), 1468, 'Ethernet: RFC 2348\'s 1468');
  t.equal(wideBlockSize(true, net({ eth0: '1500' })), 1448, 'IPv6 headers are longer');
  t.equal(wideBlockSize(false, net({ eth0: '9000', vxlan0: '1450' })), 1418, 'an overlay\'s smaller MTU wins');
  t.equal(wideBlockSize(false, net({ eth0: '9000' })), 1468, 'jumbo frames: still at most 1468');
  t.equal(wideBlockSize(false, net({ tun0: '540' })), 512, 'a tiny MTU: plain 512, wide reads off');
  t.equal(wideBlockSize(false, join(tmpdir(), 'lbguard-no-such-dir')), 1468, 'no sysfs: Ethernet');
});

// The director pair of director-pair.test.ts with VRRP version 3 and sub-second advertisements
// (advert-int 0.2: keepalived's backup takes over about 0.6 s after the last advert it heard). The
// master dies by link down, then by SIGKILL of lbguard's process group; passive FTP, active FTP and
// TFTP through the virtual address must resume at once after the takeover. Figures in the output;
// targets in `npm run bench` (bench/failover.bench.ts).
import t from 'tap';
import { assertFailover, type DirectorProcess, directorPair } from '../helpers/director-pair.ts';

t.setTimeout(300_000);

t.test('director pair, VRRPv3 advert-int 0.2: sub-second takeover, the backup serves at once', async (t) => {
  const pair = directorPair();
  t.teardown(() => pair.remove());
  const file = pair.farmsFile({ version: 3, advertInt: 0.2 });
  const [d1, d2] = (await pair.startBoth(file)) as [DirectorProcess, DirectorProcess];
  t.match((await pair.status(0)).vrrp, { state: 'MASTER', node: 'd1' }, 'd1 MASTER');

  let death = Date.now();
  pair.linkDown(0);
  assertFailover(t, await pair.firstServed(death, 15_000, 1, d2), 2000, 8000, 'link down');
  pair.linkUp(0);
  await pair.waitState(0, 'MASTER');
  await pair.waitState(1, 'BACKUP');

  death = Date.now();
  await d1.killGroup();
  assertFailover(t, await pair.firstServed(death, 15_000, 1, d2), 2000, 8000, 'lbguard killed');
});

// Director pair failover (test/helpers/director-pair.ts): two directors running `lbguard run --node`
// with keepalived and the userspace data plane, a client and two backends in namespaces joined by a
// bridge. The master dies (link down, then SIGKILL of lbguard's process group); the figures are the
// time from the death to the first passive FTP, active FTP and TFTP transfer served through the
// virtual address, for VRRPv2 with advert-int 1 (target < 4 s) and VRRPv3 with advert-int 0.2
// (target < 1 s). The anchor, measured in the same run: keepalived's own takeover (the backup's
// lbguard logging MASTER); the ratio says how much of the failover is lbguard's. One run of each
// (a pair takes ~20 s to start); BENCH_FAILOVER_RUNS=N repeats them.
import { directorPair, type FirstServed, type VrrpSettings } from '../test/helpers/director-pair.ts';
import { heading } from './lib.ts';

const SCENARIOS: readonly { name: string; settings: VrrpSettings; targetMs: number }[] = [
  { name: 'VRRPv2, advert-int 1', settings: { version: 2, advertInt: 1 }, targetMs: 4000 },
  { name: 'VRRPv3, advert-int 0.2', settings: { version: 3, advertInt: 0.2 }, targetMs: 1000 },
];

async function scenario(settings: VrrpSettings): Promise<{ link: FirstServed; kill: FirstServed }> {
  const pair = directorPair();
  try {
    const file = pair.farmsFile(settings);
    const [d1, d2] = await pair.startBoth(file);
    let death = Date.now();
    pair.linkDown(0);
    const link = await pair.firstServed(death, 15_000, 1, d2!);
    pair.linkUp(0);
    await pair.waitState(0, 'MASTER');
    await pair.waitState(1, 'BACKUP');
    death = Date.now();
    await d1!.killGroup();
    const kill = await pair.firstServed(death, 15_000, 1, d2!);
    return { link, kill };
  } finally {
    await pair.remove();
  }
}

export default async function failover(): Promise<void> {
  const runs = Math.max(1, Number(process.env.BENCH_FAILOVER_RUNS ?? 1));
  heading('Director pair failover: death of the master -> first transfer through the VIP (ms)');
  console.log('| scenario | death | keepalived takeover (anchor) | FTP passive | FTP active | TFTP | slowest / anchor | target | met |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const { name, settings, targetMs } of SCENARIOS) {
    for (let run = 0; run < runs; run++) {
      const result = await scenario(settings);
      for (const [death, served] of [['link down', result.link], ['lbguard SIGKILL', result.kill]] as const) {
        const slowest = Math.max(served.ftpPassive, served.ftpActive, served.tftp);
        console.log(`| ${name} | ${death} | ${served.takeover} | ${served.ftpPassive} | ${served.ftpActive} | ${served.tftp} | ${(slowest / served.takeover).toFixed(2)} | < ${targetMs} | ${slowest < targetMs ? 'yes' : 'NO'} |`);
      }
    }
  }
}

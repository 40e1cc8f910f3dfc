// A real L4xNAT farm end to end: nftlb in a balancer namespace, started by lbguard itself
// (`dataplane: {type: nftlb, start: true}`), lbguard's own FTP and TFTP probes on two backends running
// vsftpd and tftpd-hpa, a client namespace downloading through the virtual address. A backend's daemon
// is stopped and started again; the test measures when nftlb stops and resumes sending it sessions.
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { inNamespace } from '../helpers/nftlb-ns.ts';
import { l4Topology, type L4Backend } from '../helpers/l4-topology.ts';
import { ROOT, requireBinary, runCommand, startDaemon } from '../helpers/processes.ts';

const INTERVAL_MS = 1500;
const TIMEOUT_MS = 1000;
const FALL = 2;
const RISE = 2;
/** the reconciler's request, nftlb's API call and the rule update: measured at a few ms; this is headroom */
const SLACK_MS = 700;
const SAMPLE_EVERY_MS = 150;

interface Sample {
  readonly at: number;
  readonly got: string;
}

t.test('an nftlb L4xNAT farm driven by lbguard: FTP passive/active and TFTP through the VIP, failover and return', async (t) => {
  requireBinary('/usr/sbin/nftlb', 'nftlb');
  requireBinary('/usr/bin/curl', 'curl');
  requireBinary('/usr/bin/tftp', 'tftp-hpa');
  requireBinary('/usr/bin/stdbuf', 'coreutils');
  const lbguard = join(ROOT, 'dist', 'lbguard.mjs');
  if (!existsSync(lbguard)) throw new Error(`${lbguard} is missing: run npm run build first`);

  const topo = l4Topology();
  t.teardown(() => topo.remove());
  for (const b of topo.backends) {
    topo.startFtp(b);
    topo.startTftp(b);
  }
  const check = (probe: string, options: string) => `{probe: ${probe}, options: ${options}, interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms, rise: ${RISE}, fall: ${FALL}}`;
  const keyFile = join(topo.dir, 'nftlb.key');
  const dataplane = `{type: nftlb, start: true, url: "http://127.0.0.1:5555", key-file: "${keyFile}"}`;
  const backends = topo.backends.map((b, i) => `      - {name: be${i + 1}, address: ${b.address}}`).join('\n');
  const config = join(topo.dir, 'farms.yaml');
  writeFileSync(
    config,
    `status: {listen: "127.0.0.1:9100"}
farms:
  - name: ftpfarm
    service: ftp
    virtual: {address: ${topo.vip}, ports: [21]}
    scheduler: rr
    dataplane: ${dataplane}
    check: ${check('ftp', '{user: anonymous, get: pub/who.txt}')}
    backends:
${backends}
  - name: tftpfarm
    service: tftp
    virtual: {address: ${topo.vip}, ports: [69]}
    scheduler: rr
    dataplane: ${dataplane}
    check: ${check('tftp', '{file: who.txt}')}
    backends:
${backends}
`,
  );
  const daemon = startDaemon('/usr/sbin/ip', ['netns', 'exec', topo.balancer, process.execPath, lbguard, 'run', '-c', config]);
  t.teardown(() => daemon.stop());

  const status = async () => {
    const run = await inNamespace(topo.balancer, ['curl', '-s', '--max-time', '2', 'http://127.0.0.1:9100/status']);
    return run.code === 0 && run.stdout ? (JSON.parse(run.stdout) as { farms: { name: string; dataplane: { ok: boolean; error?: string }; backends: { name: string; state: string }[] }[]; transitions: { at: number; farm: string; backend: string; to: string }[] }) : undefined;
  };
  const allUp = async () => {
    const s = await status();
    return !!s && s.farms.every((f) => f.dataplane.ok && f.backends.every((b) => b.state === 'up'));
  };
  const until = async (what: string, ok: () => Promise<boolean>, ms: number) => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; lbguard said: ${daemon.output().slice(-2000)}; status: ${JSON.stringify(await status())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await until('every backend up and nftlb holding both farms', allUp, 20_000);

  const ftpGet = async (active = false): Promise<string> => {
    const run = await inNamespace(topo.client, ['curl', '-s', '--max-time', '3', ...(active ? ['-P', topo.clientAddress] : []), `ftp://${topo.vip}/pub/who.txt`], { timeoutMs: 5000 });
    return run.code === 0 ? run.stdout.trim() : `failed(${run.code})`;
  };
  let tftpRuns = 0;
  const tftpGet = async (): Promise<string> => {
    const local = join(topo.dir, `got-${tftpRuns++}.txt`);
    const run = await inNamespace(topo.client, ['timeout', '2', 'tftp', topo.vip, '-c', 'get', 'who.txt', local], { timeoutMs: 5000 });
    const got = run.code === 0 && existsSync(local) ? readFileSync(local, 'utf8').trim() : `failed(${run.code})`;
    rmSync(local, { force: true });
    return got;
  };
  const sequence = async (get: () => Promise<string>, n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await get());
    return out;
  };
  /** starts get() every SAMPLE_EVERY_MS for ms (overlapping), with each sample's start time */
  const sample = async (get: () => Promise<string>, ms: number): Promise<Sample[]> => {
    const runs: Promise<Sample>[] = [];
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const at = Date.now();
      runs.push(get().then((got) => ({ at, got })));
      await new Promise((r) => setTimeout(r, SAMPLE_EVERY_MS));
    }
    return Promise.all(runs);
  };

  t.test('passive FTP, active FTP and TFTP through the virtual address reach both backends', async (t) => {
    const passive = await sequence(() => ftpGet(false), 4);
    const active = await sequence(() => ftpGet(true), 4);
    const tftp = await sequence(tftpGet, 4);
    t.same([...new Set(passive)].sort(), ['backend1', 'backend2'], `passive: ${passive.join(' ')}`);
    t.same([...new Set(active)].sort(), ['backend1', 'backend2'], `active: ${active.join(' ')}`);
    t.same([...new Set(tftp)].sort(), ['tftp-backend1', 'tftp-backend2'], `tftp: ${tftp.join(' ')}`);
  });

  /** Polls nftlb's DNAT map of a farm in the balancer (`nat-FARM`) until the address is (or is no longer) in it; the time it was seen. */
  const watchNat = async (farm: string, address: string, present: boolean, ms: number): Promise<number | undefined> => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const chain = await inNamespace(topo.balancer, ['nft', 'list', 'chain', 'ip', 'nftlb', `nat-${farm}`]);
      if (chain.code === 0 && chain.stdout.includes(`: ${address}`) === present) return Date.now();
      await new Promise((r) => setTimeout(r, 10));
    }
    return undefined;
  };

  const failover = async (t: Test, kind: 'ftp' | 'tftp', get: () => Promise<string>, stop: (b: L4Backend) => Promise<void>, start: (b: L4Backend) => void) => {
    const [be1] = topo.backends;
    const good = kind === 'ftp' ? 'backend2' : 'tftp-backend2';
    const back = kind === 'ftp' ? 'backend1' : 'tftp-backend1';
    const bound = FALL * INTERVAL_MS + TIMEOUT_MS;
    const t0 = Date.now();
    await stop(be1!);
    const removed = watchNat(`${kind}farm`, be1!.address, false, bound + SLACK_MS + 2000);
    const during = await sample(get, bound + SLACK_MS + 2000);
    const removedAt = await removed;
    const bad = during.filter((s) => s.got !== good);
    const lastBad = bad.length ? Math.max(...bad.map((s) => s.at)) - t0 : 0;
    const s = await status();
    const down = s?.transitions.find((x) => x.farm === `${kind}farm` && x.backend === 'be1' && x.at >= t0 && x.to === 'down');
    t.comment(`${kind}: be1 stopped; out of nftlb's DNAT map at +${removedAt ? removedAt - t0 : '?'} ms; lbguard marked it down at +${down ? down.at - t0 : '?'} ms; ${bad.length}/${during.length} downloads failed or not from be2, the last one started at +${lastBad} ms (bound fall x interval + timeout = ${bound} ms)`);
    t.ok(removedAt !== undefined && removedAt - t0 <= bound + SLACK_MS, 'nftlb stopped sending be1 new sessions within fall x interval + timeout');
    t.ok(bad.length > 0, 'the stopped backend was seen failing before it was removed (the test measures something)');
    const late = during.filter((x) => x.at - t0 > bound + SLACK_MS && x.got !== good);
    t.same(late, [], `every ${kind} download started after ${bound} + ${SLACK_MS} ms came from be2`);

    const t1 = Date.now();
    start(be1!);
    const returnBound = RISE * INTERVAL_MS + TIMEOUT_MS;
    const restored = watchNat(`${kind}farm`, be1!.address, true, returnBound + SLACK_MS + 1500);
    const after = await sample(get, returnBound + SLACK_MS + 1500);
    const restoredAt = await restored;
    const first = after.find((x) => x.got === back);
    t.ok(first, `be1 serves ${kind} again`);
    const up = (await status())?.transitions.find((x) => x.farm === `${kind}farm` && x.backend === 'be1' && x.at >= t1 && x.to === 'up');
    t.comment(`${kind}: be1 started again; back in nftlb's DNAT map at +${restoredAt ? restoredAt - t1 : '?'} ms; lbguard marked it up at +${up ? up.at - t1 : '?'} ms; first download from it started at +${first ? first.at - t1 : '?'} ms (bound rise x interval + timeout = ${returnBound} ms)`);
    t.ok(first && first.at - t1 <= returnBound + SLACK_MS + SAMPLE_EVERY_MS * 2, 'and within rise x interval + timeout');
    t.same(after.filter((x) => !x.got.startsWith(kind === 'ftp' ? 'backend' : 'tftp-backend')), [], 'no download failed while it came back');
    await until('both backends up again', allUp, 10_000);
  };

  t.test('FTP: vsftpd stopped on be1 -> every new download from be2; started again -> be1 back', (t) =>
    failover(t, 'ftp', () => ftpGet(false), async (b) => b.ftp!.stop(), (b) => topo.startFtp(b)));

  t.test('TFTP: tftpd stopped on be1 -> every new read from be2; started again -> be1 back', (t) =>
    failover(t, 'tftp', tftpGet, async (b) => b.tftp!.stop(), (b) => topo.startTftp(b)));

  /** PIDs of nftlb processes in the balancer namespace (`ip netns pids`: other tests' nftlb elsewhere are not counted). */
  const nftlbPids = async (): Promise<number[]> => {
    const run = await runCommand('/usr/sbin/ip', ['netns', 'pids', topo.balancer]);
    return run.stdout.split('\n').filter(Boolean).map(Number).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'nftlb';
      } catch {
        return false;
      }
    });
  };

  t.test('the nftlb lbguard started dies: lbguard starts another and declares the farms again', async (t) => {
    const [pid] = await nftlbPids();
    t.ok(pid, 'lbguard runs an nftlb in the balancer namespace');
    const killed = Date.now();
    process.kill(pid!, 'SIGKILL');
    await until('an FTP download through the VIP from a new nftlb', async () => {
      const pids = await nftlbPids();
      return pids.length === 1 && pids[0] !== pid && (await inNamespace(topo.balancer, ['nft', 'list', 'chain', 'ip', 'nftlb', 'nat-ftpfarm'])).stdout.includes(`: ${topo.backends[0]!.address}`);
    }, 20_000);
    t.comment(`nftlb killed; a new one held the FTP farm again ${Date.now() - killed} ms later`);
    t.match(await ftpGet(false), /^backend[12]$/, 'FTP through the VIP works again');
    t.match(await tftpGet(), /^tftp-backend[12]$/, 'TFTP too');
    t.equal(statSync(keyFile).mode & 0o777, 0o600, "the new nftlb's key is in key-file, readable by root only");
    const farms = await inNamespace(topo.balancer, ['curl', '-s', '--max-time', '2', '-H', `@${keyFile}`, 'http://127.0.0.1:5555/farms']);
    t.same((JSON.parse(farms.stdout) as { farms: { name: string }[] }).farms.map((f) => f.name).sort(), ['ftpfarm', 'tftpfarm'], 'and it opens the API (curl -H @key-file)');
  });

  t.test('lbguard stops the nftlb it started', async (t) => {
    const nft = await inNamespace(topo.balancer, ['nft', 'list', 'table', 'ip', 'nftlb']);
    t.match(nft.stdout, /ct helper/, 'the nftlb table is there while lbguard runs');
    await daemon.stop();
    t.same(await nftlbPids(), [], 'no nftlb left in the balancer namespace');
    t.notMatch(daemon.output(), /Key: /, "nftlb's key line never reached lbguard's output");
  });
});

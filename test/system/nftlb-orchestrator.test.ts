// The orchestrator in-process with the nftlb adapter and a real nftlb (its own namespace): while
// nftlb is down the checks go on, /status and /metrics show the data plane failing; once a new
// nftlb (empty, another key in the key file) answers, the farm is declared again as health has it now.
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { Orchestrator } from '../../orchestrator/daemon.ts';
import { NftlbAdapter } from '../../zevenet-adapters/nftlb/adapter.ts';
import { NftlbClient } from '../../zevenet-adapters/nftlb/client.ts';
import { banner } from '../helpers/fake-servers.ts';
import { nftlbInNamespace } from '../helpers/nftlb-ns.ts';

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, explain: () => unknown = () => ''): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify(await explain())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('nftlb down: checks go on, status and metrics say so; nftlb back: the farm is declared again', async (t) => {
  const lb = await nftlbInNamespace('nftorch');
  t.teardown(() => lb.remove());
  const servers = [await banner('SSH-2.0-one\r\n'), await banner('SSH-2.0-two\r\n')];
  t.teardown(async () => {
    for (const s of servers) await s.close();
  });
  const config = validateConfig({
    farms: [{
      name: 'sftp', service: 'sftp', virtual: { address: '10.96.1.1', ports: [22] }, scheduler: 'rr',
      dataplane: { type: 'nftlb', url: lb.url, 'key-file': lb.keyFile },
      check: { probe: 'tcp', interval: '300ms', timeout: '200ms', rise: 1, fall: 2 },
      backends: servers.map((s, i) => ({ name: `ssh-${i + 1}`, address: '127.0.0.1', port: s.port })),
    }],
  });
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _e, done) { lines.push(chunk.toString()); done(); } }));
  const orchestrator = new Orchestrator(config, { logger, reconcilePeriodMs: 400, adapterFor: (farm) => new NftlbAdapter({ url: lb.url, keyFile: farm.dataplane.type === 'nftlb' ? farm.dataplane['key-file'] : undefined }) });
  await orchestrator.start();
  t.teardown(() => orchestrator.stop());
  const raw = () => new NftlbClient({ url: lb.url, key: () => readFileSync(lb.keyFile, 'utf8').trim() });
  const states = async () => Object.fromEntries(((await raw().farms()).find((f) => f.name === 'sftp')?.backends ?? []).map((b) => [b.name, b.state]));

  const explain = async () => ({ nftlb: await states().catch((e: Error) => e.message), status: orchestrator.snapshot().farms, log: lines.slice(-5) });
  await waitFor('both backends up in nftlb', async () => {
    const s = await states();
    return s['ssh-1'] === 'up' && s['ssh-2'] === 'up';
  }, 5000, explain);

  await lb.stop();
  const dataplane = () => orchestrator.snapshot().farms[0]!.dataplane;
  await waitFor('the data plane reported failing', () => !dataplane().ok, 5000);
  t.match(dataplane(), { type: 'nftlb', ok: false, error: /nftlb is not answering/ });
  await servers[1]!.close();
  await waitFor('ssh-2 seen down while nftlb is away', () => orchestrator.snapshot().farms[0]!.backends[1]!.state === 'down', 5000);
  const metrics = await orchestrator.metrics.registry.metrics();
  t.match(metrics, /lbguard_dataplane_errors_total\{dataplane="nftlb"\} [1-9]/, 'errors counted in /metrics');

  await lb.start();
  await waitFor('the data plane ok again', () => dataplane().ok, 15_000);
  await waitFor('the new nftlb holds the farm as health has it now', async () => {
    const s = await states();
    return s['ssh-1'] === 'up' && s['ssh-2'] !== 'up';
  }, 5000);
  t.pass('declared again: ssh-1 up, ssh-2 not');
  t.notOk(lines.some((l) => l.includes(lb.nftlb().key)), 'the key appears in no log line');
});

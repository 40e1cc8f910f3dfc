import { Writable } from 'node:stream';
import { pino } from 'pino';
import { validateConfig } from '../config/load.ts';
import { Orchestrator } from '../daemon.ts';
import type { DataPlaneKind } from '../dataplane/types.ts';
import { startStatusServer, type StatusServer } from '../status/server.ts';
import { formatStatusTable } from '../status/table.ts';
import { type DemoBackend, demoFtp, demoSsh, demoTftp } from './backends.ts';
import { startDemoTraffic } from './traffic.ts';

/** Human lines for the demo instead of JSON: `12:00:01 ftp/ftp-2: up -> falling: FTP CRITICAL - ...` */
function humanLogger() {
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { time: number; msg: string; level: number };
        if (entry.level >= 30) process.stdout.write(`${new Date(entry.time).toLocaleTimeString()}  ${entry.msg}\n`);
      }
      done();
    },
  });
  return pino({ level: 'info' }, out);
}

async function startStatus(orchestrator: Orchestrator, wanted: string): Promise<StatusServer> {
  try {
    return await startStatusServer(orchestrator, wanted);
  } catch {
    return startStatusServer(orchestrator, '127.0.0.1:0'); // the usual port is taken: any free one
  }
}

/**
 * `npm start`: FTP, TFTP and SFTP backends in this process on loopback ports, the orchestrator checking
 * them, the status page; one backend is stopped after 20 s and started again after 40 s, so its
 * farm can be watched taking it out and back in.
 */
export async function runDemo(options: { listen?: string | undefined; dataplanes: readonly DataPlaneKind[] }): Promise<number> {
  const ftp = [await demoFtp('ftp-1'), await demoFtp('ftp-2')];
  const ssh = [await demoSsh('sftp-1'), await demoSsh('sftp-2')];
  const tftp = [await demoTftp('tftp-1'), await demoTftp('tftp-2')];
  // lbguard's own balancer on loopback: the virtual services below really carry traffic
  const dataplane = { type: 'userspace', 'passive-ports': process.env.LBGUARD_DEMO_PASSIVE_PORTS ?? '2130-2139' };
  const backends = (list: DemoBackend[]) => list.map((b) => ({ name: b.name, address: '127.0.0.1', port: b.port }));
  const config = validateConfig({
    status: { listen: options.listen ?? '127.0.0.1:9100' },
    farms: [
      {
        name: 'ftp', service: 'ftp', virtual: { address: '127.0.0.1', ports: [2121] }, scheduler: 'wrr',
        dataplane,
        check: { probe: 'ftp', interval: '1s', timeout: '500ms', rise: 2, fall: 2 },
        backends: backends(ftp),
      },
      {
        name: 'tftp', service: 'tftp', virtual: { address: '127.0.0.1', ports: [6969] }, scheduler: 'rr',
        dataplane,
        check: { probe: 'tftp', options: { file: 'tftp_check.txt', 'expect-content': 'OK' }, interval: '1s', timeout: '800ms', rise: 2, fall: 2 },
        backends: backends(tftp),
      },
      {
        name: 'sftp', service: 'sftp', virtual: { address: '127.0.0.1', ports: [2222] }, scheduler: 'lc',
        dataplane,
        check: { probe: 'ssh', options: { user: 'demo', sftp: '/' }, interval: '1s', timeout: '800ms', rise: 2, fall: 2, 'on-failure': 'quiesce' },
        backends: backends(ssh),
      },
    ],
  }, '(demo)');
  const orchestrator = new Orchestrator(config, { logger: humanLogger(), reconcilePeriodMs: 2000, dataplanes: options.dataplanes });
  await orchestrator.start();
  const status = await startStatus(orchestrator, config.status.listen);
  process.stdout.write(`lbguard demo: status page ${status.url}/  (JSON: ${status.url}/status, metrics: ${status.url}/metrics)\n`);
  process.stdout.write(`backends: ${[...ftp, ...tftp, ...ssh].map((b) => `${b.name} 127.0.0.1:${b.port}`).join(', ')}\n`);
  process.stdout.write('Traffic goes through lbguard\'s userspace balancer (ftp 127.0.0.1:2121, tftp 127.0.0.1:6969, sftp 127.0.0.1:2222).\n');
  process.stdout.write('ftp-2 will be stopped in 20 s and started again 20 s later. Ctrl-C ends the demo.\n\n');
  const stopTraffic = startDemoTraffic({ host: '127.0.0.1', port: 2121 }, { host: '127.0.0.1', port: 6969 });
  const timers = [
    setTimeout(() => { process.stdout.write('\n>>> stopping backend ftp-2\n'); void ftp[1]!.stop(); }, 20_000),
    setTimeout(() => { process.stdout.write('\n>>> starting backend ftp-2 again\n'); void ftp[1]!.start(); }, 40_000),
    setInterval(() => process.stdout.write(`\n${formatStatusTable(orchestrator.snapshot())}`), 10_000),
  ];
  const seconds = Number(process.env.LBGUARD_DEMO_SECONDS ?? 0);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (seconds > 0) setTimeout(resolve, seconds * 1000);
  });
  timers.forEach((t) => clearTimeout(t));
  stopTraffic();
  await status.close();
  await orchestrator.stop();
  for (const backend of [...ftp, ...tftp, ...ssh]) await backend.stop();
  return 0;
}

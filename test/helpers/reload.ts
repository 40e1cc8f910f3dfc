// `lbguard run` for the reload tests (test/system/reload-*.test.ts): a farms file of one farm, the
// status page answering, and counts of the daemon's log events.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT, startDaemon, until } from './processes.ts';

export const LBGUARD = join(ROOT, 'dist', 'lbguard.mjs');

export const header = (statusPort: number) => `status: {listen: "127.0.0.1:${statusPort}"}\nfarms:\n`;
/** one farm of one backend no check will reach (the checks are not what this is about) */
export const farm = (name: string) => `  - name: ${name}
    service: tcp
    virtual: {address: 192.0.2.1, ports: [22]}
    check: {probe: tcp, interval: 1h, timeout: 10s}
    backends:
      - {name: a, address: 127.0.0.1, port: 1}
`;

/**
 * A farms file as large as the 4 MiB bound lets it be, as an inventory-minded operator keeps one:
 * 40 farms of 100 backends, each backend with a few lines of notes.
 */
export function largeFile(statusPort: number): string {
  let text = header(statusPort);
  for (let f = 0; f < 40; f++) {
    text += `  - name: farm${f}\n    service: ftp\n    virtual: {address: 192.0.2.${f + 1}, ports: [21]}\n    check: {probe: tcp, interval: 1h, timeout: 10s}\n    backends:\n`;
    for (let b = 0; b < 100; b++) {
      text += `      # asset FTP-${f}-${b}: hall 2, row 7, rack B${f}, unit ${b % 42}; owner: storage operations, ext. 4711; see CMDB\n`.repeat(8);
      text += `      - name: backend-${f}-${b}\n        address: 127.0.${f}.${b + 1}\n        port: ${2100 + b}\n        weight: ${1 + (b % 9)}\n        max-conns: 1000\n`;
    }
  }
  return text;
}

export interface Status {
  farms: { name: string; backends: unknown[] }[];
}

/**
 * `lbguard run ARGS` on DIR/NAME.yaml (one farm, t), ready once /status answers; count(EVENT) is how
 * many log lines of that event it wrote so far.
 */
export async function startLbguard(t: { teardown(fn: () => unknown): void }, dir: string, name: string, args: string[] = []) {
  const statusPort = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, header(statusPort) + farm('t'));
  const daemon = startDaemon(process.execPath, [LBGUARD, 'run', '-c', file, ...args]);
  t.teardown(() => daemon.stop());
  const status = async (): Promise<Status> => (await fetch(`http://127.0.0.1:${statusPort}/status`)).json() as Promise<Status>;
  await until('the status page', () => status(), 10_000);
  const count = (event: string) => daemon.output().split(`"event":"${event}"`).length - 1;
  return { daemon, file, statusPort, status, count };
}

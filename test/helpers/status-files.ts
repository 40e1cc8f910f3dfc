// Farms files and secret files for the status server's tests, and `lbguard run` on one of them.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinary, ROOT, until } from './processes.ts';

export const LBGUARD = join(ROOT, 'dist', 'lbguard.mjs');

/** A secret file as an operator makes one: mode 0600 unless told otherwise. */
export function secretFile(dir: string, name: string, content: string, mode = 0o600): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  chmodSync(file, mode);
  return file;
}

/** A farms file with this `status:` and one TCP farm `t` whose backends (a, b...) nothing serves. */
export function statusFarmsFile(dir: string, name: string, status: Record<string, unknown>, backends = ['a']): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, JSON.stringify({
    status,
    farms: [{
      name: 't', service: 'tcp', virtual: { address: '192.0.2.22', ports: [22] },
      check: { probe: 'tcp', interval: '300ms', timeout: '250ms' },
      backends: backends.map((b, i) => ({ name: b, address: '127.0.0.1', port: i + 1 })),
    }],
  }));
  return file;
}

/**
 * `lbguard run -c FILE` (after `prefix`, e.g. `ip netns exec NS`), once its status server listens;
 * killed at the test's end if still running.
 */
export async function startLbguardRun(t: { teardown(fn: () => void): void }, file: string, prefix: readonly string[] = []) {
  const argv = [...prefix, process.execPath, LBGUARD, 'run', '-c', file];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => { child.kill('SIGKILL'); });
  const listening = () => (out.includes('"event":"status-listening"') ? true : child.exitCode !== null ? Promise.reject(new Error(out)) : undefined);
  await until(`lbguard listening (${file})`, listening, 30_000);
  return { child, output: () => out, stop: async () => { child.kill('SIGTERM'); return exited; } };
}

/** A self-signed certificate for 127.0.0.1 and its key (mode 0600) in dir, made by openssl as an operator would. */
export function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const openssl = requireBinary('/usr/bin/openssl', 'openssl');
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  chmodSync(key, 0o600);
  return { cert, key };
}

// status.tls as an operator uses it: a self-signed certificate made with openssl; curl verifies
// the HTTPS answer against it (and refuses it without), plain HTTP gets nothing on that port,
// `lbguard status|maintenance -c FILE` trust the certificate through the farms file while `--url`
// alone does not, and SIGHUP takes a new admin token (the old one is refused at once).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort, requireBinary, runCommand, until } from '../helpers/processes.ts';
import { LBGUARD, secretFile as secretFileIn, selfSigned, startLbguardRun as startRun, statusFarmsFile } from '../helpers/status-files.ts';

const CURL = requireBinary('/usr/bin/curl', 'curl');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const secretFile = (name: string, content: string) => secretFileIn(dir, name, content);

async function curl(args: string[]): Promise<{ code: string; body: string; exit: number | null }> {
  const run = await runCommand(CURL, ['-sS', '--max-time', '5', '-o', '-', '-w', '\n%{http_code}', ...args], { timeoutMs: 10_000 });
  const at = run.stdout.lastIndexOf('\n');
  return { code: run.stdout.slice(at + 1), body: run.stdout.slice(0, at), exit: run.code };
}

t.test('status.tls: HTTPS that curl verifies; the CLI trusts the certificate through the farms file; SIGHUP takes a new token', async (t) => {
  const { cert, key } = selfSigned(dir, 'lbguard-status');
  const port = await freePort();
  const tokenFile = secretFile('tls.token', 'first-token-0123456789\n');
  const file = statusFarmsFile(dir, 'tls', { listen: `127.0.0.1:${port}`, 'admin-token-file': tokenFile, tls: { 'cert-file': cert, 'key-file': key } });
  const lbguard = await startRun(t, file);
  t.match(lbguard.output(), `"url":"https://127.0.0.1:${port}"`, 'the log gives the https address');
  const base = `https://127.0.0.1:${port}`;
  const status = await curl(['--cacert', cert, `${base}/status`]);
  t.equal(status.code, '200', 'curl --cacert: verified, answered');
  t.match(JSON.parse(status.body), { farms: [{ name: 't' }] });
  const unverified = await curl([`${base}/status`]);
  t.equal(unverified.exit, 60, 'curl without the certificate refuses the self-signed one (exit 60)');
  const plain = await curl([`http://127.0.0.1:${port}/status`]);
  t.not(plain.code, '200', 'no plain HTTP on the TLS port');

  const header = (name: string, token: string) => secretFile(name, `Authorization: Bearer ${token}\n`);
  const maintenance = `${base}/maintenance?farm=t&backend=a&on=1`;
  t.equal((await curl(['--cacert', cert, '-X', 'POST', maintenance])).code, '401', 'no token: 401');
  t.equal((await curl(['--cacert', cert, '-X', 'POST', '-H', `@${header('first.header', 'first-token-0123456789')}`, maintenance])).code, '200', 'the token: done');

  const off = await runCommand(process.execPath, [LBGUARD, 'maintenance', 't', 'a', 'off', '-c', file], { timeoutMs: 30_000 });
  t.equal(off.code, 0, `lbguard maintenance -c: ${off.stderr}`);
  t.equal(off.stdout, '{"farm":"t","backend":"a","maintenance":false}\n');
  const table = await runCommand(process.execPath, [LBGUARD, 'status', '-c', file], { timeoutMs: 30_000 });
  t.equal(table.code, 0, `lbguard status -c: ${table.stderr}`);
  t.match(table.stdout, /^FARM +BACKEND/);
  const untrusted = await runCommand(process.execPath, [LBGUARD, 'status', '--url', base], { timeoutMs: 30_000 });
  t.equal(untrusted.code, 1, '--url alone does not trust a self-signed certificate');
  t.match(untrusted.stderr, `lbguard: cannot read ${base}/status: self-signed certificate`);

  secretFile('tls.token', 'second-token-0123456789\n');
  lbguard.child.kill('SIGHUP');
  await until('reloaded', () => (lbguard.output().includes('"event":"reloaded"') ? true : undefined), 10_000);
  t.equal((await curl(['--cacert', cert, '-X', 'POST', '-H', `@${header('first.header', 'first-token-0123456789')}`, maintenance])).code, '401', 'after SIGHUP the old token is refused');
  t.equal((await curl(['--cacert', cert, '-X', 'POST', '-H', `@${header('second.header', 'second-token-0123456789')}`, maintenance])).code, '200', 'and the new one taken');
  t.equal(await lbguard.stop(), 0);
  t.notMatch(lbguard.output(), /first-token|second-token/, 'no token in the log');
});


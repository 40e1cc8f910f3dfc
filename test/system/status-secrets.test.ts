// The status server's secret files and its edges, on loopback: token and key files others can read
// (or too short a token, a key that is not the certificate's) are refused at start as ssh refuses
// such a private key; odd request targets get 400/404/405, never 500.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort, runCommand } from '../helpers/processes.ts';
import { LBGUARD, secretFile as secretFileIn, selfSigned, startLbguardRun, statusFarmsFile } from '../helpers/status-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'lbguard-secrets-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const secretFile = (name: string, content: string, mode?: number) => secretFileIn(dir, name, content, mode);
const farmsFile = (name: string, status: Record<string, unknown>) => statusFarmsFile(dir, name, status);
const startRun = startLbguardRun;

t.test('secret files others can read, too short a token, a key that is not the certificate\'s: refused with the place and the reason', async (t) => {
  const other = selfSigned(dir, 'other');
  const mine = selfSigned(dir, 'mine');
  const cases: [string, Record<string, unknown>, RegExp[]][] = [
    ['modes', {
      'admin-token-file': secretFile('world.token', 'x'.repeat(32), 0o644),
      'read-token-file': secretFile('group.token', 'x'.repeat(32), 0o640),
      tls: { 'cert-file': mine.cert, 'key-file': secretFile('open.key', '', 0o644) },
    }, [
      /\n {2}status\.admin-token-file: cannot use .*world\.token: permissions 0644 are too open: group or others may use it \(chmod 600\)\n/,
      /\n {2}status\.read-token-file: cannot use .*group\.token: permissions 0640 are too open: group or others may use it \(chmod 600\)\n/,
      /\n {2}status\.tls: cannot use .*open\.key: permissions 0644 are too open/,
    ]],
    ['contents', {
      'admin-token-file': secretFile('short.token', 'secret\n'),
      'read-token-file': '/dev/zero',
      tls: { 'cert-file': mine.cert, 'key-file': other.key },
    }, [
      /\n {2}status\.admin-token-file: cannot use .*short\.token: the token has 6 characters, fewer than 16 \(openssl rand -hex 32 makes a good one\)\n/,
      /\n {2}status\.read-token-file: cannot use \/dev\/zero: a device, not a regular file\n/,
      /\n {2}status\.tls: .*mine\.crt and .*other\.key are not a certificate and its key: /,
    ]],
  ];
  for (const [name, status, expected] of cases) {
    const file = farmsFile(name, { listen: '127.0.0.1:9', ...status });
    const check = await runCommand(process.execPath, [LBGUARD, 'check', '-c', file], { timeoutMs: 30_000 });
    t.equal(check.code, 1, `${name}: check exits 1`);
    t.match(check.stdout, `${file}: 3 problem(s)\n`);
    for (const line of expected) t.match(check.stdout, line, `${name}: check says where and why`);
    const run = await runCommand(process.execPath, [LBGUARD, 'run', '-c', file], { timeoutMs: 30_000 });
    t.equal(run.code, 2, `${name}: run refuses to start`);
    t.match(run.stderr, /^lbguard: refusing to start: /);
    t.match(run.stderr, expected[0]!);
  }
});

/** One request as a hostile client writes it; the status line of the answer. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
    socket.on('data', (d) => {
      answer += d;
      if (answer.includes('\r\n')) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
  });
}

t.test('odd request targets: 400, 404 or 405, never 500', async (t) => {
  const port = await freePort();
  const lbguard = await startRun(t, farmsFile('odd', { listen: `127.0.0.1:${port}` }));
  const cases: [string, string][] = [
    ['GET // HTTP/1.1', '404'],
    ['GET //evil.example/status HTTP/1.1', '404'],
    ['GET http://127.0.0.1/status HTTP/1.1', '400'],
    ['OPTIONS * HTTP/1.1', '400'],
    ['GET /%zz HTTP/1.1', '404'],
    ['GET /status/../metrics HTTP/1.1', '200'],
    ['GET /maintenance HTTP/1.1', '405'],
    ['DELETE /status HTTP/1.1', '405'],
    ['GET /constructor HTTP/1.1', '404'],
    ['GET /__proto__ HTTP/1.1', '404'],
    ['POST /maintenance?farm=t&backend=a&on=yes HTTP/1.1', '400'],
    ['POST /maintenance?farm=t&backend=nope&on=1 HTTP/1.1', '404'],
  ];
  for (const [line, expected] of cases) {
    const status = await rawRequest(port, `${line}\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    t.equal(status.split(' ')[1], expected, `${line}: ${status}`);
  }
  t.notMatch(lbguard.output(), /"event":"status-error"/, 'no internal error');
  t.equal(await lbguard.stop(), 0);
});

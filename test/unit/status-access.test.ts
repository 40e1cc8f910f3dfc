// Who may read and who may change through the status server (access.ts), request by request:
// the peer, the Authorization header and the Origin a browser adds.
import t from 'tap';
import { decideAccess, isLoopbackAddress, isLoopbackHost } from '../../orchestrator/status/access.ts';
import { Token } from '../../orchestrator/status/secrets.ts';

const own = { port: 9100, scheme: 'http' as const };
const admin = new Token('admin-token-0123456789');
const read = new Token('read-token-0123456789');
const ask = (kind: 'read' | 'change', peer: string, headers: { authorization?: string; origin?: string } = {}, secrets = {}) =>
  decideAccess(kind, { peer, authorization: headers.authorization, origin: headers.origin }, secrets, own);
const verdict = (d: ReturnType<typeof decideAccess>) => (d.allowed ? 'allowed' : `${d.status} ${d.reason}`);

t.test('loopback is 127/8 and ::1, as the socket gives them', async (t) => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::ffff:127.0.0.1', '::1']) t.ok(isLoopbackAddress(a), a);
  for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '::', '0.0.0.0', '128.0.0.1', 'fe80::1', '', undefined]) t.notOk(isLoopbackAddress(a), String(a));
  t.ok(isLoopbackHost('localhost'));
  t.notOk(isLoopbackHost('0.0.0.0'));
  t.notOk(isLoopbackHost('lbguard.example'));
});

t.test('no token files: reads open; changes from loopback only, and from a browser only on the page\'s own loopback origin', async (t) => {
  t.equal(verdict(ask('read', '10.0.0.5')), 'allowed');
  t.equal(verdict(ask('change', '10.0.0.5')), '403 not-loopback', 'the remote curl -X POST');
  t.equal(verdict(ask('change', '127.0.0.1')), 'allowed', 'lbguard maintenance, curl on the host');
  t.equal(verdict(ask('change', '::1')), 'allowed');
  t.equal(verdict(ask('change', '127.0.0.1', { origin: 'http://127.0.0.1:9100' })), 'allowed', 'the page itself');
  t.equal(verdict(ask('change', '127.0.0.1', { origin: 'http://localhost:9100' })), 'allowed');
  t.equal(verdict(ask('change', '127.0.0.1', { origin: 'http://[::1]:9100' })), 'allowed');
  for (const origin of ['http://evil.example', 'http://evil.example:9100', 'http://127.0.0.1:8080', 'https://127.0.0.1:9100', 'null', 'not a url']) {
    t.equal(verdict(ask('change', '127.0.0.1', { origin })), '403 cross-site', `Origin: ${origin}`);
  }
  t.equal(verdict(ask('change', '127.0.0.1', { authorization: 'Bearer anything-at-all-here' })), 'allowed', 'a token means nothing without a token file');
});

t.test('admin-token-file: every change needs the Bearer token, loopback included', async (t) => {
  const s = { admin };
  t.equal(verdict(ask('change', '127.0.0.1', {}, s)), '401 no-token');
  t.equal(verdict(ask('change', '10.0.0.5', { authorization: 'Bearer admin-token-0123456788' }, s)), '401 bad-token');
  t.equal(verdict(ask('change', '10.0.0.5', { authorization: 'Basic YWRtaW46eA==' }, s)), '401 no-token', 'another scheme is no token');
  t.equal(verdict(ask('change', '10.0.0.5', { authorization: 'Bearer admin-token-0123456789 x' }, s)), '401 no-token', 'trailing junk');
  t.equal(verdict(ask('change', '10.0.0.5', { authorization: 'Bearer admin-token-0123456789' }, s)), 'allowed');
  t.equal(verdict(ask('change', '10.0.0.5', { authorization: 'bearer admin-token-0123456789', origin: 'http://10.0.0.1:9100' }, s)), 'allowed', 'the page from another host, with the token');
  t.equal(verdict(ask('read', '10.0.0.5', {}, s)), 'allowed', 'reads stay open');
});

t.test('read-token-file: reads need the read or the admin token; the read one changes nothing', async (t) => {
  const s = { admin, read };
  t.equal(verdict(ask('read', '127.0.0.1', {}, s)), '401 no-token');
  t.equal(verdict(ask('read', '10.0.0.5', { authorization: 'Bearer wrong-token-0123456789' }, s)), '401 bad-token');
  t.equal(verdict(ask('read', '10.0.0.5', { authorization: 'Bearer read-token-0123456789' }, s)), 'allowed');
  t.equal(verdict(ask('read', '10.0.0.5', { authorization: 'Bearer admin-token-0123456789' }, s)), 'allowed');
  t.equal(verdict(ask('change', '10.0.0.5', { authorization: 'Bearer read-token-0123456789' }, s)), '401 bad-token');
  t.equal(verdict(ask('read', '10.0.0.5', { authorization: 'Bearer read-token-0123456789' }, { read })), 'allowed', 'read token alone');
});

t.test('a token is kept as its digest: any length compares without throwing', async (t) => {
  t.notOk(admin.matches(''));
  t.notOk(admin.matches('x'.repeat(10_000)));
  t.ok(admin.matches('admin-token-0123456789'));
});

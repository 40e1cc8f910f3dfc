// The Zevenet API v4.0 client against a local server that answers with the bodies the API documents
// (ZAPI v4.0 reference; field names as the appliance's API code writes them). Every request the
// client makes is checked field by field: method, path, ZAPI_KEY header, content type, JSON body.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ZevenetClient } from '../../zevenet-adapters/zevenet/client.ts';
import { requireBinary } from '../helpers/processes.ts';

const KEY = 'zapi-key-for-tests';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly key: string | undefined;
  readonly contentType: string | undefined;
  readonly body: unknown;
}

type Route = { status: number; body: unknown };

// GET /farms
const FARMS = {
  description: 'List farms',
  params: [
    { farmname: 'FTPfarm', profile: 'l4xnat', status: 'up', vip: '192.168.100.10', vport: '20,21' },
    { farmname: 'TFTPfarm', profile: 'l4xnat', status: 'up', vip: '192.168.100.10', vport: '69' },
    { farmname: 'web', profile: 'http', status: 'down', vip: '192.168.100.11', vport: '80' },
  ],
};
const BACKENDS = [
  { id: 0, ip: '192.168.101.11', port: null, weight: 1, priority: 1, status: 'up', max_conns: 0 },
  { id: 1, ip: '192.168.101.12', port: null, weight: 1, priority: 1, status: 'down', max_conns: 0 },
];
// GET /farms/FTPfarm
const FTP_FARM = {
  description: 'List farm FTPfarm',
  params: {
    status: 'up', vip: '192.168.100.10', vport: '20,21', algorithm: 'weight', nattype: 'nat', persistence: '', ttl: 120, protocol: 'ftp',
    farmguardian: 'check_ftp', listener: 'l4xnat', sessions: [],
  },
  backends: BACKENDS,
};

const ROUTES: Record<string, Route> = {
  'GET /zapi/v4.0/zapi.cgi/farms': { status: 200, body: FARMS },
  'GET /zapi/v4.0/zapi.cgi/farms/FTPfarm': { status: 200, body: FTP_FARM },
  'GET /zapi/v4.0/zapi.cgi/farms/web': { status: 200, body: { description: 'List farm web', params: { listener: 'http', vip: '192.168.100.11' }, services: [] } },
  'GET /zapi/v4.0/zapi.cgi/farms/nosuch': { status: 404, body: { description: 'Show farm nosuch', error: 'true', message: 'Farm not found.' } },
  'GET /zapi/v4.0/zapi.cgi/farms/FTPfarm/backends': { status: 200, body: { description: 'List backends', params: BACKENDS } },
  'PUT /zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1': { status: 200, body: { description: 'Modify backend', params: { weight: 4 }, message: 'Backend modified.', status: 'up' } },
  'PUT /zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1/maintenance': { status: 200, body: { description: 'Set backend status', params: { action: 'maintenance', farm: { status: 'up' } } } },
  'PUT /zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/9/maintenance': { status: 404, body: { description: 'Set backend status', error: 'true', message: 'Could not find a backend with such id.' } },
};

function zapi(seen: Seen[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const key = req.headers.zapi_key;
      seen.push({ method: req.method!, path: req.url!, key: typeof key === 'string' ? key : undefined, contentType: req.headers['content-type'], body: data ? JSON.parse(data) : undefined });
      let route = ROUTES[`${req.method} ${req.url}`];
      if (key !== KEY) route = { status: 401, body: { description: 'Authorization required', error: 'true', message: 'Authorization required' } };
      if (!route) route = { status: 404, body: { description: 'Request not found', error: 'true', message: `The requested URL ${req.url} was not found.` } };
      res.writeHead(route.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(route.body));
    });
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

t.test('Zevenet API v4.0 client: requests field by field, documented answers parsed', async (t) => {
  const seen: Seen[] = [];
  const server = createHttpServer(zapi(seen));
  const port = await listen(server);
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const client = new ZevenetClient({ url: `http://127.0.0.1:${port}`, key: () => KEY });
  const last = () => seen[seen.length - 1]!;

  t.test('list farms', async (t) => {
    const farms = await client.farms();
    t.same(last(), { method: 'GET', path: '/zapi/v4.0/zapi.cgi/farms', key: KEY, contentType: undefined, body: undefined });
    t.same(farms.map((f) => [f.farmname, f.profile, f.vport]), [['FTPfarm', 'l4xnat', '20,21'], ['TFTPfarm', 'l4xnat', '69'], ['web', 'http', '80']]);
  });

  t.test('an L4xNAT farm with its backends, and the backends alone', async (t) => {
    const farm = await client.l4Farm('FTPfarm');
    t.same(last(), { method: 'GET', path: '/zapi/v4.0/zapi.cgi/farms/FTPfarm', key: KEY, contentType: undefined, body: undefined });
    t.match(farm.params, { vip: '192.168.100.10', vport: '20,21', protocol: 'ftp', farmguardian: 'check_ftp', listener: 'l4xnat' });
    t.same(farm.backends.map((b) => [b.id, b.ip, b.status]), [[0, '192.168.101.11', 'up'], [1, '192.168.101.12', 'down']]);
    const backends = await client.backends('FTPfarm');
    t.same(last(), { method: 'GET', path: '/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends', key: KEY, contentType: undefined, body: undefined });
    t.same(backends, BACKENDS);
    await t.rejects(client.l4Farm('web'), /farm web is not an L4xNAT farm \(listener http\)/);
    await t.rejects(client.l4Farm('nosuch'), /refused GET \/farms\/nosuch: HTTP 404 Show farm nosuch: Farm not found\./);
  });

  t.test('a backend into maintenance (drain, cut), back up, a new weight', async (t) => {
    await client.maintenance('FTPfarm', 1);
    t.same(last(), { method: 'PUT', path: '/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1/maintenance', key: KEY, contentType: 'application/json', body: { action: 'maintenance', mode: 'drain' } });
    await client.maintenance('FTPfarm', 1, 'cut');
    t.same(last().body, { action: 'maintenance', mode: 'cut' });
    await client.up('FTPfarm', 1);
    t.same(last(), { method: 'PUT', path: '/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1/maintenance', key: KEY, contentType: 'application/json', body: { action: 'up' } });
    await client.setBackend('FTPfarm', 1, { weight: 4 });
    t.same(last(), { method: 'PUT', path: '/zapi/v4.0/zapi.cgi/farms/FTPfarm/backends/1', key: KEY, contentType: 'application/json', body: { weight: 4 } });
    await client.setBackend('FTPfarm', 1, { max_conns: 50 });
    t.same(last().body, { max_conns: 50 }, 'a connection limit alone');
    await t.rejects(client.maintenance('FTPfarm', 9), /HTTP 404 Set backend status: Could not find a backend with such id\./);
  });

  t.test('a wrong key and an appliance that does not answer', async (t) => {
    const wrong = new ZevenetClient({ url: `http://127.0.0.1:${port}/zapi/v4.0/zapi.cgi`, key: () => 'wrong' });
    await t.rejects(wrong.farms(), /refused the key \(GET \/farms: HTTP 401\); check key-file or LBGUARD_ZEVENET_KEY/);
    const closed = createHttpServer();
    const gone = await listen(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await t.rejects(new ZevenetClient({ url: `http://127.0.0.1:${gone}`, key: () => KEY }).farms(), /not answering \(GET \/farms: ECONNREFUSED\)/);
  });
});

t.test('https with the appliance self-signed certificate: refused unless that certificate is given', async (t) => {
  const openssl = requireBinary('/usr/bin/openssl', 'openssl');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-zapi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=zevenet', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const seen: Seen[] = [];
  const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, zapi(seen));
  const port = await listen(server);
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await t.rejects(new ZevenetClient({ url: `https://127.0.0.1:${port}`, key: () => KEY }).farms(), /not answering \(GET \/farms: DEPTH_ZERO_SELF_SIGNED_CERT\)/);
  t.equal(seen.length, 0, 'no request reached the server, so no key was sent');
  const farms = await new ZevenetClient({ url: `https://127.0.0.1:${port}`, key: () => KEY, ca: cert }).farms();
  t.equal(farms.length, 3);
  t.equal(seen[0]?.key, KEY);
});

// The Zevenet test double refuses what a real appliance refuses (rules read in zevenet/zlb, see
// test/helpers/fake-zapi.ts): each case is a client breaking one rule, and the exact answer it gets.
// A double that accepted these would let the adapter pass tests an appliance fails.
import { request } from 'node:http';
import t, { type Test } from 'tap';
import { exchange } from '../../zevenet-adapters/http.ts';
import { ZevenetClient } from '../../zevenet-adapters/zevenet/client.ts';
import { startFakeZapi, ZAPI_DOC, ZAPI_PREFIX } from '../helpers/fake-zapi.ts';

const KEY = 'rules-key';

async function double(t: Test) {
  const zapi = await startFakeZapi(KEY, {
    FTPfarm: { vport: '20,21', backends: [{ id: 0, ip: '10.0.0.11' }, { id: 1, ip: '10.0.0.12', port: 2121 }] },
    Stopped: { status: 'down', backends: [{ id: 0, ip: '10.0.0.21' }] },
  });
  t.teardown(() => zapi.close());
  /** a raw request: any method, path, headers and body text */
  const raw = async (method: string, path: string, options: { key?: string | null; type?: string | null; body?: string } = {}) => {
    const headers: Record<string, string> = {};
    if (options.key !== null) headers.ZAPI_KEY = options.key ?? KEY;
    if (options.type !== null && options.body !== undefined) headers['Content-Type'] = options.type ?? 'application/json';
    if (options.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(options.body));
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${zapi.url}${path}`, { method, headers, agent: false }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(options.body);
    });
    return { status: answer.status, body: JSON.parse(answer.text) as Record<string, unknown> };
  };
  const put = (path: string, body: unknown) => raw('PUT', `${ZAPI_PREFIX}${path}`, { body: JSON.stringify(body) });
  const post = (path: string, body: unknown) => raw('POST', `${ZAPI_PREFIX}${path}`, { body: JSON.stringify(body) });
  const client = new ZevenetClient({ url: zapi.url, key: () => KEY });
  return { zapi, raw, put, post, client };
}

t.test('401: a missing or wrong ZAPI_KEY gets only {"message":"Authorization required"}, before any route', async (t) => {
  const { raw } = await double(t);
  t.same(await raw('GET', `${ZAPI_PREFIX}/farms`, { key: 'wrong' }), { status: 401, body: { message: 'Authorization required' } });
  t.same(await raw('GET', `${ZAPI_PREFIX}/no/such/route`, { key: null }), { status: 401, body: { message: 'Authorization required' } });
});

t.test('404: an unknown route is "Request not found: PATH" with the documentation link', async (t) => {
  const { raw } = await double(t);
  t.same(await raw('GET', `${ZAPI_PREFIX}/farms/FTPfarm/nothing`), {
    status: 404,
    body: { description: 'Request not found', error: 'true', message: 'Request not found: /farms/FTPfarm/nothing', documentation: ZAPI_DOC },
  });
});

t.test('routes take farm names [a-zA-Z0-9-]+ only: my_farm or ftp.farm are not found', async (t) => {
  const { raw, client } = await double(t);
  for (const name of ['my_farm', 'ftp.farm']) {
    const answer = await raw('GET', `${ZAPI_PREFIX}/farms/${name}`);
    t.equal(answer.status, 404, name);
    t.equal(answer.body.message, `Request not found: /farms/${name}`);
  }
  await t.rejects(client.l4Farm('my_farm'), /HTTP 404 Request not found: Request not found: \/farms\/my_farm/);
  t.equal((await raw('GET', `${ZAPI_PREFIX}/farms/FTPfarm`)).status, 200, 'a valid name is found');
});

t.test('415: PUT and POST bodies need Content-Type exactly application/json', async (t) => {
  const { raw } = await double(t);
  const body = JSON.stringify({ action: 'maintenance', mode: 'drain' });
  const path = `${ZAPI_PREFIX}/farms/FTPfarm/backends/0/maintenance`;
  for (const type of ['application/json; charset=utf-8', 'text/json', null]) {
    t.same(await raw('PUT', path, { body, type }), { status: 415, body: { message: 'Content-Type not supported', error: 'true' } }, `Content-Type ${type}`);
  }
  t.same(await raw('PUT', path, { body: '{"action":' }), { status: 400, body: { message: 'The body does not look a valid JSON', error: 'true' } });
  t.equal((await raw('PUT', path, { body })).status, 200, 'application/json is taken');
});

t.test('backend modify: weight and priority are integers 1..9, max_conns >= 0, unknown keys refused', async (t) => {
  const { put, zapi } = await double(t);
  const refused = (message: string) => ({ status: 400, body: { description: 'Modify backend', error: 'true', message, documentation: ZAPI_DOC } });
  t.same(await put('/farms/FTPfarm/backends/0', { weight: 50 }), refused("'weight' has to be an integer number between '1' and '9'"), 'lbguard weight 50');
  t.same(await put('/farms/FTPfarm/backends/0', { weight: 0 }), refused("'weight' has to be an integer number between '1' and '9'"), 'weight 0');
  t.same(await put('/farms/FTPfarm/backends/0', { weight: 2.5 }), refused("'weight' has to be an integer number between '1' and '9'"), 'not an integer');
  t.same(await put('/farms/FTPfarm/backends/0', { priority: 10 }), refused("'priority' has to be an integer number between '1' and '9'"));
  t.same(await put('/farms/FTPfarm/backends/0', { max_conns: -1 }), refused("'max_conns' has to be an integer number greater than or equal to '0'"));
  t.same(
    await put('/farms/FTPfarm/backends/0', { weight: 2, name: 'ftp-1' }),
    refused("The parameter 'name' is not correct for this call. Please, try with: 'interface', 'ip', 'max_conns', 'port', 'priority', 'weight'"),
  );
  t.same(await put('/farms/FTPfarm/backends/0', { ip: '' }), refused("The parameter 'ip' can't be in blank."));
  t.same(await put('/farms/FTPfarm/backends/0', { port: '70000' }), refused("The value '70000' is not valid for the parameter 'port'."));
  t.same(await put('/farms/FTPfarm/backends/0', {}), refused('No parameter has been sent. Please, try with:'));
  t.same(zapi.backends('FTPfarm')[0], { id: 0, ip: '10.0.0.11', port: null, weight: 1, priority: 1, status: 'up', max_conns: 0 }, 'nothing refused changed the backend');
  const done = await put('/farms/FTPfarm/backends/0', { weight: 9, max_conns: 40 });
  t.same(done, { status: 200, body: { description: 'Modify backend', params: { weight: 9, max_conns: 40 }, message: 'Backend modified.', status: 'up' } });
  t.same(await put('/farms/FTPfarm/backends/7', { weight: 2 }), { status: 404, body: { description: 'Modify backend', error: 'true', message: 'Could not find a backend with such id.', documentation: ZAPI_DOC } });
});

t.test('backends read back with port a string or null, fgDOWN as down, undefined as up', async (t) => {
  const { client, zapi } = await double(t);
  zapi.backends('FTPfarm')[0]!.status = 'fgDOWN';
  zapi.backends('FTPfarm')[1]!.status = 'undefined';
  const farm = await client.l4Farm('FTPfarm');
  t.same(farm.backends.map((b) => [b.port, b.status]), [[null, 'down'], ['2121', 'up']]);
  t.equal(farm.params.vport, '20,21');
});

t.test('maintenance: action up|maintenance, mode drain|cut only with maintenance', async (t) => {
  const { put } = await double(t);
  const refused = (message: string) => ({ status: 400, body: { description: 'Set backend status', error: 'true', message, documentation: ZAPI_DOC } });
  t.same(await put('/farms/FTPfarm/backends/0/maintenance', { action: 'down' }), refused("The parameter 'action' expects one of the following values: 'up', 'maintenance'"));
  t.same(await put('/farms/FTPfarm/backends/0/maintenance', { action: 'maintenance', mode: 'kill' }), refused("The parameter 'mode' expects one of the following values: 'drain', 'cut'"));
  t.same(await put('/farms/FTPfarm/backends/0/maintenance', { action: 'up', mode: 'drain' }), refused("The parameter 'mode' is not correct for this call. Please, try with: 'action'"));
  const done = await put('/farms/FTPfarm/backends/0/maintenance', { action: 'maintenance' });
  t.same(done.body, { description: 'Set backend status', params: { action: 'maintenance', farm: { status: 'up' }, message: 'The action maintenance has been performed in farm FTPfarm.' } }, 'drain is the default mode');
});

t.test('Farm Guardian in v4.0: /monitoring/fg and POST /farms/F/fg; GET|PUT /farms/F/fg are v3.1 only', async (t) => {
  const { raw, put, post, zapi } = await double(t);
  t.equal((await raw('GET', `${ZAPI_PREFIX}/farms/FTPfarm/fg`)).body.message, 'Request not found: /farms/FTPfarm/fg', 'GET /farms/F/fg (v3.1) is not found');
  t.equal((await put('/farms/FTPfarm/fg', { command: 'check_ftp -H HOST' })).status, 404, 'PUT /farms/F/fg (v3.1) is not found');
  t.equal((await post('/monitoring/fg', { name: 'lbguard.ftp' })).body.message, "The value 'lbguard.ftp' is not valid for the parameter 'name'.", 'a guardian name outside [\\w-]+');
  t.equal((await post('/monitoring/fg', { name: 'check_tcp' })).body.message, "The farm guardian 'check_tcp' is a template, select another name, please");
  t.equal((await post('/monitoring/fg', { name: 'lbguard-ftp', command: 'x' })).body.message, "The parameter 'command' is not correct for this call. Please, try with: 'copy_from', 'name'", 'created by name only');
  t.equal((await post('/monitoring/fg', { name: 'lbguard-ftp' })).status, 200);
  t.equal((await put('/monitoring/fg/lbguard-ftp', { interval: 0 })).body.message, "The value '0' is not valid for the parameter 'interval'.");
  t.equal((await put('/monitoring/fg/lbguard-ftp', { command: 'lbguard_check_ftp -H HOST -p PORT -t 4', interval: 10, timeout: 5 })).status, 200, 'not running yet: no force needed');
  t.match((await post('/farms/FTPfarm/fg', { name: 'lbguard-ftp' })).body, { message: "Success, The farm guardian 'lbguard-ftp' was added to the 'farm 'FTPfarm''" });
  const change = await put('/monitoring/fg/lbguard-ftp', { command: 'lbguard_check_ftp -H HOST -p PORT -t 3' });
  t.same(change.body, { description: "Modify farm guardian 'lbguard-ftp'", error: 'true', message: "Farm guardian 'lbguard-ftp' is running in: 'FTPfarm'. To apply, send parameter 'force'", documentation: ZAPI_DOC });
  t.equal(zapi.guardians.get('lbguard-ftp')!.command, 'lbguard_check_ftp -H HOST -p PORT -t 4', 'the running command is unchanged');
  t.equal((await put('/monitoring/fg/lbguard-ftp', { interval: 12 })).status, 200, 'other settings change without force');
  const forced = await put('/monitoring/fg/lbguard-ftp', { command: 'lbguard_check_ftp -H HOST -p PORT -t 3', force: 'true' });
  t.match(forced.body, { params: { command: 'lbguard_check_ftp -H HOST -p PORT -t 3', interval: 12, timeout: 5, farms: ['FTPfarm'] } });
  t.equal((await post('/farms/Stopped/fg', { name: 'check_tcp' })).status, 200);
  t.equal((await put('/monitoring/fg/check_tcp', { command: 'check_tcp -H HOST' })).body.message, "It is not allow to modify the parameters 'description' or 'command' in a template.");
  t.equal((await raw('DELETE', `${ZAPI_PREFIX}/monitoring/fg/lbguard-ftp`)).body.message, "It is not possible delete farm guardian 'lbguard-ftp' because it is running in: 'FTPfarm'");
});

t.test('the client: its requests carry Content-Type application/json and pass the double', async (t) => {
  const { client, zapi } = await double(t);
  await client.setBackend('FTPfarm', 0, { weight: 4 });
  await client.maintenance('FTPfarm', 0, 'cut');
  await client.up('FTPfarm', 0);
  t.same(zapi.requests.filter((r) => r.method !== 'GET').map((r) => [r.status, r.contentType]), Array(3).fill([200, 'application/json']));
  await t.rejects(client.setBackend('FTPfarm', 0, { weight: 50 }), /HTTP 400 Modify backend: 'weight' has to be an integer number between '1' and '9'/);
  const viaExchange = await exchange(`${zapi.url}${ZAPI_PREFIX}/farms`, { method: 'GET', headers: { ZAPI_KEY: KEY }, timeoutMs: 2000 });
  t.equal(viaExchange.status, 200);
});

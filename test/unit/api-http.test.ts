// The HTTP exchange the nftlb and Zevenet clients share: an endless answer is refused, not buffered.
import { createServer } from 'node:http';
import t from 'tap';
import { exchange, MAX_ANSWER_BYTES } from '../../zevenet-adapters/http.ts';
import { NftlbClient, NftlbError } from '../../zevenet-adapters/nftlb/client.ts';
import { ZevenetClient, ZevenetError } from '../../zevenet-adapters/zevenet/client.ts';

t.test('an answer over the cap is refused', async (t) => {
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const { port } = server.address() as { port: number };
  await t.rejects(exchange(`http://127.0.0.1:${port}/farms`, { method: 'GET', headers: {}, timeoutMs: 10_000 }), { code: 'E2BIG', message: `answer larger than ${MAX_ANSWER_BYTES} bytes` });
});

t.test('both clients report errors by their own name, with the HTTP status', async (t) => {
  const nftlb = new NftlbError('refused', 401);
  t.equal(nftlb.name, 'NftlbError');
  t.equal(nftlb.status, 401);
  t.equal(new ZevenetError('gone').name, 'ZevenetError');
});

t.test('an answer that trickles a byte at a time never ending: refused at the timeout, not when the peer stops', async (t) => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{');
    const timer = setInterval(() => res.write(' '), 50);
    res.once('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const { port } = server.address() as { port: number };
  const started = Date.now();
  await t.rejects(exchange(`http://127.0.0.1:${port}/farms`, { method: 'GET', headers: {}, timeoutMs: 300 }), { code: 'ETIMEDOUT', message: 'no answer within 300 ms' });
  t.ok(Date.now() - started < 5000, 'did not hang');
  const client = new NftlbClient({ url: `http://127.0.0.1:${port}`, key: () => 'k', timeoutMs: 300 });
  await t.rejects(client.farms(), { name: 'NftlbError', message: /nftlb is not answering \(GET .*\/farms: ETIMEDOUT\)/ });
});

/** An API on loopback answering HTTP 200 with whatever body() says at the time; its port. */
async function answering(t: { teardown(fn: () => void): void }, body: () => string): Promise<number> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return (server.address() as { port: number }).port;
}

t.test('HTTP 200 with JSON that is not an object: an error naming the API, not a TypeError', async (t) => {
  let body = 'null';
  const port = await answering(t, () => body);
  const nftlb = new NftlbClient({ url: `http://127.0.0.1:${port}`, key: () => 'k' });
  const zevenet = new ZevenetClient({ url: `http://127.0.0.1:${port}`, key: () => 'k' });
  for (body of ['null', '7', '"success"', '[]']) {
    await t.rejects(nftlb.farms(), { name: 'NftlbError', message: `nftlb answered GET http://127.0.0.1:${port}/farms with HTTP 200 and JSON that is not an object: ${body}` }, `nftlb: ${body}`);
    await t.rejects(nftlb.post([]), { name: 'NftlbError' }, `nftlb POST: ${body}`);
    await t.rejects(zevenet.farms(), { name: 'ZevenetError', message: `the Zevenet API answered GET /farms with HTTP 200 and JSON that is not an object: ${body}` }, `zevenet: ${body}`);
  }
});

t.test('Zevenet: HTTP 200 with an object but no list where one is due: an error naming the call', async (t) => {
  let body = '{}';
  const port = await answering(t, () => body);
  const zevenet = new ZevenetClient({ url: `http://127.0.0.1:${port}`, key: () => 'k' });
  for (body of ['{}', '{"params":"none"}', '{"params":[null]}']) {
    await t.rejects(zevenet.farms(), { name: 'ZevenetError', message: `the Zevenet API answered GET /farms without a "params" list of objects: ${body}` }, body);
    await t.rejects(zevenet.backends('f'), { name: 'ZevenetError', message: /^the Zevenet API answered GET \/farms\/f\/backends without a "params" list of objects/ }, body);
  }
  body = '{"params": {"listener": "l4xnat"}, "backends": 5}';
  await t.rejects(zevenet.l4Farm('f'), { name: 'ZevenetError', message: /^the Zevenet API answered GET \/farms\/f without a "backends" list of objects/ });
});

t.test('nftlb: GET /farms whose "farms" is not a list of objects is an error naming the call', async (t) => {
  let body = '{"farms":[null]}';
  const port = await answering(t, () => body);
  const nftlb = new NftlbClient({ url: `http://127.0.0.1:${port}`, key: () => 'k' });
  for (body of ['{"farms":[null]}', '{"farms":["a"]}', '{"farms":{}}']) {
    await t.rejects(nftlb.farms(), { name: 'NftlbError', message: `nftlb at http://127.0.0.1:${port} answered GET /farms without a "farms" list` }, body);
  }
});

// The HTTP exchange the nftlb and Zevenet clients share: an endless answer is refused, not buffered.
import { createServer } from 'node:http';
import t from 'tap';
import { exchange, MAX_ANSWER_BYTES } from '../../zevenet-adapters/http.ts';
import { NftlbError } from '../../zevenet-adapters/nftlb/client.ts';
import { ZevenetError } from '../../zevenet-adapters/zevenet/client.ts';

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

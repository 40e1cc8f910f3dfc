import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Orchestrator } from '../daemon.ts';
import { STATUS_PAGE } from './page.ts';

export interface StatusServer {
  readonly url: string;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(listen);
  if (!match) throw new Error(`status.listen must be host:port, got ${listen}`);
  return { host: match[1] as string, port: Number(match[2]) };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

/**
 * `GET /status` (JSON), `GET /metrics` (Prometheus), `GET /` (the live page), and
 * `POST /maintenance?farm=F&backend=B&on=1|0` for operators. Meant for a local address only.
 */
export async function startStatusServer(orchestrator: Orchestrator, listen: string): Promise<StatusServer> {
  const { host, port } = parseListen(listen);
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://status.invalid');
    if (req.method === 'GET' && url.pathname === '/status') return send(res, 200, 'application/json', JSON.stringify(orchestrator.snapshot()));
    if (req.method === 'GET' && url.pathname === '/metrics') return send(res, 200, orchestrator.metrics.registry.contentType, await orchestrator.metrics.registry.metrics());
    if (req.method === 'GET' && url.pathname === '/') return send(res, 200, 'text/html; charset=utf-8', STATUS_PAGE);
    if (req.method === 'POST' && url.pathname === '/maintenance') {
      // a browser marks what any web page makes it send (a form POST needs no CORS preflight) with
      // Origin; lbguard maintenance and curl send none, and the page itself never POSTs
      if (req.headers.origin !== undefined) return send(res, 403, 'text/plain', 'cross-site request refused: use lbguard maintenance\n');
      const farm = url.searchParams.get('farm') ?? '';
      const backend = url.searchParams.get('backend') ?? '';
      const on = url.searchParams.get('on') === '1';
      const done = orchestrator.setMaintenance(farm, backend, on);
      return send(res, done ? 200 : 404, 'application/json', JSON.stringify(done ? { farm, backend, maintenance: on } : { error: `no backend ${farm}/${backend}` }));
    }
    send(res, 404, 'text/plain', 'not found\n');
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => send(res, 500, 'text/plain', `${error.message}\n`));
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 10000;
  // a client that connects and never speaks, or asks and never reads, is dropped after 10 s idle
  // (the two above apply only once a request has begun, and not to the answer being written)
  server.timeout = 10000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Orchestrator } from '../daemon.ts';
import { type AccessKind, decideAccess } from './access.ts';
import { STATUS_PAGE } from './page.ts';
import type { StatusSecrets } from './secrets.ts';
import { writeStatusJson } from './status-json.ts';

export interface StatusServer {
  readonly url: string;
  /** Takes the tokens (and certificate) of a reloaded farms file, on the same address. */
  update(secrets: StatusSecrets): void;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(listen);
  if (!match) throw new Error(`status.listen must be host:port, got ${listen}`);
  return { host: match[1] as string, port: Number(match[2]) };
}

function writeHead(res: ServerResponse, status: number, type: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  writeHead(res, status, type, headers);
  res.end(body);
}

interface Route {
  readonly method: 'GET' | 'POST';
  /** who may: nobody is asked for `/`, the page's code, which holds no data */
  readonly access?: AccessKind;
}

const ROUTES: Record<string, Route> = {
  '/': { method: 'GET' },
  '/status': { method: 'GET', access: 'read' },
  '/metrics': { method: 'GET', access: 'read' },
  '/maintenance': { method: 'POST', access: 'change' },
};

/** `::ffff:10.0.0.2` as an operator writes it. */
function peerOf(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * `GET /status` (JSON), `GET /metrics` (Prometheus), `GET /` (the live page), and
 * `POST /maintenance?farm=F&backend=B&on=1|0` for operators, over HTTP or HTTPS (`status.tls`).
 * Who may read and who may change is decided in access.ts; every change asked for is logged
 * with its peer and result, and every refusal counted in /metrics.
 */
export async function startStatusServer(orchestrator: Orchestrator, listen: string, initialSecrets: StatusSecrets = {}): Promise<StatusServer> {
  const { host, port } = parseListen(listen);
  let secrets = initialSecrets;
  const scheme = secrets.tls ? 'https' : 'http';
  let actualPort = port;
  const { log, metrics } = orchestrator;

  const maintenance = (req: IncomingMessage, res: ServerResponse, url: URL, refused?: { status: number; reason: string; message: string }) => {
    const farm = url.searchParams.get('farm') ?? '';
    const backend = url.searchParams.get('backend') ?? '';
    const on = url.searchParams.get('on');
    const peer = peerOf(req);
    const asked = `maintenance ${farm}/${backend} ${on === '1' ? 'on' : on === '0' ? 'off' : `on=${on ?? ''}`} from ${peer}`;
    const answer = (status: number, body: object, result: string) => {
      log[status === 200 ? 'info' : 'warn']({ event: 'control-request', peer, request: 'maintenance', farm, backend, on, status, result }, `${asked}: ${result}`);
      send(res, status, 'application/json', `${JSON.stringify(body)}\n`);
    };
    if (refused) {
      log.warn({ event: 'control-request', peer, request: 'maintenance', farm, backend, on, status: refused.status, result: `refused (${refused.reason})` }, `${asked}: refused (${refused.reason})`);
      return send(res, refused.status, 'text/plain', refused.message, refused.status === 401 ? { 'www-authenticate': 'Bearer realm="lbguard"' } : {});
    }
    if (on !== '1' && on !== '0') return answer(400, { error: 'on must be 1 or 0' }, 'refused (bad on=)');
    const done = orchestrator.setMaintenance(farm, backend, on === '1');
    if (!done) return answer(404, { error: `no backend ${farm}/${backend}` }, 'no such backend');
    return answer(200, { farm, backend, maintenance: on === '1' }, 'done');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const target = req.url ?? '';
    // origin-form only: `*`, `http://host/...` (a proxy's form) and the like are not ours
    if (!target.startsWith('/')) return send(res, 400, 'text/plain', 'bad request target\n');
    let url: URL;
    try {
      url = new URL(`http://status.invalid${target}`);
    } catch {
      return send(res, 400, 'text/plain', 'bad request target\n');
    }
    const route = Object.hasOwn(ROUTES, url.pathname) ? ROUTES[url.pathname] : undefined;
    if (!route) return send(res, 404, 'text/plain', 'not found\n');
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (method !== route.method) return send(res, 405, 'text/plain', `use ${route.method}\n`, { allow: route.method === 'GET' ? 'GET, HEAD' : route.method });
    if (route.access) {
      const decision = decideAccess(route.access, { peer: req.socket.remoteAddress, authorization: req.headers.authorization, origin: req.headers.origin }, secrets, { port: actualPort, scheme });
      if (!decision.allowed) {
        metrics.statusRefused.inc({ kind: route.access, reason: decision.reason });
        if (route.access === 'change') return maintenance(req, res, url, decision);
        return send(res, decision.status, 'text/plain', decision.message, decision.status === 401 ? { 'www-authenticate': 'Bearer realm="lbguard"' } : {});
      }
    }
    switch (url.pathname) {
      case '/': return send(res, 200, 'text/html; charset=utf-8', STATUS_PAGE, { 'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'" });
      case '/status':
        writeHead(res, 200, 'application/json');
        if (req.method !== 'HEAD') await writeStatusJson(res, orchestrator.statusParts());
        return void res.end();
      case '/metrics': return send(res, 200, metrics.registry.contentType, await metrics.exposition());
      default: return maintenance(req, res, url);
    }
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: Error) => {
      log.error({ event: 'status-error', error: error.message }, `status server: ${error.message}`);
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  };
  const server: Server | HttpsServer = secrets.tls ? createHttpsServer({ cert: secrets.tls.cert, key: secrets.tls.key }, onRequest) : createHttpServer(onRequest);
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
  actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    url: `${scheme}://${host.includes(':') ? `[${host}]` : host}:${actualPort}`,
    update(next) {
      secrets = next;
      if (next.tls && 'setSecureContext' in server) server.setSecureContext({ cert: next.tls.cert, key: next.tls.key });
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

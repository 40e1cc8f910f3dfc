import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A request as the fake appliance saw it. */
export interface ZapiRequest {
  readonly method: string;
  readonly path: string;
  readonly key: string | undefined;
  readonly body: unknown;
}

export interface FakeBackend {
  id: number;
  ip: string;
  port: number | null;
  weight: number;
  priority: number;
  status: string;
  max_conns: number;
}

export interface FakeZapi {
  readonly url: string;
  readonly requests: ZapiRequest[];
  /** farm name -> its backends (mutable: tests change statuses as the appliance would) */
  readonly farms: Map<string, FakeBackend[]>;
  close(): Promise<void>;
}

const PREFIX = '/zapi/v4.0/zapi.cgi';

/**
 * An appliance's API as far as L4xNAT farms and backend maintenance go, keeping state: the answer
 * bodies have the fields and texts the ZAPI v4.0 code writes. Loopback only.
 */
export async function startFakeZapi(key: string, farms: Record<string, Omit<FakeBackend, 'priority' | 'max_conns' | 'weight'>[]>): Promise<FakeZapi> {
  const state = new Map(Object.entries(farms).map(([name, backends]) => [name, backends.map((b) => ({ weight: 1, priority: 1, max_conns: 0, ...b }))]));
  const requests: ZapiRequest[] = [];
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const handle = (req: IncomingMessage, res: ServerResponse, body: unknown) => {
    if (req.headers.zapi_key !== key) return reply(res, 401, { description: 'Authorization required', error: 'true', message: 'Authorization required' });
    const path = (req.url ?? '').startsWith(PREFIX) ? (req.url ?? '').slice(PREFIX.length) : '';
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/farms') {
      return reply(res, 200, { description: 'List farms', params: [...state.keys()].map((farmname) => ({ farmname, profile: 'l4xnat', status: 'up', vip: '192.0.2.10', vport: '21' })) });
    }
    if (req.method === 'GET' && (m = /^\/farms\/([^/]+)$/.exec(path))) {
      const backends = state.get(m[1]!);
      if (!backends) return reply(res, 404, { description: `Show farm ${m[1]}`, error: 'true', message: 'Farm not found.' });
      const params = { status: 'up', vip: '192.0.2.10', vport: '21', algorithm: 'weight', nattype: 'nat', persistence: '', ttl: 120, protocol: 'ftp', farmguardian: '', listener: 'l4xnat', sessions: [] };
      return reply(res, 200, { description: `List farm ${m[1]}`, params, backends });
    }
    if (req.method === 'PUT' && (m = /^\/farms\/([^/]+)\/backends\/(\d+)$/.exec(path))) {
      const backend = state.get(m[1]!)?.find((b) => b.id === Number(m![2]));
      if (!backend) return reply(res, 404, { description: 'Modify backend', error: 'true', message: 'Could not find a backend with such id.' });
      Object.assign(backend, body);
      return reply(res, 200, { description: 'Modify backend', params: body, message: 'Backend modified.', status: 'up' });
    }
    if (req.method === 'PUT' && (m = /^\/farms\/([^/]+)\/backends\/(\d+)\/maintenance$/.exec(path))) {
      const backend = state.get(m[1]!)?.find((b) => b.id === Number(m![2]));
      const action = (body as { action?: string } | undefined)?.action;
      if (!backend) return reply(res, 404, { description: 'Set backend status', error: 'true', message: 'Could not find a backend with such id.' });
      if (action !== 'maintenance' && action !== 'up') return reply(res, 400, { description: 'Set backend status', error: 'true', message: 'Invalid action; the possible actions are up and maintenance' });
      backend.status = action === 'up' ? 'up' : 'maintenance';
      return reply(res, 200, { description: 'Set backend status', params: { action, farm: { status: 'up' } } });
    }
    return reply(res, 404, { description: 'Request not found', error: 'true', message: `The requested URL ${req.url} was not found.` });
  };
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const body = data ? JSON.parse(data) : undefined;
      const header = req.headers.zapi_key;
      requests.push({ method: req.method ?? '', path: req.url ?? '', key: typeof header === 'string' ? header : undefined, body });
      handle(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    farms: state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

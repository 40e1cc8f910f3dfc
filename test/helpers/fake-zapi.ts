// A Zevenet CE 4.x appliance's API (v4.0) as far as L4xNAT farms, their backends and Farm Guardian go,
// keeping state and enforcing what the appliance's own code enforces (read in zevenet/zlb:
// www/zapi/v4.0/zapi.cgi, usr/share/perl5/Zevenet/API40/{HTTP,Routes}.pm, API40/Farm/{Backend,Action,
// Get,Guardian}.pm, Validate.pm and the zapi-model/v4.0 parameter models):
// - ZAPI_KEY checked first: 401 with only {"message":"Authorization required"};
// - routes match farm names [a-zA-Z0-9-]+, backend ids \d+, Farm Guardian names [\w-]+; anything else
//   (GET|PUT /farms/F/fg of v3.1 included) is 404 "Request not found: PATH";
// - a POST/PUT body must come with Content-Type exactly application/json (else 415) and parse (else 400);
// - each body is checked against its model: unknown keys refused, weight/priority integers 1..9,
//   max_conns >= 0, blank values, value lists; the messages are the appliance's;
// - backends read back with port a string or null and fgDOWN shown as "down", "undefined" as "up";
// - a running guardian's command (or backend_alias) changes only with `force`.
// Loopback only. The texts are written here from the behaviour read, not copied.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A request as the fake appliance saw it. */
export interface ZapiRequest {
  readonly method: string;
  readonly path: string;
  readonly key: string | undefined;
  readonly contentType: string | undefined;
  readonly body: unknown;
  readonly status: number;
}

/** A backend as the appliance keeps it: status up, fgDOWN (Farm Guardian), maintenance or undefined. */
export interface FakeBackend {
  id: number;
  ip: string;
  port: string | null;
  weight: number;
  priority: number;
  status: string;
  max_conns: number;
}

export interface FakeFarm {
  vip: string;
  /** "21", "20,21", "1024:65535", "*" */
  vport: string;
  /** ftp, tftp, tcp, udp, sip, ... */
  protocol: string;
  status: 'up' | 'down';
  algorithm: string;
  backends: FakeBackend[];
}

export interface FakeGuardian {
  name: string;
  description: string;
  command: string;
  farms: string[];
  log: string;
  interval: number;
  timeout?: number;
  cut_conns: string;
  template: string;
  backend_alias: string;
}

type BackendSeed = Partial<Omit<FakeBackend, 'port'>> & { id: number; ip: string; port?: string | number | null };
type FarmSeed = BackendSeed[] | (Partial<Omit<FakeFarm, 'backends'>> & { backends: BackendSeed[] });

export interface FakeZapi {
  readonly url: string;
  readonly requests: ZapiRequest[];
  readonly farms: Map<string, FakeFarm>;
  readonly guardians: Map<string, FakeGuardian>;
  /** the backends of a farm (tests change statuses as the appliance would) */
  backends(farm: string): FakeBackend[];
  close(): Promise<void>;
}

export const ZAPI_PREFIX = '/zapi/v4.0/zapi.cgi';
export const ZAPI_DOC = 'https://www.zevenet.com/zapidoc_ce_v4.0/';

/** One parameter of a model, as zapi-model/v4.0/json/*.json writes them. */
interface Rule {
  readonly required?: boolean;
  readonly nonBlank?: boolean;
  readonly values?: readonly string[];
  /** integer bounds; an absent high bound is open */
  readonly interval?: readonly [number, number?];
  readonly regex?: RegExp;
  readonly exceptions?: readonly string[];
}
type Model = Readonly<Record<string, Rule>>;

const TRUE_FALSE = ['true', 'false'];
const MODELS = {
  backendModify: {
    interface: { nonBlank: true },
    ip: { nonBlank: true, regex: /(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F:]+/ },
    max_conns: { interval: [0] },
    port: { regex: /[1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5]/ },
    priority: { interval: [1, 9] },
    weight: { interval: [1, 9] },
  },
  maintenance: { action: { nonBlank: true, values: ['up', 'maintenance'] }, mode: { nonBlank: true, values: ['drain', 'cut'] } },
  fgCreate: { copy_from: { regex: /[\w-]+/ }, name: { required: true, nonBlank: true, regex: /[\w-]+/, exceptions: ['0'] } },
  fgModify: {
    backend_alias: { values: TRUE_FALSE },
    command: { nonBlank: true },
    cut_conns: { values: TRUE_FALSE },
    description: { nonBlank: true },
    force: { values: TRUE_FALSE },
    interval: { regex: /[1-9]\d*/ },
    log: { values: TRUE_FALSE },
    timeout: { regex: /[1-9]\d*/ },
  },
  fgToFarm: { name: { required: true, nonBlank: true } },
} satisfies Record<string, Model>;

/** "'a'" / "'a' and 'b'" / "'a', 'b' and 'c'", as the appliance lists parameters in a message. */
function listed(names: readonly string[]): string {
  const quoted = names.map((n) => `'${n}'`);
  return quoted.length === 1 ? quoted[0]! : `${quoted.slice(0, -1).join(', ')} and ${quoted[quoted.length - 1]}`;
}

/** Perl's view of a JSON scalar: numbers and strings alike, true as 1, false as ''. */
function perlText(value: unknown): string {
  return value === true ? '1' : value === false ? '' : String(value);
}

/** The appliance's checkZAPIParams: the first problem's message, or undefined. */
function checkParams(body: Record<string, unknown>, model: Model): string | undefined {
  const sent = Object.keys(body);
  if (sent.length === 0) return 'No parameter has been sent. Please, try with:';
  const expected = Object.keys(model).sort();
  const missing = expected.filter((p) => model[p]!.required && !sent.includes(p));
  if (missing.length) return `The required parameter${missing.length > 1 ? 's' : ''} ${listed(missing)} ${missing.length > 1 ? 'are' : 'is'} missing.`;
  const unknown = sent.filter((p) => !expected.includes(p));
  if (unknown.length) return `The parameter${unknown.length > 1 ? 's' : ''} ${listed(unknown)} ${unknown.length > 1 ? 'are' : 'is'} not correct for this call. Please, try with: '${expected.join("', '")}'`;
  for (const param of sent) {
    const rule = model[param]!;
    const value = body[param];
    if (value === null || value === '' || (Array.isArray(value) && value.length === 0)) {
      if (rule.nonBlank) return `The parameter '${param}' can't be in blank.`;
      continue;
    }
    if (typeof value === 'object') return `The parameter '${param}' does not expect a ${Array.isArray(value) ? 'ARRAY' : 'HASH'} as input`;
    const text = perlText(value);
    if (rule.values && !rule.values.includes(text)) return `The parameter '${param}' expects one of the following values: '${rule.values.join("', '")}'`;
    if (rule.interval) {
      const [low, high] = rule.interval;
      const outside = !/^\d*$/.test(text) || Number(text) < low || (high !== undefined && Number(text) > high);
      if (outside) return high === undefined ? `'${param}' has to be an integer number greater than or equal to '${low}'` : `'${param}' has to be an integer number between '${low}' and '${high}'`;
    }
    if (rule.exceptions?.includes(text)) return `The value '${text}' is a reserved word of the parameter '${param}'.`;
    if (rule.regex && !new RegExp(`^(?:${rule.regex.source})$`).test(text)) return `The value '${text}' is not valid for the parameter '${param}'.`;
  }
  return undefined;
}

class Answer {
  constructor(readonly status: number, readonly body: unknown) {}
}
const error = (status: number, description: string, message: string) => new Answer(status, { description, error: 'true', message, documentation: ZAPI_DOC });
const ok = (body: unknown) => new Answer(200, body);

/** The farm name, backend id and Farm Guardian name formats of the appliance's routes. */
const FARM = '([a-zA-Z0-9-]+)';
const BACKEND = '(\\d+)';
const GUARDIAN = '([\\w-]+)';

function backendView(b: FakeBackend) {
  const status = b.status === 'fgDOWN' ? 'down' : b.status === 'undefined' ? 'up' : b.status;
  return { id: b.id, weight: b.weight, port: b.port, ip: b.ip, priority: b.priority, status, max_conns: b.max_conns };
}

function seedFarm(seed: FarmSeed): FakeFarm {
  const spec = Array.isArray(seed) ? { backends: seed } : seed;
  return {
    vip: spec.vip ?? '192.0.2.10',
    vport: spec.vport ?? '21',
    protocol: spec.protocol ?? 'ftp',
    status: spec.status ?? 'up',
    algorithm: spec.algorithm ?? 'weight',
    backends: spec.backends.map((b) => ({ weight: 1, priority: 1, max_conns: 0, status: 'up', ...b, port: b.port === undefined || b.port === null ? null : String(b.port) })),
  };
}

/** The guardian templates every appliance ships (a few: enough to refuse their names and commands). */
function templates(): FakeGuardian[] {
  const t = (name: string, command: string, description: string): FakeGuardian => ({ name, description, command, farms: [], log: 'false', interval: 10, cut_conns: 'false', template: 'true', backend_alias: 'false' });
  return [t('check_tcp', 'check_tcp -H HOST -p PORT', 'Check a TCP port'), t('check_ftp', 'check_ftp -H HOST -p PORT', 'Check an FTP server')];
}

export async function startFakeZapi(key: string, farms: Record<string, FarmSeed>): Promise<FakeZapi> {
  const state = new Map(Object.entries(farms).map(([name, seed]) => [name, seedFarm(seed)]));
  const guardians = new Map(templates().map((g) => [g.name, g]));
  const requests: ZapiRequest[] = [];

  const guardianView = (g: FakeGuardian) => ({ ...g, timeout: g.timeout ?? g.interval });
  const runningIn = (g: FakeGuardian) => g.farms.filter((f) => state.get(f)?.status === 'up');
  const guardianOf = (farm: string) => [...guardians.values()].find((g) => g.farms.includes(farm))?.name ?? '';

  type Handler = (captures: string[], body: Record<string, unknown>) => Answer;
  const routes: { method: string; path: RegExp; handle: Handler }[] = [];
  const route = (method: string, path: string, handle: Handler) => routes.push({ method, path: new RegExp(`^${path}$`), handle });

  route('GET', '/farms', () =>
    ok({ description: 'List farms', params: [...state].map(([farmname, f]) => ({ farmname, profile: 'l4xnat', status: f.status, vip: f.vip, vport: f.vport })) }));
  route('GET', `/farms/${FARM}`, ([name]) => {
    const f = state.get(name!);
    if (!f) return error(404, `Show farm ${name}`, 'Farm not found.');
    const params = { status: f.status, vip: f.vip, vport: f.vport, algorithm: f.algorithm, nattype: 'nat', persistence: '', ttl: 120, protocol: f.protocol, farmguardian: guardianOf(name!), listener: 'l4xnat', sessions: [] };
    return ok({ description: `List farm ${name}`, params, backends: f.backends.map(backendView) });
  });
  route('GET', `/farms/${FARM}/backends`, ([name]) => {
    const f = state.get(name!);
    if (!f) return error(404, 'List backends', `The farmname ${name} does not exist.`);
    return ok({ description: 'List backends', params: f.backends.map(backendView) });
  });
  route('PUT', `/farms/${FARM}/backends/${BACKEND}`, ([name, id], body) => {
    const desc = 'Modify backend';
    const f = state.get(name!);
    if (!f) return error(404, desc, `The farmname ${name} does not exist.`);
    const backend = f.backends.find((b) => b.id === Number(id));
    if (!backend) return error(404, desc, 'Could not find a backend with such id.');
    const problem = checkParams(body, MODELS.backendModify);
    if (problem) return error(400, desc, problem);
    if (body.ip !== undefined && f.backends.some((b) => b !== backend && b.ip === body.ip)) return error(400, desc, `The IP ${String(body.ip)} is already set in farm ${name}`);
    for (const field of ['ip', 'weight', 'priority', 'max_conns'] as const) if (body[field] !== undefined && body[field] !== null && body[field] !== '') Object.assign(backend, { [field]: field === 'ip' ? String(body[field]) : Number(body[field]) });
    if ('port' in body) backend.port = body.port === null || body.port === '' ? null : String(body.port);
    return ok({ description: desc, params: body, message: 'Backend modified.', status: f.status });
  });
  route('PUT', `/farms/${FARM}/backends/${BACKEND}/maintenance`, ([name, id], body) => {
    const desc = 'Set backend status';
    const f = state.get(name!);
    if (!f) return error(404, desc, `The farmname ${name} does not exist.`);
    const backend = f.backends.find((b) => b.id === Number(id));
    if (!backend) return error(404, desc, 'Could not find a backend with such id.');
    // `mode` belongs to maintenance only: with "up" it is an unknown parameter
    const model: Model = body.action === 'maintenance' ? MODELS.maintenance : { action: MODELS.maintenance.action };
    const problem = checkParams(body, model);
    if (problem) return error(400, desc, problem);
    backend.status = body.action === 'up' ? 'up' : 'maintenance';
    return ok({ description: desc, params: { action: body.action, farm: { status: f.status }, message: `The action ${String(body.action)} has been performed in farm ${name}.` } });
  });

  route('GET', '/monitoring/fg', () => ok({ description: 'List farm guardian checks and templates', params: [...guardians.values()].map(guardianView) }));
  route('POST', '/monitoring/fg', (_, body) => {
    const name = perlText(body.name ?? '');
    const desc = `Create a farm guardian '${name}'`;
    const existing = guardians.get(name);
    if (existing && existing.template !== 'true') return error(400, desc, `The farm guardian '${name}' already exists.`);
    if (existing) return error(400, desc, `The farm guardian '${name}' is a template, select another name, please`);
    const problem = checkParams(body, MODELS.fgCreate);
    if (problem) return error(400, desc, problem);
    const from = body.copy_from === undefined ? undefined : guardians.get(perlText(body.copy_from));
    if (body.copy_from !== undefined && !from) return error(400, desc, `The parent farm guardian '${perlText(body.copy_from)}' does not exist.`);
    const created: FakeGuardian = from
      ? { ...from, name, farms: [], template: 'false' }
      : { name, description: '', command: '', farms: [], log: 'false', interval: 10, cut_conns: 'false', template: 'false', backend_alias: 'false' };
    guardians.set(name, created);
    return ok({ description: desc, params: guardianView(created), message: `The farm guardian '${name}' has been created successfully.` });
  });
  route('GET', `/monitoring/fg/${GUARDIAN}`, ([name]) => {
    const g = guardians.get(name!);
    if (!g) return error(404, `Retrive the farm guardian '${name}'`, `The farm guardian '${name}' has not been found.`);
    return ok({ description: `Retrive the farm guardian '${name}'`, params: guardianView(g) });
  });
  route('PUT', `/monitoring/fg/${GUARDIAN}`, ([name], body) => {
    const desc = `Modify farm guardian '${name}'`;
    const g = guardians.get(name!);
    if (!g) return error(400, desc, `The farm guardian '${name}' does not exist.`);
    const problem = checkParams(body, MODELS.fgModify);
    if (problem) return error(400, desc, problem);
    if (g.template === 'true' && ('description' in body || 'command' in body)) return error(400, desc, "It is not allow to modify the parameters 'description' or 'command' in a template.");
    const running = runningIn(g);
    // the appliance asks only that `force` be present (even "false" passes)
    if (running.length && !('force' in body) && ('command' in body || 'backend_alias' in body)) {
      return error(400, desc, `Farm guardian '${name}' is running in: '${running.join(', ')}'. To apply, send parameter 'force'`);
    }
    for (const [field, value] of Object.entries(body)) {
      if (field === 'force') continue;
      Object.assign(g, { [field]: field === 'interval' || field === 'timeout' ? Number(value) : perlText(value) });
    }
    return ok({ description: desc, params: guardianView(g), message: `Success, some parameters have been changed in farm guardian '${name}'.` });
  });
  route('DELETE', `/monitoring/fg/${GUARDIAN}`, ([name]) => {
    const desc = `Delete the farm guardian '${name}'`;
    const g = guardians.get(name!);
    if (!g) return error(404, desc, `The farm guardian ${name} does not exist`);
    const running = runningIn(g);
    if (running.length) return error(400, desc, `It is not possible delete farm guardian '${name}' because it is running in: '${running.join(', ')}'`);
    guardians.delete(name!);
    return ok({ description: desc, success: 'true', message: `${name} has been deleted successfully.` });
  });
  route('POST', `/farms/${FARM}/fg`, ([farm], body) => {
    const where = `farm '${farm}'`;
    const desc = `Add the farm guardian '${perlText(body.name ?? '')}' to the '${where}'`;
    const f = state.get(farm!);
    if (!f) return error(404, desc, `The farm '${farm}' does not exist`);
    const problem = checkParams(body, MODELS.fgToFarm);
    if (problem) return error(400, desc, problem);
    const g = guardians.get(perlText(body.name));
    if (!g) return error(404, desc, `The farmguardian '${perlText(body.name)}' does not exist`);
    if (guardianOf(farm!)) return error(400, desc, `The '${where}' has already linked a farm guardian`);
    g.farms.push(farm!);
    return ok({ description: desc, message: `Success, The farm guardian '${g.name}' was added to the '${where}'`, status: f.status });
  });
  route('DELETE', `/farms/${FARM}/fg/${GUARDIAN}`, ([farm, name]) => {
    const where = `farm '${farm}'`;
    const desc = `Remove the farm guardian '${name}' from the '${where}'`;
    if (!state.has(farm!)) return error(404, desc, `The farm '${farm}' does not exist`);
    const g = guardians.get(name!);
    if (!g) return error(404, desc, `The farmguardian '${name}' does not exist`);
    if (!g.farms.includes(farm!)) return error(400, desc, `The farm guardian '${name}' is not applied to the '${where}'`);
    g.farms = g.farms.filter((f) => f !== farm);
    return ok({ description: desc, message: `Success, the farm guardian '${name}' was removed from the '${where}'`, status: state.get(farm!)!.status });
  });

  const answer = (req: IncomingMessage, raw: string): Answer => {
    const header = req.headers.zapi_key;
    if (header !== key) return new Answer(401, { message: 'Authorization required' });
    const url = req.url ?? '';
    const path = url.startsWith(`${ZAPI_PREFIX}/`) ? decodeURIComponent(url.slice(ZAPI_PREFIX.length).split('?')[0]!) : url;
    for (const r of routes) {
      const m = r.method === req.method && url.startsWith(ZAPI_PREFIX) ? r.path.exec(path) : null;
      if (!m) continue;
      let body: unknown = {};
      if (req.method === 'POST' || req.method === 'PUT') {
        if (req.headers['content-type'] !== 'application/json') return new Answer(415, { message: 'Content-Type not supported', error: 'true' });
        if (raw) {
          try {
            body = JSON.parse(raw);
          } catch {
            return new Answer(400, { message: 'The body does not look a valid JSON', error: 'true' });
          }
          if (body === null || typeof body !== 'object' || Array.isArray(body)) return new Answer(500, { message: 'Internal Server Error' }); // Perl dies on a non-hash body
        }
      }
      return r.handle(m.slice(1), body as Record<string, unknown>);
    }
    return error(404, 'Request not found', `Request not found: ${path}`);
  };

  const server: Server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const result = answer(req, raw);
      let body: unknown = raw;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        // kept as text: the request is recorded as sent
      }
      const header = req.headers.zapi_key;
      requests.push({ method: req.method ?? '', path: req.url ?? '', key: typeof header === 'string' ? header : undefined, contentType: req.headers['content-type'], body, status: result.status });
      res.writeHead(result.status, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(result.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    farms: state,
    guardians,
    backends: (farm) => state.get(farm)?.backends ?? [],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// The Zevenet appliance API (ZAPI v4.0) calls lbguard needs: farms and their backends, an L4xNAT
// backend's weight and limit set, the backend put in maintenance and back up.
// `https://HOST:444/zapi/v4.0/zapi.cgi`, header `ZAPI_KEY`, JSON. Answers are
// `{"description", "params", ...}`; errors HTTP 4xx `{"description", "error": "true", "message"}`.
import { ApiError, exchange, isObject } from '../http.ts';

export interface ZevenetFarmSummary {
  readonly farmname: string;
  /** http, https, l4xnat, datalink, gslb */
  readonly profile: string;
  /** up, down, needed restart, critical, problem */
  readonly status: string;
  readonly vip: string;
  readonly vport: string;
}

/** An L4xNAT backend as GET /farms/<farm> and /farms/<farm>/backends list it. */
export interface ZevenetBackend {
  readonly id: number;
  readonly ip: string;
  readonly port: number | string | null;
  readonly weight: number | null;
  readonly priority: number | null;
  /** up, down (Farm Guardian found it failing), maintenance, undefined */
  readonly status: string;
  readonly max_conns?: number;
}

export interface ZevenetL4Farm {
  readonly params: {
    readonly status: string;
    readonly vip: string;
    readonly vport: string;
    readonly algorithm: string;
    readonly nattype: string;
    readonly persistence: string;
    readonly ttl: number;
    readonly protocol: string;
    readonly farmguardian: string;
    readonly listener: string;
    readonly [key: string]: unknown;
  };
  readonly backends: readonly ZevenetBackend[];
}

/** drain: established sessions finish; cut: they are dropped */
export type MaintenanceMode = 'drain' | 'cut';

export class ZevenetError extends ApiError {}

export interface ZevenetClientOptions {
  /** e.g. https://192.0.2.5:444 (the /zapi/v4.0/zapi.cgi path is added when missing) */
  readonly url: string;
  readonly key: () => string;
  readonly timeoutMs?: number;
  /** PEM of the appliance's (usually self-signed) certificate or its CA */
  readonly ca?: string;
}

const API_PATH = '/zapi/v4.0/zapi.cgi';

/** body[key] as a list of objects, or an error naming the call: the adapter reads fields of each. */
function listOf<T>(body: object, key: string, where: string): T[] {
  const list = (body as Record<string, unknown>)[key];
  if (!Array.isArray(list) || !list.every(isObject)) throw new ZevenetError(`the Zevenet API answered ${where} without a "${key}" list of objects: ${JSON.stringify(body).slice(0, 200)}`);
  return list as T[];
}

export class ZevenetClient {
  readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: ZevenetClientOptions) {
    const url = options.url.replace(/\/+$/, '');
    this.base = url.includes('/zapi/') ? url : `${url}${API_PATH}`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async farms(): Promise<ZevenetFarmSummary[]> {
    return listOf<ZevenetFarmSummary>(await this.request('GET', '/farms'), 'params', 'GET /farms');
  }

  async l4Farm(farm: string): Promise<ZevenetL4Farm> {
    const body = await this.request<ZevenetL4Farm>('GET', `/farms/${encodeURIComponent(farm)}`);
    if (body.params?.listener !== 'l4xnat') throw new ZevenetError(`farm ${farm} is not an L4xNAT farm (listener ${String(body.params?.listener)})`);
    return { params: body.params, backends: body.backends === undefined ? [] : listOf<ZevenetBackend>(body, 'backends', `GET /farms/${farm}`) };
  }

  async backends(farm: string): Promise<ZevenetBackend[]> {
    return listOf<ZevenetBackend>(await this.request('GET', `/farms/${encodeURIComponent(farm)}/backends`), 'params', `GET /farms/${farm}/backends`);
  }

  /** Sets an L4xNAT backend's weight and connection limit (PUT /farms/<farm>/backends/<id>; max_conns 0 = none). */
  async setBackend(farm: string, backendId: number, settings: { readonly weight?: number; readonly max_conns?: number }): Promise<void> {
    await this.request('PUT', `/farms/${encodeURIComponent(farm)}/backends/${backendId}`, settings);
  }

  /** No new sessions for the backend (drain keeps established ones, cut drops them). */
  async maintenance(farm: string, backendId: number, mode: MaintenanceMode = 'drain'): Promise<void> {
    await this.request('PUT', `/farms/${encodeURIComponent(farm)}/backends/${backendId}/maintenance`, { action: 'maintenance', mode });
  }

  /** Out of maintenance: the backend takes new sessions again. */
  async up(farm: string, backendId: number): Promise<void> {
    await this.request('PUT', `/farms/${encodeURIComponent(farm)}/backends/${backendId}/maintenance`, { action: 'up' });
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const where = `${method} ${path}`;
    const key = this.options.key();
    let answer;
    try {
      answer = await exchange(`${this.base}${path}`, { method, headers: { ZAPI_KEY: key }, body, timeoutMs: this.timeoutMs, ca: this.options.ca });
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new ZevenetError(`the Zevenet API at ${this.base} is not answering (${where}: ${reason})`);
    }
    let parsed: { description?: string; message?: string; error?: string } & Record<string, unknown>;
    try {
      parsed = JSON.parse(answer.text);
    } catch {
      throw new ZevenetError(`the Zevenet API answered ${where} with HTTP ${answer.status} and a body that is not JSON: ${answer.text.slice(0, 200)}`, answer.status);
    }
    if (!isObject(parsed)) throw new ZevenetError(`the Zevenet API answered ${where} with HTTP ${answer.status} and JSON that is not an object: ${answer.text.slice(0, 200)}`, answer.status);
    if (answer.status === 401) throw new ZevenetError(`the Zevenet API refused the key (${where}: HTTP 401); check key-file or LBGUARD_ZEVENET_KEY`, 401);
    if (answer.status >= 400 || parsed.error === 'true') {
      throw new ZevenetError(`the Zevenet API refused ${where}: HTTP ${answer.status} ${parsed.description ?? ''}: ${parsed.message ?? answer.text.slice(0, 200)}`, answer.status);
    }
    return parsed as T;
  }
}

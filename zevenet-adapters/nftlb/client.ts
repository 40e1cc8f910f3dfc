// nftlb's REST API (Debian's nftlb 1.0.x): `Key` header, JSON bodies whose values are all strings,
// answers `{"response": "success"}` or an error text with HTTP >= 400. POST /farms merges partial
// farm objects into what nftlb holds; GET returns full objects; DELETE removes a farm or a backend.
import { ApiError, exchange, isObject } from '../http.ts';

/** A farm as nftlb reports it: every value a string, backends nested. Unknown keys are kept. */
export interface NftlbBackend {
  readonly name: string;
  readonly 'ip-addr'?: string;
  readonly port?: string;
  readonly weight?: string;
  readonly state?: string;
  readonly [key: string]: unknown;
}

export interface NftlbFarm {
  readonly name: string;
  readonly backends?: readonly NftlbBackend[];
  readonly [key: string]: unknown;
}

export class NftlbError extends ApiError {}

export interface NftlbClientOptions {
  /** e.g. http://127.0.0.1:5555 */
  readonly url: string;
  /** returns the API key; called before each request so a rotated key file is picked up */
  readonly key: () => string;
  /** per request; default 5000 ms */
  readonly timeoutMs?: number;
}

export class NftlbClient {
  private readonly base: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: NftlbClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  async farms(): Promise<NftlbFarm[]> {
    const body = await this.request('GET', '/farms');
    const farms = (body as { farms?: unknown }).farms;
    if (!Array.isArray(farms) || !farms.every(isObject)) throw new NftlbError(`nftlb at ${this.base} answered GET /farms without a "farms" list`);
    return farms as NftlbFarm[];
  }

  /** Creates or updates (partial objects merge). nftlb's warnings ("success. Parsing unknown value ...") are errors here. */
  async post(farms: readonly Readonly<Record<string, unknown>>[]): Promise<void> {
    await this.request('POST', '/farms', { farms });
  }

  /** Deletes a farm; true if it was there. */
  async deleteFarm(name: string): Promise<boolean> {
    return this.deleteIfPresent(`/farms/${encodeURIComponent(name)}`);
  }

  /** Deletes a backend of a farm; true if it was there. */
  async deleteBackend(farm: string, backend: string): Promise<boolean> {
    return this.deleteIfPresent(`/farms/${encodeURIComponent(farm)}/backends/${encodeURIComponent(backend)}`);
  }

  private async deleteIfPresent(path: string): Promise<boolean> {
    try {
      await this.request('DELETE', path);
      return true;
    } catch (error) {
      if (error instanceof NftlbError && error.status === 404) return false;
      throw error;
    }
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const where = `${method} ${this.base}${path}`;
    const key = this.options.key();
    let status: number;
    let text: string;
    try {
      ({ status, text } = await exchange(`${this.base}${path}`, { method, headers: { Key: key }, body, timeoutMs: this.timeoutMs }));
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new NftlbError(`nftlb is not answering (${where}: ${reason}); is it running and listening there?`);
    }
    if (status === 401) throw new NftlbError(`nftlb refused the API key (${where}: HTTP 401); check key-file or LBGUARD_NFTLB_KEY`, 401);
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new NftlbError(`nftlb answered ${where} with HTTP ${status} and a body that is not JSON: ${text.slice(0, 200)}`, status);
    }
    if (!isObject(parsed)) throw new NftlbError(`nftlb answered ${where} with HTTP ${status} and JSON that is not an object: ${text.slice(0, 200)}`, status);
    const said = typeof (parsed as { response?: unknown }).response === 'string' ? (parsed as { response: string }).response : undefined;
    if (status < 200 || status > 299) throw new NftlbError(`nftlb refused ${where}: HTTP ${status} ${said ?? text.slice(0, 200)}`, status);
    if (said !== undefined && said !== 'success') throw new NftlbError(`nftlb accepted ${where} with a warning, so part of it was ignored: ${said}`, status);
    return parsed;
  }
}

// One HTTP(S) request on a connection of its own, for the REST APIs the adapters talk to (nftlb,
// a Zevenet appliance): nftlb closes connections in ways a keep-alive pool trips over, and the
// appliance's self-signed certificate needs a CA of its own, which global fetch cannot take per call.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface Exchange {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  /** sent as JSON */
  readonly body?: unknown;
  readonly timeoutMs: number;
  /** https: PEM of the CA (or the self-signed certificate) to trust */
  readonly ca?: string;
}

/** A REST API that answered wrongly or not at all; `status` when it answered over HTTP. */
export class ApiError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = new.target.name;
  }
}

/** A JSON object, as both APIs answer: not null, a list, a string or a number. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An API answer larger than this is refused, not buffered: a broken or hostile peer cannot fill memory. */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export interface Answer {
  readonly status: number;
  readonly text: string;
}

/** Rejects with an errno-style error (ECONNREFUSED, ETIMEDOUT, ...) when no answer comes. */
export function exchange(url: string, options: Exchange): Promise<Answer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers = { ...options.headers, ...(payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) }) };
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise<Answer>((resolve, reject) => {
    const req = send(url, { method: options.method, agent: false, timeout: options.timeoutMs, headers, ...(options.ca ? { ca: options.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) return req.destroy(Object.assign(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`), { code: 'E2BIG' }));
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // the socket's idle timeout alone lets a peer that trickles a byte now and then hold us forever
    const timeout = () => req.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    const deadline = setTimeout(timeout, options.timeoutMs);
    req.on('timeout', timeout);
    req.on('error', reject);
    req.on('close', () => clearTimeout(deadline));
    req.end(payload);
  });
}

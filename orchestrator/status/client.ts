import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { checkServerIdentity, type PeerCertificate, rootCertificates } from 'node:tls';
import type { Config } from '../config/schema.ts';
import { isLoopbackHost } from './access.ts';
import { certificateFingerprint, readTls, readToken } from './secrets.ts';
import { parseListen } from './server.ts';

/** Where a running lbguard answers, and what to show it: for `lbguard status` and `maintenance`. */
export interface StatusTarget {
  readonly url: string;
  readonly token?: string;
  /** the server's own certificate (status.tls.cert-file): trusted as it is, whatever names it holds */
  readonly cert?: string;
}

const ANSWER_LIMIT = 16 * 1024 * 1024;

/**
 * The status address from the farms file: a wildcard listen address is reached on loopback; the
 * token is the admin one for a change, the read one (if any) for a read.
 */
export function targetFromConfig(config: Config, kind: 'read' | 'change'): StatusTarget {
  const { host, port } = parseListen(config.status.listen);
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const scheme = config.status.tls ? 'https' : 'http';
  const file = kind === 'change' ? config.status['admin-token-file'] : config.status['read-token-file'];
  return {
    url: `${scheme}://${reach.includes(':') ? `[${reach}]` : reach}:${port}`,
    token: file ? readToken(file) : undefined,
    cert: config.status.tls ? readTls(config.status.tls).cert : undefined,
  };
}

/** Warns of a status server others can reach whose changes nobody but this host may make. */
export function exposureWarning(config: Config): string | undefined {
  const { host } = parseListen(config.status.listen);
  if (isLoopbackHost(host) || config.status['admin-token-file']) return undefined;
  return `status.listen ${config.status.listen} is reachable from other hosts and status.admin-token-file is not set: they read /status, /metrics and the page, and maintenance is refused to all but this host`;
}

/**
 * One request with a deadline for the whole exchange (a server that accepts and never answers is
 * not waited for). An https target with `cert` trusts that certificate, and the system's CAs.
 */
export function statusRequest(target: StatusTarget, method: 'GET' | 'POST', path: string, timeoutMs = 5000): Promise<{ status: number; text: string }> {
  const url = new URL(`${target.url}${path}`);
  const signal = AbortSignal.timeout(timeoutMs);
  const options: RequestOptions = { method, signal, headers: target.token ? { authorization: `Bearer ${target.token}` } : {} };
  if (url.protocol === 'https:' && target.cert) {
    const pinned = certificateFingerprint(target.cert);
    options.ca = [...rootCertificates, target.cert];
    options.checkServerIdentity = (host: string, cert: PeerCertificate) => (cert.fingerprint256 === pinned ? undefined : checkServerIdentity(host, cert));
  }
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => reject(signal.aborted ? new Error(`no answer within ${timeoutMs / 1000} s`) : error);
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > ANSWER_LIMIT) request.destroy(new Error(`answer larger than ${ANSWER_LIMIT} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', fail);
    });
    request.on('error', fail);
    request.end();
  });
}

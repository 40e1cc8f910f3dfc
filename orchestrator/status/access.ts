import { isIP } from 'node:net';
import type { StatusSecrets } from './secrets.ts';

/** What a request asks for: to read (`/status`, `/metrics`) or to change a farm (`POST /maintenance`). */
export type AccessKind = 'read' | 'change';

export type AccessDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly status: 401 | 403; readonly reason: string; readonly message: string };

export interface AccessRequest {
  /** the peer's address as the socket has it (`::ffff:127.0.0.1` included) */
  readonly peer: string | undefined;
  readonly authorization: string | undefined;
  readonly origin: string | undefined;
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

/** Host of `status.listen` only this machine reaches: 127/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || isLoopbackAddress(host);
}

function bearer(authorization: string | undefined): string | undefined {
  return /^Bearer ([\x21-\x7e]+)$/i.exec(authorization ?? '')?.[1];
}

/**
 * A browser marks with Origin what a page makes it send; a form POST from any site needs no CORS
 * preflight. Without a token, the only browser POST taken is one from the status page itself,
 * opened on a loopback address (a DNS-rebound name is not one: its Origin names the attacker's host).
 */
function ownLoopbackOrigin(origin: string, ownPort: number, scheme: string): boolean {
  try {
    const url = new URL(origin);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    return url.protocol === `${scheme}:` && port === ownPort && isLoopbackHost(host);
  } catch {
    return false;
  }
}

const NEEDS_TOKEN = 'this needs Authorization: Bearer TOKEN (the token of status.admin-token-file)\n';

/**
 * Who may do what, HAProxy's `stats auth` / `stats admin if` in one function. With
 * admin-token-file, a change needs its token (any peer); without, a change is taken from loopback
 * only. Reads are open unless read-token-file is set (then its token or the admin one).
 */
export function decideAccess(kind: AccessKind, request: AccessRequest, secrets: StatusSecrets, own: { port: number; scheme: 'http' | 'https' }): AccessDecision {
  const presented = bearer(request.authorization);
  if (kind === 'read') {
    if (!secrets.read) return { allowed: true };
    if (presented !== undefined && (secrets.read.matches(presented) || secrets.admin?.matches(presented) === true)) return { allowed: true };
    return { allowed: false, status: 401, reason: presented === undefined ? 'no-token' : 'bad-token', message: 'this needs Authorization: Bearer TOKEN (the token of status.read-token-file)\n' };
  }
  if (secrets.admin) {
    if (presented === undefined) return { allowed: false, status: 401, reason: 'no-token', message: NEEDS_TOKEN };
    if (!secrets.admin.matches(presented)) return { allowed: false, status: 401, reason: 'bad-token', message: `the token is not the one of status.admin-token-file\n` };
    return { allowed: true };
  }
  if (!isLoopbackAddress(request.peer)) {
    return { allowed: false, status: 403, reason: 'not-loopback', message: 'changes are taken from this host only: set status.admin-token-file to allow them from others with a token\n' };
  }
  if (request.origin !== undefined && !ownLoopbackOrigin(request.origin, own.port, own.scheme)) {
    return { allowed: false, status: 403, reason: 'cross-site', message: 'cross-site request refused: use lbguard maintenance\n' };
  }
  return { allowed: true };
}

import { isIP } from 'node:net';
import { CheckFailure, HostNotFound, InvalidHost } from './errors.ts';
import { CRITICAL, type State } from './state.ts';

export type AddressFamily = 0 | 4 | 6;

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const SOCKET_PATH = /^\/[A-Za-z0-9._\/@+-]{1,106}$/;

/**
 * Checks the syntax of -H before anything touches the network: a host name, an IPv4/IPv6 address
 * (brackets allowed) or an absolute Unix socket path. Anything else (`x;rm -rf /`) is a usage error.
 */
export function validateHost(text: string): string {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIP(bare) || HOSTNAME.test(bare) || SOCKET_PATH.test(bare)) return bare;
  throw new InvalidHost(JSON.stringify(text).slice(1, -1));
}

export function isSocketPath(host: string): boolean {
  return host.startsWith('/');
}

export interface Resolved {
  readonly address: string;
  readonly family: 4 | 6;
}

/**
 * An IP address needs no resolver: the address itself, at once (undefined for a name). Throws
 * CheckFailure when it is not of the family asked for (-4/-6).
 */
export function literalAddress(host: string, family: AddressFamily, failState: State = CRITICAL): Resolved | undefined {
  const literal = isIP(host);
  if (!literal) return undefined;
  if (family && literal !== family) throw new CheckFailure(`${host} is not an IPv${family} address`, failState);
  return { address: host, family: literal as 4 | 6 };
}

/** Resolves a name within the caller's deadline; a name that does not resolve fails with `failState`. */
export async function resolveHost(host: string, family: AddressFamily, signal: AbortSignal, failState: State = CRITICAL): Promise<Resolved> {
  const literal = literalAddress(host, family, failState);
  if (literal) return literal;
  const aborted = new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => undefined);
  try {
    // loaded only for a name: an address (the usual -H) spares a plugin node:dns/promises' start-up
    const { lookup } = await import('node:dns/promises');
    const found = await Promise.race([lookup(host, { family }), aborted]);
    return { address: found.address, family: found.family as 4 | 6 };
  } catch (error) {
    if (signal.aborted) throw error;
    throw new HostNotFound(host, failState);
  }
}

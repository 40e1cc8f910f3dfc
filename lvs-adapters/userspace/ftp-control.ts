import { isIPv4, isIPv6 } from 'node:net';

/** What one FTP control line means to the balancer; everything else passes unchanged. */
export type ClientCommand =
  | { readonly kind: 'port'; readonly host: string; readonly port: number }
  | { readonly kind: 'bad-port' }
  | { readonly kind: 'auth' }
  | { readonly kind: 'passive' }
  | { readonly kind: 'nul' }
  | { readonly kind: 'other' };

/** `PORT h1,h2,h3,h4,p1,p2` (RFC 959) and `EPRT |1|10.0.0.1|2000|` / `EPRT |2|::1|2000|` (RFC 2428). */
export function parseClientCommand(line: string): ClientCommand {
  const space = line.indexOf(' ');
  const verb = (space === -1 ? line : line.slice(0, space)).trim().toUpperCase();
  const arg = space === -1 ? '' : line.slice(space + 1).trim();
  if (line.includes('\0')) return { kind: 'nul' }; // a C server would read another command than the balancer
  if (verb === 'AUTH') return { kind: 'auth' };
  if (verb === 'PASV' || verb === 'EPSV') return { kind: 'passive' };
  if (verb === 'PORT') {
    const n = arg.split(',').map((p) => (/^\d{1,3}$/.test(p.trim()) ? Number(p) : NaN));
    if (n.length !== 6 || n.some((v) => !(v >= 0 && v <= 255))) return { kind: 'bad-port' };
    const port = n[4]! * 256 + n[5]!;
    return port > 0 ? { kind: 'port', host: n.slice(0, 4).join('.'), port } : { kind: 'bad-port' };
  }
  if (verb === 'EPRT') {
    const delimiter = arg[0];
    const parts = delimiter ? arg.split(delimiter) : [];
    const [, family, host = '', portText = ''] = parts;
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
    const valid = parts.length === 5 && port > 0 && port < 65536 && ((family === '1' && isIPv4(host)) || (family === '2' && isIPv6(host)));
    return valid ? { kind: 'port', host, port } : { kind: 'bad-port' };
  }
  return { kind: 'other' };
}

/** The 227 answer naming the balancer's address and passive port. */
export function pasvReply(address: string, port: number): string {
  return `227 Entering Passive Mode (${address.split('.').join(',')},${port >> 8},${port & 255}).`;
}

export function epsvReply(port: number): string {
  return `229 Entering Extended Passive Mode (|||${port}|)`;
}

/** The reply code of a final reply line (`227 ...`), undefined for continuation lines (`227-...`, text). */
export function finalReplyCode(line: string): number | undefined {
  return /^\d{3} /.test(line) || /^\d{3}$/.test(line.trimEnd()) ? Number(line.slice(0, 3)) : undefined;
}

/**
 * Splits a byte stream into lines without ever holding more than `maxLine` bytes of one: push()
 * returns the complete lines (without CR LF) and false instead when the pending line grows too long.
 */
export class LineSplitter {
  private pending = '';

  constructor(private readonly maxLine: number) {}

  push(chunk: Buffer): string[] | false {
    const text = this.pending + chunk.toString('latin1');
    const lines = text.split('\n');
    this.pending = lines.pop() ?? '';
    if (this.pending.length > this.maxLine || lines.some((l) => l.length > this.maxLine)) return false;
    return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  }

  /** what is buffered and not yet a line (handed on raw when the channel turns to TLS) */
  take(): Buffer {
    const rest = Buffer.from(this.pending, 'latin1');
    this.pending = '';
    return rest;
  }
}

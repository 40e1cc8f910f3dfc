import { UsageError } from '../runtime/errors.ts';
import { readSmallFile, unreadableReason } from '../runtime/read-file.ts';
import type { OptionSpec } from '../runtime/getopt.ts';
import { type Args, parsePort, VERSION } from '../runtime/plugin.ts';
import { UNKNOWN } from '../runtime/state.ts';
import type { SshCheckOptions } from './check.ts';

export const SSH_OPTIONS: readonly OptionSpec[] = [
  { long: 'remote-version', short: 'r', arg: 'required', argName: 'STRING', help: "CRITICAL unless the server's software version equals STRING (with or without its comment, e.g. 'OpenSSH_9.2p1')" },
  { long: 'remote-protocol', short: 'P', arg: 'required', argName: 'STRING', help: "CRITICAL unless the protocol version equals STRING (e.g. '2.0')" },
  { long: 'hostkey', arg: 'required', argName: 'SHA256:...', help: 'Pin the host key fingerprint (as ssh-keygen -lf prints it); CRITICAL when the server offers another key' },
  { long: 'user', arg: 'required', argName: 'NAME', help: 'Log in as NAME (also LBGUARD_SSH_USER)' },
  { long: 'identity', arg: 'required', argName: 'FILE', help: 'Private key file for --user (passphrase from LBGUARD_SSH_PASSPHRASE or the ini key passphrase)' },
  { long: 'password', arg: 'required', argName: 'SECRET', help: 'Password for --user (also LBGUARD_SSH_PASSWORD)', secret: true },
  { long: 'passphrase', arg: 'required', argName: 'SECRET', help: 'Passphrase of the --identity key', secret: true },
  { long: 'sftp', arg: 'optional', argName: 'PATH', help: 'Open the SFTP subsystem and stat PATH (default: the login directory); needs --user' },
];

/** a private key file, even RSA 16384 with its comment, is far smaller */
const MAX_KEY_BYTES = 1024 * 1024;

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

function readIdentity(path: string): Buffer {
  try {
    return readSmallFile(path, MAX_KEY_BYTES);
  } catch (error) {
    throw new UsageError(`cannot read identity file ${path}: ${unreadableReason(error)}`);
  }
}

export function sshOptionsFromArgs(args: Args, env: NodeJS.ProcessEnv = process.env): SshCheckOptions {
  const { common } = args;
  if (common.host === undefined) throw new UsageError('Could not parse arguments: no host given (-H)');
  const extra = args.positionals().slice(args.last('hostname') === undefined ? 1 : 0);
  // check_ssh HOST PORT, as the C plugin takes them
  const port = extra.length && !args.has('port') ? parsePort(extra.shift() as string) : common.port;
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}' (an option value that is optional needs '=', e.g. --sftp=/upload)`);
  const hostKey = args.last('hostkey');
  if (hostKey !== undefined && !FINGERPRINT.test(hostKey)) throw new UsageError(`--hostkey must look like SHA256:<43 base64 characters> - ${hostKey}`);
  const user = args.last('user') ?? env.LBGUARD_SSH_USER;
  const sftp = args.last('sftp');
  if (sftp !== undefined && user === undefined) throw new UsageError('--sftp needs --user (an SFTP session needs a login)');
  const identity = args.last('identity');
  if (identity !== undefined && user === undefined) throw new UsageError('--identity needs --user');
  return {
    host: common.host,
    port,
    family: common.family,
    // monitoring-plugins' check_ssh answers an unresolvable name with UNKNOWN; so do we, to be a drop-in
    unresolvedState: UNKNOWN,
    clientIdentification: `SSH-2.0-lbguard_check_ssh_${VERSION.replace(/[^A-Za-z0-9.]/g, '_')}`,
    hostKey,
    user,
    password: args.last('password') ?? env.LBGUARD_SSH_PASSWORD,
    privateKey: identity === undefined ? undefined : readIdentity(identity),
    passphrase: args.last('passphrase') ?? env.LBGUARD_SSH_PASSPHRASE,
    sftpPath: sftp === undefined ? undefined : sftp || '.',
    remoteVersion: args.last('remote-version'),
    remoteProtocol: args.last('remote-protocol'),
    thresholds: { warning: common.warning, critical: common.critical },
    timeoutSeconds: common.deadline.seconds,
  };
}

import type { PluginDefinition } from '../runtime/plugin.ts';
import { UNKNOWN } from '../runtime/state.ts';
import { checkSsh, type SshCheckOptions } from './check.ts';
import { SSH_OPTIONS, sshOptionsFromArgs } from './options.ts';

export const checkSshPlugin: PluginDefinition<SshCheckOptions> = {
  name: 'check_ssh',
  service: 'SSH',
  synopsis: 'check_ssh [-4|-6] [-t <timeout>] [-r <remote version>] [-P <protocol>] [-p <port>]\n          [--hostkey SHA256:..] [--user NAME [--identity FILE] [--sftp[=PATH]]] -H <host>',
  description: [
    'Connects to an SSH server, reads its identification string and reports it with the response time.',
    'With --hostkey, --user or --sftp it goes on as an SSH client: pins the host key, logs in and',
    'stats a path over SFTP, with the time of each phase in the performance data.',
    'Drop-in for monitoring-plugins check_ssh: same options, output lines and exit codes.',
  ],
  options: SSH_OPTIONS,
  defaultPort: 22,
  perfSeparator: ' | ',
  positionalHost: true,
  oldSpellings: new Map([['-to', '-t']]),
  // check_ssh: `check_ssh: Invalid hostname/address - NAME`, then the usage, exit 3
  hostError: (host) => ({ state: UNKNOWN, text: `Invalid hostname/address - ${host}`, perfdata: [], details: [], usage: true }),
  okSummary: 'SSH check was successful',
  toOptions: (args) => sshOptionsFromArgs(args),
  check: checkSsh,
};

import type { PluginDefinition } from '../runtime/plugin.ts';
import { CRITICAL } from '../runtime/state.ts';
import { checkFtp, type FtpCheckOptions } from './check.ts';
import { FTP_OPTIONS, ftpOptionsFromArgs } from './options.ts';

export const checkFtpPlugin: PluginDefinition<FtpCheckOptions> = {
  name: 'check_ftp',
  service: 'FTP',
  synopsis: [
    'check_ftp -H host [-p port] [-w <warning time>] [-c <critical time>] [-s <send string>]',
    '          [-e <expect string>] [-q <quit string>] [-m <maximum bytes>] [-d <delay>] [-A] [-E]',
    '          [-t <timeout seconds>] [-r <refuse state>] [-M <mismatch state>] [-v] [-4|-6] [-j]',
    '          [-D <warn days cert expire>[,<crit days cert expire>]] [-S] [--sni] [--ca-file FILE]',
    '          [--user NAME] [--auth-tls] [--list[=DIR]] [--get FILE [--expect-content STRING]',
    '          [--expect-size BYTES]] [--put[=DIR]] [--passive|--active] [--allow-pasv-redirect]',
  ].join('\n'),
  description: [
    'Connects to an FTP server, reads its greeting and reports it with the response time.',
    'Drop-in for monitoring-plugins check_ftp (check_tcp as FTP): same options, lines and exit codes.',
    'With --user, --auth-tls, --list, --get or --put it goes on as an FTP client over the same',
    'connection: logs in (anonymous unless --user; the password only from LBGUARD_FTP_PASSWORD or',
    '--extra-opts), lists, downloads, uploads over passive or active data connections, with the',
    'time of each phase in the performance data (time is then the whole check).',
  ],
  options: FTP_OPTIONS,
  defaultPort: 21,
  perfSeparator: '|',
  positionalHost: true,
  // check_tcp's rewriting (2.3.3 and 3.0): `check_ftp HOST -wt 300 -ct 600 -to 1`
  oldSpellings: new Map([['-to', '-t'], ['-wt', '-w'], ['-ct', '-c']]),
  hostError: (host) => ({ state: CRITICAL, text: `Invalid hostname, address or socket: ${host}`, perfdata: [], details: [] }),
  okSummary: 'Connection succeeded',
  toOptions: (args) => ftpOptionsFromArgs(args),
  check: checkFtp,
};

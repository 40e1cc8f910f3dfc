import type { PluginDefinition } from '../runtime/plugin.ts';
import { checkTftp, type TftpCheckOptions } from './check.ts';
import { TFTP_OPTIONS, tftpOptionsFromArgs } from './options.ts';

export const checkTftpPlugin: PluginDefinition<TftpCheckOptions> = {
  name: 'check_tftp',
  service: 'TFTP',
  synopsis: [
    'check_tftp -H <host> [-p 69] [-f <file>] [--expect-content <text> | --expect-size <bytes>]',
    '          [-w <seconds>] [-c <seconds>] [-t <timeout>] [--mode octet|netascii] [--blksize N]',
    '          [--windowsize N] [--no-options] [--retransmit <seconds>] [--max-size <bytes>]',
    'check_tftp --connect <host> [-p <port>] [-t <timeout>]',
    'check_tftp --get <host> <file> <size> [-p <port>] [-t <timeout>]',
  ].join('\n'),
  description: [
    'Reads a whole file over TFTP (UDP has no connect: only a transfer proves a server serves files),',
    'checks its content or size and reports size, time and throughput. Negotiates blksize, tsize,',
    'timeout and windowsize (RFC 2347/2348/2349/7440) and falls back when the server ignores them;',
    'accepts data only from the port the server chose (RFC 1350 transfer ID).',
    'Without -f and --expect-*, reads tftp_check.txt and expects it to hold OK.',
    '--connect and --get are the forms (and success lines) of the classic check_tftp:',
    "'OK - answer from server' when the server answers File not found for a bogus name, and",
    "'OK - Received N bytes in S seconds' when FILE has SIZE bytes. They are nanny's forms: they",
    'always exit 0 and the line says up or down (expect = "OK - answer from server"), since nanny',
    'counts a non-zero exit as up; with --misc-dynamic they exit as described below. For Nagios',
    'exit codes use -H.',
  ],
  options: TFTP_OPTIONS,
  defaultPort: 69,
  okSummary: 'TFTP check was successful',
  perfSeparator: '|',
  toOptions: (args) => tftpOptionsFromArgs(args),
  check: checkTftp,
};

#!/usr/bin/env node
// lbguard: the daemon's command line. The orchestrator itself arrives with its own issue;
// until then this answers --version and --help so that the package's bin entry is real.
import { VERSION } from '../plugins/runtime/plugin.ts';

const USAGE = `Usage: lbguard <command>

Commands (more arrive with the orchestrator):
  version        print the version
  help           this text

The Nagios plugins are installed as check_ssh (and check_ftp, check_tftp as they land).
`;

function main(argv: readonly string[]): number {
  const command = argv[0] ?? 'help';
  switch (command) {
    case 'version': case '--version': case '-V':
      process.stdout.write(`lbguard ${VERSION}\n`);
      return 0;
    case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`lbguard: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

process.exitCode = main(process.argv.slice(2));

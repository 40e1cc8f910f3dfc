// check_ftp cold start against a local vsftpd: the banner check next to the C plugin and Node's own
// floor (node -e 0), and a login+download (anonymous, passive, basic-ftp loaded), all in this run.
import { pluginPath } from '../test/helpers/processes.ts';
import { startVsftpd } from '../test/helpers/vsftpd.ts';
import { printTimings, timeCommands } from './lib.ts';

export default async function ftpBench(): Promise<void> {
  const vsftpd = await startVsftpd({ tls: false });
  try {
    const target = ['-H', '127.0.0.1', '-p', String(vsftpd.port)];
    const timings = timeCommands(
      [
        { name: 'node -e 0', argv: [process.execPath, '-e', '0'], expectExit: 0 },
        { name: 'C check_ftp 2.3.3', argv: ['/usr/lib/nagios/plugins/check_ftp', ...target], expectExit: 0 },
        { name: 'lbguard check_ftp', argv: [process.execPath, pluginPath('check_ftp'), ...target], expectExit: 0 },
        { name: 'lbguard check_ftp --get (login+RETR)', argv: [process.execPath, pluginPath('check_ftp'), ...target, '--get', 'hello.txt'], expectExit: 0 },
      ],
      Number(process.env.BENCH_RUNS ?? 30),
    );
    printTimings('check_ftp: one invocation against a local vsftpd', timings, 'node -e 0');
  } finally {
    await vsftpd.stop();
  }
}

// check_ssh cold start against a local sshd, next to the C plugin and Node's own floor (node -e 0),
// all measured in this run with the same environment (NODE_EXTRA_CA_CERTS is in both Node sides).
import { pluginPath } from '../test/helpers/processes.ts';
import { startSshd } from '../test/helpers/sshd.ts';
import { printTimings, timeCommands } from './lib.ts';

export default async function sshBench(): Promise<void> {
  const sshd = await startSshd();
  try {
    const target = ['-H', '127.0.0.1', '-p', String(sshd.port)];
    const timings = timeCommands(
      [
        { name: 'node -e 0', argv: [process.execPath, '-e', '0'], expectExit: 0 },
        { name: 'lbguard check_ssh', argv: [process.execPath, pluginPath('check_ssh'), ...target], expectExit: 0 },
        { name: 'C check_ssh 2.3.3', argv: ['/usr/lib/nagios/plugins/check_ssh', ...target], expectExit: 0 },
        { name: 'lbguard check_ssh --hostkey', argv: [process.execPath, pluginPath('check_ssh'), ...target, '--hostkey', sshd.hostKeyFingerprint], expectExit: 0 },
      ],
      Number(process.env.BENCH_RUNS ?? 30),
    );
    printTimings('check_ssh: one invocation against a local sshd (target: lbguard <= 1.5x node -e 0)', timings, 'node -e 0');
  } finally {
    await sshd.stop();
  }
}

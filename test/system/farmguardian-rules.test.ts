// What farmguardian's way of running a command (test/helpers/farmguardian.ts) means for the rendered
// ones: PORT may be the farm's port list, range or * (quoted, or sh expands it); the libexec directory
// holds monitoring-plugins' C plugins, so our plugins need names of their own; a path is not found;
// and a slow check is waited for, never ended, so the command's own -t bounds the round.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { firstLine, guardianSetup } from '../helpers/appliance-libexec.ts';
import { silent } from '../helpers/fake-servers.ts';
import { guardianRound } from '../helpers/farmguardian.ts';
import { ROOT } from '../helpers/processes.ts';
import { startVsftpd } from '../helpers/vsftpd.ts';

const setup = guardianSetup(t, 'rules');

t.test("a backend without a port gets the farm's virtual port: a list or a range, quoted *", async (t) => {
  const ftp = await startVsftpd({ tls: false });
  t.teardown(() => ftp.stop());
  writeFileSync(join(ftp.dir, 'anon', 'check.txt'), 'OK\n');
  const { command, timeout } = setup.commands.get('ftp')!;
  for (const vport of [`${ftp.port},${ftp.port + 1}`, `${ftp.port}:${ftp.port + 10}`]) {
    const [result] = await guardianRound({ command, libexec: setup.libexec, timeout }, { vport, backends: [{ ip: '127.0.0.1', port: null }] });
    t.match(result, { up: true }, `vport ${vport}: ${result!.line} -> ${firstLine(result)}`);
  }
  // run from /: an unquoted * is expanded by sh into /'s entries
  const bare = command.replace("'PORT'", 'PORT');
  const [globbed] = await guardianRound({ command: bare, libexec: setup.libexec, timeout }, { vport: '*', backends: [{ ip: '127.0.0.1', port: null }] });
  t.equal(globbed!.exitCode, 3, `unquoted PORT with vport *: sh expands it, usage error (${firstLine(globbed)})`);
});

t.test('why the names: the C plugins beside ours refuse our options, and a path is not found', async (t) => {
  const ftp = await startVsftpd({ tls: false });
  t.teardown(() => ftp.stop());
  writeFileSync(join(ftp.dir, 'anon', 'check.txt'), 'OK\n');
  const backends = [{ ip: '127.0.0.1', port: String(ftp.port) }];
  const run = async (command: string) => (await guardianRound({ command, libexec: setup.libexec, timeout: 9 }, { vport: '21', backends }))[0]!;
  const ours = await run("lbguard_check_ftp -H HOST -p 'PORT' -t 8 --get=check.txt --expect-content=OK");
  t.match(ours, { up: true }, `ours, by its own name: up (${firstLine(ours)})`);
  const cWithOurs = await run('check_ftp -H HOST -p PORT -t 8 --get=check.txt');
  t.match(cWithOurs, { up: false, exitCode: 3 }, `the C check_ftp (what \`check_ftp\` names there) refuses --get: exit 3 = down (${firstLine(cWithOurs)})`);
  const cPlain = await run('check_ftp -H HOST -p PORT -t 8');
  t.match(cPlain, { up: true }, `the C check_ftp with its own options: up (${firstLine(cPlain)})`);
  const path = await run(`${join(ROOT, 'dist', 'plugins', 'check_ftp.cjs')} -H HOST -p PORT`);
  t.match(path, { up: false, exitCode: 127 }, 'an absolute path becomes libexec//path: not found');
});

t.test('farmguardian does not end a slow check: the round waits, so the -t is what bounds it', async (t) => {
  const hang = await silent();
  t.teardown(() => hang.close());
  const backends = [{ ip: '127.0.0.1', port: String(hang.port) }, { ip: '127.0.0.1', port: String(hang.port) }];
  const round = await guardianRound({ command: "lbguard_check_ftp -H HOST -p 'PORT' -t 2", libexec: setup.libexec, timeout: 1 }, { vport: '21', backends });
  t.ok(round.every((r) => r.overTimeout && !r.up), `each check ran past the 1 s timeout and was waited for (${round.map((r) => Math.round(r.ms)).join(', ')} ms)`);
  t.ok(round.every((r) => r.ms >= 1900), 'each ran at least its own -t 2 (nothing ended it earlier)');
  t.match(firstLine(round[0]), /CRITICAL/, 'and ended by it: CRITICAL');
});


// Files named on a plugin's command line (--extra-opts, --identity, --ca-file) that are not files to
// read: a FIFO nobody writes, /dev/zero, a directory. Each is a usage error (UNKNOWN) at once, never
// a plugin blocked past -t or filling memory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runPlugin } from '../helpers/processes.ts';

const dir = mkdtempSync(join(tmpdir(), 'lbguard-plugin-files-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);
const kinds: [string, string][] = [[fifo, 'a FIFO'], ['/dev/zero', 'a device'], [dir, 'a directory']];

t.test('check_ssh --extra-opts and --identity', async (t) => {
  for (const [path, kind] of kinds) {
    const opts = await runPlugin('check_ssh', ['-H', '127.0.0.1', '-t', '2', `--extra-opts=check_ssh@${path}`], { timeoutMs: 10_000 });
    t.equal(opts.code, 3, `--extra-opts ${path}: UNKNOWN`);
    t.equal(opts.firstLine, `SSH UNKNOWN - --extra-opts: cannot read ${path}: ${kind}, not a regular file`);
    const identity = await runPlugin('check_ssh', ['-H', '127.0.0.1', '-t', '2', '--user', 'x', '--identity', path], { timeoutMs: 10_000 });
    t.equal(identity.code, 3, `--identity ${path}: UNKNOWN`);
    t.equal(identity.firstLine, `SSH UNKNOWN - cannot read identity file ${path}: ${kind}, not a regular file`);
  }
});

t.test('check_ftp --ca-file and MP_CONFIG_FILE', async (t) => {
  for (const [path, kind] of kinds) {
    const ca = await runPlugin('check_ftp', ['-H', '127.0.0.1', '-t', '2', '--auth-tls', '--ca-file', path], { timeoutMs: 10_000 });
    t.equal(ca.code, 3, `--ca-file ${path}: UNKNOWN`);
    t.equal(ca.firstLine, `FTP UNKNOWN - cannot read --ca-file ${path}: ${kind}, not a regular file`);
    const ini = await runPlugin('check_ftp', ['-H', '127.0.0.1', '-t', '2', '--extra-opts'], { timeoutMs: 10_000, env: { ...process.env, MP_CONFIG_FILE: path } });
    t.equal(ini.code, 3, `MP_CONFIG_FILE=${path}: UNKNOWN`);
    t.equal(ini.firstLine, `FTP UNKNOWN - --extra-opts: cannot read ${path}: ${kind}, not a regular file`);
  }
});

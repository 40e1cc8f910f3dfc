// `lbguard install-plugins --libexec DIR`: launchers named so they do not collide with monitoring-plugins'
// (lbguard_check_ftp, lbguard_check_tftp, lbguard_check_ssh), which run the built plugins; a file lbguard
// did not write (a C plugin, a symlink, an admin's script) is left as it is and reported.
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, runCommand } from '../helpers/processes.ts';

const lbguard = (args: string[]) => runCommand(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), ...args]);

t.test('installs three launchers that run our plugins, and updates its own on a second run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-libexec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const first = await lbguard(['install-plugins', '--libexec', dir]);
  t.equal(first.code, 0, first.stdout + first.stderr);
  for (const name of ['lbguard_check_ftp', 'lbguard_check_tftp', 'lbguard_check_ssh']) {
    t.match(first.stdout, new RegExp(`^${join(dir, name)}: installed \\(runs `, 'm'));
    t.equal(lstatSync(join(dir, name)).mode & 0o777, 0o755, `${name} is executable`);
    const version = await runCommand(join(dir, name), ['-V']);
    t.match(version.firstLine, new RegExp(`^${name.replace('lbguard_', '')} v\\d`), `${name} -V runs lbguard's plugin`);
  }
  const usage = await runCommand(join(dir, 'lbguard_check_ftp'), ['-H']);
  t.equal(usage.code, 3, 'arguments reach the plugin: -H without a value is a usage error (3)');
  const second = await lbguard(['install-plugins', '--libexec', dir]);
  t.equal(second.code, 0);
  t.match(second.stdout, /lbguard_check_ftp: updated/);
  t.same(readFileSync(join(dir, 'lbguard_check_ftp'), 'utf8').split('\n')[0], '#!/bin/sh');
});

t.test('a file it did not write is left alone, said so, and the exit is 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-libexec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'lbguard_check_ftp'), '#!/bin/sh\necho the admin\'s own\n', { mode: 0o755 });
  symlinkSync('/usr/lib/nagios/plugins/check_ssh', join(dir, 'lbguard_check_ssh'));
  const run = await lbguard(['install-plugins', '--libexec', dir]);
  t.equal(run.code, 1);
  t.match(run.stdout, new RegExp(`^${join(dir, 'lbguard_check_ftp')}: left alone: lbguard did not write it`, 'm'));
  t.match(run.stdout, new RegExp(`^${join(dir, 'lbguard_check_ssh')}: left alone: lbguard did not write it`, 'm'));
  t.match(run.stdout, /lbguard_check_tftp: installed/, 'the free name is still installed');
  t.equal(readFileSync(join(dir, 'lbguard_check_ftp'), 'utf8'), '#!/bin/sh\necho the admin\'s own\n', 'contents unchanged');
  t.equal(readlinkSync(join(dir, 'lbguard_check_ssh')), '/usr/lib/nagios/plugins/check_ssh', 'the symlink unchanged');
  const missing = await lbguard(['install-plugins', '--libexec', join(dir, 'nosuch')]);
  t.equal(missing.code, 1);
  t.match(missing.stdout, /nosuch\/lbguard_check_ftp: not installed: ENOENT/);
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { expandExtraOpts, readIniSection } from '../../plugins/runtime/extra-opts.ts';

const ini = `# comment
; another comment
[check_ssh]
hostname = 127.0.0.1
port=2222
verbose

[ftp_prod]
expect=220
expect = "230 ready"
password=s3cret with spaces
`;

t.test('sections, repeated keys, flags, quotes, comments', async (t) => {
  t.same(readIniSection(ini, 'check_ssh'), [
    { key: 'hostname', value: '127.0.0.1' },
    { key: 'port', value: '2222' },
    { key: 'verbose', value: undefined },
  ]);
  t.same(readIniSection(ini, 'ftp_prod')?.map((e) => e.value), ['220', '230 ready', 's3cret with spaces']);
  t.equal(readIniSection(ini, 'missing'), undefined);
});

t.test('--extra-opts locators', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-ini-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'plugins.ini');
  writeFileSync(file, ini);
  t.same(expandExtraOpts([`--extra-opts=@${file}`, '-t', '3'], 'check_ssh'), {
    fileArgs: ['--hostname=127.0.0.1', '--port=2222', '--verbose'],
    cliArgs: ['-t', '3'],
  }, 'default section is the plugin name');
  t.same(expandExtraOpts([`--extra-opts=ftp_prod@${file}`], 'check_ftp').fileArgs, ['--expect=220', '--expect=230 ready', '--password=s3cret with spaces']);
  t.same(expandExtraOpts(['--extra-opts'], 'check_ssh', { MP_CONFIG_FILE: file }).fileArgs[0], '--hostname=127.0.0.1', 'MP_CONFIG_FILE names the default file');
  t.throws(() => expandExtraOpts([`--extra-opts=nope@${file}`], 'check_ssh'), /section \[nope\] not found/);
  t.throws(() => expandExtraOpts([`--extra-opts=@${dir}/absent.ini`], 'check_ssh'), /cannot read .*absent\.ini: ENOENT/);
});

// API keys for nftlb and the Zevenet appliance: a file's first line (bare or `Key: KEY`) or the environment.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readApiKey } from '../../zevenet-adapters/key.ts';

t.test('key files and the environment', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-key-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
  t.equal(readApiKey('nftlb', file('bare', 's3cret\nignored\n'), 'X_KEY', {}), 's3cret');
  t.equal(readApiKey('nftlb', file('header', 'Key: s3cret\n'), 'X_KEY', {}), 's3cret', 'the form curl -H @FILE takes');
  t.equal(readApiKey('Zevenet', undefined, 'X_KEY', { X_KEY: 'from-env' }), 'from-env');
  t.throws(() => readApiKey('nftlb', file('empty', '\n'), 'X_KEY', {}), /the nftlb key file .* is empty/);
  t.throws(() => readApiKey('nftlb', join(dir, 'missing'), 'X_KEY', {}), /cannot read the nftlb key file .*: ENOENT/);
  t.throws(() => readApiKey('Zevenet', undefined, 'X_KEY', {}), /no Zevenet API key: set key-file .* or X_KEY in the environment/);
});

// The key is read before each request: a key-file that blocks or never ends would stall the daemon.
t.test('a key-file that is a FIFO, a device or huge is refused at once, naming the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-key-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const huge = join(dir, 'huge');
  writeFileSync(huge, 'k'.repeat(2 * 1024 * 1024));
  t.throws(() => readApiKey('nftlb', fifo, 'X_KEY', {}), { message: `cannot read the nftlb key file ${fifo}: a FIFO, not a regular file` });
  t.throws(() => readApiKey('nftlb', '/dev/zero', 'X_KEY', {}), { message: 'cannot read the nftlb key file /dev/zero: a device, not a regular file' });
  t.throws(() => readApiKey('Zevenet', huge, 'X_KEY', {}), { message: /^cannot read the Zevenet key file .*huge: 2097152 bytes, more than the 65536 allowed$/ });
});

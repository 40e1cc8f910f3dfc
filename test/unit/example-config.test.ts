// docs/farms.example.yaml is what operators copy: it must stay a valid farms file.
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadValidConfig } from '../../orchestrator/config/semantics.ts';
import { DATAPLANE_KINDS } from '../../orchestrator/dataplane-kinds.ts';
import { ROOT } from '../helpers/processes.ts';

t.test('the commented example validates, with its FTP, TFTP, SFTP and command farms', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-example-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, 'monitor_ed25519');
  writeFileSync(key, 'not read until a check runs a session\n');
  const file = join(dir, 'farms.yaml');
  // the example names a key file that exists on the operator's host, not here
  writeFileSync(file, readFileSync(join(ROOT, 'docs', 'farms.example.yaml'), 'utf8').replace('/etc/lbguard/monitor_ed25519', key));
  const config = loadValidConfig(file, DATAPLANE_KINDS);
  t.same(config.farms.map((f) => [f.name, f.service, f.check.probe]), [
    ['ftp', 'ftp', 'ftp'],
    ['pxe', 'tftp', 'tftp'],
    ['sftp', 'sftp', 'ssh'],
    ['ftp-legacy', 'ftp', 'command'],
  ]);
  t.same(config.farms[0]?.virtual.ports, [{ from: 21, to: 21 }, { from: 20, to: 20 }]);
  t.equal(config.farms[0]?.check['on-failure'], 'quiesce');
});

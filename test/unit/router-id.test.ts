// The router-id allocator of the director-pair tests (test/helpers/router-id.ts): ids unique among
// running processes, freed at release or when the holder is gone.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { leaseRouterId } from '../helpers/router-id.ts';

const HELPER = join(import.meta.dirname, '..', 'helpers', 'router-id.ts');

/** a process that leases an id from `dir`, prints it and holds it until killed */
function holder(t: Test, dir: string, from: number, to: number): Promise<{ id: number; pid: number; kill: () => Promise<void> }> {
  const code = `const { leaseRouterId } = await import(${JSON.stringify(HELPER)});
    const lease = leaseRouterId({ dir: ${JSON.stringify(dir)}, from: ${from}, to: ${to} });
    process.stdout.write(lease.id + '\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(() => void child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve({ id: Number(String(d).trim()), pid: child.pid!, kill: async () => { child.kill('SIGKILL'); await exited; } }));
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
}

t.test('ids in one process differ; a lock holds the pid; release frees it once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-vrid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = leaseRouterId({ dir, from: 10, to: 12 });
  const b = leaseRouterId({ dir, from: 10, to: 12 });
  t.not(a.id, b.id);
  t.equal(readFileSync(join(dir, `${a.id}.lock`), 'utf8'), `${process.pid}\n`);
  a.release();
  a.release();
  t.notOk(existsSync(join(dir, `${a.id}.lock`)), 'released');
  t.ok(existsSync(join(dir, `${b.id}.lock`)), 'the other stays held');
  const c = leaseRouterId({ dir, from: 10, to: 12 });
  t.not(c.id, b.id);
  b.release();
  c.release();
  t.same(readdirSync(dir), [], 'no lock or draft left');
});

t.test('processes started together get different ids; a full range refuses; a killed holder\'s id is taken over', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-vrid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const holders = await Promise.all([1, 2, 3, 4].map(() => holder(t, dir, 20, 23)));
  t.same(holders.map((h) => h.id).sort(), [20, 21, 22, 23], 'four processes, four ids');
  t.throws(() => leaseRouterId({ dir, from: 20, to: 23 }), /^no VRRP router id free in 20-23: every lock in .* belongs to a running process$/);
  const gone = holders[2]!;
  await gone.kill();
  const lease = leaseRouterId({ dir, from: 20, to: 23 });
  t.equal(lease.id, gone.id, 'the id of the process killed (its lock left behind) is taken over');
  t.equal(readFileSync(join(dir, `${lease.id}.lock`), 'utf8'), `${process.pid}\n`);
  lease.release();
});

t.test('a lock of a live process is never taken over, whatever its id', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-vrid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, '30.lock'), `${process.ppid}\n`);
  const lease = leaseRouterId({ dir, from: 30, to: 31 });
  t.equal(lease.id, 31);
  t.equal(readFileSync(join(dir, '30.lock'), 'utf8'), `${process.ppid}\n`, 'untouched');
  lease.release();
});

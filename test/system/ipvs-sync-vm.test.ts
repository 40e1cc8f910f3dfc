// The IPVS sync daemon as vrrp.sync (engine ipvs) sets it, on a real IPVS kernel: this machine's
// kernel has none, so test/vm/ipvs-sync.sh runs in the QEMU guest (test/vm/). Two directors in
// namespaces with the same direct-routing service, a client, a real server pacing a 3 MB body;
// the virtual address moves from d1 to d2 during the download. Without the sync daemons d2 does
// not know the connection and the client is reset; with the commands lbguard runs on each role
// (ipvsadm --start-daemon master|backup --mcast-interface e0 --syncid 7, each after stopping both)
// d2's backup daemon holds the connection before the move and the download completes intact.
import { join } from 'node:path';
import t from 'tap';
import { requireBinary, ROOT, runCommand } from '../helpers/processes.ts';

t.setTimeout(400_000);

t.test('IPVS sync daemons keep a TCP download across the move of the virtual address', async (t) => {
  // the guest's own needs (busybox, cpio, kmod) are build-guest.sh's to say
  const needs = { '/usr/bin/qemu-system-x86_64': 'qemu-system-x86', '/usr/sbin/ipvsadm': 'ipvsadm', '/usr/bin/python3': 'python3', '/usr/bin/curl': 'curl' };
  for (const [binary, pkg] of Object.entries(needs)) requireBinary(binary, pkg);
  const cache = process.env.LBGUARD_VM_CACHE ?? '/var/cache/lbguard-vm';
  const built = await runCommand('bash', [join(ROOT, 'test', 'vm', 'build-guest.sh')], { timeoutMs: 300_000, env: { ...process.env, LBGUARD_VM_CACHE: cache } });
  if (built.code !== 0) return void t.fail(`the guest could not be built in ${cache}: ${built.stderr.trim().split('\n').at(-1)}`);
  const started = performance.now();
  const guest = await runCommand('bash', [join(ROOT, 'test', 'vm', 'run-guest.sh'), '--share', ROOT, join(ROOT, 'test', 'vm', 'ipvs-sync.sh')], { timeoutMs: 300_000, env: { ...process.env, LBGUARD_VM_CACHE: cache, LBGUARD_VM_TIMEOUT: '240' } });
  t.comment(`guest boot + both cases: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  t.comment(guest.stdout.trim());
  t.equal(guest.code, 0, 'the guest ran the script', { stderr: guest.stderr.slice(-2000) });
  const outcome = (name: string) => new RegExp(`^case ${name}: curl exit (\\d+), (\\d+) bytes, sha (ok|bad)`, 'm').exec(guest.stdout);
  const none = outcome('no-sync');
  const sync = outcome('sync');
  t.ok(none && (none[1] !== '0' || none[3] !== 'ok'), `without the sync daemons the download does not survive the move (${none?.[0]})`);
  t.match(guest.stdout, /== sync: [^\n]*\n-- d1:\n(?:TCP[^\n]*\n)*-- d2:\n(?:TCP[^\n]*\n)*?TCP \S+\s+ESTABLISHED 10\.0\.0\.2:\d+\s+10\.0\.0\.1:80\s+10\.0\.0\.3:80\n(?:TCP[^\n]*\n)*backup sync daemon \(mcast=e0, syncid=7/, "with them, d2's backup daemon holds the client's connection before the move");
  t.same(sync?.slice(1, 4), ['0', '3000000', 'ok'], 'and the download completes through d2, every byte intact');
});

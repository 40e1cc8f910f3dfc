// The ipvsadm adapter against a real IPVS kernel: this machine's kernel has none, so a Debian
// kernel that has it boots under QEMU (TCG, no KVM needed) with this machine's root as its
// userland (test/vm/). Inside, test/vm/ipvs-scenario.ts drives the adapter step by step and
// compares `ipvsadm -Sn` with what each step intends, sends TCP through IPVS-NAT and a fwmark
// service, passive FTP through a fwmark service (nft marks, persistence), TFTP through a fwmark
// service under IPVS-NAT (tftp-hpa and check_tftp, bytes checked, the serving backend identified,
// why the source NAT is needed), max-conns as -x read back from -Ln --thresholds,
// runs keepalived with the configuration lbguard renders (check_ssh as MISC_CHECK; its vrrp_instance
// from the farms file's vrrp: takes the virtual address as MASTER), ldirectord with
// check_ssh as its external checkcommand (weight 0 when down, back when up), and
// `lbguard run` itself on an ipvsadm farm (a stopped backend out, drift repaired, back in).
// Every step of the guest becomes an assertion here.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import t from 'tap';
import { requireBinary, ROOT, runCommand } from '../helpers/processes.ts';

t.setTimeout(400_000);

const cache = process.env.LBGUARD_VM_CACHE ?? '/var/cache/lbguard-vm';

t.test('the ipvsadm adapter on a real IPVS kernel', async (t) => {
  for (const [binary, pkg] of [
    ['/usr/bin/qemu-system-x86_64', 'qemu-system-x86'],
    ['/bin/busybox', 'busybox-static'],
    ['/usr/sbin/ipvsadm', 'ipvsadm'],
    ['/usr/bin/cpio', 'cpio'],
    ['/usr/bin/kmod', 'kmod'],
    ['/usr/sbin/nft', 'nftables'],
    ['/usr/bin/curl', 'curl'],
    ['/usr/sbin/vsftpd', 'vsftpd'],
    ['/usr/sbin/in.tftpd', 'tftpd-hpa'],
    ['/usr/bin/tftp', 'tftp-hpa'],
  ] as const) requireBinary(binary, pkg);

  const built = await runCommand('bash', [join(ROOT, 'test', 'vm', 'build-guest.sh')], { timeoutMs: 300_000, env: { ...process.env, LBGUARD_VM_CACHE: cache } });
  t.equal(built.code, 0, `guest built or found in ${cache}${built.code === 0 ? '' : `: ${built.stderr}`}`);

  // inside the project so that its npm dependencies resolve from node_modules (the guest reads it over 9p),
  // but outside dist/, which is what npm pack ships
  const bundle = join(ROOT, 'test', 'vm', '.build', 'ipvs-scenario.mjs');
  await build({ entryPoints: [join(ROOT, 'test', 'vm', 'ipvs-scenario.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: bundle, logLevel: 'warning' });
  t.ok(existsSync(join(ROOT, 'dist', 'plugins', 'check_ssh.cjs')), 'the plugins are built (npm run build), the guest runs dist/plugins/check_ssh.cjs');
  requireBinary('/usr/sbin/keepalived', 'keepalived');
  requireBinary('/usr/sbin/ldirectord', 'ldirectord');
  const script = join(cache, 'ipvs-scenario.sh');
  writeFileSync(script, `#!/bin/bash\ncd ${ROOT}\nexport LBGUARD_DIST=${join(ROOT, 'dist')}\nexec node ${bundle}\n`);

  const started = performance.now();
  const guest = await runCommand('bash', [join(ROOT, 'test', 'vm', 'run-guest.sh'), script], { timeoutMs: 260_000, env: { ...process.env, LBGUARD_VM_CACHE: cache, LBGUARD_VM_TIMEOUT: '240' } });
  t.comment(`guest boot + scenario: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const lines = guest.stdout.split('\n');
  lines.filter((l) => l.startsWith('# ')).forEach((l) => t.comment(l.slice(2)));
  const steps = lines.filter((l) => /^(not )?ok \d+ - /.test(l));
  for (const [index, line] of lines.entries()) {
    const match = /^(not )?ok \d+ - (.*)$/.exec(line);
    if (!match) continue;
    const detail = lines.slice(index + 1).filter((_, i, rest) => rest.slice(0, i + 1).every((l) => l.startsWith('#   '))).join('\n');
    t.ok(!match[1], match[2] ?? '', match[1] ? { detail } : {});
  }
  t.equal(steps.length, 41, 'every step of the scenario ran', { stderr: guest.stderr.slice(-3000) });
  t.equal(guest.code, 0, 'the guest scenario passed');
});

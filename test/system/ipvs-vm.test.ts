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
// Every step of the guest becomes an assertion here. The project is shared with the guest on its
// own (run-guest.sh --share), so the same runs from a checkout under /tmp or /root: the last test
// bind-mounts this checkout there and runs the scenario's probe mode from each.
import { existsSync, mkdtempSync, realpathSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import t, { type Test } from 'tap';
import { requireBinary, ROOT, runCommand, type PluginRun } from '../helpers/processes.ts';

t.setTimeout(500_000);

const cache = process.env.LBGUARD_VM_CACHE ?? '/var/cache/lbguard-vm';
const vmDir = join(ROOT, 'test', 'vm');
// inside the project so that what stays external (ssh2, basic-ftp, loaded lazily) resolves from its
// node_modules, but outside dist/, which is what npm pack ships
const bundle = join(vmDir, '.build', 'ipvs-scenario.mjs');

/** The guest, built once for both tests; resolves to a one-line reason when it cannot be had. */
let prepared: Promise<string | undefined> | undefined;
function prepareGuest(): Promise<string | undefined> {
  prepared ??= (async () => {
    const built = await runCommand('bash', [join(vmDir, 'build-guest.sh')], { timeoutMs: 300_000, env: { ...process.env, LBGUARD_VM_CACHE: cache } });
    if (built.code !== 0) return `the guest could not be built in ${cache}: ${reason(built)}`;
    // One file with the npm dependencies in it: node in the emulated guest took 43 s to load the
    // scenario when it read zod, execa and yaml file by file over 9p, 8 s as one bundle (TCG, busy host).
    // The require() of the CommonJS parts among them needs a real require in an ESM bundle.
    await build({
      entryPoints: [join(vmDir, 'ipvs-scenario.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'warning',
      external: ['ssh2', 'cpu-features', 'basic-ftp'],
      banner: { js: "import { createRequire as lbguardCreateRequire } from 'node:module'; const require = lbguardCreateRequire(import.meta.url);" },
    });
    if (!existsSync(join(ROOT, 'dist', 'plugins', 'check_ssh.cjs'))) return 'dist/plugins/check_ssh.cjs is missing: run npm run build (the guest runs the built plugins)';
    return undefined;
  })();
  return prepared;
}

/** The one line that says why a guest run gave no steps: run-guest's, guest-init's or node's own. */
function reason(run: PluginRun): string {
  const lines = [...run.stderr.split('\n'), ...run.stdout.split('\n')].map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /^(run-guest|guest-init|build-guest): |^\w*Error\b/.test(l)) ?? lines.at(-1) ?? `exit ${run.code}, no output`;
}

/**
 * run-guest.sh's --share arguments for a checkout: the checkout itself, and node_modules when it
 * is a link to somewhere outside it (a worktree's, say), since the guest may not see that place.
 */
function shares(checkout: string, realCheckout = checkout): string[] {
  const modules = realpathSync(join(realCheckout, 'node_modules'));
  const outside = relative(realCheckout, modules).startsWith('..');
  return ['--share', checkout, ...(outside ? ['--share', modules] : [])];
}

interface GuestRun {
  /** the checkout's path as the guest sees it */
  checkout: string;
  /** where it really is on this machine (differs when `checkout` is a bind mount made by `wrap`) */
  realCheckout?: string;
  /** exported to the scenario besides LBGUARD_DIST */
  env?: Record<string, string>;
  timeoutSeconds: number;
  /** a command that execs the `bash run-guest.sh ...` appended to it */
  wrap?: string[];
}

/** Boots the guest once: `node` on the scenario bundle of the checkout. */
async function runScenario({ checkout, realCheckout = checkout, env = {}, timeoutSeconds, wrap = [] }: GuestRun): Promise<PluginRun> {
  // the guest runs a script file; it lives beside the bundle, in the (shared) checkout
  const name = `run-${env.LBGUARD_VM_PROBE ? 'probe' : 'scenario'}-${process.pid}.sh`;
  const inGuest = (...path: string[]) => join(checkout, 'test', 'vm', ...path);
  const exports = Object.entries({ LBGUARD_DIST: join(checkout, 'dist'), ...env }).map(([k, v]) => `export ${k}='${v}'\n`).join('');
  writeFileSync(join(realCheckout, 'test', 'vm', '.build', name), `#!/bin/bash\ncd '${checkout}' || exit 96\n${exports}exec node '${inGuest('.build', 'ipvs-scenario.mjs')}'\n`);
  try {
    const command = [...wrap, 'bash', inGuest('run-guest.sh'), ...shares(checkout, realCheckout), inGuest('.build', name)];
    return await runCommand(command[0] ?? 'bash', command.slice(1), { timeoutMs: (timeoutSeconds + 20) * 1000, env: { ...process.env, LBGUARD_VM_CACHE: cache, LBGUARD_VM_TIMEOUT: String(timeoutSeconds) } });
  } finally {
    unlinkSync(join(realCheckout, 'test', 'vm', '.build', name));
  }
}

/** The guest's `ok N - …` lines as assertions, with the `#   ` detail of a failed one. */
function assertSteps(t: Test, output: string): number {
  const lines = output.split('\n');
  lines.filter((l) => l.startsWith('# ')).forEach((l) => t.comment(l.slice(2)));
  let steps = 0;
  for (const [index, line] of lines.entries()) {
    const match = /^(not )?ok \d+ - (.*)$/.exec(line);
    if (!match) continue;
    steps++;
    const detail = lines.slice(index + 1).filter((_, i, rest) => rest.slice(0, i + 1).every((l) => l.startsWith('#   '))).join('\n');
    t.ok(!match[1], match[2] ?? '', match[1] ? { detail } : {});
  }
  return steps;
}

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
    ['/usr/sbin/keepalived', 'keepalived'],
    ['/usr/sbin/ldirectord', 'ldirectord'],
  ] as const) requireBinary(binary, pkg);
  const missing = await prepareGuest();
  if (missing) return void t.fail(missing);

  const started = performance.now();
  const guest = await runScenario({ checkout: ROOT, timeoutSeconds: 240 });
  t.comment(`guest boot + scenario: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const steps = assertSteps(t, guest.stdout);
  if (steps === 0) return void t.fail(`the guest ran no step of the scenario: ${reason(guest)}`);
  t.equal(steps, 41, 'every step of the scenario ran', { stderr: guest.stderr.slice(-3000) });
  t.equal(guest.code, 0, 'the guest scenario passed');
});

// A root user's clone lands in /root, a quick try in /tmp: both are private to the guest, and a
// checkout there is seen only through its own share. This checkout is bind-mounted under each, in a
// mount namespace of its own (the mount ends with the run, whatever happens), and the guest runs
// the scenario's probe mode from there.
t.test('the guest sees a checkout under /tmp or /root', async (t) => {
  requireBinary('/usr/bin/unshare', 'util-linux');
  const missing = await prepareGuest();
  if (missing) return void t.fail(missing);
  for (const base of ['/tmp', '/root']) {
    const around = mkdtempSync(join(base, 'lbguard-checkout-'));
    const checkout = join(around, 'lbguard');
    const hostOnly = join(around, 'host-only');
    writeFileSync(hostOnly, 'seen by the host alone\n');
    try {
      await t.test(`checked out under ${base}`, async (t) => {
        // a shell of unshare's makes the mount point, binds this checkout on it and execs run-guest.sh;
        // the paths come as its arguments (after "bind"), never inside the command
        const wrap = ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', 'mkdir "$1" && mount --bind "$2" "$1" && shift 2 && exec "$@"', 'bind', checkout, ROOT];
        const guest = await runScenario({ checkout, realCheckout: ROOT, env: { LBGUARD_VM_PROBE: hostOnly }, timeoutSeconds: 90, wrap });
        const steps = assertSteps(t, guest.stdout);
        if (steps === 0) return void t.fail(`the guest ran no step from ${checkout}: ${reason(guest)}`);
        t.match(guest.stdout, `# bundle: ${checkout}/test/vm/.build/ipvs-scenario.mjs`, `the guest ran the bundle of the checkout under ${base}`);
        t.equal(steps, 4, 'every probe step ran');
        t.equal(guest.code, 0, 'the probe passed');
      });
    } finally {
      // the bind mount ended with its namespace: what is left are two empty directories and a file
      rmSync(hostOnly, { force: true });
      if (existsSync(checkout)) rmdirSync(checkout);
      rmdirSync(around);
    }
  }
});

// What the Farm Guardian tests share: a libexec directory as on an appliance (monitoring-plugins' C
// plugins with lbguard's launchers beside them), a mark library to preload as farmguardian does for
// L4xNAT farms, and the commands `lbguard render farmguardian` prints for one farm of each kind.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { GuardedResult } from './farmguardian.ts';
import { cPlugin, requireBinary, ROOT, runCommand } from './processes.ts';

const LBGUARD = join(ROOT, 'dist', 'lbguard.mjs');

/** The first line a check printed (its status line). */
export const firstLine = (result: GuardedResult | undefined) => result?.stdout.split('\n')[0] ?? '';

/** The appliance's libexec: the C check_ftp, check_ssh, check_tcp, and lbguard's launchers beside them. */
export async function applianceLibexec(t: Test, work: string): Promise<string> {
  const libexec = mkdtempSync(join(work, 'libexec-'));
  for (const name of ['check_ftp', 'check_ssh', 'check_tcp']) symlinkSync(cPlugin(name), join(libexec, name));
  const install = await runCommand(process.execPath, [LBGUARD, 'install-plugins', '--libexec', libexec]);
  t.equal(install.code, 0, install.stdout);
  return libexec;
}

/**
 * A mark library in the spirit of Zevenet's fgmark: every IPv4/IPv6 socket the check opens gets
 * SO_MARK = $MARK; loading it appends "PID MARK" to LOG so a test sees it was really preloaded.
 */
export function buildMarkPreload(work: string): { library: string; log: string } {
  const source = join(work, 'mark.c');
  const library = join(work, 'mark.so');
  const log = join(work, 'mark.log');
  writeFileSync(source, `#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static int (*real_socket)(int, int, int);
__attribute__((constructor)) static void loaded(void) {
  const char *mark = getenv("MARK");
  char line[64];
  int n = snprintf(line, sizeof line, "%d %s\\n", (int)getpid(), mark ? mark : "-");
  int fd = open(${JSON.stringify(log)}, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd >= 0) { if (write(fd, line, (size_t)n) < 0) {} close(fd); }
}
int socket(int domain, int type, int protocol) {
  if (!real_socket) real_socket = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
  int fd = real_socket(domain, type, protocol);
  const char *mark = getenv("MARK");
  if (fd >= 0 && mark && (domain == AF_INET || domain == AF_INET6)) {
    unsigned int value = (unsigned int)strtoul(mark, NULL, 0);
    setsockopt(fd, SOL_SOCKET, SO_MARK, &value, sizeof value);
  }
  return fd;
}
`);
  execFileSync(requireBinary('/usr/bin/cc', 'gcc'), ['-shared', '-fPIC', '-O2', '-Wall', '-o', library, source, '-ldl']);
  return { library, log };
}

/** One farm per check kind (name = service; its port; its check): the farms file the commands come from. */
const FARMS: readonly [string, number, string][] = [
  ['ftp', 21, '{probe: ftp, options: {get: check.txt, expect-content: OK, nanny: true}, interval: 10s, timeout: 3s}'],
  ['tftp', 69, '{probe: tftp, interval: 10s, timeout: 2s}'],
  ['sftp', 22, '{probe: ssh, interval: 10s, timeout: 3s}'],
  ['tcp', 21, '{probe: tcp, interval: 10s, timeout: 2s}'],
];
const farmsFile = () =>
  `farms:\n${FARMS.map(([name, port, check]) => `  - {name: ${name}, service: ${name}, virtual: {address: 192.0.2.10, ports: [${port}]}, check: ${check}, backends: [{name: b1, address: 127.0.0.1}]}\n`).join('')}`;

/** Everything a Farm Guardian test file needs, made before its tests: a work directory, the libexec, the rendered commands. */
export function guardianSetup(t: Test, label: string): { work: string; libexec: string; commands: Map<string, { command: string; timeout: number }> } {
  const work = mkdtempSync(join(tmpdir(), `lbguard-fg-${label}-`));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const setup = { work, libexec: '', commands: new Map<string, { command: string; timeout: number }>() };
  t.before(async () => {
    setup.libexec = await applianceLibexec(t, work);
    setup.commands = await rendered(t, work);
  });
  return setup;
}

/** `lbguard render farmguardian`: each farm's command and guardian timeout, as printed. */
export async function rendered(t: Test, work: string): Promise<Map<string, { command: string; timeout: number }>> {
  const file = join(work, 'farms.yaml');
  writeFileSync(file, farmsFile());
  const run = await runCommand(process.execPath, [LBGUARD, 'render', 'farmguardian', '-c', file]);
  t.equal(run.code, 0, run.stderr);
  const out = new Map<string, { command: string; timeout: number }>();
  for (const block of run.stdout.split(/^(?=# farm )/m)) {
    const name = /^# farm (\S+):/.exec(block)?.[1];
    const command = /^command: (.*)$/m.exec(block)?.[1];
    const timeout = Number(/^timeout: (\d+)$/m.exec(block)?.[1]);
    if (name && command) out.set(name, { command, timeout });
  }
  t.same([...out.keys()], ['ftp', 'tftp', 'sftp', 'tcp']);
  return out;
}


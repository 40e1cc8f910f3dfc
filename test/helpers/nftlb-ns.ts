import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NftlbProcess, startNftlb } from '../../zevenet-adapters/nftlb/daemon.ts';
import { type PluginRun, requireBinary, runCommand } from './processes.ts';

const IP = '/usr/sbin/ip';

/** runs argv inside a namespace, no shell */
export function inNamespace(ns: string, argv: readonly string[], options: { timeoutMs?: number } = {}): Promise<PluginRun> {
  return runCommand(IP, ['netns', 'exec', ns, ...argv], options);
}

export interface Forward {
  /** the host-side port on 127.0.0.1 */
  readonly port: number;
  close(): Promise<void>;
}

// Runs inside the namespace: a unix socket (file system paths cross network namespaces) piped to a TCP port there.
const NS_SIDE = `const net=require('node:net');const [path,port]=process.argv.slice(1);
net.createServer((c)=>{const t=net.createConnection(Number(port),'127.0.0.1');c.pipe(t).pipe(c);c.on('error',()=>t.destroy());t.on('error',()=>c.destroy());})
.listen(path,()=>process.stdout.write('ready\\n'));`;

/**
 * 127.0.0.1:PORT on the host relayed to 127.0.0.1:nsPort inside a namespace, through a unix socket:
 * the test talks to a daemon in a namespace without giving the host any address.
 */
export async function forwardIntoNamespace(ns: string, nsPort: number): Promise<Forward> {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-fwd-'));
  const path = join(dir, 'sock');
  const relay = spawn(IP, ['netns', 'exec', ns, process.execPath, '-e', NS_SIDE, path, String(nsPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    relay.stdout!.once('data', () => resolve());
    relay.once('exit', (code) => reject(new Error(`namespace relay exited (${code})`)));
  });
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(path);
    open.add(client);
    client.once('close', () => open.delete(client));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (relay.exitCode === null) {
        relay.kill('SIGTERM');
        await new Promise<void>((resolve) => relay.once('exit', () => resolve()));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface NftlbNamespace {
  readonly ns: string;
  /** the running nftlb (a new one after restart()) */
  nftlb(): NftlbProcess;
  /** http://127.0.0.1:PORT on the host, relayed to nftlb's API in the namespace */
  readonly url: string;
  /** a file holding nftlb's key */
  readonly keyFile: string;
  /** `nft list table ip nftlb` in the namespace */
  ruleset(): Promise<string>;
  /** stops nftlb (it answers nothing until start()) */
  stop(): Promise<void>;
  /** starts a new nftlb (empty, with a new key, written to keyFile) */
  start(): Promise<void>;
  remove(): Promise<void>;
}

/** A namespace of the test's own with loopback only, nftlb in it (its key read from its stdout), its API relayed to the host. */
export async function nftlbInNamespace(label: string): Promise<NftlbNamespace> {
  requireBinary(IP, 'iproute2');
  requireBinary('/usr/sbin/nftlb', 'nftlb');
  requireBinary('/usr/sbin/nft', 'nftables');
  const ns = `lbg-${label}-${process.pid}`;
  try {
    execFileSync(IP, ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // none left over: the usual case
  }
  execFileSync(IP, ['netns', 'add', ns]);
  execFileSync(IP, ['-n', ns, 'link', 'set', 'lo', 'up']);
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-nftlb-'));
  let nftlb: NftlbProcess | undefined;
  let forward: Forward | undefined;
  const remove = async () => {
    await forward?.close();
    await nftlb?.stop();
    execFileSync(IP, ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  };
  const keyFile = join(dir, 'key');
  const start = async () => {
    nftlb = await startNftlb({ host: '127.0.0.1', port: 5555, prefix: [IP, 'netns', 'exec', ns] });
    writeFileSync(keyFile, `${nftlb.key}\n`, { mode: 0o600 });
    forward ??= await forwardIntoNamespace(ns, 5555);
    const url = `http://127.0.0.1:${forward.port}`;
    const until = Date.now() + 5000;
    while (!(await fetch(`${url}/farms`, { headers: { Key: nftlb.key } }).then((r) => r.ok, () => false))) {
      if (Date.now() > until) throw new Error(`nftlb in ${ns} does not answer: ${nftlb.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await start();
    return {
      ns,
      nftlb: () => nftlb!,
      url: `http://127.0.0.1:${forward!.port}`,
      keyFile,
      ruleset: async () => (await inNamespace(ns, ['nft', 'list', 'table', 'ip', 'nftlb'])).stdout,
      stop: async () => nftlb?.stop(),
      start,
      remove,
    };
  } catch (error) {
    await remove();
    throw error;
  }
}

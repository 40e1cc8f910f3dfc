// The userspace balancer's wide reads: a client that asks for no options (tftp-hpa's client, RFC
// 1350) gets 512-byte blocks, while the server is asked for blksize 1468 (less under a smaller MTU)
// and sends a third of the datagrams. Behind it the test's misbehaving TFTP server (test/helpers/tftp-fake.ts): every file
// must arrive byte for byte whatever the size (empty, a multiple of 512 or of the wide size), whether the
// server grants the option, ignores it or refuses it, loses an ACK or sends everything twice.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import { wideBlockSize } from '../../lvs-adapters/userspace/tftp-relay.ts';
import { requireBinary, runCommand } from '../helpers/processes.ts';
import { freeUdpPort, TFTP_CLIENT } from '../helpers/tftp-daemons.ts';
import { type FakeTftpBehaviour, startFakeTftp } from '../helpers/tftp-fake.ts';

const VIP = '127.0.0.2';
const client = requireBinary(TFTP_CLIENT, 'tftp-hpa');
/** 1468 behind Ethernet, less behind a smaller MTU (this host's interfaces decide) */
const WIDE = wideBlockSize(false);
const files: Record<string, Buffer> = {
  'empty.bin': Buffer.alloc(0),
  'three-blocks.bin': randomBytes(3 * 512),
  'two-wide.bin': randomBytes(2 * WIDE),
  'odd.bin': randomBytes(2 * WIDE + 5),
  'big.bin': randomBytes(300_001),
};
const out = mkdtempSync(join(tmpdir(), 'lbguard-userspace-wide-'));
t.teardown(() => rmSync(out, { recursive: true, force: true }));

/** The balancer in front of one fake server; gets run through it with tftp-hpa's client. */
async function through(t: Test, behaviour: Partial<FakeTftpBehaviour>) {
  const server = await startFakeTftp({ files, ...behaviour });
  t.teardown(() => server.close());
  const port = await freeUdpPort(VIP);
  const adapter = new UserspaceAdapter({ type: 'userspace' });
  t.teardown(() => adapter.close());
  const service = { farm: 'wide', service: 'tftp' as const, protocol: 'udp' as const, address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' };
  await adapter.apply([{ kind: 'add-farm', farm: { service, servers: [{ name: 'fake', address: '127.0.0.1', port: server.port, weight: 1 }] } }]);
  let n = 0;
  const get = async (file: string): Promise<Buffer | string> => {
    const target = join(out, `${n++}-${file}`);
    const run = await runCommand(client, ['-m', 'binary', VIP, String(port), '-c', 'get', file, target], { timeoutMs: 30_000 });
    if (run.code !== 0 || /Error|timed out/i.test(run.stdout + run.stderr)) return `tftp: ${run.stdout}${run.stderr}`;
    return readFileSync(target);
  };
  return { server, adapter, get };
}

const intact = async (t: Test, get: (file: string) => Promise<Buffer | string>, names = Object.keys(files)) => {
  for (const name of names) {
    const got = await get(name);
    t.ok(Buffer.isBuffer(got) && got.equals(files[name]!), `${name} (${files[name]!.length} bytes) intact${Buffer.isBuffer(got) ? '' : `: ${got}`}`);
  }
};

t.test('the server is asked for a wide blksize, the client gets every size intact', async (t) => {
  const { server, adapter, get } = await through(t, {});
  await intact(t, get);
  t.same(server.stats.requests.map((r) => r.options.get('blksize')), Object.keys(files).map(() => String(WIDE)), `each request went out with blksize ${WIDE}`);
  t.equal(server.stats.dataSent, Object.values(files).reduce((n, f) => n + Math.floor(f.length / WIDE) + 1, 0), `the server sent ${WIDE}-byte blocks`);
  t.same(adapter.counters().filter((c) => c.errorKind), [], 'no errors counted');
});

t.test('a server that ignores the option (RFC 1350) or refuses it (ERROR 8)', async (t) => {
  const ignoring = await through(t, { ignoreOptions: true });
  await intact(t, ignoring.get, ['three-blocks.bin', 'odd.bin']);
  const refusing = await through(t, { refuseOptions: true });
  await intact(t, refusing.get, ['empty.bin', 'three-blocks.bin', 'odd.bin']);
  t.same(refusing.server.stats.requests.map((r) => r.options.size), [1, 0, 1, 0, 1, 0], 'asked again without options after each refusal');
});

t.test('a lost ACK and duplicated DATA on the server side', async (t) => {
  const losing = await through(t, { dropFirstAckOf: 2 });
  await intact(t, losing.get, ['big.bin']);
  const doubling = await through(t, { duplicateData: true });
  await intact(t, doubling.get, ['odd.bin', 'big.bin']);
});

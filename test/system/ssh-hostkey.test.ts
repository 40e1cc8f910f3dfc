// check_ssh --hostkey does the SSH key exchange itself (plugins/ssh/host-key-exchange.ts), without
// ssh2. Against a real sshd forced to each host key type and each key exchange, the fingerprint it
// prints is `ssh-keygen -lf`'s and a pin matches or not; against fake servers, a key presented
// without a valid signature, no common algorithm, a stall and a huge packet length are CRITICAL.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { fakeSshServer, packet, sshString } from '../helpers/fake-ssh.ts';
import { runPlugin } from '../helpers/processes.ts';
import { type HostKeyType, type Sshd, startSshd } from '../helpers/sshd.ts';

const ssh = (port: number, ...args: string[]) => runPlugin('check_ssh', ['-H', '127.0.0.1', '-p', String(port), ...args]);
const WRONG_PIN = `SHA256:${'A'.repeat(43)}`;
const escape = (text: string) => text.replace(/[+/.]/g, '\\$&');

let sshd: Sshd;
t.before(async () => {
  sshd = await startSshd({ hostKeys: ['ed25519', 'ecdsa', 'ecdsa-384', 'ecdsa-521', 'rsa'] });
});
t.teardown(async () => sshd?.stop());

// Every key exchange with the Ed25519 key; each family of them (curve25519, NIST ECDH, group
// exchange, fixed MODP group; SHA-256, -384, -512 exchange hashes) with the ECDSA and RSA keys.
const KEX = ['curve25519-sha256', 'curve25519-sha256@libssh.org', 'ecdh-sha2-nistp256', 'ecdh-sha2-nistp384', 'ecdh-sha2-nistp521', 'diffie-hellman-group-exchange-sha256', 'diffie-hellman-group14-sha256', 'diffie-hellman-group16-sha512'];
const HOST_KEYS: [algorithm: string, key: HostKeyType, kex: readonly string[]][] = [
  ['ssh-ed25519', 'ed25519', KEX],
  ['ecdsa-sha2-nistp256', 'ecdsa', ['curve25519-sha256', 'ecdh-sha2-nistp384', 'diffie-hellman-group-exchange-sha256', 'diffie-hellman-group16-sha512']],
  ['rsa-sha2-512', 'rsa', ['curve25519-sha256@libssh.org', 'ecdh-sha2-nistp521', 'diffie-hellman-group-exchange-sha256', 'diffie-hellman-group14-sha256']],
];

/**
 * One sshd per setting (each forced with sshd's own -o), started one after the other (a free port
 * is only known free until taken), then checked two at a time.
 */
async function eachVariant(t: Test, settings: readonly Readonly<Record<string, string>>[], check: (port: number, setting: Readonly<Record<string, string>>, sshdOutput: () => string) => Promise<void>) {
  const variants: Awaited<ReturnType<Sshd['variant']>>[] = [];
  t.teardown(() => Promise.all(variants.map((v) => v.stop())));
  for (const setting of settings) variants.push(await sshd.variant(setting));
  for (let i = 0; i < variants.length; i += 2) {
    await Promise.all(variants.slice(i, i + 2).map((v, j) => check(v.port, settings[i + j]!, v.daemon.output)));
  }
}

t.test('each key exchange family with each host key type: the fingerprint is ssh-keygen -lf, the pin holds', async (t) => {
  const settings = HOST_KEYS.flatMap(([algorithm, , kexes]) => kexes.map((kex) => ({ KexAlgorithms: kex, HostKeyAlgorithms: algorithm })));
  await eachVariant(t, settings, async (port, { KexAlgorithms: kex, HostKeyAlgorithms: algorithm }, sshdOutput) => {
    const [, key, kexes] = HOST_KEYS.find(([a]) => a === algorithm)!;
    const expected = sshd.hostKeyFingerprints[key] as string;
    const what = `${kex} / ${algorithm}`;
    const pinned = await ssh(port, '--hostkey', expected, '-vv');
    t.equal(pinned.code, 0, `${what}: ${pinned.firstLine} ${sshdOutput()}`);
    t.match(pinned.firstLine, new RegExp(`host key ${escape(expected)} as pinned \\| time=`), what);
    t.match(pinned.stdout, `\nkey exchange ${kex}, host key algorithm ${algorithm}\n`, `${what}: the forced algorithms were used`);
    if (kex !== kexes[0]) return;
    const wrong = await ssh(port, '--hostkey', WRONG_PIN);
    t.equal(wrong.code, 2);
    t.equal(wrong.firstLine, `SSH CRITICAL - host key mismatch: server offers ${expected}, expected ${WRONG_PIN}`, `${algorithm}: mismatch names both`);
  });
});

t.test('the other signature algorithms: ECDSA P-384 and P-521, rsa-sha2-256 and SHA-1 ssh-rsa', async (t) => {
  const keys: Record<string, HostKeyType> = { 'ecdsa-sha2-nistp384': 'ecdsa-384', 'ecdsa-sha2-nistp521': 'ecdsa-521', 'rsa-sha2-256': 'rsa', 'ssh-rsa': 'rsa' };
  await eachVariant(t, Object.keys(keys).map((algorithm) => ({ HostKeyAlgorithms: algorithm })), async (port, { HostKeyAlgorithms: algorithm }, sshdOutput) => {
    const run = await ssh(port, '--hostkey', sshd.hostKeyFingerprints[keys[algorithm as string]!] as string, '-vv');
    t.equal(run.code, 0, `${algorithm}: ${run.firstLine} ${sshdOutput()}`);
    t.match(run.stdout, `, host key algorithm ${algorithm}\n`, `${algorithm} was used`);
  });
});

t.test('with all its keys offered, the server shows the Ed25519 one, as ssh2 (--user) sees it', async (t) => {
  const run = await ssh(sshd.port, '--hostkey', sshd.hostKeyFingerprints.ed25519 as string);
  t.equal(run.code, 0, run.firstLine);
  const login = await ssh(sshd.port, '--hostkey', sshd.hostKeyFingerprints.ed25519 as string, '--user', sshd.user, '--identity', sshd.userKeyPath);
  t.equal(login.code, 0, `the same pin with a login (ssh2): ${login.firstLine}`);
});

t.test('a server that presents a key it cannot sign for is CRITICAL, even when the key is the pinned one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-fakessh-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fingerprintOf = (line: string) => {
    writeFileSync(join(dir, 'key.pub'), `${line}\n`);
    return execFileSync('/usr/bin/ssh-keygen', ['-lf', join(dir, 'key.pub')], { encoding: 'utf8' }).split(' ')[1] as string;
  };
  const honest = await fakeSshServer('honest');
  t.teardown(() => honest.close());
  const ok = await ssh(honest.port, '--hostkey', fingerprintOf(honest.publicKeyLine));
  t.equal(ok.code, 0, `the fake signs correctly when honest: ${ok.firstLine}`);
  t.same(honest.received()[0], { messages: [20, 30, 1], disconnectReason: 11 }, 'KEXINIT, ECDH init, then DISCONNECT by application');

  const liar = await fakeSshServer('wrong-signature');
  t.teardown(() => liar.close());
  const pin = fingerprintOf(liar.publicKeyLine);
  const run = await ssh(liar.port, '--hostkey', pin);
  t.equal(run.code, 2);
  t.equal(run.firstLine, `SSH CRITICAL - host key signature does not verify: server presents ${pin} (ssh-ed25519) without proof it holds that key`);
});

t.test('no key exchange in common: CRITICAL naming what the server offers, made printable and cut', async (t) => {
  const old = await fakeSshServer({ offerKex: 'diffie-hellman-group1-sha1,sntrup761x25519-sha512@openssh.com' });
  t.teardown(() => old.close());
  const run = await ssh(old.port, '--hostkey', WRONG_PIN);
  t.equal(run.code, 2);
  t.equal(run.firstLine, 'SSH CRITICAL - no key exchange in common with the server, which offers diffie-hellman-group1-sha1,sntrup761x25519-sha512@openssh.com');
  const hostile = await fakeSshServer({ offerKex: `evil|\x1b[31m,${'x'.repeat(5000)}` });
  t.teardown(() => hostile.close());
  const cut = await ssh(hostile.port, '--hostkey', WRONG_PIN);
  t.equal(cut.code, 2);
  t.match(cut.firstLine, /^SSH CRITICAL - no key exchange in common with the server, which offers evil\\x7c\\x1b\[31m,x+\.\.\. \(5011 chars\)$/);
  t.ok(cut.stdout.length < 400, `${cut.stdout.length} bytes of output`);
});

t.test('a server that stalls after its KEXINIT: the timeout line within -t', async (t) => {
  const stall = await fakeSshServer('stall-after-kexinit');
  t.teardown(() => stall.close());
  const run = await ssh(stall.port, '--hostkey', WRONG_PIN, '-t', '2');
  t.equal(run.code, 2);
  t.equal(run.firstLine, 'SSH CRITICAL - Socket timeout after 2 seconds while exchanging keys');
  // -t and Node's start-up on a busy machine, far below the 10 s default timeout
  t.ok(run.ms < 2000 + 3000, `ended after ${run.ms.toFixed(0)} ms`);
});

t.test('a packet length of 1 MB is refused at once, not waited for', async (t) => {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(1024 * 1024);
  const huge = await fakeSshServer({ afterIdentification: header });
  t.teardown(() => huge.close());
  const run = await ssh(huge.port, '--hostkey', WRONG_PIN, '-t', '8');
  t.equal(run.code, 2);
  t.equal(run.firstLine, 'SSH CRITICAL - server sent a packet of 1048576 bytes during the key exchange (at most 35000 allowed)');
  t.ok(run.ms < 4000, `answered after ${run.ms.toFixed(0)} ms, not at the timeout`);
});

t.test('a server that disconnects instead of answering: its reason, made printable', async (t) => {
  const reason = Buffer.alloc(4);
  reason.writeUInt32BE(2);
  const disconnect = packet(Buffer.concat([Buffer.of(1), reason, sshString('too many\nconnections|'), sshString('')]));
  const server = await fakeSshServer({ afterIdentification: disconnect });
  t.teardown(() => server.close());
  const run = await ssh(server.port, '--hostkey', WRONG_PIN);
  t.equal(run.code, 2);
  t.equal(run.firstLine, 'SSH CRITICAL - server disconnected during the key exchange: too many\\nconnections\\x7c (reason 2)');
});

t.test('a connection reset during the key exchange: CRITICAL with the reason', async (t) => {
  const server = await fakeSshServer('reset-after-kexinit');
  t.teardown(() => server.close());
  const run = await ssh(server.port, '--hostkey', WRONG_PIN);
  t.equal(run.code, 2);
  t.equal(run.firstLine, 'SSH CRITICAL - connection lost during the key exchange: Connection reset by peer');
});

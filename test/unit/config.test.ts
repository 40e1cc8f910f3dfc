import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseDuration } from '../../orchestrator/config/duration.ts';
import { ConfigError, loadConfig, validateConfig } from '../../orchestrator/config/load.ts';
import { loadValidConfig } from '../../orchestrator/config/semantics.ts';
import { DATAPLANE_KINDS } from '../../orchestrator/dataplane-kinds.ts';

const farm = (extra: Record<string, unknown> = {}) => ({
  name: 'ftp',
  service: 'ftp',
  virtual: { address: '192.0.2.10', ports: [21, '42000-42100'] },
  check: { probe: 'tcp', interval: '2s', timeout: '500ms' },
  backends: [{ name: 'b1', address: '10.0.0.1', port: 21 }],
  ...extra,
});

function problems(data: unknown): string[] {
  try {
    validateConfig(data);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

t.test('a valid file gets its defaults and parsed values', async (t) => {
  const config = validateConfig({ farms: [farm()] });
  const [f] = config.farms;
  t.equal(config.status.listen, '127.0.0.1:9100');
  t.same(f?.virtual.ports, [{ from: 21, to: 21 }, { from: 42000, to: 42100 }]);
  t.same([f?.check.interval, f?.check.timeout, f?.check.rise, f?.check.fall, f?.check['on-failure']], [2000, 500, 2, 3, 'remove']);
  t.same([f?.scheduler, f?.dataplane, f?.backends[0]?.weight], ['wlc', { type: 'none' }, 1]);
});

// Cross-field rules (duplicate names) run once the fields themselves are valid, as zod orders them.
t.test('every problem, each with its path', async (t) => {
  const bad = {
    farms: [
      farm(),
      farm({ name: 'f2' }),
      farm({ name: 'f3', intreval: 5, backends: [{ name: 'b1', address: '10.0.0.1', port: 70000 }, { name: 'b1', address: 'x;rm -rf /', port: 'ftp' }] }),
    ],
    stauts: {},
  };
  t.same(problems(bad).sort(), [
    'farms[2].backends[0].port: expected 1..65535, got 70000',
    'farms[2].backends[1].address: expected an IP address or host name',
    'farms[2].backends[1].port: expected 1..65535, got "ftp"',
    'farms[2].intreval: unknown key',
    'stauts: unknown key',
  ].sort());
});

t.test('more shapes of wrong', async (t) => {
  t.same(problems({}), ['farms: missing']);
  t.same(problems({ farms: [] }), ['farms: expected at least 1 entries']);
  t.same(problems({ farms: [farm({ service: 'http' })] }), ['farms[0].service: expected one of ftp|tftp|sftp|tcp|udp, got "http"']);
  t.same(problems({ farms: [farm({ check: { probe: 'tcp', interval: '1s', timeout: '2s' } })] }), ['farms[0].check.timeout: must be shorter than the interval (1000ms), got 2000ms']);
  t.same(problems({ farms: [farm({ check: { probe: 'tcp', interval: 'soon' } })] }), ['farms[0].check.interval: expected a duration from 100ms to 3600s such as "2s" or "500ms", got "soon"']);
  t.same(problems({ farms: [farm({ virtual: { address: '192.0.2.1', ports: ['100-50'] } })] }), ['farms[0].virtual.ports[0]: expected a port or a range "a-b" within 1..65535, got "100-50"']);
  t.same(problems({ farms: [farm({ virtual: { address: '192.0.2.1' } })] }), ['farms[0].virtual: give either ports or fwmark']);
  t.same(problems({ farms: [farm({ check: { probe: 'command' } })] }), ['farms[0].check.command: probe "command" needs a command']);
  t.same(problems({ farms: [farm({ dataplane: { type: 'nftlb', url: 'http://127.0.0.1:5555', key: 'x' } })] }), ['farms[0].dataplane.key: unknown key']);
  t.same(problems({ farms: [farm(), farm()] }), ['farms[1].name: duplicate farm name "ftp"']);
  t.same(problems({ farms: [farm({ dataplane: { type: 'userspace', workers: 0 } })] }).length, 1, 'workers: 0');
  t.match(problems({ farms: [farm({ dataplane: { type: 'userspace', workers: 65 } })] }), [/^farms\[0\]\.dataplane\.workers: /], 'workers: 65');
  t.same(problems({ farms: [farm({ dataplane: { type: 'userspace', workers: 'many' } })] }), ['farms[0].dataplane.workers: expected a number of processes 1..64 or "auto", got "many"']);
  t.same(problems({ farms: [farm({ dataplane: { type: 'userspace', workers: 'auto' } })] }), [], 'workers: auto');
  t.same(problems({ farms: [farm({ dataplane: { type: 'userspace', workers: 4 } })] }), [], 'workers: 4');
  const faults = { type: 'userspace', 'connect-timeout': '500ms', retries: 0, 'error-limit': 0, 'drain-timeout': '0s' };
  t.same(problems({ farms: [farm({ dataplane: faults })] }), [], 'connect-timeout, retries, error-limit, drain-timeout');
  t.match(problems({ farms: [farm({ dataplane: { type: 'userspace', 'connect-timeout': '2m', retries: 17, 'error-limit': -1, 'drain-timeout': 'soon' } })] }), [
    /^farms\[0\]\.dataplane\.connect-timeout: /,
    /^farms\[0\]\.dataplane\.retries: /,
    /^farms\[0\]\.dataplane\.error-limit: /,
    /^farms\[0\]\.dataplane\.drain-timeout: /,
  ], 'out of range: each named');
});

t.test('YAML errors and check options the plugin refuses', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dup = join(dir, 'dup.yaml');
  writeFileSync(dup, 'farms: []\nfarms: []\n');
  t.throws(() => loadConfig(dup), /line 2: Map keys must be unique/);
  t.throws(() => loadConfig(join(dir, 'absent.yaml')), /\(file\): cannot read: ENOENT/);
  const badOption = join(dir, 'option.yaml');
  writeFileSync(badOption, `farms:
  - name: sftp
    service: sftp
    virtual: {address: 192.0.2.10, ports: [22]}
    check: {probe: ssh, options: {hostkey: not-a-fingerprint}}
    backends: [{name: b1, address: 10.0.0.1}]
`);
  t.throws(() => loadValidConfig(badOption, DATAPLANE_KINDS), /farms\[0\]\.check\.options: --hostkey must look like SHA256:/);
  const badKey = join(dir, 'key.yaml');
  writeFileSync(badKey, badOption.replace('option', 'key') && `farms:
  - name: sftp
    service: sftp
    virtual: {address: 192.0.2.10, ports: [22]}
    check: {probe: ssh, options: {no-such-option: 1}}
    backends: [{name: b1, address: 10.0.0.1}]
`);
  t.throws(() => loadValidConfig(badKey, DATAPLANE_KINDS), /farms\[0\]\.check\.options: unrecognized option '--no-such-option'/);
});

t.test('durations', async (t) => {
  t.same(['2s', '500ms', '1m', '1.5s', 3, '0', 'x', '-1s', '2 s'].map((v) => parseDuration(v)), [2000, 500, 60000, 1500, 3000, 0, undefined, undefined, 2000]);
});

t.test('status.listen: a port beyond 65535 is a problem of the file, not a crash at start', async (t) => {
  t.same(problems({ status: { listen: '127.0.0.1:99999' }, farms: [farm()] }), ['status.listen: expected host:port with a port up to 65535, got "127.0.0.1:99999"']);
  t.same(problems({ status: { listen: '[::1]:70000' }, farms: [farm()] }), ['status.listen: expected host:port with a port up to 65535, got "[::1]:70000"']);
  t.equal(validateConfig({ status: { listen: '[::1]:65535' }, farms: [farm()] }).status.listen, '[::1]:65535');
});

t.test('a file with thousands of problems shows the first 50 and counts the rest', async (t) => {
  const farms = Array.from({ length: 300 }, (_, i) => ({ name: `f${i}`, service: 'ftp', virtual: { address: '192.0.2.1', ports: [21] }, check: { probe: 'ftp' }, bogus: true, backends: [{ name: 'a', address: '10.0.0.1' }] }));
  let error: ConfigError | undefined;
  try {
    validateConfig({ farms });
  } catch (caught) {
    error = caught as ConfigError;
  }
  if (!(error instanceof ConfigError)) throw new Error('expected a ConfigError');
  t.equal(error.problems.length, 300, 'every problem is kept for programs');
  const lines = error.message.split('\n');
  t.equal(lines[0], '(config): 300 problem(s)');
  t.equal(lines.length, 1 + 50 + 1, 'the first 50 and one line for the rest');
  t.equal(lines.at(-1), '  ... and 250 more');
});

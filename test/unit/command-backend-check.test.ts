// `check.probe: command` from a validated farms file, as the orchestrator's probe for a backend.
import t from 'tap';
import { join } from 'node:path';
import { UsageError } from '../../plugins/runtime/errors.ts';
import { commandBackendCheck, commandSpecFromCheck } from '../../orchestrator/checks/command-backend-check.ts';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { backendPort } from '../../orchestrator/checks/backend-check.ts';
import { ROOT } from '../helpers/processes.ts';

const script = (name: string) => join(ROOT, 'test', 'fixtures', 'commands', name);

function farmWith(check: Record<string, unknown>) {
  const config = validateConfig({
    farms: [{
      name: 'ftp', service: 'ftp', virtual: { address: '192.0.2.10', ports: [21] },
      check: { probe: 'command', timeout: '2s', ...check },
      backends: [{ name: 'be1', address: '127.0.0.1', port: 2121, weight: 5 }],
    }],
  });
  const farm = config.farms[0];
  if (!farm) throw new Error('no farm');
  return farm;
}

type Farm = ReturnType<typeof farmWith>;
const probeOf = (farm: Farm) => {
  const backend = farm.backends[0]!;
  return commandBackendCheck(farm, { address: backend.address, port: backendPort(farm, backend) });
};

t.test('keepalived misc_dynamic from the farms file sets the verdict weight', async (t) => {
  const farm = farmWith({ style: 'keepalived', dynamic: true, command: `${script('exit-with.sh')} 12 'fine'` });
  const verdict = await probeOf(farm)(new AbortController().signal);
  t.match(verdict, { ok: true, weight: 10, line: 'fine' });
});

t.test('Farm Guardian tokens get the backend address and port', async (t) => {
  const farm = farmWith({ command: `${script('exit-with.sh')} 0 'up on HOST:PORT'` });
  const verdict = await probeOf(farm)(new AbortController().signal);
  t.match(verdict, { ok: true, line: 'up on 127.0.0.1:2121' });
  t.equal(verdict.weight, undefined);
});

t.test('nanny from the farms file: exact expect', async (t) => {
  const ok = farmWith({ style: 'nanny', command: `${script('exit-with.sh')} 0 OK`, expect: 'O' });
  t.match(await probeOf(ok)(new AbortController().signal), { ok: true });
});

t.test('a command that cannot be split is a config problem, not a run-time surprise', async (t) => {
  t.throws(() => commandSpecFromCheck(farmWith({ command: 'check_ftp -H HOST | grep OK' }).check), UsageError);
  t.throws(() => commandSpecFromCheck(farmWith({ style: 'nanny', command: 'check_tftp --connect %h' }).check), /needs expect/);
});

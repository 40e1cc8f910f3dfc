// Names a Zevenet appliance refuses (farm [a-zA-Z0-9-]+, Farm Guardian [\w-]+) are errors when the
// farms file is checked, at the key that holds them; other data planes keep lbguard's wider names.
import t from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { semanticProblems } from '../../orchestrator/config/semantics.ts';
import { DATAPLANE_KINDS } from '../../orchestrator/dataplane-kinds.ts';

const farm = (name: string, dataplane: Record<string, unknown>) => ({
  name, service: 'ftp', virtual: { address: '192.0.2.10', ports: [21] }, dataplane, check: { probe: 'ftp' }, backends: [{ name: 'b1', address: '10.0.0.1' }],
});
const zevenet = (extra: Record<string, unknown> = {}) => ({ type: 'zevenet', url: 'https://192.0.2.5:444', 'key-file': '/etc/lbguard/zapi.key', ...extra });
const problems = (farms: unknown[]) => semanticProblems(validateConfig({ farms }), DATAPLANE_KINDS);

t.test('a farm name the appliance refuses, on a zevenet data plane, is a problem at its key', async (t) => {
  t.same(problems([farm('ftp_main', zevenet())]), [
    { path: 'farms[0].name', message: `a Zevenet appliance's farm names are letters, digits and "-" only, got "ftp_main" (set dataplane.farm to the appliance's name)` },
  ]);
  t.same(problems([farm('ftp_main', zevenet({ farm: 'FTPfarm' }))]), [], 'dataplane.farm names the appliance farm: lbguard\'s own name may have "_"');
  t.same(problems([farm('ftp', zevenet({ farm: 'FTP.farm' }))]), [
    { path: 'farms[0].dataplane.farm', message: `a Zevenet appliance's farm names are letters, digits and "-" only, got "FTP.farm"` },
  ]);
  t.same(problems([farm('ftp.main', zevenet({ farm: 'FTPfarm' }))]), [
    { path: 'farms[0].name', message: 'the Farm Guardian name "lbguard-ftp.main" would be refused by a Zevenet appliance (letters, digits, "_" and "-" only): rename the farm' },
  ], 'the guardian name is [\\w-]+');
  t.same(problems([farm('ftp.main', { type: 'none' }), farm('ftp_2', { type: 'nftlb' })]), [], 'other data planes: no such rule');
});

import t from 'tap';
import { UsageError } from '../../plugins/runtime/errors.ts';
import { type OptionSpec, parseCommandLine } from '../../plugins/runtime/getopt.ts';
import { STANDARD_OPTIONS } from '../../plugins/runtime/plugin.ts';

const specs: OptionSpec[] = [...STANDARD_OPTIONS, { long: 'hostkey', arg: 'required', help: '' }, { long: 'sftp', arg: 'optional', help: '' }];
const parse = (...argv: string[]) => parseCommandLine(argv, specs);

t.test('short and long forms as getopt_long reads them', async (t) => {
  const p = parse('-H', 'host', '-p2222', '--warning=5', '--critical', '-10:-5', '-vvv', '-t', '3:UNKNOWN');
  t.same(p.values.get('hostname'), ['host']);
  t.same(p.values.get('port'), ['2222']);
  t.same(p.values.get('warning'), ['5']);
  t.same(p.values.get('critical'), ['-10:-5'], 'a value may start with a dash');
  t.equal(p.values.get('verbose')?.length, 3);
  t.same(p.values.get('timeout'), ['3:UNKNOWN']);
});

t.test('values that start with a dash after a short option', async (t) => {
  t.same(parse('-w', '-5:').values.get('warning'), ['-5:']);
});

t.test('unique prefixes and aliases of long options', async (t) => {
  t.same(parse('--hostn', 'x').values.get('hostname'), ['x']);
  t.same(parse('--host', 'x').values.get('hostname'), ['x'], '--host is an alias even though --hostkey shares the prefix');
  t.throws(() => parse('--ho', 'x'), /ambiguous/);
});

t.test('optional arguments only with =', async (t) => {
  t.same(parse('--sftp').values.get('sftp'), ['']);
  t.same(parse('--sftp=/pub').values.get('sftp'), ['/pub']);
  t.same(parse('--sftp', '/pub').positionals, ['/pub']);
});

t.test('positionals anywhere, and after --', async (t) => {
  const p = parse('host', '-p', '22', '--', '-H');
  t.same(p.positionals, ['host', '-H']);
});

t.test('errors', async (t) => {
  t.throws(() => parse('--bogus'), new UsageError("unrecognized option '--bogus'"));
  t.throws(() => parse('-x'), new UsageError("invalid option -- 'x'"));
  t.throws(() => parse('-p'), new UsageError("option requires an argument -- 'p'"));
  t.throws(() => parse('--port'), new UsageError("option '--port' requires an argument"));
  t.throws(() => parse('--help=yes'), new UsageError("option '--help' doesn't allow an argument"));
});

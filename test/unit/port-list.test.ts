// -p as Farm Guardian fills it for a backend without a port: the farm's virtual port, which on an
// L4xNAT farm can be a list, a range or `*`. The plugin checks its service's own port in it, else the first.
import t from 'tap';
import { parsePluginArgs, type PluginDefinition } from '../../plugins/runtime/plugin.ts';
import { UsageError } from '../../plugins/runtime/errors.ts';
import { portFromList } from '../../plugins/runtime/port-list.ts';
import { checkFtpPlugin } from '../../plugins/ftp/definition.ts';
import { checkSshPlugin } from '../../plugins/ssh/definition.ts';
import { checkTftpPlugin } from '../../plugins/tftp/definition.ts';

t.test('the service port when the list or range holds it, else the first port', async (t) => {
  t.equal(portFromList('20,21', 21), 21, 'FTP active+passive farm: 21');
  t.equal(portFromList('21', 21), 21);
  t.equal(portFromList('2121', 21), 2121, 'one port: as it is');
  t.equal(portFromList('1024:65535', 21), 1024, 'a range without 21: its first port');
  t.equal(portFromList('1:1024', 69), 69, 'a range holding 69');
  t.equal(portFromList('20-22', 22), 22, "nftlb's a-b form too");
  t.equal(portFromList('8021,8022', 21), 8021);
  t.equal(portFromList('*', 22), 22, 'every port: the service\'s own');
  t.equal(portFromList(' 20, 21', 21), 21, 'blanks around items');
});

t.test('what is not a port list is a usage error naming it', async (t) => {
  for (const bad of ['', 'ftp', '20,', '21:20', '0', '70000', '1:70000', '**', '20;21']) t.throws(() => portFromList(bad, 21), UsageError, bad);
  t.throws(() => portFromList('*', 0), /needs a plugin with a port of its own/, 'a plugin without a default port cannot take *');
});

t.test('the plugins take the lists Farm Guardian passes as -p', async (t) => {
  const port = <O>(definition: PluginDefinition<O>, argv: string[]) => {
    const parsed = parsePluginArgs(definition, argv);
    if (parsed === 'help' || parsed === 'version') throw new Error(parsed);
    return parsed.common.port;
  };
  t.equal(port(checkFtpPlugin, ['-H', '10.0.0.1', '-p', '20,21']), 21);
  t.equal(port(checkTftpPlugin, ['-H', '10.0.0.1', '-p', '*']), 69);
  t.equal(port(checkSshPlugin, ['-H', '10.0.0.1', '-p', '1024:65535']), 1024);
  t.equal(port(checkSshPlugin, ['-p', '22,2222', '10.0.0.1']), 22, 'with the host positional (check_ssh HOST)');
});

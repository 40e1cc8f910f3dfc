import t from 'tap';
import { UsageError } from '../../plugins/runtime/errors.ts';
import { validateHost } from '../../plugins/runtime/host.ts';
import { parsePort, parseTimeout } from '../../plugins/runtime/plugin.ts';
import { CRITICAL, OK, UNKNOWN } from '../../plugins/runtime/state.ts';

t.test('timeouts, with the timeout state override', async (t) => {
  t.same(parseTimeout('10'), { seconds: 10, state: CRITICAL });
  t.same(parseTimeout('2.5'), { seconds: 2.5, state: CRITICAL });
  t.same(parseTimeout('10:UNKNOWN'), { seconds: 10, state: UNKNOWN });
  t.same(parseTimeout('5:ok'), { seconds: 5, state: OK });
  for (const bad of ['0', '-1', 'abc', '10:maybe', '', '1:2:3', '99999999']) t.throws(() => parseTimeout(bad), UsageError, bad);
});

t.test('ports', async (t) => {
  t.equal(parsePort('22'), 22);
  for (const bad of ['0', '70000', 'abc', '-1', '22x', '']) t.throws(() => parsePort(bad), UsageError, bad);
});

t.test('host names are checked before anything runs', async (t) => {
  for (const good of ['127.0.0.1', '::1', '[::1]', 'backend-1.example.org', 'host_1', 'localhost.', '/run/sshd.sock']) {
    t.doesNotThrow(() => validateHost(good), good);
  }
  t.equal(validateHost('[::1]'), '::1');
  for (const bad of ['x;rm -rf /', '$(reboot)', 'a b', '`id`', '-oProxyCommand=x', '', 'a'.repeat(300), 'host|cat', '../etc/passwd']) {
    t.throws(() => validateHost(bad), /Invalid hostname\/address/, JSON.stringify(bad));
  }
});

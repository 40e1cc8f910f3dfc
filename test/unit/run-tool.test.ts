// runChecked, the one way lbguard runs nft and conntrackd (and, through ipvsadm(), ipvsadm): a
// real child, exit 0 or a ToolError that names the command and says what the tool said.
import t from 'tap';
import { describeExit, runChecked, saidBy, ToolError } from '../../orchestrator/tools/run-tool.ts';

t.test('exit 0 resolves with the output; another exit is a ToolError in one wording', async (t) => {
  const done = await runChecked('cat', 'cat', [], { input: 'table inet x {}\n' });
  t.same([done.code, done.stdout], [0, 'table inet x {}\n']);
  // perl: a tool that talks on both streams and exits as told, started in milliseconds
  const error = await runChecked('conntrackd -c', 'perl', ['-e', 'print "out\\n"; print STDERR "[ERROR] no such socket\\n  retry\\n"; exit 1']).catch((e: unknown) => e);
  t.ok(error instanceof ToolError);
  if (!(error instanceof ToolError)) return;
  t.equal(error.message, 'conntrackd -c: exit 1: [ERROR] no such socket; retry');
  t.same([error.code, error.argv.length], [1, 2]);
  await t.rejects(runChecked('nft -f -', 'perl', ['-e', 'print "only stdout\\n"; exit 3']), { message: 'nft -f -: exit 3: only stdout' }, 'stdout when stderr is empty');
});

t.test('a tool past its time is killed and said to have timed out; a missing one says what to install', async (t) => {
  const started = Date.now();
  await t.rejects(runChecked('conntrackd -n', 'sleep', ['30'], { timeoutMs: 200 }), { message: 'conntrackd -n: timed out' });
  t.ok(Date.now() - started < 5000, 'killed at its time');
  await t.rejects(runChecked('nft -f -', '/nonexistent/nft', ['-f', '-'], { missing: 'Debian: apt-get install nftables' }), { name: 'ToolError', message: '/nonexistent/nft not found (Debian: apt-get install nftables)' });
});

t.test('the words of a failure', async (t) => {
  t.equal(describeExit('x -y', null, ''), 'x -y: killed before it finished');
  t.equal(describeExit('x -y', 2, 'bad'), 'x -y: exit 2: bad');
  t.equal(saidBy('', `${'a'.repeat(400)}\n`).length, 300, 'at most 300 characters');
});

// runTool, the production runner of ipvsadm and nft (the adapter tests hand it an in-process fake
// instead): a real child each time, its argv taken literally, the input on stdin, failures read.
import t from 'tap';
import { ipvsadm, IpvsadmError } from '../../lvs-adapters/ipvsadm/runner.ts';
import { runTool } from '../../orchestrator/tools/run-tool.ts';

t.test('argv is passed literally (no shell) and the input goes to stdin', async (t) => {
  const echoed = await runTool('echo', ['$(id)', ';', '*', '|', 'x']);
  t.same([echoed.code, echoed.stdout, echoed.signal], [0, '$(id) ; * | x\n', null], 'no word was expanded');
  const batch = '-A -t 192.0.2.10:22 -s rr\n-a -t 192.0.2.10:22 -r 10.0.1.2:22 -m -w 1\n';
  const piped = await runTool('cat', [], { input: batch });
  t.equal(piped.stdout, batch, 'what ipvsadm -R would read, byte for byte');
});

t.test('a failed run is an IpvsadmError with the exit status, the tool\'s words and what they mean', async (t) => {
  // perl rather than node: a tool that says what ipvsadm says and exits as it does, started in milliseconds
  const script = 'print STDERR "Service already exists\\n"; exit 255';
  const error = await ipvsadm('perl', ['-e', script]).then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof IpvsadmError, 'an IpvsadmError');
  if (!(error instanceof IpvsadmError)) return;
  t.same([error.code, error.argv, error.stderr], [255, ['-e', script], 'Service already exists\n']);
  t.match(error.message, /: the kernel refused it \(exit 255\): Service already exists — the virtual service is already declared$/);
  const done = await ipvsadm('true', []);
  t.equal(done.code, 0, 'exit 0 resolves');
});

t.test('a run past its time is killed and reported as such; a missing tool says what to install', async (t) => {
  await t.rejects(ipvsadm('sleep', ['30'], { timeoutMs: 200 }), /^ipvsadm 30: killed before it finished$/, 'SIGKILLed at its timeout');
  await t.rejects(runTool('/nonexistent/nft', ['-f', '-'], { input: 'x' }), /\/nonexistent\/nft not found/);
});

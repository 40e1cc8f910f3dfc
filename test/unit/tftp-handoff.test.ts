// The main process hands new TFTP requests to the worker a client falls on; when that worker's
// channel is full (a flood) the main process serves new clients itself. A client's retransmitted
// request must not be served twice: it goes to the worker that has the first, or is dropped.
import t from 'tap';
import { WorkerProcesses, type WorkerSettings } from '../../lvs-adapters/userspace/workers.ts';

const settings = { maxSessions: 100, clientSessions: 10, idleMs: 5000, cutConnections: false, errorLimit: 0 } as unknown as WorkerSettings;
const listen = { address: '127.0.0.1', port: 69 };
const request = Buffer.from('\0\u0001file\0octet\0', 'latin1');

function withOneWorker() {
  const workers = new WorkerProcesses(1, settings);
  const sent: { client: { port: number } }[] = [];
  const fake = { ready: true, handing: 0, child: { connected: true, send: (message: { client: { port: number } }) => sent.push(message) } };
  // white box: a worker that took its farms, whose channel never drains in this test
  (workers as unknown as { slots: unknown[] }).slots[0] = fake;
  (workers as unknown as { farms: Map<string, unknown> }).farms.set('tftp', {});
  return { workers, fake, sent };
}

t.test('a retransmitted request finds the worker that has the first, even when its channel is full', async (t) => {
  const { workers, fake, sent } = withOneWorker();
  // clients on the worker's side of the hash (the rest are the main process's)
  const ports = Array.from({ length: 200 }, (_, i) => 40000 + i).filter((port) => workers.handTftp('tftp', listen, 5000, request, { address: '10.0.0.9', port }));
  t.ok(ports.length > 20 && ports.length < 180, `the worker takes some clients (${ports.length} of 200)`);
  t.equal(sent.length, ports.length);
  const [first, second] = ports as [number, number];
  t.equal(workers.handTftp('tftp', listen, 5000, request, { address: '10.0.0.9', port: first }), true, 'a retransmission with room on the channel: to the worker again');
  t.equal(sent.length, ports.length + 1, 'sent to the worker (it drops it: it has the session)');
  fake.handing = 256;
  t.equal(workers.handTftp('tftp', listen, 5000, request, { address: '10.0.0.9', port: second }), true, 'channel full: the retransmission is dropped, not served by the main process');
  t.equal(sent.length, ports.length + 1, 'and not queued');
  const newcomer = Array.from({ length: 400 }, (_, i) => 50000 + i).find((port) => !ports.includes(port) && workers.handTftp('tftp', listen, 5000, request, { address: '10.0.0.8', port }) === false);
  t.ok(newcomer, 'a new client while the channel is full: the main process serves it (false)');
  fake.child.connected = false;
  t.equal(workers.handTftp('tftp', listen, 5000, request, { address: '10.0.0.9', port: first }), false, 'the worker gone: its clients\' retransmissions are the main process\'s');
});

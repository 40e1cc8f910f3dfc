// Generic UDP through the userspace balancer: two echo backends that prefix their name. A client
// address and port is one flow that stays on its backend; a new flow is scheduled (rr); flows end
// after the idle timeout; nothing but the configured backends' answers reaches the client.
import { createSocket, type Socket } from 'node:dgram';
import t from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import { freeUdpPort } from '../helpers/tftp-daemons.ts';

const VIP = '127.0.0.2';

function bound(onMessage?: (socket: Socket, message: Buffer, port: number) => void): Promise<Socket> {
  const socket = createSocket('udp4');
  if (onMessage) socket.on('message', (message, from) => onMessage(socket, message, from.port));
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
}
const ask = (socket: Socket, port: number, text: string) =>
  new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer')), 2000);
    socket.once('message', (m) => {
      clearTimeout(timer);
      resolve(m.toString());
    });
    socket.send(text, port, VIP);
  });

t.test('UDP flows: one backend per client port, rr over new flows, idle expiry', async (t) => {
  const echoes = await Promise.all(['udp-1', 'udp-2'].map((name) => bound((s, m, port) => s.send(`${name}:${m}`, port, '127.0.0.1'))));
  const port = await freeUdpPort(VIP);
  const adapter = new UserspaceAdapter({ type: 'userspace', 'idle-timeout': 1000 });
  t.teardown(async () => {
    await adapter.close();
    for (const e of echoes) e.close();
  });
  await adapter.apply([{ kind: 'add-farm', farm: {
    service: { farm: 'udp', service: 'udp', protocol: 'udp', address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' },
    servers: echoes.map((e, i) => ({ name: `udp-${i + 1}`, address: '127.0.0.1', port: e.address().port, weight: 1 })),
  } }]);
  const a = await bound();
  const b = await bound();
  t.teardown(() => { a.close(); b.close(); });
  t.same([await ask(a, port, 'x'), await ask(a, port, 'y'), await ask(a, port, 'z')], ['udp-1:x', 'udp-1:y', 'udp-1:z'], 'one flow, one backend');
  t.equal(await ask(b, port, 'q'), 'udp-2:q', 'a new flow is scheduled');
  t.equal(adapter.counters().reduce((n, c) => n + (c.activeSessions ?? 0), 0), 2);
  await new Promise((r) => setTimeout(r, 2500));
  t.equal(adapter.counters().reduce((n, c) => n + (c.activeSessions ?? 0), 0), 0, 'idle flows ended');
  t.match(await ask(a, port, 'again'), /^udp-\d:again$/);
  t.equal(adapter.counters().reduce((n, c) => n + (c.sessions ?? 0), 0), 3, 'after expiry the client is a new flow');
});

// A worker process of the userspace balancer (`dataplane: {type: userspace, workers: N}`): it accepts
// connections of the plain TCP farms on listening sockets the main process opened and shared with it
// (a net.Server sent over the IPC channel: one socket, so the kernel hands each connection to one of
// the processes), and relays them exactly as the main process does. TFTP farms' requests are read by
// the main process, which hands a share of them here (`tftp-request`): their sessions run here. The main process tells it each
// farm's servers (`sync`), gives it listening sockets (`listen`), takes them back (`drop`, `forget`);
// it reports its counters once a second. It exits when the main process goes (IPC disconnect, or
// within a second once it is no longer its parent) and at SIGTERM (Node's default: at once).
import type { Server } from 'node:net';
import type { FarmState } from '../../orchestrator/dataplane/types.ts';
import { descriptorBudget } from './descriptors.ts';
import { raiseMallocTrimThreshold } from './malloc.ts';
import { ServerPool, SessionBudget } from './pool.ts';
import { acceptWith } from './listeners.ts';
import type { TcpHandle } from './tcp-handles.ts';
import { forwardTcp } from './tcp-relay.ts';
import { TftpService } from './tftp-relay.ts';
import { peerKey } from './udp.ts';
import type { FromWorker, TftpRequest, ToWorker, WorkerSettings } from './workers.ts';

interface Farm {
  readonly pool: ServerPool;
  readonly listeners: Server[];
  /** TFTP sessions of requests handed here, by the service port that read them */
  readonly tftp: Map<string, TftpService>;
}

/** how often counters go to the main process (its /metrics are at most this old) */
const REPORT_EVERY_MS = 1000;
const farms = new Map<string, Farm>();
void raiseMallocTrimThreshold();
let settings: WorkerSettings | undefined;
let budget: SessionBudget | undefined;

function send(message: FromWorker): void {
  if (process.connected) process.send!(message);
}

function sync(state: FarmState): void {
  if (!settings || !budget) throw new Error('sync before init');
  let farm = farms.get(state.service.farm);
  if (!farm) {
    const onServerFailed = (farm: string, server: string, reason: string) => send({ kind: 'server-failed', farm, server, reason });
    const limits = { clientSessions: settings.clientSessions, descriptors: descriptorBudget().sessions };
    farm = { pool: new ServerPool(state.service, budget, { errorLimit: settings.errorLimit, onServerFailed }, limits), listeners: [], tftp: new Map() };
    farms.set(state.service.farm, farm);
  } else farm.pool.setSpec(state.service);
  const wanted = new Set(state.servers.map((s) => s.name));
  for (const server of farm.pool.specs()) if (!wanted.has(server.name)) farm.pool.removeServer(server.name, settings.cutConnections);
  for (const server of state.servers) farm.pool.setServer(server);
}

function listen(name: string, server: Server): void {
  const farm = farms.get(name);
  if (!farm || !settings) {
    server.close();
    return;
  }
  const { idleMs, dial } = settings;
  farm.listeners.push(server);
  // the server object was made for us by Node from the shared handle: its connections' handles go
  // to the relay as in the main process, no net.Socket made
  const onConnection = (handle: TcpHandle) => forwardTcp(handle, farm.pool, { idleMs, dial });
  acceptWith(server, () => onConnection);
  // a failing accept (EMFILE) must not end the process: the main process and other workers go on
  server.on('error', () => farm.pool.countError('accept'));
}

/** stops accepting for the farm; its open sessions run on */
function drop(name: string): void {
  const farm = farms.get(name);
  if (!farm) return;
  for (const server of farm.listeners.splice(0)) server.close();
}

/** A TFTP request the main process read: its session runs here, on sockets of this process. */
function tftpRequest({ farm: name, listen, idleMs, client, request }: TftpRequest): void {
  const farm = farms.get(name);
  if (!farm) return;
  const key = peerKey(listen);
  let service = farm.tftp.get(key);
  if (!service) {
    service = TftpService.detached(listen.address, farm.pool, idleMs, (message, to) => send({ kind: 'tftp-answer', listen, to, message: message.toString('base64') }));
    farm.tftp.set(key, service);
  }
  service.accept(Buffer.from(request, 'base64'), client);
}

function report(): void {
  send({ kind: 'counters', counters: [...farms.values()].flatMap(({ pool }) => pool.counters()) });
}

process.on('message', (message: ToWorker | TftpRequest, handle?: Server) => {
  if (message.kind === 'tftp-request') return tftpRequest(message);
  obey(message, handle);
  send({ kind: 'done', seq: message.seq });
});

function obey(message: ToWorker, handle: Server | undefined): void {
  switch (message.kind) {
    case 'init':
      settings = message.settings;
      budget = new SessionBudget(settings.maxSessions);
      break;
    case 'sync':
      sync(message.farm);
      break;
    case 'listen':
      if (handle) listen(message.farm, handle);
      break;
    case 'drop':
      drop(message.farm);
      break;
    case 'forget':
      drop(message.farm);
      for (const service of farms.get(message.farm)?.tftp.values() ?? []) service.cut();
      farms.get(message.farm)?.pool.retire();
      farms.delete(message.farm);
      break;
  }
}
// the main process is gone: nothing is left to serve. It may have gone while this module loaded
// (the 'disconnect' came before anyone listened), or left its channel open in another process: a
// check a second notices that too, and sends the counters.
process.on('disconnect', () => process.exit(0));
if (!process.connected) process.exit(0);
// the main process sends nothing before this: a listening socket that came earlier would be opened
// by Node with no 'connection' listener, and its connections would hang
send({ kind: 'hello' });
const parent = process.ppid;
setInterval(() => {
  if (!process.connected || process.ppid !== parent) process.exit(0);
  if (settings) report();
}, REPORT_EVERY_MS).unref();

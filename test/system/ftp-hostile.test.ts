// check_ftp against servers that misbehave on purpose: each must end in the right state within -t,
// with a short output, and leave nothing behind (the plugin process exits on its own).
import { createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import { banner, closeAtOnce, fakeTcpServer, flood, type FakeServer } from '../helpers/fake-servers.ts';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { runPlugin } from '../helpers/processes.ts';

type Respond = (command: string, socket: Socket) => void;

/** A scripted FTP control server: a greeting, then `respond` for each command line; polite defaults. */
function fakeFtp(respond: Respond, greeting = '220 fake ready\r\n'): Promise<FakeServer> {
  return fakeTcpServer((socket) => {
    socket.write(greeting);
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      let newline: number;
      while ((newline = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, newline).replace(/\r$/, '');
        pending = pending.slice(newline + 1);
        respond(line, socket);
      }
    });
  });
}

/** USER, PASS, TYPE answered as a server that lets everyone in; anything else goes to `rest`. */
const loggedIn = (rest: Respond): Respond => (command, socket) => {
  if (command.startsWith('USER')) socket.write('331 password please\r\n');
  else if (command.startsWith('PASS')) socket.write('230 in\r\n');
  else if (command.startsWith('TYPE')) socket.write('200 binary\r\n');
  else rest(command, socket);
};

async function listen(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

const servers: { close(): unknown }[] = [];
t.teardown(() => {
  for (const s of servers) s.close();
});
async function serve(make: Promise<FakeServer>): Promise<string[]> {
  const server = await make;
  servers.push(server);
  return ['-H', '127.0.0.1', '-p', String(server.port)];
}
const ftp = (args: string[]) => runPlugin('check_ftp', args, { timeoutMs: 20000 });

t.test('a greeting that never ends: the banner check takes the first kilobyte, a session refuses it', async (t) => {
  const endless = (socket: Socket) => {
    const line = Buffer.from('220-this greeting goes on and on and on\r\n'.repeat(100));
    const more = () => {
      while (socket.writable && socket.write(line));
    };
    socket.on('drain', more);
    more();
  };
  const target = await serve(fakeTcpServer(endless));
  const bannerOnly = await ftp([...target, '-t', '3']);
  t.equal(bannerOnly.code, 0, 'check_tcp judges the first chunk: it starts with 220');
  t.ok(bannerOnly.stdout.length < 4200, `${bannerOnly.stdout.length} bytes of output`);
  const session = await ftp([...target, '-t', '3', '--list']);
  t.equal(session.code, 2);
  t.match(session.stdout, /^FTP CRITICAL - greeting longer than 64 KiB without its final line: 220-this greeting/);
  t.ok(session.ms < 3000, `ended after ${session.ms.toFixed(0)} ms`);
});

t.test('a PASV reply pointing at a third-party address is not followed', async (t) => {
  let dataAttempts = 0;
  const target = await serve(
    fakeFtp(
      loggedIn((command, socket) => {
        if (command === 'PASV') socket.write('227 Entering Passive Mode (10,0,0,2,156,85)\r\n');
        else if (command.startsWith('RETR') || command.startsWith('LIST')) dataAttempts++;
        else socket.write('502 no\r\n');
      }),
    ),
  );
  const run = await ftp([...target, '-t', '3', '--get', 'f']);
  t.equal(run.code, 2);
  t.equal(run.stdout, 'FTP CRITICAL - PASV reply points to 10.0.0.2:40021, not to the control host 127.0.0.1: refused (--allow-pasv-redirect follows it)\n');
  t.equal(dataAttempts, 0, 'no transfer command was sent');
});

t.test('a multi-line reply of megabytes is cut off at 64 KiB', async (t) => {
  const target = await serve(
    fakeFtp((command, socket) => {
      if (command.startsWith('USER')) {
        socket.write(`331-${'x'.repeat(1000)}\r\n`.repeat(1024));
        socket.write('331 and now the password\r\n');
      }
    }),
  );
  const run = await ftp([...target, '-t', '5', '--list']);
  t.equal(run.code, 2);
  t.match(run.stdout, /^FTP CRITICAL - login failed: .*exceeded maximum allowed size\n$/);
  t.ok(run.ms < 5000, `ended after ${run.ms.toFixed(0)} ms`);
});

t.test('a server that stalls in the middle of a download: timeout within -t, naming the phase', async (t) => {
  const data = await listen((socket) => socket.write(Buffer.alloc(1000, 0x42)));
  servers.push(data.server);
  const target = await serve(
    fakeFtp(
      loggedIn((command, socket) => {
        if (command === 'PASV') socket.write(`227 Entering Passive Mode (127,0,0,1,${data.port >> 8},${data.port & 255})\r\n`);
        else if (command.startsWith('RETR')) socket.write('150 here it comes\r\n');
      }),
    ),
  );
  const run = await ftp([...target, '-t', '2', '--get', 'big.bin']);
  t.equal(run.code, 2);
  t.equal(run.stdout, 'FTP CRITICAL - Socket timeout after 2 seconds while RETR big.bin (1000 bytes so far)\n');
  t.ok(run.ms < 3000, `ended after ${run.ms.toFixed(0)} ms`);
});

/**
 * A loopback port where connections hang: a child Node listens with a backlog of 1 and then blocks
 * its event loop, so nothing is accepted; once the kernel queue is full, further SYNs are dropped.
 */
async function blackHole(): Promise<{ port: number; stop(): void }> {
  const script = `const s=require('net').createServer().listen({port:0,host:'127.0.0.1',backlog:1},()=>{process.stdout.write(s.address().port+'\\n');Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,30000)})`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  const fillers = Array.from({ length: 4 }, () => connect(port, '127.0.0.1').on('error', () => undefined));
  await new Promise((r) => setTimeout(r, 200));
  return {
    port,
    stop: () => {
      for (const f of fillers) f.destroy();
      child.kill('SIGKILL');
    },
  };
}

t.test('passive ports unreachable: the data connection times out with its own line, before -t', async (t) => {
  const hole = await blackHole();
  t.teardown(() => hole.stop());
  const target = await serve(
    fakeFtp(
      loggedIn((command, socket) => {
        if (command === 'PASV') socket.write(`227 Entering Passive Mode (127,0,0,1,${hole.port >> 8},${hole.port & 255})\r\n`);
        else socket.write('502 no\r\n');
      }),
    ),
  );
  const run = await ftp([...target, '-t', '2', '--get', 'f']);
  t.equal(run.code, 2);
  t.equal(run.stdout, `FTP CRITICAL - passive data connection to 127.0.0.1:${hole.port} timed out\n`);
  t.ok(run.ms < 3000, `ended after ${run.ms.toFixed(0)} ms`);
});

t.test('active mode: a server that accepts PORT and never connects back', async (t) => {
  const target = await serve(
    fakeFtp(
      loggedIn((command, socket) => {
        if (command.startsWith('PORT')) socket.write('200 PORT ok\r\n');
        else if (command.startsWith('RETR')) socket.write('150 connecting (not really)\r\n');
      }),
    ),
  );
  const run = await ftp([...target, '-t', '2', '--active', '--get', 'f']);
  t.equal(run.code, 2);
  t.match(run.stdout, /^FTP CRITICAL - active data connection: the server did not connect to 127\.0\.0\.1:\d+ in time\n$/);
  t.ok(run.ms < 3000, `ended after ${run.ms.toFixed(0)} ms`);
});

t.test('greetings check_tcp answers in its own words', async (t) => {
  const unavailable = await ftp(await serve(banner('421 Service not available\r\n')));
  t.equal(unavailable.code, 1);
  t.match(unavailable.firstLine, /^FTP WARNING - Unexpected response from host\/socket: 421 Service not available\|time=\d+\.\d{6}s;;;0\.000000;10\.000000$/);
  const megabyte = await ftp([...(await serve(flood(1024 * 1024))), '-t', '3']);
  t.equal(megabyte.code, 1);
  t.match(megabyte.firstLine, /^FTP WARNING - Unexpected response from host\/socket: A{1024}\|time=/);
  t.ok(megabyte.ms < 2500, 'no wait: a greeting that does not start like 220 is judged at once');
  const closed = await ftp(await serve(closeAtOnce()));
  t.equal(closed.code, 2);
  t.equal(closed.stdout, 'FTP CRITICAL - No data received from host\n');
  const multi = await ftp(await serve(banner('220-Welcome line 1\r\n220-line 2\r\n220 ready\r\n')));
  t.equal(multi.code, 0);
  t.match(multi.firstLine, /\[220-Welcome line 1\\r\\n220-line 2\\r\\n220 ready\]\|time=/, 'CR LF shown as escapes on one line');
});

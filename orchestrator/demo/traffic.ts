import { connect } from 'node:net';
import { tftpGet } from '../../plugins/tftp/client.ts';
import { Trace } from '../../plugins/runtime/trace.ts';

/** The FTP greeting through the virtual service: the demo backends name themselves in it. */
function ftpGreeting(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    let text = '';
    const done = (answer: string) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(2000, () => done('no answer'));
    socket.on('error', (error) => done(error.message));
    socket.on('close', () => done(text ? text.trim() : 'closed without a greeting'));
    socket.on('data', (chunk) => {
      text += chunk;
      const line = /^220 .*\((.+)\)/m.exec(text);
      if (line) {
        socket.end('QUIT\r\n');
        done(line[1]!);
      }
    });
  });
}

async function tftpWhoami(host: string, port: number): Promise<string> {
  try {
    const result = await tftpGet({ address: host, family: 4, port }, { filename: 'whoami.txt', options: false, retransmitMs: 300, maxRetransmits: 3 }, AbortSignal.timeout(3000), new Trace());
    return result.content.toString().trim();
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * The demo's client: every few seconds one FTP session and one TFTP read through the virtual
 * services of the userspace balancer, printing which backend answered each.
 */
export function startDemoTraffic(ftp: { host: string; port: number }, tftp: { host: string; port: number }, everyMs = 3000): () => void {
  const timer = setInterval(async () => {
    const [f, t] = await Promise.all([ftpGreeting(ftp.host, ftp.port), tftpWhoami(tftp.host, tftp.port)]);
    process.stdout.write(`${new Date().toLocaleTimeString()}  traffic: ftp ${ftp.host}:${ftp.port} answered by ${f}; tftp ${tftp.host}:${tftp.port} whoami.txt from ${t}\n`);
  }, everyMs);
  return () => clearInterval(timer);
}

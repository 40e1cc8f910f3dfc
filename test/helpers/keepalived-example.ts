// The farms the keepalived render and import tests share: one farm per IPVS method and probe form.
import { validateConfig } from '../../orchestrator/config/load.ts';

export const keepalivedExample = validateConfig({
  farms: [
    {
      name: 'ftp', service: 'ftp', virtual: { address: '192.0.2.10', ports: [21] }, scheduler: 'wlc', persistence: { timeout: 300 },
      dataplane: { type: 'ipvsadm', method: 'nat' },
      check: { probe: 'ftp', options: { get: 'check.txt', 'expect-content': 'OK' }, interval: '10s', timeout: '5s', fall: 3, 'on-failure': 'quiesce' },
      sorry: { address: '10.0.0.99' },
      backends: [{ name: 'ftp1', address: '10.0.0.11', weight: 10, 'max-conns': 200 }, { name: 'ftp2', address: '10.0.0.12', port: 2121, maintenance: true }],
    },
    {
      name: 'tftp', service: 'tftp', virtual: { address: '192.0.2.11', fwmark: 69 }, scheduler: 'sh', persistence: { timeout: 45, netmask: '255.255.255.0' },
      dataplane: { type: 'ipvsadm', method: 'dr' },
      check: { probe: 'tftp', dynamic: true, interval: '6s', timeout: '3s' },
      backends: [{ name: 'tftp1', address: '10.0.0.21', port: 69 }],
    },
    {
      name: 'sftp', service: 'sftp', virtual: { address: '192.0.2.10', ports: [22] }, scheduler: 'rr',
      dataplane: { type: 'ipvsadm', method: 'tun' },
      check: { probe: 'command', style: 'keepalived', command: "/usr/local/bin/check_ssh -H %h -p %p -t 3 -r 'OpenSSH_9.2p1 Debian'", interval: '5s', timeout: '4s' },
      backends: [{ name: 'sftp1', address: '10.0.0.31' }],
    },
  ],
});

#!/bin/bash
# Runs inside the IPVS guest (test/vm/run-guest.sh): two directors in network namespaces d1 and d2,
# a client and a real server, one bridge. IPVS direct routing on both directors (the same virtual
# service, as lbguard keeps it on both), the virtual address on d1. A rate-limited HTTP download
# is in flight when the address moves to d2 (deleted on d1, added on d2, the client's ARP cache
# flushed as a gratuitous ARP would). Twice: without the IPVS sync daemon, then with the commands
# lbguard's vrrp.sync (engine ipvs) runs on each role (orchestrator/vrrp/ipvs-sync.ts): both
# daemons stopped, then `--start-daemon master|backup --mcast-interface e0 --syncid 7`.
# Prints `case NAME: curl exit N, BYTES bytes, sha ok|bad` and d2's connection table before the move.
set -u
ip() { /sbin/ip "$@"; }
ipvs() { ip netns exec "$1" /sbin/ipvsadm "${@:2}"; }
VIP=10.0.0.1
ip link add br0 type bridge
echo 0 > /sys/class/net/br0/bridge/multicast_snooping
ip link set br0 up
plug() { # ns address
  ip netns add "$1"
  ip link add "p$1" type veth peer name e0 netns "$1"
  ip link set "p$1" master br0 up
  ip -n "$1" link set lo up
  ip -n "$1" addr add "$2/24" dev e0
  ip -n "$1" link set e0 up
}
plug cli 10.0.0.2; plug srv 10.0.0.3; plug d1 10.0.0.11; plug d2 10.0.0.12
# the real server of direct routing: the virtual address on lo, never answered for in ARP
ip -n srv addr add $VIP/32 dev lo
ip netns exec srv sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce'
mkdir -p /tmp/www && head -c 3000000 /dev/urandom > /tmp/www/big && sha=$(sha256sum < /tmp/www/big | cut -c1-64)
# an HTTP server that paces the body (64 KiB every 0.25 s): the transfer is still under way when
# the address moves, whatever the client's socket buffers take in
ip netns exec srv python3 -c '
import socket, time
data = open("/tmp/www/big", "rb").read()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 80)); s.listen(8)
while True:
    c, _ = s.accept(); c.recv(4096)
    try:
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data))
        for i in range(0, len(data), 65536):
            c.sendall(data[i:i + 65536]); time.sleep(0.25)
    except OSError:
        pass
    c.close()
' &
for i in $(seq 50); do ip netns exec srv ss -Hltn | grep -q ':80 ' && break; sleep 0.2; done
for d in d1 d2; do
  ipvs $d -A -t $VIP:80 -s rr
  ipvs $d -a -t $VIP:80 -r 10.0.0.3:80 -g -w 1
done
sleep 1

role() { # ns master|backup: what lbguard runs on MASTER / on BACKUP
  ipvs "$1" --stop-daemon master 2>/dev/null; ipvs "$1" --stop-daemon backup 2>/dev/null
  ipvs "$1" --start-daemon "$2" --mcast-interface e0 --syncid 7
}

run_case() { # name sync(yes|no)
  ip -n d2 addr del $VIP/24 dev e0 2>/dev/null; ip -n d1 addr add $VIP/24 dev e0
  ip -n cli neigh flush all
  if [ "$2" = yes ]; then role d1 master; role d2 backup; fi
  rm -f /tmp/got
  ip netns exec cli curl -sS --max-time 60 --speed-limit 1 --speed-time 10 -o /tmp/got "http://$VIP/big" 2>/tmp/curl.err &
  local pid=$!
  sleep 3
  echo "== $1: $(stat -c %s /tmp/got 2>/dev/null || echo 0) bytes came before the move; the IPVS connections"
  echo "-- d1:"; ipvs d1 -Lnc | sed -n '3,$p'
  echo "-- d2:"; ipvs d2 -Lnc | sed -n '3,$p'
  ipvs d2 -L --daemon
  local moved; moved=$(date +%s%N)
  # the move: keepalived deletes the address on the old master and adds it on the new one
  ip -n d1 addr del $VIP/24 dev e0
  ip -n d2 addr add $VIP/24 dev e0
  ip -n cli neigh flush all
  if [ "$2" = yes ]; then role d2 master; role d1 backup; fi
  wait $pid; local rc=$?
  echo "== $1: curl ended $(( ($(date +%s%N) - moved) / 1000000 )) ms after the move; d2 IPVS stats:"
  ipvs d2 -Ln --stats | sed -n '3,$p'
  local bytes; bytes=$(stat -c %s /tmp/got 2>/dev/null || echo 0)
  local got; got=$(sha256sum < /tmp/got 2>/dev/null | cut -c1-64)
  echo "== $1: d2's IPVS connections after"
  ipvs d2 -Lnc | sed -n '3,$p'
  echo "case $1: curl exit $rc, $bytes bytes, sha $([ "$got" = "$sha" ] && echo ok || echo bad) $(tr '\n' ' ' < /tmp/curl.err)"
  for d in d1 d2; do ipvs $d --stop-daemon master 2>/dev/null; ipvs $d --stop-daemon backup 2>/dev/null; ipvs $d -C; ipvs $d -A -t $VIP:80 -s rr; ipvs $d -a -t $VIP:80 -r 10.0.0.3:80 -g -w 1; done
}

run_case no-sync no
run_case sync yes
exit 0

#!/bin/bash
# Runs INSIDE the IPVS guest: ipvsadm's connection thresholds (-x upper, -y lower) on the real
# kernel, every command framed as in test/fixtures/ipvs/*.transcript.txt. Regenerate the fixture:
#   test/vm/build-guest.sh && cp test/vm/thresholds-transcript.sh /var/cache/lbguard-vm/ &&
#   test/vm/run-guest.sh /var/cache/lbguard-vm/thresholds-transcript.sh > test/fixtures/ipvs/ipvs-thresholds.transcript.txt
t() { echo "### \$ $*"; "$@" 2>&1; echo "### rc=$?"; }
t ipvsadm -A -t 10.9.0.1:80 -s wlc
t ipvsadm -a -t 10.9.0.1:80 -r 10.9.1.1:80 -m -w 1 -x 10
t ipvsadm -a -t 10.9.0.1:80 -r 10.9.1.2:80 -m -w 1 -x 10 -y 0
t ipvsadm -a -t 10.9.0.1:80 -r 10.9.1.3:80 -m -w 1 -x 10 -y 5
t ipvsadm -a -t 10.9.0.1:80 -r 10.9.1.4:80 -m -w 1
t ipvsadm -a -t 10.9.0.1:80 -r 10.9.1.5:80 -m -w 1 -y 3
t ipvsadm -A -f 21 -s wlc -p 300
t ipvsadm -a -f 21 -r 10.9.1.1 -m -w 2 -x 250
t ipvsadm -Sn
t ipvsadm -Ln
t ipvsadm -Ln --thresholds
t ipvsadm -e -t 10.9.0.1:80 -r 10.9.1.1:80 -m -w 2
t ipvsadm -e -t 10.9.0.1:80 -r 10.9.1.2:80 -m -w 1 -x 0
t ipvsadm -e -t 10.9.0.1:80 -r 10.9.1.4:80 -m -w 1 -x 30
t ipvsadm -Ln --thresholds
t ipvsadm -Ln --thresholds -f 21
t ipvsadm -Sn
t ipvsadm -C

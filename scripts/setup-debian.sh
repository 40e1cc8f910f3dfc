#!/usr/bin/env bash
# Installs what lbguard's demo and tests need on a fresh Debian 12 machine (run as root), then the
# npm dependencies. Idempotent: packages already installed are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# Daemons the system tests start (each on its own loopback port, never the packaged service),
# monitoring-plugins' C plugins for side-by-side tests, the tools the benchmarks compare against, and
# the compiler node-gyp builds the TFTP relay's UDP addon with (native/udp-batch.c).
APT_PACKAGES=(nodejs npm openssh-server openssh-client monitoring-plugins-basic vsftpd tftpd-hpa tftp-hpa atftp qemu-system-x86 busybox-static ipvsadm cpio kmod
  nftables nftlb iproute2 hyperfine openssl ca-certificates nagios4-core chromium keepalived ldirectord curl haproxy iperf3 wrk nginx-light icinga2-bin gcc g++ make python3 libc6-dev
  conntrackd conntrack)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  # node may come from elsewhere (nodesource, nvm): only ask apt for it when there is none
  if [ "$p" = nodejs ] || [ "$p" = npm ]; then command -v "${p/nodejs/node}" >/dev/null && continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# atftpd conflicts with tftpd-hpa as a package; the tests need both servers, so its binary is
# unpacked under /opt/lbguard-test instead of installed.
if [ ! -x /opt/lbguard-test/atftpd/usr/sbin/atftpd ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download atftpd >/dev/null 2>&1 || { apt-get update -qq && apt-get download atftpd >/dev/null; }; })
  mkdir -p /opt/lbguard-test/atftpd
  dpkg-deb -x "$tmp"/atftpd_*.deb /opt/lbguard-test/atftpd
  rm -rf "$tmp"
fi
# The packaged service instances are not wanted: tests start their own daemons on free ports.
for s in vsftpd tftpd-hpa ssh nftlb; do service "$s" stop >/dev/null 2>&1 || true; done

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "lbguard needs Node.js 20 or newer (found $(node -v))" >&2
  exit 1
fi
npm ci --no-audit --no-fund
# test/system/packaging.test.ts installs the packed tarball with `npm install -g --offline`, which
# resolves the runtime dependencies afresh (a packed tarball carries no lock file): npm ci fetched
# only the locked tarballs, so a fresh machine's cache lacks the registry documents and any newer
# version the ranges now pick. One online install of the same tarball into a scratch prefix puts
# exactly those in npm's cache.
scratch=$(mktemp -d)
npm pack --ignore-scripts --silent --pack-destination "$scratch" >/dev/null
npm install -g --prefix "$scratch/prefix" --ignore-scripts --no-audit --no-fund "$scratch"/lbguard-*.tgz >/dev/null
rm -rf "$scratch"

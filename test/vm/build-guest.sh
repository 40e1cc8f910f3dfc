#!/usr/bin/env bash
# Builds what the IPVS guest needs: a Debian kernel that ships IPVS (downloaded with apt, never
# installed on this machine), booted as an uncompressed ELF so QEMU's TCG need not decompress it,
# and a small initramfs: busybox, the kernel modules in load order, and test/vm/guest-init.
# The guest's userland is this machine's root, shared read-only over 9p, so node, ipvsadm and nft
# inside the guest are the very binaries the host has.
#
# Usage: test/vm/build-guest.sh            prints the cache directory on its last line
# Env:   LBGUARD_VM_CACHE (default /var/cache/lbguard-vm)
# Cached: re-running with nothing changed only compares files (well under a second).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${LBGUARD_VM_CACHE:-/var/cache/lbguard-vm}
mkdir -p "$cache"
cd "$cache"

for tool in qemu-system-x86_64 busybox cpio depmod modprobe python3; do
  command -v "$tool" >/dev/null || { echo "build-guest: $tool is missing (scripts/setup-debian.sh installs it)" >&2; exit 2; }
done

# The kernel the linux-image-amd64 metapackage points at.
kernel_pkg=$(apt-cache show --no-all-versions linux-image-amd64 | sed -n 's/^Depends: *\(linux-image-[0-9][^ ,]*\).*/\1/p' | head -n 1)
[ -n "$kernel_pkg" ] || { echo "build-guest: apt knows no linux-image-amd64 (run apt-get update)" >&2; exit 2; }
kver=${kernel_pkg#linux-image-}
tree=$cache/kernel-$kver
if [ ! -f "$tree/boot/vmlinuz-$kver" ]; then
  rm -rf "$cache/download" "$tree"
  mkdir -p "$cache/download"
  (cd "$cache/download" && apt-get download "$kernel_pkg" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$kernel_pkg" >/dev/null; })
  dpkg-deb -x "$cache"/download/"$kernel_pkg"_*.deb "$tree.partial"
  depmod -b "$tree.partial" "$kver"
  mv "$tree.partial" "$tree"
  rm -rf "$cache/download"
fi

# vmlinuz is a bzImage with an xz payload; the payload is the ELF kernel, which QEMU can start
# through its PVH note without running the decompressor inside the (slow, emulated) guest.
if [ ! -s "$cache/vmlinux-$kver" ]; then
  python3 - "$tree/boot/vmlinuz-$kver" "$cache/vmlinux-$kver.partial" <<'PY'
import lzma, sys
image = open(sys.argv[1], 'rb').read()
start = image.find(b'\xfd7zXZ\x00')
if start < 0:
    sys.exit('no xz stream in ' + sys.argv[1])
elf = lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(image[start:])
if not elf.startswith(b'\x7fELF'):
    sys.exit('the xz stream is not an ELF kernel')
open(sys.argv[2], 'wb').write(elf)
PY
  mv "$cache/vmlinux-$kver.partial" "$cache/vmlinux-$kver"
fi
ln -sfn "vmlinux-$kver" "$cache/vmlinux"

# IPVS with every scheduler and the FTP helper, nftables for the firewall marks, veth for
# namespaces inside the guest, a bridge to join two directors (ipvs-sync.sh), and 9p over virtio
# to reach the host's root and the shared project.
modules="ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh ip_vs_sed ip_vs_nq ip_vs_mh ip_vs_ftp
  nf_tables nf_conntrack nft_chain_nat nft_nat nft_ct nf_conntrack_tftp nf_nat_tftp veth bridge virtio_pci 9pnet_virtio 9p"
stamp=$(printf '%s\n' "$kver" "$modules" "$(sha256sum "$here/guest-init" /bin/busybox)" | sha256sum | cut -c1-16)
if [ ! -s "$cache/initrd-$stamp.cpio" ]; then
  root=$(mktemp -d "$cache/root.XXXXXX")
  mkdir -p "$root"/{bin,proc,sys,dev,host,etc}
  cp /bin/busybox "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  install -m 0755 "$here/guest-init" "$root/init"
  : > "$root/etc/modules"
  for m in $modules; do
    modprobe -d "$tree" -S "$kver" --show-depends "$m" | sed -n 's/^insmod \([^ ]*\).*/\1/p'
  done | awk '!seen[$0]++' | while read -r ko; do
    name=lib/modules/$(basename "$ko")
    mkdir -p "$root/lib/modules"
    case "$ko" in
      *.xz) xz -dc "$ko" > "$root/${name%.xz}"; name=${name%.xz} ;;
      *.zst) zstd -qdc "$ko" > "$root/${name%.zst}"; name=${name%.zst} ;;
      *) cp "$ko" "$root/$name" ;;
    esac
    echo "/$name" >> "$root/etc/modules"
  done
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc) > "$cache/initrd-$stamp.cpio.partial"
  mv "$cache/initrd-$stamp.cpio.partial" "$cache/initrd-$stamp.cpio"
  rm -rf "$root"
fi
ln -sfn "initrd-$stamp.cpio" "$cache/initrd.cpio"
# run-guest.sh picks the initramfs by its own guest-init, so checkouts sharing the cache never swap inits
ln -sfn "initrd-$stamp.cpio" "$cache/initrd-init-$(sha256sum < "$here/guest-init" | cut -c1-16).cpio"
echo "$cache"

#!/usr/bin/env bash
# Boots the IPVS guest (test/vm/build-guest.sh) under QEMU and runs one script inside it, with this
# machine's root as the guest's userland (read-only). Prints what the script printed and exits
# with its status; 90 when the guest gave no result (its console log is then printed to stderr).
#
# Usage: test/vm/run-guest.sh /absolute/path/to/script.sh
# Env:   LBGUARD_VM_CACHE, LBGUARD_VM_TIMEOUT (seconds, default 150), LBGUARD_VM_MEMORY (MiB, 768),
#        LBGUARD_VM_ACCEL (tcg, the default, or kvm: /dev/kvm on the development machines is a PVM
#        module that cannot boot this kernel, so KVM is only used when asked for)
set -euo pipefail
script=${1:?usage: run-guest.sh /absolute/path/to/script.sh}
case "$script" in /*) ;; *) echo "run-guest: the script path must be absolute (it is read inside the guest)" >&2; exit 2 ;; esac
[ -r "$script" ] || { echo "run-guest: cannot read $script" >&2; exit 2; }
cache=${LBGUARD_VM_CACHE:-/var/cache/lbguard-vm}
[ -s "$cache/vmlinux" ] && [ -s "$cache/initrd.cpio" ] || { echo "run-guest: run test/vm/build-guest.sh first" >&2; exit 2; }

if [ "${LBGUARD_VM_ACCEL:-tcg}" = kvm ]; then accel=(-accel kvm -cpu host); else accel=(-accel tcg -cpu max); fi
logs=$(mktemp -d /tmp/lbguard-vm.XXXXXX)
trap 'rm -rf "$logs"' EXIT

set +e
timeout --kill-after=5 "${LBGUARD_VM_TIMEOUT:-150}" qemu-system-x86_64 "${accel[@]}" \
  -m "${LBGUARD_VM_MEMORY:-768}" -smp 1 -nodefaults -no-user-config -display none -monitor none -no-reboot \
  -serial "file:$logs/console" -serial "file:$logs/result" \
  -kernel "$cache/vmlinux" -initrd "$cache/initrd.cpio" \
  -fsdev "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap" \
  -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
  -append "console=ttyS0 quiet panic=-1 mitigations=off lbguard.run=$script"
qemu_status=$?
set -e
status=$(sed -n 's/^@@LBGUARD_VM_RC=\([0-9]*\).*/\1/p' "$logs/result" | tail -n 1)
grep -v '^@@LBGUARD_VM_RC=' "$logs/result" || true
if [ -z "$status" ]; then
  echo "run-guest: no result from the guest (qemu exit $qemu_status); its console:" >&2
  tr -d '\r' < "$logs/console" | tail -n 60 >&2
  exit 90
fi
exit "$status"

#!/usr/bin/env bash
# Boots the IPVS guest (test/vm/build-guest.sh) under QEMU and runs one script inside it, with this
# machine's root as the guest's userland (read-only). Prints what the script printed and exits
# with its status; 90 when the guest gave no result (its console log is then printed to stderr).
#
# The guest keeps /tmp, /run, /var/tmp and /root to itself (empty tmpfs), so a project checked out
# under one of them is invisible through the root share: --share DIR shares DIR read-only on its
# own and mounts it at the same path inside the guest, over the private directories.
#
# Usage: test/vm/run-guest.sh [--share DIR]... /absolute/path/to/script.sh
# Env:   LBGUARD_VM_CACHE, LBGUARD_VM_TIMEOUT (seconds, default 150), LBGUARD_VM_MEMORY (MiB, 768),
#        LBGUARD_VM_ACCEL (tcg, the default, or kvm: /dev/kvm on the development machines is a PVM
#        module that cannot boot this kernel, so KVM is only used when asked for)
# Exit:  the script's status; 2 the guest cannot run it (a prerequisite missing, the script not
#        visible in the guest), 90 no result, 96-98 guest-init could not start it (one line on stdout).
set -euo pipefail
fail() { echo "run-guest: $*" >&2; exit 2; }

# The directories guest-init covers with tmpfs; keep in step with test/vm/guest-init.
private_dirs=(/tmp /run /var/tmp /root)
shares=()
while [ $# -gt 0 ]; do
  case "$1" in
    --share) [ $# -ge 2 ] || fail "--share needs a directory"
      dir=$(realpath -e -- "$2" 2>/dev/null) && [ -d "$dir" ] || fail "--share $2: no such directory"
      # the path travels on the kernel command line, which splits words at blanks and ends at 2 KiB
      [[ "$dir" =~ ^/[A-Za-z0-9._/+@:-]*$ ]] || fail "--share $dir: the path may only hold letters, digits and ._/+@:-"
      [ "$dir" != / ] || fail "--share /: the root is shared already; share the project directory"
      for private in "${private_dirs[@]}"; do
        case "$private/" in "$dir"/*|"$dir/") fail "--share $dir would hide the guest's private $private: share the project directory itself" ;; esac
      done
      shares+=("$dir"); shift 2 ;;
    --) shift; break ;;
    -*) fail "unknown option $1" ;;
    *) break ;;
  esac
done
script=${1:?usage: run-guest.sh [--share DIR]... /absolute/path/to/script.sh}
case "$script" in /*) ;; *) fail "the script path must be absolute (it is read inside the guest)" ;; esac
[ -r "$script" ] || fail "cannot read $script"
script=$(realpath -e -- "$script") # the guest mounts shares at their real paths
[[ "$script" =~ ^/[A-Za-z0-9._/+@:-]*$ ]] || fail "$script: the path may only hold letters, digits and ._/+@:-"

# Fail here, in one line, rather than with a guest that cannot find its script.
visible=yes
for private in "${private_dirs[@]}"; do
  case "$script" in "$private"/*) visible=no ;; esac
done
for dir in "${shares[@]}"; do
  case "$script" in "$dir"/*) visible=yes ;; esac
done
[ "$visible" = yes ] || fail "the guest cannot see $script: ${private_dirs[*]} are private to the guest; share the directory that holds it (--share DIR)"

cache=${LBGUARD_VM_CACHE:-/var/cache/lbguard-vm}
# the initramfs built from this checkout's guest-init (another checkout may share the cache)
here=$(cd "$(dirname "$0")" && pwd)
initrd=$cache/initrd-init-$(sha256sum < "$here/guest-init" | cut -c1-16).cpio
[ -s "$cache/vmlinux" ] && [ -s "$initrd" ] || fail "no guest in $cache for this guest-init: run test/vm/build-guest.sh first"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is missing (scripts/setup-debian.sh installs qemu-system-x86)"

if [ "${LBGUARD_VM_ACCEL:-tcg}" = kvm ]; then accel=(-accel kvm -cpu host); else accel=(-accel tcg -cpu max); fi
share_args=()
share_words=
for i in "${!shares[@]}"; do
  share_args+=(-fsdev "local,id=share$i,path=${shares[$i]},security_model=none,readonly=on,multidevs=remap"
    -device "virtio-9p-pci,fsdev=share$i,mount_tag=share$i")
  share_words+=" lbguard.share=share$i:${shares[$i]}"
done
logs=$(mktemp -d /tmp/lbguard-vm.XXXXXX)
trap 'rm -rf "$logs"' EXIT

set +e
timeout --kill-after=5 "${LBGUARD_VM_TIMEOUT:-150}" qemu-system-x86_64 "${accel[@]}" \
  -m "${LBGUARD_VM_MEMORY:-768}" -smp 1 -nodefaults -no-user-config -display none -monitor none -no-reboot \
  -serial "file:$logs/console" -serial "file:$logs/result" \
  -kernel "$cache/vmlinux" -initrd "$initrd" \
  -fsdev "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap" \
  -device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
  "${share_args[@]}" \
  -append "console=ttyS0 quiet panic=-1 mitigations=off lbguard.run=$script$share_words"
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

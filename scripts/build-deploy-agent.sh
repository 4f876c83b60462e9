#!/usr/bin/env bash
# Builds the Mulligan deploy agent ramdisk offline from Debian packages: OUTDIR/vmlinuz
# (Debian's cloud kernel) and OUTDIR/initrd.img (busybox-static, the virtio modules and
# src/executor/agent/agent-init.sh as /init), plus OUTDIR/agent.json describing both. The boot
# server serves them as /boot/agent/vmlinuz and /boot/agent/initrd. Re-running with matching
# files exits at once. Logs go to stderr, OUTDIR is printed on stdout.
# Default OUTDIR: .cache/deploy-agent; the kernel .debs of .cache/test-image are reused.
set -euo pipefail

log() { echo "build-deploy-agent: $*" >&2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
mkdir -p "${1:-$repo/.cache/deploy-agent}"
out=$(cd "${1:-$repo/.cache/deploy-agent}" && pwd)
init="$repo/src/executor/agent/agent-init.sh"
# virtio_net for eth0, virtio_blk for the disks; af_packet (udhcpc) and dmi-sysfs (memory
# inventory) are built into the cloud kernel.
modules="virtio_pci virtio_net virtio_blk"
recipe=$(cat "$0" "$here/lib/debian-kernel.sh" "$init" | sha256sum | cut -d' ' -f1)

up_to_date() {
  [ -f "$out/agent.json" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] || return 1
  grep -q "\"recipe_sha256\": \"$recipe\"" "$out/agent.json" || return 1
  grep -q "\"initrd_sha256\": \"$(sha256sum "$out/initrd.img" | cut -d' ' -f1)\"" "$out/agent.json"
}
if up_to_date; then
  log "up to date: $out"
  echo "$out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
deb_cache="$out/.cache"
deb_also="$repo/.cache/test-image/.cache"
# shellcheck source=scripts/lib/debian-kernel.sh
. "$here/lib/debian-kernel.sh"
require_tools cpio:cpio depmod:kmod dpkg-deb:dpkg gzip:gzip =busybox-static
unpack_cloud_kernel

root="$work/root"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/etc" "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
copy_modules "$root" $modules
cp "$init" "$root/init"
chmod 755 "$root/init"
log "packing initramfs"
pack_initramfs "$root" "$work/initrd.img"
cp "$vmlinuz" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img"
cat >"$out/agent.json.tmp" <<JSON
{
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "kernel_version": "$kver",
  "kernel_sha256": "$(sha256sum "$out/vmlinuz" | cut -d' ' -f1)",
  "initrd_sha256": "$(sha256sum "$out/initrd.img" | cut -d' ' -f1)",
  "recipe_sha256": "$recipe"
}
JSON
mv "$out/agent.json.tmp" "$out/agent.json"
log "built $out ($kver)"
echo "$out"

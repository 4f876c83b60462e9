#!/usr/bin/env bash
# Builds the disk-bootable test OS the bare-metal tests deploy, offline from Debian packages
# and without root or loop mounts: OUTDIR/disk.raw, a 32 MiB raw disk with an MBR (syslinux's
# mbr.bin) and one bootable FAT16 partition at 1 MiB holding SYSLINUX, Debian's cloud kernel
# and a busybox initramfs whose /init prints "mulligan-deployed-os booted" on ttyS0 (and the
# root disk it booted from). OUTDIR/image.json gives its sha256 and size. SeaBIOS boots it.
# The partition is made as a separate file (mkfs.vfat, mcopy, syslinux --install), then
# spliced in with dd. Default OUTDIR: .cache/deploy-image. Logs on stderr, OUTDIR on stdout.
set -euo pipefail

log() { echo "build-deploy-image: $*" >&2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
mkdir -p "${1:-$repo/.cache/deploy-image}"
out=$(cd "${1:-$repo/.cache/deploy-image}" && pwd)
marker="mulligan-deployed-os booted"
disk_mib=32
recipe=$(cat "$0" "$here/lib/debian-kernel.sh" | sha256sum | cut -d' ' -f1)

if [ -f "$out/image.json" ] && [ -f "$out/disk.raw" ] &&
  grep -q "\"recipe_sha256\": \"$recipe\"" "$out/image.json" &&
  grep -q "\"sha256\": \"$(sha256sum "$out/disk.raw" | cut -d' ' -f1)\"" "$out/image.json"; then
  log "up to date: $out"
  echo "$out"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
deb_cache="$out/.cache"
deb_also="$repo/.cache/test-image/.cache $repo/.cache/deploy-agent/.cache"
# shellcheck source=scripts/lib/debian-kernel.sh
. "$here/lib/debian-kernel.sh"
require_tools cpio:cpio depmod:kmod dpkg-deb:dpkg gzip:gzip =busybox-static \
  syslinux:syslinux =syslinux-common mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr" ] || { echo "build-deploy-image: $mbr missing (apt-get install syslinux-common)" >&2; exit 1; }
unpack_cloud_kernel

root="$work/root"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev"
cp /bin/busybox "$root/bin/busybox"
copy_modules "$root" virtio_pci virtio_blk
cat >"$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in \$(cat /lib/modules/load-order); do insmod "/lib/modules/\$m"; done
sleep 1
echo "$marker from \$(ls /sys/block | grep -v -e loop -e ram | tr '\n' ' ')"
while :; do sleep 3600; done
INIT
chmod 755 "$root/init"
pack_initramfs "$root" "$work/initrd.img"

# The FAT16 partition: everything from 1 MiB to the end of the disk.
part="$work/part.img"
part_sectors=$(((disk_mib - 1) * 2048))
truncate -s $((part_sectors * 512)) "$part"
mkfs.vfat -F 16 -n MULLIGAN -h 2048 "$part" >/dev/null
cat >"$work/syslinux.cfg" <<CFG
SERIAL 0 115200
DEFAULT mulligan
PROMPT 0
TIMEOUT 0
LABEL mulligan
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0,115200n8 panic=-1 quiet
CFG
export MTOOLS_SKIP_CHECK=1
mcopy -i "$part" "$vmlinuz" ::/vmlinuz
mcopy -i "$part" "$work/initrd.img" ::/initrd.img
mcopy -i "$part" "$work/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$part"

disk="$work/disk.raw"
truncate -s $((disk_mib * 1024 * 1024)) "$disk"
echo "2048,$part_sectors,6,*" | sfdisk --quiet --label dos "$disk" >/dev/null
dd if="$mbr" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$part" of="$disk" bs=1M seek=1 conv=notrunc status=none
mv "$disk" "$out/disk.raw"
cat >"$out/image.json.tmp" <<JSON
{
  "disk": "disk.raw",
  "format": "raw",
  "boot_marker": "$marker",
  "kernel_version": "$kver",
  "size_bytes": $(stat -c %s "$out/disk.raw"),
  "sha256": "$(sha256sum "$out/disk.raw" | cut -d' ' -f1)",
  "recipe_sha256": "$recipe"
}
JSON
mv "$out/image.json.tmp" "$out/image.json"
log "built $out/disk.raw ($kver)"
echo "$out"

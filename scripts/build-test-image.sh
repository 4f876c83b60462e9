#!/usr/bin/env bash
# Builds a tiny bootable guest for the QEMU driver's tests, offline from Debian packages:
# OUTDIR/vmlinuz (Debian's cloud kernel), OUTDIR/initrd.img (a busybox-static initramfs whose
# /init reads the NoCloud config drive and prints what it found, then MULLIGAN_GUEST_READY)
# and OUTDIR/image.json describing both. Re-running with matching files exits at once;
# downloaded .debs stay in OUTDIR/.cache. Logs go to stderr, OUTDIR is printed on stdout.
#
# The cloud kernel builds virtio and isofs as modules, so the initramfs carries them (with
# their dependencies from modules.dep) and insmods them in order; the config drive is an
# ISO9660 volume labelled "cidata" attached as a virtio disk. An ACPI power-button press
# (QMP system_powerdown) powers the guest off through busybox acpid.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
log() { echo "build-test-image: $*" >&2; }
[ $# -eq 1 ] || usage

mkdir -p "$1"
out=$(cd "$1" && pwd)
# One build at a time per OUTDIR: test files running side by side may all ask for the image
# on a fresh checkout, and a second build rewriting initrd.img under a booting guest fails
# the first one's checksum. The others wait here, then find it up to date.
exec 9>"$out.lock"
flock 9
marker=MULLIGAN_GUEST_READY
cmdline="console=ttyS0 panic=-1 quiet"
# The modules /init needs, by name; their dependencies are added from modules.dep.
# button and evdev turn ACPI power-button presses into input events for busybox acpid.
modules="virtio_pci virtio_blk isofs button evdev"
# Changing this script changes the recipe, which invalidates a previous build.
recipe=$(cat "$0" "$(dirname "$0")/lib/debian-kernel.sh" | sha256sum | cut -d' ' -f1)

json_field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$out/image.json"; }

up_to_date() {
  [ -f "$out/image.json" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] || return 1
  [ "$(json_field recipe_sha256)" = "$recipe" ] || return 1
  [ "$(json_field kernel_sha256)" = "$(sha256sum "$out/vmlinuz" | cut -d' ' -f1)" ] || return 1
  [ "$(json_field initrd_sha256)" = "$(sha256sum "$out/initrd.img" | cut -d' ' -f1)" ]
}

if up_to_date; then
  log "up to date: $out"
  echo "$out"
  exit 0
fi

cache="$out/.cache"
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
deb_cache=$cache
# shellcheck source=scripts/lib/debian-kernel.sh
. "$(dirname "$0")/lib/debian-kernel.sh"
require_tools cpio:cpio genisoimage:genisoimage depmod:kmod dpkg-deb:dpkg gzip:gzip =busybox-static
unpack_cloud_kernel

root="$work/root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev" "$root/mnt"
cp /bin/busybox "$root/bin/busybox"
copy_modules "$root" $modules

cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /lib/modules/load-order); do
  insmod "/lib/modules/$m" || echo "mulligan-guest: insmod $m failed"
done
# Block devices appear asynchronously after their driver loads: look for a while.
found=""
i=0
while [ -z "$found" ] && [ $i -lt 20 ]; do
  found=$(findfs LABEL=cidata 2>/dev/null || findfs LABEL=CIDATA 2>/dev/null || true)
  [ -n "$found" ] || { sleep 0.1; i=$((i + 1)); }
done
# The value of a top-level "key: value" line of meta-data, without surrounding quotes.
field() {
  sed -n "s/^$1:[[:space:]]*//p" /mnt/cidata/meta-data | head -n1 |
    sed 's/^"\(.*\)"$/\1/; s/^'"'"'\(.*\)'"'"'$/\1/'
}
id=none
host=none
keys=0
mkdir -p /mnt/cidata
if [ -n "$found" ] && mount -t iso9660 -o ro "$found" /mnt/cidata; then
  id=$(field instance-id)
  host=$(field local-hostname)
  keys=$(awk '/^public-keys:/ { k = 1; next }
    k && /^[[:space:]]*-/ { n++; next }
    k && /^[^[:space:]]/ { k = 0 }
    END { print n + 0 }' /mnt/cidata/meta-data)
  [ -n "$host" ] && hostname "$host"
else
  echo "mulligan-guest: no config drive"
fi
echo "mulligan-guest: instance-id=$id"
echo "mulligan-guest: hostname=$host"
echo "mulligan-guest: ssh-keys=$keys"
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\necho "mulligan-guest: power button"\npoweroff -f\n' >/etc/acpi/PWRF/00000080
chmod 755 /etc/acpi/PWRF/00000080
acpid -c /etc/acpi -l /dev/null
# acpid daemonizes before it opens the input devices, and a press nobody has open is lost: the
# guest is ready once acpid holds them (a test presses the button right after the marker).
i=0
while [ $i -lt 50 ]; do
  pid=$(pidof acpid)
  [ -n "$pid" ] && ls -l "/proc/$pid/fd" 2>/dev/null | grep -q /dev/input && break
  sleep 0.1
  i=$((i + 1))
done
[ $i -lt 50 ] || echo "mulligan-guest: acpid has no input device"
echo "MULLIGAN_GUEST_READY"
while :; do sleep 3600; done
INIT
chmod 755 "$root/init"

log "packing initramfs"
pack_initramfs "$root" "$work/initrd.img"
cp "$vmlinuz" "$work/vmlinuz"
mv "$work/vmlinuz" "$out/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img"
ksha=$(sha256sum "$out/vmlinuz" | cut -d' ' -f1)
isha=$(sha256sum "$out/initrd.img" | cut -d' ' -f1)
cat >"$out/image.json.tmp" <<JSON
{
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "cmdline": "$cmdline",
  "boot_marker": "$marker",
  "kernel_version": "$kver",
  "kernel_sha256": "$ksha",
  "initrd_sha256": "$isha",
  "recipe_sha256": "$recipe"
}
JSON
mv "$out/image.json.tmp" "$out/image.json"
log "built $out ($kver)"
echo "$out"

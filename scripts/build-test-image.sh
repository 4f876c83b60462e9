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
marker=MULLIGAN_GUEST_READY
cmdline="console=ttyS0 panic=-1 quiet"
# The modules /init needs, by name; their dependencies are added from modules.dep.
# button and evdev turn ACPI power-button presses into input events for busybox acpid.
modules="virtio_pci virtio_blk isofs button evdev"
# Changing this script changes the recipe, which invalidates a previous build.
recipe=$(sha256sum "$0" | cut -d' ' -f1)

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

# Tools this build needs, as "command:package".
missing=""
for pair in cpio:cpio genisoimage:genisoimage depmod:kmod dpkg-deb:dpkg gzip:gzip; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" ||
  missing="$missing busybox-static"
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "build-test-image: missing packages:$missing (run: apt-get install$missing)" >&2
    exit 1
  fi
  log "installing$missing"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2
fi

cache="$out/.cache"
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints the path of a cached .deb of package $1 (downloading it if absent).
fetch_deb() {
  local deb
  deb=$(ls -t "$cache/$1"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    log "downloading $1"
    (cd "$cache" && apt-get download "$1" >&2) ||
      { echo "build-test-image: apt-get download $1 failed" >&2; exit 1; }
    deb=$(ls -t "$cache/$1"_*.deb | head -n1)
  fi
  echo "$deb"
}

meta=$(fetch_deb linux-image-cloud-amd64)
versioned=$(dpkg-deb -f "$meta" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' |
  grep '^linux-image-[0-9]' | head -n1)
[ -n "$versioned" ] || { echo "build-test-image: no kernel package in $meta's Depends" >&2; exit 1; }
kdeb=$(fetch_deb "$versioned")
log "unpacking $(basename "$kdeb")"
dpkg -x "$kdeb" "$work/kernel"
vmlinuz=$(ls "$work"/kernel/boot/vmlinuz-* | head -n1)
kver=${vmlinuz##*/vmlinuz-}
moddir="$work/kernel/lib/modules/$kver"
# The package ships no modules.dep (the postinst generates it): generate it here.
depmod -b "$work/kernel" "$kver"

# Prints the modules.dep paths of $1 and its dependencies, dependencies first, once each.
resolve() {
  local path line dep
  path=$(grep -E "(^|/)$1\.ko:" "$moddir/modules.dep" | head -n1 | cut -d: -f1)
  if [ -z "$path" ]; then
    if grep -qE "(^|/)$1\.ko$" "$moddir/modules.builtin"; then return 0; fi
    echo "build-test-image: module $1 not found for $kver" >&2
    exit 1
  fi
  line=$(grep -E "^$path:" "$moddir/modules.dep" | cut -d: -f2)
  for dep in $line; do resolve "$(basename "$dep" .ko)"; done
  echo "$path"
}

root="$work/root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" "$root/dev" "$root/mnt"
cp /bin/busybox "$root/bin/busybox"
: >"$root/lib/modules/load-order"
for m in $modules; do
  paths=$(resolve "$m")
  for path in $paths; do
    name=$(basename "$path")
    grep -qx "$name" "$root/lib/modules/load-order" && continue
    cp "$moddir/$path" "$root/lib/modules/$name"
    echo "$name" >>"$root/lib/modules/load-order"
  done
done
log "modules: $(tr '\n' ' ' <"$root/lib/modules/load-order")"

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
echo "MULLIGAN_GUEST_READY"
while :; do sleep 3600; done
INIT
chmod 755 "$root/init"

log "packing initramfs"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet | gzip -9) \
  >"$work/initrd.img"
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

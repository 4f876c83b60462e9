#!/bin/busybox sh
# /init of the Mulligan deploy agent ramdisk (packed by scripts/build-deploy-agent.sh).
# It brings up eth0 with DHCP, reads mulligan.callback, mulligan.node and mulligan.token from
# the kernel command line, says hello to the executor's boot server and then runs the commands
# it is given (protocol: src/executor/boot/agent-protocol.ts):
#   inspect   cpus, memory_mb (SMBIOS memory devices, else MemTotal), arch, cpu_flags, disks,
#             nics → "inventory"
#   erase     discard each named disk (when it supports discard) and zero its first and last
#             64 MiB, then check both ends read back as zeros (page cache dropped) → "done"
#   deploy    wget the RAW image | dd to the disk, then read back exactly size_bytes from the
#             disk (page cache dropped) and compare their SHA-256 → "done" or
#             "failed" IMAGE_CHECKSUM_MISMATCH
#   poweroff  report "done", then power the node off
# The token is only ever sent as a bearer header; it is never printed.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
set -o pipefail
VERSION=1

log() { echo "mulligan-agent: $*" >&2; }

for m in $(cat /lib/modules/load-order); do
  insmod "/lib/modules/$m" || log "insmod $m failed"
done

callback="" node="" token=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    mulligan.callback=*) callback=${arg#*=} ;;
    mulligan.node=*) node=${arg#*=} ;;
    mulligan.token=*) token=${arg#*=} ;;
  esac
done
if [ -z "$callback" ] || [ -z "$node" ] || [ -z "$token" ]; then
  log "no mulligan.callback/node/token on the kernel command line; halting"
  while :; do sleep 3600; done
fi
log "node $node, callback $callback"

mkdir -p /etc
cat >/etc/udhcpc.script <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound | renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    ip link set "$interface" up
    for r in $router; do ip route add default via "$r" dev "$interface" && break; done
    ;;
esac
SCRIPT
chmod 755 /etc/udhcpc.script
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
ip link set eth0 up
until udhcpc -i eth0 -q -n -t 5 -T 2 -s /etc/udhcpc.script >/dev/null 2>&1; do
  log "no DHCP lease yet"
done
log "eth0 $(ip -4 addr show eth0 | sed -n 's/.*inet \([0-9.\/]*\).*/\1/p')"

# POSTs JSON $2 as event $1; prints the answer. Fails on a network or HTTP error.
post() {
  wget -q -O - --header "Authorization: Bearer $token" \
    --header "Content-Type: application/json" --post-data "$2" "$callback/$node/$1"
}

# Like post, but retries until the server answers (it may be restarting); at most 3 s apart.
post_retry() {
  local answer
  until answer=$(post "$1" "$2"); do sleep 3; done
  echo "$answer"
}

# A string or number field of a flat JSON object.
str() { echo "$2" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
num() { echo "$2" | sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p"; }
# JSON-escapes the message of a failure (quotes and backslashes; one line).
esc() { echo "$1" | tr '\n' ' ' | sed 's/\\/\\\\/g; s/"/\\"/g'; }

size_of() { echo $(($(cat "/sys/block/$1/size") * 512)); }

memory_mb() {
  local total=0 e raw size
  for e in /sys/firmware/dmi/entries/17-*; do
    [ -f "$e/raw" ] || continue
    raw="$e/raw"
    size=$(od -An -tu2 -j12 -N2 "$raw" | tr -d ' ')
    [ -z "$size" ] || [ "$size" = 0 ] || [ "$size" = 65535 ] && continue
    if [ "$size" = 32767 ]; then
      size=$(od -An -tu4 -j28 -N4 "$raw" | tr -d ' ')
    elif [ $((size & 32768)) -ne 0 ]; then
      size=$(((size & 32767) / 1024))
    fi
    total=$((total + size))
  done
  [ "$total" -gt 0 ] || total=$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024))
  echo "$total"
}

inventory() {
  local disks="" nics="" d n flags
  for d in /sys/block/*; do
    d=${d##*/}
    case "$d" in loop* | ram* | sr* | fd*) continue ;; esac
    disks="$disks${disks:+,}{\"name\":\"$d\",\"size_bytes\":$(size_of "$d")}"
  done
  for n in /sys/class/net/*; do
    n=${n##*/}
    [ "$n" = lo ] && continue
    nics="$nics${nics:+,}{\"name\":\"$n\",\"mac\":\"$(cat "/sys/class/net/$n/address")\"}"
  done
  # The first processor's flags (all share them); only [a-z0-9_] words, safe in a JSON string.
  flags=$(sed -n 's/^flags[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1 | tr -cd 'a-z0-9_ ')
  echo "\"cpus\":$(grep -c '^processor' /proc/cpuinfo),\"memory_mb\":$(memory_mb),\"arch\":\"$(uname -m)\",\"cpu_flags\":\"$flags\",\"disks\":[$disks],\"nics\":[$nics]"
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Erases disk $1: discards every block when the device supports it, zeroes the first and last
# 64 MiB (partition tables, GPT backup, RAID/LVM/filesystem signatures; the whole disk when it
# is smaller than 128 MiB), then checks both ends read back as zeros with the page cache
# dropped. Prints a failure message and fails otherwise.
erase_disk() {
  local dev="/dev/$1" size mib span=64 zero first last
  [ -b "$dev" ] || { echo "no disk $1"; return 1; }
  size=$(size_of "$1")
  mib=$((size / 1048576))
  if [ "$(cat "/sys/block/$1/queue/discard_max_bytes" 2>/dev/null || echo 0)" -gt 0 ]; then
    blkdiscard "$dev" || { echo "discarding $1 failed"; return 1; }
  fi
  if [ "$mib" -le $((2 * span)) ]; then
    dd if=/dev/zero of="$dev" bs=1M count="$mib" conv=fsync 2>/dev/null || { echo "zeroing $1 failed"; return 1; }
  else
    dd if=/dev/zero of="$dev" bs=1M count="$span" conv=fsync 2>/dev/null &&
      dd if=/dev/zero of="$dev" bs=1M seek=$((mib - span)) count="$span" conv=fsync 2>/dev/null ||
      { echo "zeroing $1 failed"; return 1; }
  fi
  if [ $((size % 1048576)) -ne 0 ]; then
    dd if=/dev/zero of="$dev" bs=512 seek=$((mib * 2048)) count=$(((size % 1048576) / 512)) conv=fsync 2>/dev/null
  fi
  drop_caches
  zero=$(head -c 1048576 /dev/zero | sha256sum | cut -d' ' -f1)
  first=$(head -c 1048576 "$dev" | sha256sum | cut -d' ' -f1)
  last=$(tail -c 1048576 "$dev" | sha256sum | cut -d' ' -f1)
  [ "$first" = "$zero" ] && [ "$last" = "$zero" ] || { echo "$1 does not read back as zeros"; return 1; }
}

# Runs command $1 (the server's JSON); prints "event body" for the result to post.
run_command() {
  local cmd=$1 id name start msg disk size sha url dev got d done_disks=""
  id=$(num id "$cmd")
  name=$(str command "$cmd")
  start=$(date +%s)
  case "$name" in
    inspect)
      echo "inventory {\"id\":$id,$(inventory)}"
      ;;
    erase)
      for d in $(echo "$cmd" | sed -n 's/.*"disks":\[\([^]]*\)\].*/\1/p' | tr -d '"' | tr ',' ' '); do
        log "erasing $d"
        post progress "{\"id\":$id,\"message\":\"erasing $d\"}" >/dev/null 2>&1
        if ! msg=$(erase_disk "$d"); then
          echo "failed {\"id\":$id,\"step\":\"erase\",\"reason\":\"ERASE_FAILED\",\"message\":\"$(esc "$msg")\"}"
          return
        fi
        done_disks="$done_disks${done_disks:+,}\"$d\""
      done
      echo "done {\"id\":$id,\"command\":\"erase\",\"disks\":[$done_disks],\"seconds\":$(($(date +%s) - start))}"
      ;;
    deploy)
      disk=$(str disk "$cmd")
      url=$(str image_url "$cmd")
      sha=$(str sha256 "$cmd")
      size=$(num size_bytes "$cmd")
      dev="/dev/$disk"
      if [ ! -b "$dev" ] || [ "$(size_of "$disk")" -lt "$size" ]; then
        echo "failed {\"id\":$id,\"step\":\"deploy\",\"reason\":\"DISK_NOT_FOUND\",\"message\":\"no disk $disk of at least $size bytes\"}"
        return
      fi
      log "writing $url to $dev"
      post progress "{\"id\":$id,\"message\":\"writing image to $disk\"}" >/dev/null 2>&1
      if ! wget -q -O - "$url" | dd of="$dev" bs=1M conv=fsync 2>/dev/null; then
        echo "failed {\"id\":$id,\"step\":\"deploy\",\"reason\":\"IMAGE_DOWNLOAD_FAILED\",\"message\":\"downloading or writing $url failed\"}"
        return
      fi
      drop_caches
      got=$(head -c "$size" "$dev" | sha256sum | cut -d' ' -f1)
      log "read back $size bytes from $dev: sha256 $got"
      if [ "$got" != "$sha" ]; then
        echo "failed {\"id\":$id,\"step\":\"deploy\",\"reason\":\"IMAGE_CHECKSUM_MISMATCH\",\"message\":\"$disk reads back as $got, expected $sha\"}"
        return
      fi
      echo "done {\"id\":$id,\"command\":\"deploy\",\"disk\":\"$disk\",\"sha256\":\"$got\",\"size_bytes\":$size,\"seconds\":$(($(date +%s) - start))}"
      ;;
    poweroff)
      echo "done {\"id\":$id,\"command\":\"poweroff\"}"
      ;;
    *)
      echo "poll {}"
      ;;
  esac
}

cmd=$(post_retry hello "{\"version\":\"$VERSION\"}")
log "hello answered"
while :; do
  name=$(str command "$cmd")
  [ "$name" = wait ] || [ -z "$name" ] || log "command $name"
  result=$(run_command "$cmd")
  cmd=$(post_retry "${result%% *}" "${result#* }")
  if [ "$name" = poweroff ]; then
    log "powering off"
    sync
    poweroff -f
  fi
done

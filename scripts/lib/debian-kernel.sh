# Shared steps of the scripts that build tiny guests offline from Debian packages
# (build-test-image.sh, build-deploy-agent.sh, build-deploy-image.sh). Source it after setting:
#   log()        a function printing a progress line to stderr
#   deb_cache    directory where downloaded .debs are kept
#   deb_also     optional: more directories searched for an already downloaded .deb
#   work         a scratch directory removed by the caller
# It provides require_tools, fetch_deb, unpack_cloud_kernel and copy_modules.

# Installs (as root) or names the Debian packages of missing tools. Arguments: "command:package"
# pairs, or "=package" for a package that must be installed whatever commands it ships.
require_tools() {
  local missing="" pair
  for pair in "$@"; do
    if [ "${pair#=}" != "$pair" ]; then
      dpkg-query -W -f='${Status}' "${pair#=}" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing ${pair#=}"
    else
      command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
    fi
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages:$missing (run: apt-get install$missing)" >&2
    exit 1
  fi
  log "installing$missing"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2
}

# Prints the path of a cached .deb of package $1 (downloading it into $deb_cache if absent).
fetch_deb() {
  local deb dir
  mkdir -p "$deb_cache"
  for dir in "$deb_cache" ${deb_also:-}; do
    deb=$(ls -t "$dir/$1"_*.deb 2>/dev/null | head -n1 || true)
    [ -n "$deb" ] && { echo "$deb"; return 0; }
  done
  log "downloading $1"
  (cd "$deb_cache" && apt-get download "$1" >&2) ||
    { echo "apt-get download $1 failed" >&2; exit 1; }
  ls -t "$deb_cache/$1"_*.deb | head -n1
}

# Unpacks Debian's cloud kernel into $work/kernel and sets vmlinuz, kver and moddir
# (with modules.dep generated: the package ships none, its postinst makes it).
unpack_cloud_kernel() {
  local meta versioned kdeb
  meta=$(fetch_deb linux-image-cloud-amd64)
  versioned=$(dpkg-deb -f "$meta" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' |
    grep '^linux-image-[0-9]' | head -n1)
  [ -n "$versioned" ] || { echo "no kernel package in $meta's Depends" >&2; exit 1; }
  kdeb=$(fetch_deb "$versioned")
  log "unpacking $(basename "$kdeb")"
  dpkg -x "$kdeb" "$work/kernel"
  vmlinuz=$(ls "$work"/kernel/boot/vmlinuz-* | head -n1)
  kver=${vmlinuz##*/vmlinuz-}
  moddir="$work/kernel/lib/modules/$kver"
  depmod -b "$work/kernel" "$kver"
}

# Prints the modules.dep paths of module $1 and its dependencies, dependencies first.
resolve_module() {
  local path line dep
  path=$(grep -E "(^|/)$1\.ko:" "$moddir/modules.dep" | head -n1 | cut -d: -f1)
  if [ -z "$path" ]; then
    if grep -qE "(^|/)$1\.ko$" "$moddir/modules.builtin"; then return 0; fi
    echo "module $1 not found for $kver" >&2
    exit 1
  fi
  line=$(grep -E "^$path:" "$moddir/modules.dep" | cut -d: -f2)
  for dep in $line; do resolve_module "$(basename "$dep" .ko)"; done
  echo "$path"
}

# Copies the named modules (and their dependencies) into $1/lib/modules, listing the load
# order in $1/lib/modules/load-order for /init to insmod.
copy_modules() {
  local root=$1 m paths path name
  shift
  mkdir -p "$root/lib/modules"
  : >"$root/lib/modules/load-order"
  for m in "$@"; do
    paths=$(resolve_module "$m") || exit 1
    for path in $paths; do
      name=$(basename "$path")
      grep -qx "$name" "$root/lib/modules/load-order" && continue
      cp "$moddir/$path" "$root/lib/modules/$name"
      echo "$name" >>"$root/lib/modules/load-order"
    done
  done
  log "modules: $(tr '\n' ' ' <"$root/lib/modules/load-order")"
}

# Packs directory $1 as a gzip'd newc initramfs into file $2.
pack_initramfs() {
  (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet | gzip -9) >"$2"
}

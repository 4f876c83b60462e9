#!/usr/bin/env bash
# Extracts OpenStack Placement's standard resource classes and trait names from Debian's
# python3-os-resource-classes and python3-os-traits packages into
# src/resource/data/standard-{classes,capabilities}.json. Downloads the .debs (no install),
# unpacks them in a temp dir and asks the libraries themselves for their lists.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download python3-os-resource-classes python3-os-traits >/dev/null 2>&1)
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done
versions=$(cd "$work" && ls *.deb | sed 's/_all.deb//' | tr '\n' ' ')
PYTHONPATH="$work/root/usr/lib/python3/dist-packages" /usr/bin/python3 - "$versions" <<'PY'
import json, sys, types
# os_traits imports pbr only to report its own version.
pbr = types.ModuleType("pbr"); pbr.version = types.ModuleType("pbr.version")
class _Info:
    def __init__(self, *_): pass
    def version_string(self): return "unknown"
pbr.version.VersionInfo = _Info
sys.modules["pbr"] = pbr; sys.modules["pbr.version"] = pbr.version
import os_resource_classes as rc, os_traits as traits
source = "Debian " + sys.argv[1].strip()
with open("src/resource/data/standard-classes.json", "w") as f:
    json.dump({"source": source, "names": list(rc.STANDARDS)}, f, indent=1)
    f.write("\n")
with open("src/resource/data/standard-capabilities.json", "w") as f:
    json.dump({"source": source, "names": sorted(traits.get_traits())}, f, indent=1)
    f.write("\n")
print(f"{len(rc.STANDARDS)} resource classes, {len(traits.get_traits())} capabilities")
PY

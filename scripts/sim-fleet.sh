#!/usr/bin/env bash
# Starts N simulated bare-metal nodes (QEMU guests behind ipmi_sim or the in-repo Redfish
# emulator) for trying Mulligan without hardware; Ctrl-C stops them. Options: see
# src/sim/fleet-main.ts, e.g. scripts/sim-fleet.sh --count 2 --bmc mixed --boot-url URL.
# Needs Debian packages qemu-system-x86 qemu-utils ipxe-qemu openipmi ipmitool.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx src/sim/fleet-main.ts "$@"

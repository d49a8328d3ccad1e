#!/usr/bin/env bash
# Suite: what the GPU machine itself does, behind the documented exceptions of the compute
# shares, one device-tool call from the repository root:
#   bash bench/gpu/diagnostics.sh [power|kernels|host ...]   (default: all three)
#   power    bf16 products at fixed shares: the card's power, clocks and energy per product
#   kernels  each product timed on the GPU, limited and not (the clocks, not the runtime)
#   host     a pure-Python loop's speed second by second beside the small-kernel loop
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
for section in "${@:-power kernels host}"; do
  for s in $section; do
    case "$s" in
      power) bash bench/gpu/lib/power_headroom.sh || status=1 ;;
      kernels) bash bench/gpu/lib/kernel_speed.sh || status=1 ;;
      host) bash bench/gpu/lib/host_noise.sh || status=1 ;;
      *) echo "diagnostics.sh: unknown section '$s'" >&2; exit 2 ;;
    esac
  done
done
exit $status

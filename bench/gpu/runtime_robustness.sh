#!/usr/bin/env bash
# Suite: the runtime's compute arbitration where real deployments strain it, on a real GPU, one
# device-tool call from the repository root:
#   bash bench/gpu/runtime_robustness.sh [pid-namespaces|fork|busy ...]   (default: all three)
#   pid-namespaces  two processes in two PID namespaces (two pods) share one device's arbitration
#   fork            a member's forked workers (a DataLoader) after the member is killed
#   busy            shares held on a device kept busy by an unlimited process
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
for section in "${@:-pid-namespaces fork busy}"; do
  for s in $section; do
    case "$s" in
      pid-namespaces) bash bench/gpu/lib/pid_namespaces.sh || status=1 ;;
      fork) bash bench/gpu/lib/fork_worker.sh || status=1 ;;
      busy) bash bench/gpu/lib/busy_device.sh || status=1 ;;
      *) echo "runtime_robustness.sh: unknown section '$s'" >&2; exit 2 ;;
    esac
  done
done
exit $status

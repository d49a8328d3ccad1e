#!/usr/bin/env bash
# Every flag the Kubernetes manifests (deploy/k8s) pass to xpool-controller and xpool-agent is one
# the binaries take.
set -uo pipefail
XPOOL="$1"
BIN="$(dirname "$XPOOL")"
DEPLOY="$(dirname "$0")/../../deploy/k8s"
failures=0
for pair in controller:20-controller.yaml agent:30-agent.yaml; do
  binary=xpool-${pair%%:*} file=$DEPLOY/${pair#*:}
  help=$("$BIN/$binary" --help)
  flags=$(sed -n 's/^ *- \(--[a-z-]*\)=.*/\1/p' "$file")
  [ -n "$flags" ] || { echo "FAIL: no flags found in $file"; failures=$((failures + 1)); }
  for f in $flags; do
    echo "$help" | grep -qE -- "(^|[ ,])$f([ ,=]|$)" ||
      { echo "FAIL: $binary does not take $f ($file)"; failures=$((failures + 1)); }
  done
done
[ $failures -eq 0 ] && echo "deploy_flags: all passed"
exit $((failures > 0))

# Sourced by the CLI tests over the fake driver (cli_exec.sh, cli_shares.sh) with their arguments
# XPOOL PROBE FAKE_DRIVER_DIR: sets XPOOL and PROBE, puts the fake driver on the library path,
# clears the variables a user's shell might carry, and defines fail and expect.
set -uo pipefail
XPOOL="$1" PROBE="$2"
export LD_LIBRARY_PATH="$3"
unset CUDA_VISIBLE_DEVICES XPOOL_GPU_MEMORY XPOOL_SLICE
fail() { echo "FAIL: $*"; exit 1; }
expect() { grep -qF -- "$2" <<<"$1" || fail "expected '$2' in: $1"; }

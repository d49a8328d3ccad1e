# Shared by the tests/integration/pool_*.sh tests; sourced with XPOOL set to build/xpool. Gives:
#   BIN          the build folder (xpool-controller, xpool-agent, test tools)
#   WORK         a private folder, also $HOME (so ~/.xpool is the test's own), removed at exit
#   pids         processes to kill at exit (add with pids+=($!))
#   RUN_AS       the agent's --run-as when the test runs as root
#   fail MSG     counts a failure;  pool_finish NAME  reports and exits
#   metrics      the controller's /metrics page (body only) from 127.0.0.1:$METRICS_PORT
#   non_loopback_host  an IPv4 address of this machine off loopback (127.0.0.2 when it has none)
#   pool_extra_cleanup  a test may define it for more cleaning at exit
BIN="$(dirname "$XPOOL")"
WORK="$(mktemp -d)"
export HOME="$WORK"
pids=()
pool_cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  if declare -F pool_extra_cleanup >/dev/null; then pool_extra_cleanup; fi
  rm -rf "$WORK"
}
trap pool_cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
RUN_AS=()
[ "$(id -u)" -eq 0 ] && RUN_AS=(--run-as nobody)
pool_finish() {
  [ "$failures" -eq 0 ] && echo "$1: all passed"
  exit $((failures > 0))
}
metrics() {
  exec 3<>"/dev/tcp/127.0.0.1/$METRICS_PORT"
  printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}
non_loopback_host() {
  local host
  host=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -1)
  echo "${host:-127.0.0.2}"
}

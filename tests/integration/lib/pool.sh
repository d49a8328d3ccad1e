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
# pool_start_controller ARGS...: an xpool-controller on $LISTEN (default any loopback port)
# with ARGS (and --metrics ""), logging to $WORK/controller.log; waits until it listens, sets CONTROLLER to its
# pid and exports XPOOL_CONTROLLER.
pool_start_controller() {
  "$BIN/xpool-controller" --listen "${LISTEN:-127.0.0.1:0}" --metrics "" "$@" \
    >>"$WORK/controller.log" 2>&1 &
  CONTROLLER=$!
  pids+=($CONTROLLER)
  for _ in $(seq 100); do grep -q "listening on" "$WORK/controller.log" && break; sleep 0.05; done
  XPOOL_CONTROLLER=$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' "$WORK/controller.log" | tail -1)
  export XPOOL_CONTROLLER
}
# pool_start_agent NODE GPUS: an agent for node NODE with GPUS simulated L4s, its task accounts
# as RUN_AS says; waits until it registered and sets AGENT to its pid.
pool_start_agent() {
  printf 'node: %s\ndevices:\n  - model: L4\n    count: %s\n' "$1" "$2" >"$WORK/$1.yaml"
  "$BIN/xpool-agent" --controller "$XPOOL_CONTROLLER" --inventory "$WORK/$1.yaml" \
    --state-dir "$WORK/state-$1" "${RUN_AS[@]}" >"$WORK/agent-$1.log" 2>&1 &
  AGENT=$!
  pids+=($AGENT)
  for _ in $(seq 100); do grep -q "registered with" "$WORK/agent-$1.log" && break; sleep 0.05; done
}

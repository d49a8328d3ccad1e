# expect CODE PATTERN -- ARGS...: runs $XPOOL ARGS, checks its exit code and that its output
# (stdout and stderr) matches the extended regex PATTERN; the output is left in LAST. Needs
# XPOOL and a fail function from the sourcing test.
expect() {
  local code="$1" pattern="$2"
  shift 3
  local out rc
  out="$("$XPOOL" "$@" 2>&1)"
  rc=$?
  [ "$rc" -eq "$code" ] || fail "xpool $* exited $rc, expected $code: $out"
  echo "$out" | grep -qE -- "$pattern" || fail "xpool $* output lacks /$pattern/: $out"
  LAST="$out"
}

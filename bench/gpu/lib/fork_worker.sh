#!/usr/bin/env bash
# A process under a compute share forks two PyTorch data-loader workers and a sleeping helper
# (fork, no exec) and is killed; its children live on. Does its record in the arbitration file die with
# it? Read by the record's lock (compute_segment.py: live / dead), and by a newcomer asking for
# policy equal, which it gets only when no member lives. With RT_OLD=path, the same for an older
# runtime. One device-tool call:   RT_OLD=scratch/libxpool-cuda-2f8051c.so bash bench/gpu/lib/fork_worker.sh
set -uo pipefail
LOG_NAME=fork_worker.log
source "$(dirname "$0")/compute_common.sh"
for rt in "$RT" ${RT_OLD:+"$PWD/$RT_OLD"}; do
  echo "== runtime $rt"
  fresh
  LD_PRELOAD="$rt" XPOOL_GPU_CORE=50 python3 bench/gpu/lib/fork_worker.py > /tmp/fork_worker.out &
  for _ in $(seq 120); do grep -q parent /tmp/fork_worker.out && break; sleep 0.5; done
  line=$(grep parent /tmp/fork_worker.out) || { echo "FAIL: no workers started"; continue; }
  echo "$line"
  parent=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['parent'])" "$line")
  workers=$(python3 -c "import json,sys; print(*json.loads(sys.argv[1])['workers'])" "$line")
  echo "-- before the kill"; python3 bench/gpu/lib/compute_segment.py | grep -E "policy|member"
  holders
  # The killed process keeps its files until the driver has torn its CUDA context down: its record
  # is read once the shell has reaped it.
  t0=$(date +%s.%N); kill -9 "$parent"; wait "$parent"
  echo "reaped $(python3 -c "print(round($(date +%s.%N) - $t0, 2))") s after the kill"
  for w in $workers; do kill -0 "$w" 2>/dev/null && echo "child $w alive" || echo "child $w gone"; done
  echo "-- after the kill"; python3 bench/gpu/lib/compute_segment.py | grep -E "member"
  holders
  grep -c OFDLCK /proc/locks | sed 's/^/open file description locks on the machine: /'
  LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=equal python3 -c \
    "import torch; a = torch.randn(64, 64, device='cuda'); (a @ a).sum().item()" 2>&1 | grep -i xpool
  python3 bench/gpu/lib/compute_segment.py | grep -oE "policy [0-9]+" | head -1 |
    sed 's/policy 1$/newcomer got policy equal (1): no live member/; s/policy 0$/newcomer got policy fixed (0): a member still counted live/'
  for w in $workers; do kill -9 "$w" 2>/dev/null; done
  jobs_wait
done

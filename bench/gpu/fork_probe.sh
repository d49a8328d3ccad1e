#!/usr/bin/env bash
# bench/gpu/fork_worker.sh without Python: a C++ CUDA program under a share forks one sleeping
# child and is killed; which processes refer to the segment, its member record (live / dead) and
# the machine's open file description locks, before, after and 2 s after.
# One device-tool call:   bash bench/gpu/fork_probe.sh      (log $OUT/fork_probe.log)
set -u
LOG_NAME=fork_probe.log
source "$(dirname "$0")/compute_common.sh"
nvcc -o /tmp/fork_probe bench/gpu/fork_probe.cu || exit 1
fresh
LD_PRELOAD=$RT XPOOL_GPU_CORE=50 /tmp/fork_probe > /tmp/fp.out &
P=$!; sleep 3; cat /tmp/fp.out
echo "-- before"; holders; python3 bench/gpu/compute_segment.py | grep member; grep OFDLCK /proc/locks
kill -9 $P; wait $P
echo "-- after"; holders; python3 bench/gpu/compute_segment.py | grep member; grep OFDLCK /proc/locks
sleep 2; echo "-- 2 s later"; python3 bench/gpu/compute_segment.py | grep member
pkill -9 fork_probe

#!/usr/bin/env bash
# bench/gpu/fork_worker.sh without Python: a C++ CUDA program under a share forks one sleeping
# child and is killed; which processes refer to the segment, its member record (live / dead) and
# the machine's open file description locks, before, after and 2 s after. Expects build-gpu/ (any
# compute script builds it). One device-tool call:   bash bench/gpu/fork_probe.sh
set -u
nvcc -o /tmp/fork_probe bench/gpu/fork_probe.cu || exit 1
RT=$PWD/build-gpu/libxpool-cuda.so
holders() { for p in /proc/[0-9]*; do ls -l "$p/fd" 2>/dev/null | grep -q xpool-compute && echo "fd in ${p#/proc/} $(cat $p/comm)"; grep -q xpool-compute "$p/maps" 2>/dev/null && echo "map in ${p#/proc/} $(cat $p/comm)"; done; }
rm -f /dev/shm/xpool-compute-*
LD_PRELOAD=$RT XPOOL_GPU_CORE=50 /tmp/fork_probe > /tmp/fp.out &
P=$!; sleep 3; cat /tmp/fp.out
echo "-- before"; holders; python3 bench/gpu/compute_segment.py | grep member; grep OFDLCK /proc/locks
kill -9 $P; wait $P
echo "-- after"; holders; python3 bench/gpu/compute_segment.py | grep member; grep OFDLCK /proc/locks
sleep 2; echo "-- 2 s later"; python3 bench/gpu/compute_segment.py | grep member
pkill -9 fork_probe

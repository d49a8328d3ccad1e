"""Samples the device time each slice's leases have held (used_ns in the compute segments,
/dev/shm/xpool-compute-v5-*) once a second for SECONDS seconds, and prints each second's share of
wall time per slice: what the arbiter granted, beside the throughput the workload reached.
    python3 bench/gpu/lib/held_time.py SECONDS &   (next to a run under a compute share)
The offsets mirror ComputeArbiter::Layout (src/runtime/compute_arbiter.cc), as compute_segment.py."""
import glob
import json
import struct
import sys
import time

SLICES_AT, SLICE_BYTES, SLICES = 2168, 112, 64


def used():
    out = {}
    for p in glob.glob("/dev/shm/xpool-compute-v5-*"):
        b = open(p, "rb").read()
        if len(b) < SLICES_AT + SLICE_BYTES * SLICES:
            continue
        for i in range(SLICES):
            at = SLICES_AT + SLICE_BYTES * i
            key, share = struct.unpack_from("<Qi", b, at)
            if key:
                out[f"{share}%-{key:x}"] = struct.unpack_from("<q", b, at + 56)[0]
    return out


def main(seconds):
    last, last_t, rows = used(), time.monotonic(), {}
    for _ in range(seconds):
        time.sleep(1.0)
        now, now_t = used(), time.monotonic()
        for k, v in now.items():
            if k in last:
                rows.setdefault(k, []).append(round(100 * (v - last[k]) / 1e9 / (now_t - last_t), 2))
        last, last_t = now, now_t
    for k, v in rows.items():
        print(json.dumps({"mode": "held", "slice": k, "percent_per_second": v}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))

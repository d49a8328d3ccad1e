"""Samples what the GPU did for each process: NVML's per-process SM utilisation.

  process_util.py SECONDS [DEVICE_INDEX]   prints one JSON line: per-pid mean SM % and samples

The driver samples which context the SMs were running; under time-slicing that is each process's
part of the device, the quantity a compute share is about (issue 24, item 3).
"""
import ctypes
import json
import os
import sys
import time


class Sample(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("timeStamp", ctypes.c_ulonglong), ("smUtil", ctypes.c_uint),
                ("memUtil", ctypes.c_uint), ("encUtil", ctypes.c_uint), ("decUtil", ctypes.c_uint)]


def main():
    seconds = float(sys.argv[1])
    index = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    nvml = ctypes.CDLL("libnvidia-ml.so.1")
    assert nvml.nvmlInit_v2() == 0
    dev = ctypes.c_void_p()
    assert nvml.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(dev)) == 0
    start_at = float(os.environ.get("BENCH_START_AT", "0"))
    while time.time() < start_at:
        time.sleep(0.05)
    last = ctypes.c_ulonglong(int(time.time() * 1e6))
    end = time.time() + seconds
    sums, counts = {}, {}
    while time.time() < end:
        time.sleep(0.5)
        n = ctypes.c_uint(0)
        nvml.nvmlDeviceGetProcessUtilization(dev, None, ctypes.byref(n), last)
        if n.value == 0:
            continue
        buf = (Sample * n.value)()
        if nvml.nvmlDeviceGetProcessUtilization(dev, buf, ctypes.byref(n), last) != 0:
            continue
        for s in buf[:n.value]:
            sums[s.pid] = sums.get(s.pid, 0) + s.smUtil
            counts[s.pid] = counts.get(s.pid, 0) + 1
            last.value = max(last.value, s.timeStamp)
    print(json.dumps({"tag": os.environ.get("BENCH_TAG", ""),
                      "sm": {str(p): round(sums[p] / counts[p], 1) for p in sums},
                      "samples": {str(p): counts[p] for p in counts}}), flush=True)


if __name__ == "__main__":
    main()

"""Samples the SM clock of GPU 0 through NVML about every 0.3 ms for SECONDS and writes
"monotonic_ns mhz" lines to PATH; with --summary, prints percentiles of a file written before.

  sample_clock.py PATH SECONDS      sample_clock.py --summary PATH
"""
import ctypes
import sys
import time

NVML_CLOCK_SM = 1


def sample(path, seconds):
    nvml = ctypes.CDLL("libnvidia-ml.so.1")
    nvml.nvmlInit_v2()
    device = ctypes.c_void_p()
    nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(device))
    mhz = ctypes.c_uint()
    end = time.monotonic() + seconds
    rows = []
    while time.monotonic() < end:
        nvml.nvmlDeviceGetClockInfo(device, NVML_CLOCK_SM, ctypes.byref(mhz))
        rows.append((time.monotonic_ns(), mhz.value))
        time.sleep(0.0003)
    with open(path, "w") as f:
        f.writelines(f"{t} {v}\n" for t, v in rows)


def summary(path):
    v = sorted(int(line.split()[1]) for line in open(path))
    n = len(v)
    print(f"clock {path}: p10 {v[n // 10]} p50 {v[n // 2]} p90 {v[n * 9 // 10]} MHz")


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2])
    else:
        sample(sys.argv[1], float(sys.argv[2]))

"""Reads GPU 0's power and SM clock through NVML over a window and prints one JSON line: the
mean power from the energy counter (joules over seconds, the figure the power limit holds), the
instantaneous power and SM clock sampled about every millisecond, and the enforced power limit.

  sample_power.py TAG START_EPOCH_S SECONDS    waits until START_EPOCH_S, then reads SECONDS
"""
import ctypes
import json
import statistics
import sys
import time

NVML_CLOCK_SM = 1
NVML_FI_DEV_POWER_INSTANT = 186  # nvmlFieldValue_t fieldId, driver 535 and later


class FieldValue(ctypes.Structure):
    _fields_ = [("field_id", ctypes.c_uint), ("scope_id", ctypes.c_uint),
                ("timestamp", ctypes.c_longlong), ("latency_usec", ctypes.c_longlong),
                ("value_type", ctypes.c_int), ("nvml_return", ctypes.c_int),
                ("value", ctypes.c_ulonglong)]


def main(tag, start_at, seconds):
    nvml = ctypes.CDLL("libnvidia-ml.so.1")
    nvml.nvmlInit_v2()
    device = ctypes.c_void_p()
    nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(device))
    limit_mw = ctypes.c_uint()
    nvml.nvmlDeviceGetEnforcedPowerLimit(device, ctypes.byref(limit_mw))
    energy = ctypes.c_ulonglong()
    mhz = ctypes.c_uint()
    field = FieldValue()
    time.sleep(max(0.0, start_at - time.time()))
    nvml.nvmlDeviceGetTotalEnergyConsumption(device, ctypes.byref(energy))
    t0, e0 = time.monotonic(), energy.value
    watts, clocks = [], []
    while time.monotonic() - t0 < seconds:
        field.field_id = NVML_FI_DEV_POWER_INSTANT
        if nvml.nvmlDeviceGetFieldValues(device, 1, ctypes.byref(field)) == 0 and field.nvml_return == 0:
            watts.append(field.value / 1e3)  # milliwatts
        if nvml.nvmlDeviceGetClockInfo(device, NVML_CLOCK_SM, ctypes.byref(mhz)) == 0:
            clocks.append(mhz.value)
        time.sleep(0.001)
    nvml.nvmlDeviceGetTotalEnergyConsumption(device, ctypes.byref(energy))
    elapsed = time.monotonic() - t0
    out = {"mode": "power", "tag": tag, "seconds": elapsed, "limit_w": limit_mw.value / 1e3,
           "mean_w": (energy.value - e0) / 1e3 / elapsed}
    for name, values in (("instant_w", watts), ("sm_mhz", clocks)):
        if values:
            q = statistics.quantiles(values, n=10)
            out[name] = {"p10": q[0], "p50": statistics.median(values), "p90": q[-1],
                         "samples": len(values)}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))

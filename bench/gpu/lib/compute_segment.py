"""Prints the state of every compute arbitration segment (/dev/shm/xpool-compute-v5-*): who holds
the device, who waits, whether each member record's process lives (its lock on byte 2^20 + index
is held), each slice's credit and virtual time (ms, relative to now). The offsets mirror
ComputeArbiter::Layout in src/runtime/compute_arbiter.cc, which static_asserts them."""
import fcntl
import glob
import os
import struct
import time

F_OFD_GETLK = 36  # linux/fcntl.h


def member_lives(fd, index):
    """Whether some open file description holds member `index`'s lock: its process lives."""
    probe = struct.pack("hh4xqqi4x", fcntl.F_RDLCK, os.SEEK_SET, (1 << 20) + index, 1, 0)
    return struct.unpack("hh4xqqi4x", fcntl.fcntl(fd, F_OFD_GETLK, probe))[0] != fcntl.F_UNLCK


for p in glob.glob("/dev/shm/xpool-compute-v5-*"):
    b = open(p, "rb").read()
    fd = os.open(p, os.O_RDONLY)
    if len(b) < 2168 + 112 * 64:
        print(p, "is not a compute segment of this layout (an older runtime's?)")
        continue
    magic, ver, pol = struct.unpack_from("<QIi", b, 0)
    holder, preempt, waiters, gen = struct.unpack_from("<iiiI", b, 56)
    ls, le, ha, hb, hs, hk = struct.unpack_from("<qqqqqQ", b, 72)
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    print(p, "policy", pol, "holder", holder, "preempt", preempt, "waiters", waiters, "gen", gen,
          "lease_start", (ls-now)/1e6, "lease_end", (le-now)/1e6, "holder_active", (ha-now)/1e6,
          "holder_busy_until", (hb-now)/1e6)
    for i in range(64):
        pid, sl, seen, ws, lg = struct.unpack_from("<iiqqq", b, 120 + 32*i)
        if pid: print(" member", i, "pid", pid, "live" if member_lives(fd, i) else "dead", "slice", sl, "seen", (seen-now)/1e6, "waiting_since", ws and (ws-now)/1e6, "last_grant", (lg-now)/1e6)
    for i in range(64):
        key, share, high, cr, cra, vt, act, per, used = struct.unpack_from("<QiiqqqQqq", b, 2168 + 112*i)
        name = b[2168 + 112*i + 64:2168 + 112*(i+1)].split(b"\0")[0].decode()
        if key: print(" slice", i, hex(key), name, "share", share, "high", high, "credit", cr/1e6, "vtime", vt/1e6, "active", (act-now)/1e6, "period", per/1e6, "used", used/1e9)
    os.close(fd)

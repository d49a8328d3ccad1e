"""Reads the log of bench/gpu/runtime_memory.sh and states, criterion by criterion, whether the
runtime met what it must (exit status 1 if any criterion fails).

    python3 bench/gpu/lib/check_runtime_log.py $OUT/runtime_memory.log
"""
import json
import re
import statistics
import sys


def main(path):
    text = open(path).read()
    records = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
    ok = True

    def report(name, passed, detail):
        nonlocal ok
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")

    quota, step = 4096, 64
    for r in (r for r in records if r["mode"] == "oom"):
        used = r["smi_used_mib"]
        report(f"4 GiB slice, allocator {r['alloc_conf']}",
               quota - step <= used <= quota and r["error"] == "OutOfMemoryError",
               f"{r['tensors']} x 64 MiB tensors, nvidia-smi {used} MiB at {r['error']}")
    view = next(r for r in records if r["mode"] == "view")
    smi_total = int(view["nvidia_smi_in_slice"].split(",")[0])
    report("view inside the slice", view["mem_get_info_total_mib"] == quota and smi_total == quota,
           f"mem_get_info total {view['mem_get_info_total_mib']} MiB, nvidia-smi {view['nvidia_smi_in_slice']}")
    two = next(r for r in records if r["mode"] == "two")
    regained = two["regained_1gib_after_kill_s"]
    report("two processes, one slice", two["smi_used_both_mib"] <= quota,
           f"together {two['smi_used_both_mib']} MiB of {quota}")
    report("SIGKILL frees the share", regained is not None and regained < 1.0,
           f"1 GiB allocatable {regained:.4f} s after the kill" if regained else "never")
    driver = {m[0]: (int(m[1]), int(m[2]))
              for m in re.findall(r"^(vmm|arrays|managed) pieces=(\d+) last=(\d+)$", text, re.M)}
    smi = [int(x) for x in re.findall(r"^\d+, (\d+) MiB$", text, re.M)]
    for kind, (pieces, last) in driver.items():
        report(f"driver API {kind} under 1 GiB", last == 2 and pieces * 64 <= 1024,
               f"{pieces} x 64 MiB, then CUDA_ERROR_OUT_OF_MEMORY ({last})")
    report("driver API usage as nvidia-smi counts it", all(u <= 1024 for u in smi),
           f"{smi} MiB at the refusals (VMM, arrays)")
    imports = re.findall(r"^(same-slice )?import mib=(\d+) map=(\d+) pieces_before=(\d+) "
                         r"pieces_mapped=(-?\d+) pieces_after=(\d+)$", text, re.M)
    for same, mib, rc, before, mapped, after in imports:
        before, mapped, after = int(before), int(mapped), int(after)
        expected = before if same else before - int(mib) // 64
        report(f"imported VMM memory from {'the same' if same else 'another'} slice",
               rc == "0" and abs(mapped - expected) <= 1 and after == before,
               f"64 MiB pieces before/while/after mapping {mib} MiB: {before}/{mapped}/{after}")
    report("no quota: bitwise the same result", "bitwise_equal True" in text, "")
    over = re.findall(r"overhead preloaded=(\d) driver: alloc_free_pair_ns=(\d+) launch_ns=([\d.]+)  "
                      r"runtime: alloc_free_pair_ns=(\d+) launch_ns=([\d.]+)", text)
    for col, name in ((1, "driver alloc+free pair ns"), (2, "driver launch ns"),
                      (3, "runtime alloc+free pair ns"), (4, "runtime launch ns")):
        native = statistics.median(float(o[col]) for o in over if o[0] == "0")
        pre = statistics.median(float(o[col]) for o in over if o[0] == "1")
        print(f"INFO  {name}: median native {native:.0f}, under the runtime {pre:.0f} "
              f"({len(over) // 2} runs each)")
    gpt = [r for r in records if r["mode"] == "gpt2"]
    native = statistics.mean(r["tokens_per_s"] for r in gpt if not r["preloaded"])
    pre = statistics.mean(r["tokens_per_s"] for r in gpt if r["preloaded"])
    report("GPT-2-small training under the runtime >= 99 % of native", pre / native >= 0.99,
           f"{pre:,.0f} vs {native:,.0f} tokens/s = {100 * pre / native:.1f} %")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

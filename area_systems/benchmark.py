"""Benchmark of `ccs generate`: referrals per second and peak memory of the whole process tree.

    python -m area_systems.benchmark --scale 470 --out /tmp/ccs-bench   # about ten million referrals

Peak memory is sampled every 50 ms as the summed resident memory of the generator process and every
worker it starts (the area processes run at the same time, so their peaks add up).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

TARGET_REFERRALS_PER_SECOND = 100_000
TARGET_PEAK_BYTES = 2 * 1024**3


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            pid, ppid = int(entry), int(fields[1])
            children.setdefault(ppid, []).append(pid)
            rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=470.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="/tmp/ccs-generate-benchmark")
    parser.add_argument("--keep", action="store_true", help="keep the generated world")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)

    command = [sys.executable, "-m", "orchestration.cli", "generate", "--out", str(out), "--seed", str(args.seed),
               "--scale", str(args.scale)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent)
    peak = 0

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            peak = max(peak, tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = process.wait()
    seconds = time.perf_counter() - started
    sampler.join()
    if code:
        print(f"generate failed with exit code {code}", file=sys.stderr)
        return code
    truth = json.loads((out / "ground_truth.json").read_text())
    referrals = sum(y["referrals"] for a in truth["areas"].values() for y in a["years"].values())
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    rate = referrals / seconds
    print(f"scale            {args.scale:g}")
    print(f"referrals        {referrals:,}")
    print(f"wall time        {seconds:.1f} s")
    print(f"referrals/s      {rate:,.0f}  (target {TARGET_REFERRALS_PER_SECOND:,}: {'met' if rate >= TARGET_REFERRALS_PER_SECOND else 'MISSED'})")
    print(f"peak memory      {peak / 1024**2:,.0f} MiB  (target < {TARGET_PEAK_BYTES / 1024**2:,.0f} MiB: "
          f"{'met' if peak < TARGET_PEAK_BYTES else 'MISSED'})")
    print(f"written          {size / 1024**2:,.0f} MiB in {out}")
    print(f"cores            {os.cpu_count()}")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

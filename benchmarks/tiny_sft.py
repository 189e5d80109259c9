"""Wall time and peak memory of `python train.py recipes/tiny.yaml`, per backend.

    python benchmarks/tiny_sft.py --repeats 3

Runs the real CLI in fresh processes, alternating the backends so that both see the same
machine noise, and reports medians. Peak RSS is the process's own maximum (os.wait4).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(backend: str, out: str) -> tuple[float, float]:
    cmd = [sys.executable, str(ROOT / "train.py"), "recipes/tiny.yaml", f"model.backend={backend}", f"output_dir={out}"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{backend} run failed:\n{proc.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024  # KiB -> MiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"unsloth": [], "transformers": []}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.repeats):
            for backend in results:
                results[backend].append(run_once(backend, out))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| backend | median wall (s) | runs (s) | median peak RSS (MiB) |")
    print("|---|---|---|---|")
    for backend, runs in results.items():
        walls = [w for w, _ in runs]
        print(f"| {backend} | {statistics.median(walls):.1f} | {', '.join(f'{w:.1f}' for w in walls)} "
              f"| {statistics.median(r for _, r in runs):.0f} |")
    ratio = (statistics.median(w for w, _ in results["unsloth"])
             / statistics.median(w for w, _ in results["transformers"]))
    print(f"unsloth / transformers wall-time ratio (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()

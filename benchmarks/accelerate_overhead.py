"""Wall time of the tiny recipe as one process and as two accelerate processes, side by side.

    python benchmarks/accelerate_overhead.py               # 3 rounds, stages sft and rl
    python benchmarks/accelerate_overhead.py --rounds 5 --stages "[sft,rl,eval]"

Each round runs the same command twice, alternating which goes first, each into a fresh run
folder: `python train.py recipes/tiny.yaml ...` and `accelerate launch --multi_gpu
--num_processes 2 train.py recipes/tiny.yaml ...` (on a machine without a GPU that is two CPU
processes on gloo; `--cpu --num_processes 2` would start only one, since accelerate's CPU
launcher needs MPI for more). Times are whole commands, from launch to exit: start-up, model
load, the stages and their writes. Rounds interleave because the machine may be shared; the
figures are medians. The last line is `ratio <two processes> / <one process>`.

With two processes each step trains on twice as many examples (the batch size is per process),
so the recipe's max_steps are kept and the two runs do the same number of optimizer steps, not
the same number of examples.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = ["model.backend=transformers", "data.sources.0.count=8", "data.sources.1.count=8", "sft.batch_size=4",
             "sft.max_steps=4", "rl.max_steps=4", "rl.max_completion_length=32", "rl.sources.0.count=8",
             "rl.sources.1.count=8"]


def command(processes: int, out: Path, stages: str) -> list[str]:
    args = [str(ROOT / "train.py"), "recipes/tiny.yaml", f"stages={stages}", f"output_dir={out}", *OVERRIDES]
    if processes == 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *args]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stages", default="[sft,rl]")
    opts = ap.parse_args()
    # one thread per process, so two processes do not fight over the cores each would take
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    times: dict[int, list[float]] = {1: [], 2: []}
    work = Path(tempfile.mkdtemp(prefix="rapo-accelerate-"))
    try:
        timed(command(1, work / "warm-up", opts.stages), env)  # builds the tiny model and fills the caches
        for i in range(opts.rounds):
            for processes in ((1, 2) if i % 2 == 0 else (2, 1)):
                out = work / f"r{i}-p{processes}"
                times[processes].append(timed(command(processes, out, opts.stages), env))
                print(f"round {i + 1}: {processes} process(es) {times[processes][-1]:.1f} s", flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"median 1 process {one:.1f} s, 2 processes {two:.1f} s ({opts.rounds} rounds, stages {opts.stages})")
    print(f"ratio {two / one:.2f}")


if __name__ == "__main__":
    main()

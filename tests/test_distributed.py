"""Several processes through accelerate, and the run-folder lock.

The end-to-end test launches the tiny recipe (sft, rl) on two CPU processes (gloo), kills every
process after the first RL checkpoint and launches again, then checks what the issue asks: the
processes trained on different examples, ended with the same adapter, and every metric row and
rollout is in the run folder exactly once, across the resume.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from rapo_lite import cli, distributed
from rapo_lite.distributed import LOCK_FILE, gather, gather_counts, hold_run_folder, shard
from rapo_lite.io import JsonlLog, atomic_write_text, read_jsonl
from rapo_lite.resume import last_checkpoint
from rapo_lite.stages.ipo import merge_rounds

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- one process, units


def as_rank(monkeypatch, rank, world):
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world))


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8])
@pytest.mark.parametrize("world", [2, 3])
def test_the_shards_of_all_ranks_put_back_in_rank_order_are_the_list(monkeypatch, n, world):
    items = list(range(n))
    parts = []
    for r in range(world):
        as_rank(monkeypatch, r, world)
        parts.append(shard(items))
    assert [x for part in parts for x in part] == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_a_single_process_gets_everything_back_unchanged_and_starts_no_process_group():
    import torch.distributed as dist

    items = [{"a": 1}, {"b": 2}]
    assert shard(items) == items and gather(items) is items
    assert gather_counts(Counter(x=2, y=1)) == {"x": 2, "y": 1}
    assert distributed.broadcast("v") == "v" and distributed.from_main(lambda a: a + 1, 1) == 2
    distributed.barrier()
    assert not dist.is_initialized()


def test_importing_the_module_initialises_nothing():
    code = ("import rapo_lite.distributed, sys; "
            "print('torch' in sys.modules, 'accelerate' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_writers_do_nothing_off_the_main_process(tmp_path, monkeypatch):
    as_rank(monkeypatch, 1, 2)
    atomic_write_text(tmp_path / "state.json", "{}")
    JsonlLog(tmp_path / "metrics.jsonl").append({"step": 1})
    assert not (tmp_path / "state.json").exists() and not (tmp_path / "metrics.jsonl").exists()


def test_ipo_round_statistics_merge_as_one_process_would_count_them():
    # rank 0: 4 interventions, 2 safe in round 1, 1 more in round 2; rank 1: 2, both safe in round 1
    rank0 = (4, [{"round": 1, "entered": 4, "became_safe": 2, "still_unsafe_share": 0.5},
                 {"round": 2, "entered": 2, "became_safe": 1, "still_unsafe_share": 0.25}])
    rank1 = (2, [{"round": 1, "entered": 2, "became_safe": 2, "still_unsafe_share": 0.0}])
    assert merge_rounds([rank0, rank1, (0, [])]) == [
        {"round": 1, "entered": 6, "became_safe": 4, "still_unsafe_share": 2 / 6},
        {"round": 2, "entered": 2, "became_safe": 1, "still_unsafe_share": 1 / 6},
    ]


# ------------------------------------------------------------------------ run-folder lock

HOLDER = """
import sys, time
from pathlib import Path
from rapo_lite.distributed import hold_run_folder
hold_run_folder(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_run_on_a_folder_a_live_run_holds_is_refused_in_one_line(tmp_path, capsys):
    run_dir = tmp_path / "tiny"
    run_dir.mkdir()
    (run_dir / "state.json").write_text('{"identity": {}, "finished": {}, "running": "sft"}')
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        for extra in ([], ["--restart"]):  # --restart must not delete a live run's folder either
            code = cli.main(["recipes/tiny.yaml", f"output_dir={tmp_path}", *extra])
            err = capsys.readouterr().err.strip()
            assert code == 2 and len(err.splitlines()) == 1, err
            assert str(run_dir) in err and f"PID {holder.pid}" in err and "still going" in err
            assert (run_dir / "state.json").is_file()
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its lock file stays behind, with its PID, and blocks nobody
    assert (run_dir / LOCK_FILE).read_text().strip() == str(holder.pid)
    hold_run_folder(run_dir)
    assert (run_dir / LOCK_FILE).read_text().strip() == str(os.getpid())
    hold_run_folder(run_dir)  # taking it again in the same process is a no-op, as a resumed run does


def test_a_lock_file_without_a_live_holder_does_not_block(tmp_path):
    (tmp_path / LOCK_FILE).write_text("999999\n")  # a run killed long ago
    hold_run_folder(tmp_path)
    assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_the_lock_follows_a_folder_replaced_by_restart(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    hold_run_folder(run_dir)
    os.replace(run_dir, tmp_path / "gone")  # what clear_run does before deleting
    run_dir.mkdir()
    hold_run_folder(run_dir)  # the new folder gets its own lock
    check = subprocess.run([sys.executable, "-c", HOLDER, str(run_dir)], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert check.returncode == 1 and f"PID {os.getpid()}" in check.stderr


# ------------------------------------------------------------- two processes, end to end


@pytest.mark.parametrize("name", ["ddp.yaml", "deepspeed-zero2.yaml", "fsdp.yaml"])
def test_the_shipped_accelerate_configs_load_and_name_their_command(name):
    from accelerate.commands.config.config_args import ClusterConfig

    path = ROOT / "configs" / "accelerate" / name
    assert path.read_text().startswith(f"# accelerate launch --config_file configs/accelerate/{name} train.py ")
    config = ClusterConfig.from_yaml_file(path)
    assert config.num_processes == 2 and not config.use_cpu


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_tree(proc):
    """SIGKILL the launcher and every process it started, as a machine going down would."""
    import psutil

    for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)


def test_two_cpu_processes_share_the_work_write_each_row_once_and_resume(tmp_path):
    # 16 warm-up examples in batches of 4 per process: one epoch of 2 steps deals each example to
    # exactly one process; 8 RL prompts, 2 per process per step, likewise over 2 steps.
    probe = tmp_path / "probe"
    argv = ["recipes/tiny.yaml", "stages=[sft,rl]", f"output_dir={tmp_path}", "model.backend=transformers",
            "data.sources.0.count=8", "data.sources.1.count=8", "sft.batch_size=4", "sft.max_steps=2",
            "rl.max_steps=2", "rl.save_steps=1", "rl.max_completion_length=12", "rl.sources.0.count=4",
            "rl.sources.1.count=4"]
    # --multi_gpu is accelerate's torchrun launcher; with no GPU visible the trainers (and the
    # kit) run on gloo. (`--cpu --num_processes 2` would start one process: accelerate's CPU
    # launcher needs MPI for more.)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(free_port()), str(ROOT / "tests" / "distributed_probe.py")]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "RAPO_LITE_PROBE_DIR": str(probe),
           "PYTHONPATH": str(ROOT)}
    run_dir = tmp_path / "tiny"
    started = time.monotonic()
    # first launch: killed, every process at once, as soon as the first RL checkpoint is complete
    first = subprocess.Popen([*launch, *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    while first.poll() is None and time.monotonic() < started + 1200:
        if last_checkpoint(run_dir, "rl") is not None:
            kill_tree(first)
            break
        time.sleep(0.02)
    first.wait(timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr.read()[-3000:]
    state = json.loads((run_dir / "state.json").read_text())
    assert list(state["finished"]) == ["sft"] and state["running"] == "rl"
    # the same command again resumes the RL stage from that checkpoint on both processes
    done = subprocess.run([*launch, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, "\n".join([line for line in done.stderr.splitlines() if "rror" in line][:20])
    assert "stage sft: finished earlier" in done.stdout and "stage rl (resuming from" in done.stdout
    print(f"two two-process launches: {time.monotonic() - started:.0f} s")
    notes = {r: read_jsonl(probe / f"rank{r}.jsonl") for r in (0, 1)}

    # 1. the processes trained on different examples, and on all of them between them
    for stage, steps, total in (("sft", [1, 2], 16), ("rl", [1, 2], 8)):
        seen = {r: {n["step"]: n["examples"] for n in notes[r] if n["stage"] == stage and "examples" in n}
                for r in (0, 1)}
        assert sorted(seen[0]) == sorted(seen[1]) == steps
        for step in steps:
            assert not set(seen[0][step]) & set(seen[1][step]), (stage, step)
        everything = {e for r in (0, 1) for batch in seen[r].values() for e in batch}
        assert len(everything) == total, stage
    # the kit's own generation was shared out too: each rollout row says which process sampled it
    rollouts = read_jsonl(run_dir / "rollouts.jsonl")
    for step in (0, 1):
        prompts = {r: {x["prompt"] for x in rollouts if x["step"] == step and x["rank"] == r} for r in (0, 1)}
        assert len(prompts[0]) == len(prompts[1]) == 2 and not prompts[0] & prompts[1]

    # 2. one adapter: the LoRA weights agree across processes after each stage, and training moved them
    def hashes(rank, stage, when):
        return [n[when] for n in notes[rank] if n["stage"] == stage and when in n]

    for stage in ("sft", "rl"):
        assert hashes(0, stage, "lora_after") == hashes(1, stage, "lora_after") != [], stage
    assert hashes(0, "sft", "lora_before") != hashes(0, "sft", "lora_after")

    # 3. each rollout once: 2 steps x 2 processes x 2 prompts x 4 completions, 8 per step and process
    assert len(rollouts) == 32
    assert Counter((x["step"], x["rank"]) for x in rollouts) == {(s, r): 8 for s in (0, 1) for r in (0, 1)}
    # and each metric row once
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    rows = [json.dumps(m, sort_keys=True) for m in metrics]
    assert len(rows) == len(set(rows))
    for stage in ("sft", "rl"):
        assert [m["step"] for m in metrics if m["stage"] == stage and "loss" in m] == [1, 2]
    assert sum(m["stage"] == "sft" and m["step"] == 0 for m in metrics) == 1
    # the judge's closing count covers both processes (of the resumed launch: 1 step x 2 x 8 rollouts)
    assert [m["judge/calls"] for m in metrics if "judge/calls" in m and "loss" not in m] == [16]
    state = json.loads((run_dir / "state.json").read_text())
    assert list(state["finished"]) == ["sft", "rl"] and state["running"] is None
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file() and not (run_dir / "checkpoints").exists()
    assert done.stdout.count("[rapo-lite] done:") == 1  # the other process prints nothing

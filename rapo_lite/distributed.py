"""Several processes on one run (`accelerate launch`), and the lock that keeps two runs apart.

Under `accelerate launch` (or torchrun) every process runs the whole recipe. TRL's trainers
deal their own batches out to the processes; the work the kit does outside them (the warm-up's
policy answers, IPO's traces and continuations, the evaluation's generations and verdicts) is
dealt out here: each process takes one contiguous slice of the prompts (`shard`), and the
slices are put back together in their original order on every process (`gather`). Only the
main process (rank 0) writes the run folder; `io` turns the kit's writers into no-ops elsewhere.

The rank and the number of processes are read from the launcher's environment, so importing
this module or asking for the rank starts nothing: the process group is set up (by accelerate)
the first time the processes have to exchange something. Run as a single process, every helper
is the identity or does nothing, so a plain `python train.py` behaves exactly as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from rapo_lite.errors import RapoError

T = TypeVar("T")

LOCK_FILE = ".lock"


def world_size() -> int:
    """How many processes run this recipe together (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    """This process's number among them; 0 is the main process."""
    return int(os.environ.get("RANK", "0") or 0)


def local_rank() -> int:
    """This process's number on its own machine: the GPU it trains on."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def is_main() -> bool:
    """Whether this process writes the run folder and prints."""
    return rank() == 0


def _state() -> Any:
    # accelerate's shared state starts the process group once (gloo on CPUs, nccl on GPUs) and
    # is the same object the trainers use later, so the kit and TRL share one group. Without a GPU
    # it must be told so, as the trainers tell it (use_cpu), or it stays a single process.
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def shard(items: Sequence[T]) -> list[T]:
    """This process's contiguous slice of `items`. Slices differ by at most one item, and the
    concatenation over ranks, in rank order, is `items` again (what `gather` relies on)."""
    n = world_size()
    if n == 1:
        return list(items)
    size, extra = divmod(len(items), n)
    me = rank()
    start = me * size + min(me, extra)
    return list(items[start : start + size + (1 if me < extra else 0)])


def gather(items: list[T]) -> list[T]:
    """Every process's list, concatenated in rank order, on every process. Each process must
    call it at the same point: it waits for all of them."""
    if world_size() == 1:
        return items
    from accelerate.utils import gather_object

    _state()
    return gather_object(list(items))


def gather_counts(counts: Mapping[str, Any]) -> dict[str, Any]:
    """Counters summed over the processes (keys in the order the ranks first name them)."""
    if world_size() == 1:
        return dict(counts)
    total: dict[str, Any] = {}
    for part in gather([dict(counts)]):
        for key, value in part.items():
            total[key] = total.get(key, 0) + value
    return total


def broadcast(value: T) -> T:
    """The main process's `value`, on every process."""
    if world_size() == 1:
        return value
    from accelerate.utils import broadcast_object_list

    _state()
    box = [value if is_main() else None]
    broadcast_object_list(box, from_process=0)
    return box[0]


def from_main(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` on the main process alone and hand its result to every process.

    For decisions about the run folder (its state, the checkpoint to resume from), which must be
    the same everywhere and read or tidy files that only the main process may touch. A RapoError
    there is raised on every process, so that all of them stop with the same one line instead of
    the others waiting for the main one.
    """
    if world_size() == 1:
        return fn(*args)
    result, error = None, None
    if is_main():
        try:
            result = fn(*args)
        except RapoError as err:
            error = str(err)
    result, error = broadcast((result, error))
    if error is not None:
        raise RapoError(error)
    return result


def barrier() -> None:
    """Wait until every process gets here."""
    if world_size() > 1:
        _state().wait_for_everyone()


def silence_other_ranks() -> None:
    """Send the standard output of every process but the main one to /dev/null: they would print
    each progress line once more per process. Errors still reach stderr from every process."""
    import sys

    if not is_main():
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # left open: it is the process's stdout from now on


def sharding_warning() -> str | None:
    """One line for a launch that splits the weights themselves across the processes (FSDP,
    DeepSpeed ZeRO-3), which the kit does not handle yet; None for DDP, ZeRO-2 or one process."""
    flag = os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")
    zero3 = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3"
    if not (flag or zero3):
        return None
    how = "FSDP" if flag else "DeepSpeed ZeRO-3"
    return (f"[rapo-lite] warning: {how} shards the weights, but the kit samples and saves the adapter from "
            "the whole model outside the trainers; this is untested and likely wrong. Use DDP or ZeRO-2 "
            "(configs/accelerate/)")


# ------------------------------------------------------------------------- run-folder lock

# folder -> the open lock file; kept open for the life of the process, since the kernel drops an
# flock as soon as its file is closed, and lets it go by itself when the process dies
_held: dict[Path, IO[str]] = {}


def hold_run_folder(run_dir: Path) -> None:
    """Take (or keep) this process's exclusive lock on `run_dir`, refusing a folder that a live
    run holds. Called before anything in the folder changes and again once the folder exists;
    does nothing for a folder not made yet, or off the main process (rank 0 holds it for all).

    The lock is an flock on `<run>/.lock`, which holds the holder's PID. A lock file left by a
    process that died holds no flock any more, so it never blocks.
    """
    import fcntl

    run_dir = Path(run_dir)
    if not is_main() or not run_dir.is_dir():
        return
    path = run_dir / LOCK_FILE
    key = run_dir.resolve()
    held = _held.get(key)
    if held is not None:
        try:
            if os.fstat(held.fileno()).st_ino == os.stat(path).st_ino:
                return  # still ours
        except FileNotFoundError:
            pass
        held.close()  # --restart moved the old folder away with its lock file: lock the new one
        del _held[key]
    fh = open(path, "a+", encoding="utf-8")  # held open on purpose, see _held
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise RapoError(f"{run_dir} is in use by a run that is still going (PID {holder}); wait for it to finish "
                        "or stop it, or choose another run_name or output_dir") from None
    except OSError:
        fh.close()  # a file system without flock (some network mounts): run unguarded, as before
        return
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    _held[key] = fh

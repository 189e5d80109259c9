"""Writing outputs so that a crash never leaves a half-written file that looks valid.

Files and folders are written under a temporary name in the same folder and renamed into
place (`os.replace` is atomic on one file system). Append-only logs (metrics, rollouts) are
flushed line by line instead, since each line is complete on its own.

Under several processes (`accelerate launch`) only the main one writes: these writers do
nothing on the others, whose results reach the main process through `distributed.gather`.

A write that fails for a reason outside the kit (permission denied, a file where a folder should
be, a full disk) becomes a RapoError naming the path and what to do, not a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rapo_lite.distributed import is_main
from rapo_lite.errors import RapoError

# What to do about each file-system error a user can fix; other errnos are left as they are.
_FS_ADVICE = {
    errno.EACCES: ("permission denied", "make it writable for this user, or choose another output_dir"),
    errno.EPERM: ("operation not permitted", "make it writable for this user, or choose another output_dir"),
    errno.EROFS: ("the file system is read-only", "choose an output_dir on a writable disk"),
    errno.ENOTDIR: ("a part of this path is a file, not a folder", "move that file away or choose another output_dir"),
    # what mkdir(exist_ok=True) reports when the path, or a folder on the way to it, is a file
    errno.EEXIST: ("a file is in the way where a folder belongs", "move that file away or choose another output_dir"),
    errno.EISDIR: ("this is a folder where a file belongs", "move that folder away or choose another output_dir"),
    errno.ENOSPC: ("no space left on the device", "free some space (or choose an output_dir on a bigger disk) and "
                   "rerun the same command: finished stages and checkpoints are kept"),
    errno.EDQUOT: ("the disk quota is used up", "free some space and rerun the same command"),
}


def fs_error(err: OSError, path: str | Path | None = None) -> RapoError | None:
    """The one-line RapoError for a file-system error a user can fix, or None for any other error."""
    advice = _FS_ADVICE.get(err.errno or 0)
    if advice is None:
        return None
    # the path the kit was writing, rather than the temporary name it was writing it under
    where = path if path is not None else err.filename
    what, todo = advice
    return RapoError(f"{where}: {what}; {todo}" if where is not None else f"{what}; {todo}")


@contextlib.contextmanager
def _explained(path: str | Path) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        explained = fs_error(err, path)
        if explained is None:
            raise
        raise explained from None


def atomic_write_text(path: str | Path, text: str) -> None:
    if not is_main():
        return
    path = Path(path)
    with _explained(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it replaces `target` as a whole."""
    target = Path(target)
    with _explained(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        # what the caller writes inside (a model save) fails the same ways, and is explained alike
        with _explained(target):
            yield tmp
            if target.exists():
                old = target.with_name(f".{target.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class JsonlLog:
    """Append-only JSONL log, one flushed line per record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with _explained(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, row: dict[str, Any]) -> None:
        if not is_main():
            return  # the main process writes every row, gathered from all of them where needed
        with _explained(self.path), open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False, default=float) + "\n")
            fh.flush()

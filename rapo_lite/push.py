"""`python train.py push RUN --repo NAME [--private] [--dry-run]`: a run's adapter (or an export) on the Hub.

RUN is a run folder (its `adapter/` is uploaded), an adapter folder (`adapter-sft/`, ...) or an
export (`merged_16bit/`, `gguf/`). The upload goes through huggingface_hub (`create_repo`, then
`upload_folder`) with the token from the HF_TOKEN environment variable. The token is never put
in an argument, a message or a log line, and errors are scrubbed of it in case a server echoes
it. `--dry-run` shows what would be uploaded (files, sizes, repository, visibility) and touches
no network.
"""

from __future__ import annotations

import os
from pathlib import Path

from rapo_lite.errors import RapoError

TOKEN_ENV = "HF_TOKEN"


def upload_folder_of(target: Path) -> Path:
    """The folder that holds the weights: a run's adapter/, or the folder itself."""
    if (target / "adapter" / "adapter_config.json").is_file():
        return target / "adapter"
    if (target / "adapter_config.json").is_file() or (target / "config.json").is_file() or any(target.glob("*.gguf")):
        return target
    raise RapoError(f"push: {target} holds no adapter (a run folder's adapter/, or an adapter folder with "
                    "adapter_config.json) and no export (config.json or a .gguf file); train or export first")


def listing(folder: Path) -> list[tuple[str, int]]:
    """(path in the repository, size in bytes) of every file that would be uploaded; hidden files
    (the temporary names of interrupted writes) stay behind."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            found.append((rel.as_posix(), path.stat().st_size))
    return found


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def push(target: str | Path, repo: str | None, private: bool = False, dry_run: bool = False) -> list[tuple[str, int]]:
    """Upload (or, with dry_run, list) the folder; returns the files with their sizes."""
    target = Path(target)
    if not repo:
        raise RapoError("push: name the repository, e.g. python train.py push outputs/tiny --repo your-name/tiny-rapo")
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo)
    except HFValidationError:
        raise RapoError(f"push --repo: {repo!r} is not a Hub repository name; expected name or owner/name with "
                        "letters, digits, '-', '_' and '.'") from None
    if not target.is_dir():
        raise RapoError(f"push: {target} is not a folder; name a run folder such as outputs/<run_name>")
    folder = upload_folder_of(target)
    files = listing(folder)
    if not files:
        raise RapoError(f"push: {folder} holds no files to upload")
    visibility = "private" if private else "public"
    print(f"[rapo-lite] {'would upload' if dry_run else 'uploading'} {folder} to {repo} ({visibility}): "
          f"{len(files)} files, {_size(sum(n for _, n in files))}")
    for name, size in files:
        print(f"  {name}  {_size(size)}")
    if dry_run:
        print("[rapo-lite] dry run: nothing was uploaded")
        return files
    token = (os.environ.get(TOKEN_ENV) or "").strip()
    if not token:
        raise RapoError(f"push: set {TOKEN_ENV} to a Hugging Face token with write access (it is read from the "
                        "environment only and never printed); --dry-run lists the files without one")
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=url.repo_id, folder_path=str(folder), repo_type="model",
                          commit_message="Upload from rapo-lite", ignore_patterns=[".*", "**/.*"])
    except (HfHubHTTPError, httpx.HTTPError, OSError, ValueError) as err:
        first = (str(err).strip().splitlines() or [err.__class__.__name__])[0][:300]
        raise RapoError(f"push: uploading to {repo} failed ({err.__class__.__name__}: {_scrub(first, token)}); "
                        f"check the network, the repository name and that {TOKEN_ENV} may write to it") from None
    print(f"[rapo-lite] pushed to {url}")
    return files

"""Model configs for the memory planner, so a plan needs no download.

The JSON files here hold the shape fields of the published `config.json` of the models the
GPU recipes use (plus Qwen2.5-1.5B-Instruct, the model of Unsloth's published GRPO memory
figure). Only the shape decides memory, so nothing else is needed. Lookup order: a config
the user names, a local model folder (or a built-in model), a packaged file, the hub.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from rapo_lite.errors import RapoError

# Lower-cased model name without its organisation -> packaged file.
PACKAGED = {
    "qwen3-1.7b": "Qwen3-1.7B.json",
    "qwen3-8b": "Qwen3-8B.json",
    "deepseek-r1-distill-qwen-1.5b": "DeepSeek-R1-Distill-Qwen-1.5B.json",
    "deepseek-r1-distill-qwen-7b": "DeepSeek-R1-Distill-Qwen-7B.json",
    "qwen2.5-1.5b-instruct": "Qwen2.5-1.5B-Instruct.json",
}
# Unsloth republishes the same weights pre-quantized under these suffixes; the shape is the same.
_REPUBLISHED_SUFFIXES = ("-unsloth-bnb-4bit", "-bnb-4bit", "-unsloth")


def packaged_key(name: str) -> str:
    """'unsloth/Qwen3-8B-unsloth-bnb-4bit' -> 'qwen3-8b', the key of PACKAGED."""
    key = name.rsplit("/", 1)[-1].lower()
    for suffix in _REPUBLISHED_SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


def read_config(path: str | Path) -> dict[str, Any]:
    """A config.json file, or the config.json inside a model folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise RapoError(f"model config {path}: cannot read it ({err.strerror or err})") from None
    except ValueError:
        raise RapoError(f"model config {path}: not valid JSON") from None


def load_config(name_or_path: str, explicit: str | None = None) -> tuple[dict[str, Any], str]:
    """(config, where it came from) for a recipe's model.name_or_path."""
    if explicit:
        return read_config(explicit), str(explicit)
    from rapo_lite.model import resolve_model_path

    resolved = resolve_model_path(name_or_path)  # builds the built-ins locally, checks folders
    if Path(resolved).is_dir():
        return read_config(resolved), str(Path(resolved) / "config.json")
    packaged = PACKAGED.get(packaged_key(name_or_path))
    if packaged is not None:
        text = resources.files(__name__).joinpath(packaged).read_text(encoding="utf-8")
        return json.loads(text), f"packaged {packaged}"
    return _hub_config(name_or_path), "the hub"


def _hub_config(name: str) -> dict[str, Any]:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name).to_dict()
    except (OSError, ValueError) as err:
        first = str(err).splitlines()[0][:160] if str(err) else err.__class__.__name__
        raise RapoError(
            f"model.name_or_path: no packaged config for {name!r} (packaged: {', '.join(sorted(PACKAGED))}) and its "
            f"config could not be read from the hub ({err.__class__.__name__}: {first}); pass --model-config "
            "PATH/config.json, or set model.name_or_path to a local model folder"
        ) from None

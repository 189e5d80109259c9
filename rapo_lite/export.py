"""`python train.py export RUN --format merged_16bit|gguf_q4_k_m`: a trained run as a standalone model.

The run's saved adapter goes back onto its base model and the two are merged:
- `merged_16bit`: a transformers folder in 16-bit. The unsloth backend uses Unsloth's
  `save_pretrained_merged`; the transformers backend PEFT's `merge_and_unload` on a 16-bit
  reload of the base (`model.save_merged_16bit`).
- `gguf_q4_k_m`: a llama.cpp / Ollama file through Unsloth's `save_pretrained_gguf`, whatever
  the training backend; it needs llama.cpp's converter and `llama-quantize`, which are looked
  for before anything is loaded.

Output goes to `<run>/merged_16bit` or `<run>/gguf` (or `--out`), written under a temporary
name and renamed, so an interrupted export never leaves a folder that looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rapo_lite.errors import RapoError
from rapo_lite.io import atomic_dir
from rapo_lite.recipe import Recipe

# Format name -> llama.cpp quantisation (None: no GGUF).
FORMATS: dict[str, str | None] = {"merged_16bit": None, "gguf_q4_k_m": "q4_k_m"}
LLAMA_CPP_INSTALL = (
    'python -c "import unsloth; from unsloth_zoo.llama_cpp import install_llama_cpp; install_llama_cpp()" '
    "(fetches a prebuilt llama.cpp into ~/.unsloth/llama.cpp; needs internet)"
)


def export(run_dir: str | Path, fmt: str, out: str | Path | None = None) -> Path:
    """Merge `run_dir`'s adapter into its base and save it in `fmt`; returns the output folder."""
    from rapo_lite.recipe import load_recipe

    run_dir = Path(run_dir)
    if fmt not in FORMATS:
        raise RapoError(f"export --format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if not (run_dir / "recipe.yaml").is_file():
        raise RapoError(f"export: {run_dir} has no recipe.yaml; name a run folder such as outputs/<run_name>")
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise RapoError(f"export: {adapter} holds no saved adapter; run a training stage (sft, rl or ipo) first")
    recipe = load_recipe(run_dir / "recipe.yaml")
    quant = FORMATS[fmt]
    target = Path(out) if out else run_dir / ("gguf" if quant else "merged_16bit")
    card = _card_writer(recipe, run_dir, "gguf" if quant else "merged_16bit")
    if quant is None and recipe.model.backend == "transformers":
        from rapo_lite.model import save_merged_16bit

        save_merged_16bit(recipe.model, adapter, target, extra=card)
        print(f"[rapo-lite] exported {fmt} to {target}")
        return target
    if quant is not None:
        require_llama_cpp()
    model, tokenizer = _load_merged_source(recipe.model, adapter)
    with atomic_dir(target) as tmp:
        if quant is None:
            model.save_pretrained_merged(str(tmp), tokenizer, save_method="merged_16bit")
        else:
            model.save_pretrained_gguf(str(tmp), tokenizer, quantization_method=quant)
            _drop_temporary_name(tmp, recipe.run_name)
        card(tmp)  # after the save, which may leave a card of its own there
    print(f"[rapo-lite] exported {fmt} to {target}")
    return target


def _card_writer(recipe: Recipe, run_dir: Path, kind: str) -> Callable[[Path], None]:
    """What writes the export's model card and recipe copy into a folder: the training stages
    the run finished and, when it was evaluated after them, the eval table."""
    from rapo_lite.cards import evaluation_of_run, write_card
    from rapo_lite.resume import RunState

    stages = RunState.load(run_dir).trained()
    evaluation = evaluation_of_run(run_dir)
    text = (run_dir / "recipe.yaml").read_text(encoding="utf-8")

    def write(folder: Path) -> None:
        write_card(folder, recipe, stages, kind, evaluation, text)

    return write


def _load_merged_source(cfg: Any, adapter: Path) -> tuple[Any, Any]:
    """The base with the saved adapter on top, through Unsloth (which reads the adapter's base path)."""
    import torch

    from rapo_lite.model import UNSLOTH_INSTALL, compute_dtype

    try:
        from unsloth import FastLanguageModel
    except ImportError:
        raise RapoError("export: this format saves through Unsloth, which is not installed; "
                        f"run: {UNSLOTH_INSTALL}") from None
    # On a GPU Unsloth merges into 4-bit weights by dequantising them; its CPU fallback refuses
    # to, so there the base is loaded in 16/32-bit instead.
    load_in_4bit = cfg.load_in_4bit and torch.cuda.is_available()
    return FastLanguageModel.from_pretrained(
        model_name=str(adapter),
        max_seq_length=cfg.max_seq_length,
        dtype=compute_dtype(cfg),
        load_in_4bit=load_in_4bit,
        trust_remote_code=cfg.trust_remote_code,
    )


def require_llama_cpp() -> None:
    """Raise a RapoError naming the install when no working llama.cpp is where Unsloth looks."""
    try:
        import unsloth  # noqa: F401  (unsloth_zoo refuses to be imported first)
        from unsloth_zoo.llama_cpp import LLAMA_CPP_DEFAULT_DIR, check_llama_cpp
    except ImportError:
        from rapo_lite.model import UNSLOTH_INSTALL

        raise RapoError("export --format gguf_q4_k_m saves through Unsloth, which is not installed; "
                        f"run: {UNSLOTH_INSTALL}") from None
    folders = [os.environ.get("UNSLOTH_LLAMA_CPP_PATH") or LLAMA_CPP_DEFAULT_DIR,
               os.path.join(os.getcwd(), "llama.cpp")]
    for folder in folders:
        try:
            check_llama_cpp(folder)
            return
        except (RuntimeError, OSError):
            continue
    raise RapoError(
        f"export --format gguf_q4_k_m needs llama.cpp (its GGUF converter and llama-quantize), found in none of "
        f"{', '.join(folders)}; install it once with: {LLAMA_CPP_INSTALL}, or set UNSLOTH_LLAMA_CPP_PATH to a "
        "llama.cpp build. --format merged_16bit needs no llama.cpp."
    )


def _drop_temporary_name(folder: Path, run_name: str) -> None:
    # Unsloth names GGUF files after the folder it writes to, here the temporary one
    # (".gguf.abc123.Q4_K_M.gguf"); name them after the run instead.
    for path in folder.iterdir():
        if path.name.startswith(folder.name):
            path.rename(folder / (run_name + path.name[len(folder.name):]))

"""Model cards: the README.md the kit writes into every adapter folder and every export.

PEFT's `save_pretrained` leaves a blank template there. The kit's card opens with the Hub's
metadata block (YAML front matter: base model, library, tags, licence when known), then says
what the folder is: base model, method and stages, the recipe (a copy of recipe.yaml sits
beside the card), the data sources, the judges, the LoRA shape and, when the folder's weights
were evaluated, the before/after table from eval/report.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from rapo_lite.io import atomic_write_text
from rapo_lite.recipe import SMOLLM2_MODEL, TINY_MODEL, TRAINING_STAGES, Recipe, SourceSpec, dump_recipe

CARD_FILE = "README.md"
RECIPE_COPY = "recipe.yaml"

# The built-in models: their origin on the Hub (None: made by the kit) and licence.
_BUILTINS: dict[str, tuple[str | None, str | None]] = {
    SMOLLM2_MODEL: ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0"),
    TINY_MODEL: (None, None),
}
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_CACHE_FOLDER = re.compile(r"^models--([\w.-]+)--([\w.-]+)$")  # the Hub cache's own folder names
_KINDS = {"adapter": "LoRA adapter", "merged_16bit": "merged 16-bit model", "gguf": "GGUF file"}


def hub_base_model(name_or_path: str) -> str | None:
    """The Hub name of the base model, or None when there is none to name.

    A hub name is kept; a local folder is named only when it is a Hub cache snapshot
    (`.../models--org--name/snapshots/<hash>`), so a card never carries a path of this machine.
    """
    if name_or_path in _BUILTINS:
        return _BUILTINS[name_or_path][0]
    path = Path(name_or_path).expanduser()
    if path.exists():
        for part in path.resolve().parts:
            match = _CACHE_FOLDER.match(part)
            if match:
                return f"{match.group(1)}/{match.group(2)}"
        return None
    return name_or_path if _HUB_NAME.fullmatch(name_or_path) else None


def base_license(name_or_path: str) -> str | None:
    """The base model's licence from its own card, read offline (a local folder or the Hub cache)."""
    if name_or_path in _BUILTINS:
        return _BUILTINS[name_or_path][1]
    path = Path(name_or_path).expanduser()
    readme: Path | None = path / CARD_FILE if path.is_dir() else None
    if readme is None and _HUB_NAME.fullmatch(name_or_path):
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(name_or_path, CARD_FILE)
        except (ImportError, ValueError, OSError):
            cached = None
        readme = Path(cached) if isinstance(cached, str) else None
    if readme is None or not readme.is_file():
        return None
    try:
        meta = _front_matter(readme.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    value = meta.get("license")
    return value if isinstance(value, str) and value else None


def _front_matter(text: str) -> dict[str, object]:
    match = re.match(r"---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not match:
        return {}
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def method_of(stages: list[str]) -> tuple[str, list[str]]:
    """A sentence naming the method of these training stages, and the tags for it."""
    if "ipo" in stages:
        warm = " after the SFT warm-up" if "sft" in stages else ""
        return f"IPO, intervened preference optimization (DPO on corrected reasoning suffixes){warm}", ["ipo", "dpo"]
    if "rl" in stages:
        warm = "the SFT warm-up on adaptive safety analyses, then " if "sft" in stages else ""
        return f"RAPO, risk-aware preference optimization: {warm}GRPO with the risk reward R and general reward G", [
            "rapo", "grpo"]
    return "RAPO's SFT warm-up on safety analyses whose length adapts to the prompt's risk level", ["rapo", "sft"]


def _source(s: SourceSpec) -> str:
    bits = [s.name]
    if s.path:
        # a local file is named by its file name only: the card may be published
        bits.append(Path(s.path).name if Path(s.path).expanduser().exists() else s.path)
    if s.count is not None:
        bits.append(f"{s.count} rows")
    if s.harmful is not None:
        bits.append("harmful" if s.harmful else "benign")
    if s.wrap:
        bits.append(f"wrapped: {s.wrap}")
    return bits[0] + (f" ({', '.join(bits[1:])})" if len(bits) > 1 else "")


def _judge(kind: str, fmt: str | None) -> str:
    return kind if kind == "rule" or not fmt else f"{kind}, {fmt} prompt"


def eval_table(report: Path) -> str | None:
    """The table lines of eval/report.md (without its title and plot links), or None."""
    if not report.is_file():
        return None
    lines = [line for line in report.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    return "\n".join(lines) if lines else None


def evaluation_of_run(run_dir: Path) -> str | None:
    """The eval table of a run folder when its last evaluation came after its last training
    stage, i.e. it measured the adapter the folder holds now; None otherwise."""
    from rapo_lite.resume import RunState

    order = list(RunState.load(Path(run_dir)).finished)
    if "eval" not in order or any(s in TRAINING_STAGES for s in order[order.index("eval"):]):
        return None
    return eval_table(Path(run_dir) / "eval" / "report.md")


def model_card(recipe: Recipe, stages: list[str], kind: str = "adapter", evaluation: str | None = None) -> str:
    """The README.md of a folder holding the weights after `stages` (the training stages behind it)."""
    trained = [s for s in stages if s in TRAINING_STAGES]
    method, method_tags = method_of(trained)
    base = hub_base_model(recipe.model.name_or_path)
    licence = base_license(recipe.model.name_or_path)
    meta: dict[str, object] = {}
    if base:
        meta["base_model"] = base
    if kind == "adapter":
        meta["library_name"] = "peft"
    elif kind == "merged_16bit":
        meta["library_name"] = "transformers"
    tags = ["rapo-lite", "lora", *method_tags] + (["gguf"] if kind == "gguf" else [])
    meta["tags"] = tags
    if licence:
        meta["license"] = licence
    shown_base = base or (recipe.model.name_or_path if recipe.model.name_or_path in _BUILTINS else "a local model")
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).rstrip(), "---", "", f"# {recipe.run_name}", ""]
    lines += [f"A {_KINDS.get(kind, kind)} trained with rapo-lite, a LoRA kit that teaches reasoning models to "
              "reason about the safety of a request before they answer it.", ""]
    lines += [
        f"- **Base model:** {shown_base}" + (" (trained on its 4-bit nf4 weights)" if recipe.model.load_in_4bit
                                             else ""),
        f"- **Method:** {method}",
        f"- **Stages:** {', '.join(trained) if trained else 'none'}",
        f"- **LoRA:** r {recipe.lora.r}, alpha {recipe.lora.alpha}, on {', '.join(recipe.lora.target_modules)}",
        f"- **Recipe:** [{RECIPE_COPY}]({RECIPE_COPY}) (rerun with `python train.py {RECIPE_COPY}`)",
        f"- **Seed:** {recipe.seed}",
    ]
    lines += ["", "## Data", ""]
    for stage in trained:
        sources = "; ".join(_source(s) for s in recipe.training_sources(stage))
        lines.append(f"- {stage}: {sources}")
    if recipe.eval.sources:
        lines.append(f"- eval (held out, never trained on): {'; '.join(_source(s) for s in recipe.eval.sources)}")
    lines += ["", "## Judges", ""]
    if "sft" in trained:
        lines.append(f"- sft teacher: {recipe.sft.teacher}")
    if "rl" in trained:
        lines.append(f"- rl reward judge: {_judge(recipe.rl.judge.kind, getattr(recipe.rl.judge, 'format', None))}")
    if "ipo" in trained:
        lines.append(f"- ipo judge: {_judge(recipe.ipo.judge.kind, getattr(recipe.ipo.judge, 'format', None))}, "
                     f"cue detector: {recipe.ipo.cue_detector.kind}")
    lines.append(f"- eval judge: {_judge(recipe.eval.judge.kind, getattr(recipe.eval.judge, 'format', None))}")
    if evaluation:
        lines += ["", "## Evaluation", "", "Base model (adapter off) and these weights on the held-out prompts; "
                  "an attack succeeds when the answer is on topic and gives real harmful help.", "", evaluation]
    if kind == "adapter":
        lines += ["", "## Use", "", "```python", "from peft import AutoPeftModelForCausalLM",
                  "model = AutoPeftModelForCausalLM.from_pretrained(\"path/to/this/folder\")", "```"]
    return "\n".join(lines) + "\n"


def write_card(folder: Path, recipe: Recipe, stages: list[str], kind: str = "adapter",
               evaluation: str | None = None, recipe_text: str | None = None) -> Path:
    """Write README.md and a copy of the recipe into `folder`, each replaced atomically."""
    folder = Path(folder)
    atomic_write_text(folder / RECIPE_COPY, recipe_text if recipe_text is not None else dump_recipe(recipe))
    atomic_write_text(folder / CARD_FILE, model_card(recipe, stages, kind, evaluation))
    return folder / CARD_FILE

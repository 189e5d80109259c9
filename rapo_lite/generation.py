"""Batched sampling from the policy, with a progress bar; used by every stage that generates.

On the CPU, `generate` runs the kit's own decode loop (`rapo_lite.fastgen`: adapter merged
into cached bf16 weights, a preallocated KV cache, finished rows leave the batch) when the
model is one it covers, and transformers' `generate` otherwise; on a GPU it always uses
transformers (and whatever Unsloth patched into it). Set RAPO_LITE_GENERATION=transformers
to use transformers on the CPU as well, or =fast to make an unsupported model an error, and
RAPO_LITE_GENERATION_DTYPE=float32 to keep the fast loop but not its bf16 weights (greedy
outputs then equal transformers' fp32 ones; slower than bf16, still faster than transformers).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rapo_lite.errors import RapoError

if TYPE_CHECKING:
    import torch

    from rapo_lite.fastgen import Options

ENGINE_ENV = "RAPO_LITE_GENERATION"
ENGINES = ("auto", "fast", "transformers")
_fallbacks_noted: set[str] = set()


@dataclass(frozen=True)
class Generation:
    """One sampled continuation. hit_cap: it stopped at max_new_tokens instead of at EOS."""

    text: str
    hit_cap: bool
    n_tokens: int


@contextlib.contextmanager
def inference_mode(model: Any) -> Iterator[None]:
    """Eval mode + no_grad for generation, then back to training mode.

    Unsloth models switch to their fast generation path with `for_inference` and must be
    switched back with `for_training` before the next backward pass.
    """
    import torch

    unsloth = sys.modules.get("unsloth")
    was_training = model.training
    if unsloth is not None and hasattr(model, "for_inference"):
        unsloth.FastLanguageModel.for_inference(model)
    else:
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if unsloth is not None and hasattr(model, "for_training"):
            unsloth.FastLanguageModel.for_training(model)
        if was_training:
            model.train()


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    batch_size: int = 8,
    seed: int = 0,
    desc: str = "generating",
    engine: str | None = None,
    fast_options: Options | None = None,
) -> list[Generation]:
    """Continue each prompt text (already chat-templated, pre-fills included).

    temperature 0 means greedy. Prompts are batched by length to waste less padding, and
    results come back in the input order. engine: "auto" (default, or $RAPO_LITE_GENERATION):
    the fast loop on the CPU where it applies; "fast": that loop or an error; "transformers":
    transformers' generate. fast_options: a `fastgen.Options` (benchmarks switch levers with it).
    """
    import torch
    from tqdm.auto import tqdm

    if not prompts:
        return []
    engine = _engine(engine)
    torch.manual_seed(seed)
    eos_ids = _eos_ids(model, tokenizer)
    if fast_loop_applies(model, engine):
        from rapo_lite import fastgen

        try:
            sampling = fastgen.sampling_for(model, temperature, top_p)
            ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
            pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos_ids or [0])[0]
            with tqdm(total=len(prompts), desc=desc, unit="prompt", leave=False) as bar:
                new = fastgen.generate_ids(model, ids, max_new_tokens=max_new_tokens, eos_ids=eos_ids, pad_id=pad_id,
                                           sampling=sampling, batch_size=batch_size, options=fast_options,
                                           on_batch=bar.update)
            return [_decode(tokenizer, n, eos_ids) for n in new]
        except fastgen.Unsupported as why:
            if engine == "fast":
                raise RapoError(f"fast CPU generation does not cover this model: {why}") from None
            _note_fallback(str(why))
    elif engine == "fast":
        raise RapoError("fast generation runs on the CPU only; this model is on another device")
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Generation | None] = [None] * len(prompts)
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
    device = next(model.parameters()).device
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p}
    try:
        with inference_mode(model), tqdm(total=len(prompts), desc=desc, unit="prompt", leave=False) as bar:
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                texts = [prompts[i] for i in idx]
                batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
                batch = {k: v.to(device) for k, v in batch.items()}
                out = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=eos_ids, **sampling)
                new = out[:, batch["input_ids"].shape[1] :].tolist()
                for i, ids in zip(idx, new):
                    results[i] = _decode(tokenizer, ids, eos_ids)
                bar.update(len(idx))
    finally:
        tokenizer.padding_side = old_side
    return [r for r in results if r is not None]


def _engine(engine: str | None) -> str:
    """The engine asked for: the argument, else $RAPO_LITE_GENERATION, else auto."""
    engine = engine or os.environ.get(ENGINE_ENV) or "auto"
    if engine not in ENGINES:
        raise RapoError(f"generation engine {engine!r}: expected one of {', '.join(ENGINES)} (${ENGINE_ENV})")
    return engine


def fast_loop_applies(model: Any, engine: str | None = None) -> bool:
    """Whether the fast CPU loop is to be tried for this model: on the CPU, unless the engine (or
    $RAPO_LITE_GENERATION) says transformers. (The loop itself still falls back for settings it does not cover.)"""
    return _engine(engine) != "transformers" and _on_cpu(model)


def _on_cpu(model: Any) -> bool:
    first = next(iter(model.parameters()), None)
    return first is not None and first.device.type == "cpu"


def _note_fallback(reason: str) -> None:
    # Once per reason: the judge and IPO call generate many times per stage.
    if reason not in _fallbacks_noted:
        _fallbacks_noted.add(reason)
        print(f"[rapo-lite] generation: the fast CPU loop does not cover {reason}; using transformers' generate")


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids = model.generation_config.eos_token_id if getattr(model, "generation_config", None) else None
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def _decode(tokenizer: Any, ids: list[int], eos_ids: list[int]) -> Generation:
    stop = next((k for k, t in enumerate(ids) if t in eos_ids), None)
    kept = ids if stop is None else ids[:stop]
    # Special tokens are kept on purpose: <think> and </think> are special in some tokenizers.
    text = tokenizer.decode(kept, skip_special_tokens=False)
    if tokenizer.pad_token:
        text = text.replace(tokenizer.pad_token, "")
    return Generation(text=text, hit_cap=stop is None, n_tokens=len(kept))


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) of token rows padded on the left to the longest, so every row's last token is in
    the last column; mask is 1 on real tokens (int64)."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + list(r) for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask

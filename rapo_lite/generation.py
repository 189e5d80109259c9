"""Batched sampling from the policy, with a progress bar; used by every stage that generates."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


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
) -> list[Generation]:
    """Continue each prompt text (already chat-templated, pre-fills included).

    temperature 0 means greedy. Prompts are batched by length to waste less padding, and
    results come back in the input order.
    """
    import torch
    from tqdm.auto import tqdm

    if not prompts:
        return []
    torch.manual_seed(seed)
    eos_ids = _eos_ids(model, tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Generation | None] = [None] * len(prompts)
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
    device = next(model.parameters()).device
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {"do_sample": False}
    try:
        with inference_mode(model), tqdm(total=len(prompts), desc=desc, unit="prompt", leave=False) as bar:
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
                batch = {k: v.to(device) for k, v in batch.items()}
                out = model.generate(
                    **batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, eos_token_id=eos_ids, **sampling
                )
                new = out[:, batch["input_ids"].shape[1] :].tolist()
                for i, ids in zip(idx, new):
                    results[i] = _decode(tokenizer, ids, eos_ids)
                bar.update(len(idx))
    finally:
        tokenizer.padding_side = old_side
    return [r for r in results if r is not None]


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

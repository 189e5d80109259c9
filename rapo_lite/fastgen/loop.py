"""The fast loop itself: `generate_ids` batches prompts by length and decodes each batch.

Each batch gets a KV cache preallocated for its longest prompt plus the new tokens, is
prefilled once and then stepped one token at a time; a row that has produced its end token
leaves the batch once dropping it costs less than stepping it on. `Options` switches each
of the loop's levers on its own, for benchmarks/cpu_generation.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rapo_lite.fastgen.forward import _decode_step, _next_tokens, _prefill, _rope_tables
from rapo_lite.fastgen.settings import Sampling, Unsupported, cpu_compute_dtype
from rapo_lite.fastgen.weights import _Weights, prepare_weights


@dataclass
class Options:
    """Switches of the loop, for measuring each lever on its own (benchmarks/cpu_generation.py)."""

    dtype: torch.dtype | None = None  # None: cpu_compute_dtype()
    drop_finished: bool = True
    prepack: bool = True  # oneDNN-packed bf16 weights
    rescore: bool = True  # bf16: pick among the top candidates by fp32 logits


def generate_ids(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    eos_ids: Sequence[int],
    pad_id: int,
    sampling: Sampling | None = None,
    batch_size: int = 8,
    options: Options | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[list[int]]:
    """New token ids for each prompt (token ids, no padding), the end token included when one came.

    Prompts are batched by length and results return in the input order. Raises Unsupported
    before generating anything when the model is outside this loop.
    """
    options = options or Options()
    dtype = options.dtype or cpu_compute_dtype()
    if sampling is not None and sampling.temperature <= 0:
        sampling = None
    with torch.no_grad():
        weights = prepare_weights(model, dtype, pack_rows=max(1, batch_size) if options.prepack else 0)
        results: list[list[int]] = [[] for _ in prompts]
        if max_new_tokens <= 0 or not prompts:
            return results
        if any(len(p) == 0 for p in prompts):
            raise Unsupported("an empty prompt")
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        longest = max(len(p) for p in prompts)
        cos, sin = _rope_tables(weights, longest + max_new_tokens)
        eos = torch.tensor(sorted(set(eos_ids)) or [-1])
        for start in range(0, len(order), max(1, batch_size)):
            idx = order[start : start + batch_size]
            for i, ids in zip(idx, _generate_batch(weights, [prompts[i] for i in idx], max_new_tokens, eos, pad_id,
                                                    sampling, cos, sin, options)):
                results[i] = ids
            if on_batch is not None:
                on_batch(len(idx))
    return results


def _generate_batch(w: _Weights, prompts: list[Sequence[int]], max_new: int, eos: torch.Tensor, pad_id: int,
                    sampling: Sampling | None, cos: torch.Tensor, sin: torch.Tensor,
                    options: Options) -> list[list[int]]:
    b = len(prompts)
    lengths = torch.tensor([len(p) for p in prompts])
    n = int(lengths.max())
    ids = torch.full((b, n), pad_id, dtype=torch.long)
    valid = torch.zeros(b, n, dtype=torch.bool)
    for r, p in enumerate(prompts):
        ids[r, n - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        valid[r, n - len(p) :] = True
    slots = n + max_new
    shape = (len(w.layers), b, w.n_kv, slots, w.head_dim)
    cache_k, cache_v = torch.empty(shape, dtype=w.dtype), torch.empty(shape, dtype=w.dtype)
    key_valid = torch.zeros(b, slots, dtype=torch.bool)
    key_valid[:, :n] = valid
    # The whole sequence per row, for the repetition penalty (pads included, as in transformers).
    history = torch.cat([ids, torch.full((b, max_new), pad_id, dtype=torch.long)], dim=1)
    rows = torch.arange(b)  # which prompt each live row is
    done = torch.zeros(b, dtype=torch.bool)
    out: list[list[int]] = [[] for _ in range(b)]
    hidden = _prefill(w, ids, valid, cos, sin, cache_k, cache_v)[:, -1]
    pos = lengths.clone()
    for step in range(max_new):
        tokens = _next_tokens(w, hidden, sampling, history[:, : n + step], options.rescore)
        history[:, n + step] = tokens
        for r, t, finished in zip(rows.tolist(), tokens.tolist(), done.tolist()):
            if not finished:
                out[r].append(t)
        done = done | torch.isin(tokens, eos)
        if step == max_new - 1 or bool(done.all()):
            break
        n_done = int(done.sum())
        # A finished row keeps stepping (its tokens ignored) until dropping it pays: a drop
        # copies the KV cache once, about what one step of the whole batch moves, so rows
        # are dropped when the row-steps they would still take exceed the live rows.
        if options.drop_finished and n_done and n_done * (max_new - 1 - step) >= done.numel():
            keep = (~done).nonzero().squeeze(1)
            rows, tokens, pos, done = rows[keep], tokens[keep], pos[keep], done[keep]
            cache_k, cache_v = cache_k.index_select(1, keep), cache_v.index_select(1, keep)
            key_valid, history = key_valid[keep], history[keep]
        key_valid[:, n + step] = True
        hidden = _decode_step(w, tokens, pos, n + step, key_valid, cos, sin, cache_k, cache_v)
        pos = pos + 1
    return out

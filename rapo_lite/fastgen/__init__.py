"""A lean decode loop for Llama-family models on the CPU, used by `generation.generate` there.

Why it exists: on a CPU, transformers' `generate` spends most of a decode step outside the
matrix products (a few hundred small ops per layer, a KV cache that grows by concatenation,
the LoRA branch run as two extra matmuls per projection) and keeps stepping rows that have
already finished. This loop does the same arithmetic with fewer, larger operations:

- the adapter is folded into a copy of the weights (W + scale * B @ A, merged in fp32), so
  the LoRA branch costs nothing per token; the trainable fp32 weights are only read;
- that copy is in bfloat16 where the CPU has native bf16 (AVX512-BF16 / AMX), with the
  residual stream, the norms and the final choice of token kept in fp32;
- q/k/v and gate/up are fused into one matmul each, the KV cache is preallocated and
  written in place, and a row leaves the batch once it has produced its end token.

Anything outside what is implemented here (another architecture, a merged or DoRA adapter,
a processor such as no_repeat_ngram_size, a model not on the CPU) raises `Unsupported`, and
the caller uses transformers' own `generate` instead.

The package, in the order a call uses it (the weights' cache and its cost are described in
`weights`):

- `settings`: `Unsupported`, the sampling settings read as transformers reads them, and the
  compute dtype;
- `weights`: whether a model fits, and its merged, fused, cast (and packed) weights, cached
  per model;
- `forward`: the prefill, one decode step, and the choice of the next token;
- `loop`: `generate_ids`, which batches prompts by length and decodes them;
- `rollouts`: `route_rollouts`, which sends a TRL GRPOTrainer's rollouts through the loop.

This module re-exports what callers use. Names with a leading underscore are shared between
these modules only; `_MEMOS` (the weights' cache) is re-exported because the benchmarks clear
it to time the merge.
"""

from __future__ import annotations

from rapo_lite.fastgen.forward import filter_scores
from rapo_lite.fastgen.loop import Options, generate_ids
from rapo_lite.fastgen.rollouts import route_rollouts
from rapo_lite.fastgen.settings import DTYPE_ENV, Sampling, Unsupported, cpu_compute_dtype, sampling_for
from rapo_lite.fastgen.weights import _MEMOS

__all__ = [
    "DTYPE_ENV",
    "_MEMOS",
    "Options",
    "Sampling",
    "Unsupported",
    "cpu_compute_dtype",
    "filter_scores",
    "generate_ids",
    "route_rollouts",
    "sampling_for",
]

"""Lets TRL 1.15's trainers run where Triton cannot: the CPU.

TRL 1.15 computes per-token log-probabilities in SFT, GRPO and DPO through a fused LM head
whose kernel (`trl.kernels.ChunkedLogProbFunction`) launches Triton on CUDA/XPU tensors.
The CPU build of torch ships no Triton, so on a CPU the function is `None` and the first
training step fails (Unsloth's own trainer patches hide this on its backend; the plain
transformers backend hits it). `install()` puts a dispatcher in its place: the Triton kernel
on a GPU, and on other devices the same quantities computed in PyTorch, a chunk of tokens at
a time under activation checkpointing so the full [tokens, vocab] logits never live at once.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

TOKEN_CHUNK = 1024


def _chunk_stats(hidden, weight, bias, targets, temperature, softcap, logit_scale, want_entropy):
    # Same transform order as TRL's kernel: scale, soft-cap, then temperature.
    z = torch.nn.functional.linear(hidden, weight, bias).float() * logit_scale
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    z = z / temperature
    logp = torch.log_softmax(z, dim=-1)
    target_logp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1) if want_entropy else torch.zeros_like(target_logp)
    with torch.no_grad():
        log_sum_sq = torch.logsumexp(2 * logp, dim=-1)
        mean_logits = z.mean(-1)
        is_top1 = z.argmax(-1) == targets
    return target_logp, entropy, log_sum_sq, mean_logits, is_top1


def torch_chunked_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    temperature: float,
    chunk_size: int,
    final_logit_softcapping: float | None = None,
    logit_scale: float = 1.0,
    outputs: tuple[str, ...] = ("entropy", "log_sum_sq_probs", "mean_logits", "is_top1"),
) -> tuple[Any, ...]:
    """PyTorch twin of `ChunkedLogProbFunction.apply`: (log_probs, entropy, log_sum_sq_probs, mean_logits, is_top1).

    Optional outputs not named in `outputs` come back as None, as in TRL. `chunk_size` (the
    kernel's vocabulary tile) has no meaning here and is ignored.
    """
    want_entropy = "entropy" in outputs
    parts = []
    for start in range(0, hidden.shape[0], TOKEN_CHUNK):
        args = (hidden[start : start + TOKEN_CHUNK], weight, bias, targets[start : start + TOKEN_CHUNK],
                temperature, final_logit_softcapping, logit_scale, want_entropy)
        needs_grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
        parts.append(checkpoint(_chunk_stats, *args, use_reentrant=False) if needs_grad else _chunk_stats(*args))
    if not parts:
        empty = hidden.new_zeros((0,), dtype=torch.float32)
        parts = [(empty, empty, empty, empty, torch.zeros(0, dtype=torch.bool, device=hidden.device))]
    log_probs, entropy, log_sum_sq, mean_logits, is_top1 = (torch.cat(col) for col in zip(*parts))
    return (
        log_probs,
        entropy if want_entropy else None,
        log_sum_sq if "log_sum_sq_probs" in outputs else None,
        mean_logits if "mean_logits" in outputs else None,
        is_top1 if "is_top1" in outputs else None,
    )


class _Dispatch:
    """Stands where TRL expects `ChunkedLogProbFunction`: only `.apply` is used."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel

    def apply(self, hidden: torch.Tensor, *args: Any) -> tuple[Any, ...]:
        if self.kernel is not None and hidden.device.type in ("cuda", "xpu"):
            return self.kernel.apply(hidden, *args)
        return torch_chunked_logprobs(hidden, *args)


def install() -> None:
    """Route TRL's fused log-probabilities to PyTorch off the GPU. Safe to call more than once."""
    import trl.trainer.utils as trl_utils

    current = getattr(trl_utils, "_ChunkedLogProbFunction", None)
    if not isinstance(current, _Dispatch):
        trl_utils._ChunkedLogProbFunction = _Dispatch(current)

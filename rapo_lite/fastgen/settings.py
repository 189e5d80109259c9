"""What a fast-loop call asks for: the sampling settings, the compute dtype, and what falls back.

`sampling_for` reads a call's settings the way transformers' `generate` would (the call,
then the model's generation_config, then transformers' defaults) and `cpu_compute_dtype`
picks bf16 or fp32 for the merged weights. `Unsupported` is what every part of the loop
raises for a model or setting it does not cover, and `check_generation_config` raises it
for the processors it lacks; the caller then uses transformers' own `generate`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from rapo_lite.errors import RapoError

# Generation-config fields whose values other than None and the neutral one listed need a
# logits processor (or a search) that this loop does not implement; the call then goes back
# to transformers.
_UNSUPPORTED_FIELDS: dict[str, Any] = {
    "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "min_length": 0,
    "min_new_tokens": None, "forced_bos_token_id": None, "forced_eos_token_id": None,
    "exponential_decay_length_penalty": None, "suppress_tokens": None, "begin_suppress_tokens": None,
    "sequence_bias": None, "guidance_scale": 1.0, "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0,
    "top_h": None, "watermarking_config": None, "num_beams": 1, "num_return_sequences": 1, "penalty_alpha": 0.0,
    "dola_layers": None, "stop_strings": None, "remove_invalid_values": False,
}


class Unsupported(Exception):
    """This model or setting is outside the fast loop; use transformers' generate."""


@dataclass(frozen=True)
class Sampling:
    """Sampling settings as transformers would apply them (temperature, top-k, top-p, min-p, repetition penalty)."""

    temperature: float
    top_k: int = 0  # 0: off
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0


def check_generation_config(model: Any) -> None:
    """Raise Unsupported when the model's generation_config turns on a processor this loop lacks."""
    config = getattr(model, "generation_config", None)
    for name, neutral in _UNSUPPORTED_FIELDS.items():
        value = getattr(config, name, None)
        if value is not None and value != neutral:
            raise Unsupported(f"generation_config.{name}={value!r}")


def sampling_for(model: Any, temperature: float, top_p: float, **overrides: Any) -> Sampling | None:
    """The settings transformers' `generate` would use for this call; None means greedy.

    transformers fills settings the call leaves out from the model's generation_config and
    then from its global defaults (top_k=50 among them), so the same chain is followed
    here. Raises Unsupported when the config asks for a processor this loop lacks.
    """
    check_generation_config(model)
    config = getattr(model, "generation_config", None)
    if temperature <= 0:
        penalty = getattr(config, "repetition_penalty", None)
        if penalty not in (None, 1.0):  # transformers applies it to greedy decoding too; this loop only when sampling
            raise Unsupported(f"generation_config.repetition_penalty={penalty!r} with greedy decoding")
        return None
    try:
        from transformers import GenerationConfig

        defaults = GenerationConfig._get_default_generation_params()
    except (ImportError, AttributeError):  # an older or newer transformers without the helper
        defaults = {"top_k": 50, "repetition_penalty": 1.0}

    def pick(name: str, fallback: Any) -> Any:
        if overrides.get(name) is not None:
            return overrides[name]
        value = getattr(config, name, None)
        return value if value is not None else defaults.get(name, fallback)

    return Sampling(
        temperature=float(temperature),
        top_k=int(pick("top_k", 0) or 0),
        top_p=float(top_p),
        min_p=float(pick("min_p", 0.0) or 0.0),
        repetition_penalty=float(pick("repetition_penalty", 1.0) or 1.0),
    )


DTYPE_ENV = "RAPO_LITE_GENERATION_DTYPE"  # float32: the fast loop without bf16 (outputs as transformers')


def cpu_compute_dtype() -> torch.dtype:
    """$RAPO_LITE_GENERATION_DTYPE if set (float32 or bfloat16); else bfloat16 where the CPU
    multiplies it natively, and float32 otherwise (emulated bf16 is slower than fp32)."""
    chosen = os.environ.get(DTYPE_ENV, "").strip().lower()
    if chosen in ("float32", "fp32"):
        return torch.float32
    if chosen in ("bfloat16", "bf16"):
        return torch.bfloat16
    if chosen not in ("", "auto"):
        raise RapoError(f"${DTYPE_ENV}={chosen!r}: expected float32, bfloat16 or auto")
    return torch.bfloat16 if native_bf16() else torch.float32


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX). Elsewhere torch
    emulates bf16, which is slower than fp32, so neither generation nor training should use it."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(cpu, probe, None)
        if check is not None and check():
            return True
    return False

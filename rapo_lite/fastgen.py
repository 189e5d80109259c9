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

The copies are cached per model and rebuilt when the base or adapter weights change (tensor
version counters plus the norm and sum of every LoRA tensor), so the eval stage's
base/trained pair, IPO's rounds and the judge reuse them and a training step invalidates
them. The cost is memory: about one bf16 copy of the projections per cached adapter state
(two at most: adapter off and on), 0.27 GB each for SmolLM2-135M.

Anything outside what is implemented here (another architecture, a merged or DoRA adapter,
a processor such as no_repeat_ngram_size, a model not on the CPU) raises `Unsupported`, and
the caller uses transformers' own `generate` instead.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from rapo_lite.errors import RapoError

FAST_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})
# Greedy decoding in bf16: the bf16 logits pick this many candidates, which are then scored
# again in fp32 so that the choice is not decided by bf16 rounding (ties are common at logit
# magnitudes of 10-20, where a bf16 step is 0.06-0.125).
RESCORE_CANDIDATES = 8

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
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(cpu, probe, None)
        if check is not None and check():
            return torch.bfloat16
    return torch.float32


# ------------------------------------------------------------------------------ weights


class _Mat:
    """x @ W.T + b for one (fused) projection, with W in oneDNN's blocked layout where that is on.

    oneDNN re-lays a plain bf16 weight out for its kernel on every call; packing it once
    (the same op inductor's weight freezing uses) cut a decode-sized bf16 matmul by 20-40%
    here, with bit-identical results. fp32 weights stay plain (MKL; packing changes rounding).
    """

    __slots__ = ("bias", "packed", "weight")

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, pack_rows: int = 0) -> None:
        self.packed = bool(pack_rows) and weight.dtype == torch.bfloat16 and _packing_works()
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, pack_rows) if self.packed else weight
        self.bias = bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


_PACKING: list[bool] = []  # the probe's verdict, once per process


def _packing_works() -> bool:
    """Whether oneDNN's packed bf16 linear exists here and matches F.linear exactly."""
    if not _PACKING:
        try:
            w = torch.randn(24, 16).to(torch.bfloat16)
            x = torch.randn(3, 16).to(torch.bfloat16)
            packed = torch.ops.mkldnn._reorder_linear_weight(w, 3)
            y = torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")
            _PACKING.append(bool(torch.equal(y, F.linear(x, w))))
        except (AttributeError, RuntimeError, NotImplementedError):
            _PACKING.append(False)
    return _PACKING[0]


@dataclass
class _Layer:
    norm1: torch.Tensor
    qkv: _Mat
    qk_norm: torch.Tensor | None  # Qwen3: per-head RMSNorm weights, q heads then k heads, fp32
    o: _Mat
    norm2: torch.Tensor
    gate_up: _Mat
    down: _Mat


@dataclass
class _Weights:
    dtype: torch.dtype
    layers: list[_Layer]
    embed: torch.Tensor  # the model's own embedding matrix: rows are looked up, then made fp32
    norm: torch.Tensor
    lm_head: _Mat
    lm_head_fp32: torch.Tensor  # for the fp32 rescoring of candidates
    lm_head_bias: torch.Tensor | None  # fp32
    n_heads: int
    n_kv: int
    head_dim: int
    eps: float
    scaling: float
    rotary: Any  # the model's own rotary module: every rope variant it supports comes for free


class _Memo:
    """Converted weights of one model, kept across calls: those used by the last two builds.

    Two builds cover the usual alternation (adapter off for the base model or the judge,
    adapter on for the policy) without rebuilding either side each time.
    """

    def __init__(self) -> None:
        self.items: dict[Any, Any] = {}
        self.previous: set[Any] = set()
        self.current: set[Any] = set()

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        self.current.add(key)
        if key not in self.items:
            self.items[key] = build()
        return self.items[key]

    def finish(self) -> None:
        keep = self.current | self.previous
        self.items = {k: v for k, v in self.items.items() if k in keep}
        self.previous, self.current = self.current, set()


_MEMOS: weakref.WeakKeyDictionary[Any, _Memo] = weakref.WeakKeyDictionary()


def _tensor_key(t: torch.Tensor) -> tuple:
    # The version counter moves on every in-place update made through autograd-visible ops
    # (optimizer steps, load_state_dict); data_ptr catches a tensor swapped for another.
    return (t.data_ptr(), t._version, tuple(t.shape), t.dtype)


def _lora_fingerprints(tensors: list[torch.Tensor]) -> list[tuple[float, float]]:
    """(L2 norm, sum) of each tensor: a second guard for updates made through `.data`, which
    bypass the version counter. The sum sees a sign flip, which keeps the norm; a change
    that keeps both (a permutation of the entries) would go unseen."""
    if not tensors:
        return []
    foreach = getattr(torch, "_foreach_norm", None)
    norms = foreach(tensors) if foreach is not None else [t.norm() for t in tensors]
    stats = torch.stack([torch.stack(norms).float(), torch.stack([t.sum() for t in tensors]).float()], dim=1)
    return [tuple(row) for row in stats.tolist()]


class _Linear:
    """One projection: its dense base weight and the active LoRA adapters on it."""

    def __init__(self, module: Any) -> None:
        adapters: list[tuple[torch.Tensor, torch.Tensor, float]] = []
        base = module
        lora_layer = _lora_layer_type()
        if lora_layer is not None and isinstance(module, lora_layer):
            if module.merged:
                raise Unsupported("a LoRA adapter is merged into the base weights")
            if getattr(module, "fan_in_fan_out", False):
                raise Unsupported("LoRA with fan_in_fan_out")
            base = module.get_base_layer()
            if not module.disable_adapters:
                for name in module.active_adapters:
                    if name not in module.lora_A:
                        continue
                    variant = name in getattr(module, "lora_variant", {})
                    if variant or module.use_dora.get(name) or module.lora_bias.get(name):
                        raise Unsupported("a LoRA variant (DoRA, lora_bias, ...)")
                    a, b = module.lora_A[name], module.lora_B[name]
                    if not isinstance(a, torch.nn.Linear) or not isinstance(b, torch.nn.Linear):
                        raise Unsupported("a LoRA adapter that is not linear")
                    adapters.append((a.weight, b.weight, float(module.scaling[name])))
        self.base = base
        self.adapters = adapters
        self.quantized = _is_4bit(base)
        if not self.quantized and not isinstance(base, torch.nn.Linear):
            raise Unsupported(f"a {type(base).__name__} projection")
        if self.quantized and getattr(base.weight.quant_state, "packing_format_for_cpu", False):
            raise Unsupported("4-bit weights repacked into bitsandbytes' CPU inference layout")
        self.bias = base.bias

    def lora_tensors(self) -> list[torch.Tensor]:
        return [t for a, b, _ in self.adapters for t in (a, b)]

    def key(self, prints: dict[int, tuple[float, float]]) -> tuple:
        lora = tuple((_tensor_key(a), _tensor_key(b), prints[id(a)], prints[id(b)], s) for a, b, s in self.adapters)
        return (_tensor_key(self.base.weight), lora)

    def dense_fp32(self) -> torch.Tensor:
        """W + sum(scale * B @ A), in fp32; never writes into the model's own tensors."""
        if self.quantized:
            import bitsandbytes as bnb

            weight = bnb.functional.dequantize_4bit(self.base.weight.data, self.base.weight.quant_state).float()
        else:
            weight = self.base.weight.detach().float()
        for a, b, scale in self.adapters:
            weight = torch.addmm(weight, b.detach().float(), a.detach().float(), alpha=scale)
        return weight


def _lora_layer_type() -> Any:
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return None
    return LoraLayer


def _is_4bit(module: Any) -> bool:
    return type(module).__name__ == "Linear4bit" and hasattr(getattr(module, "weight", None), "quant_state")


def _plain(module: Any, kind: str) -> torch.Tensor:
    if _lora_layer_type() is not None and isinstance(module, _lora_layer_type()):
        raise Unsupported(f"a LoRA adapter on the {kind}")
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or "ModulesToSave" in type(module).__name__:
        raise Unsupported(f"a wrapped {kind} ({type(module).__name__})")
    return weight


def causal_lm(model: Any) -> Any:
    """The transformers model under a PEFT wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def check_model(model: Any) -> None:
    """Raise Unsupported unless the fast loop can run this model: CPU, a Llama-family decoder."""
    hf = causal_lm(model)
    config = getattr(hf, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in FAST_MODEL_TYPES:
        raise Unsupported(f"model type {model_type!r} (fast loop: {', '.join(sorted(FAST_MODEL_TYPES))})")
    devices = {p.device.type for p in model.parameters()}
    if devices != {"cpu"}:
        raise Unsupported(f"parameters on {sorted(devices)}, not only the CPU")
    if getattr(config, "hidden_act", "silu") != "silu":
        raise Unsupported(f"activation {config.hidden_act!r}")
    decoder = getattr(hf, "model", None)
    layers = getattr(decoder, "layers", None)
    if layers is None or not hasattr(decoder, "rotary_emb") or not hasattr(hf, "lm_head"):
        raise Unsupported("an unexpected module layout")
    if getattr(config, "final_logit_softcapping", None):
        raise Unsupported("final_logit_softcapping")
    rope_type = getattr(decoder.rotary_emb, "rope_type", "default")
    if rope_type in ("dynamic", "longrope"):  # their frequencies depend on the running length; one table would not do
        raise Unsupported(f"rope_type {rope_type!r}")
    for layer in layers:
        attn = layer.self_attn
        if getattr(attn, "sliding_window", None) is not None:
            raise Unsupported("sliding-window attention")
        if not all(hasattr(attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")):
            raise Unsupported("an attention block without q/k/v/o projections")
        if not all(hasattr(layer.mlp, n) for n in ("gate_proj", "up_proj", "down_proj")):
            raise Unsupported("an MLP without gate/up/down projections")


def prepare_weights(model: Any, dtype: torch.dtype, pack_rows: int = 0) -> _Weights:
    """The decode-ready (merged, fused, cast) weights for the model's current adapter state.

    pack_rows > 0 packs bf16 weights for oneDNN (a hint of the rows per matmul; any count works).
    """
    check_model(model)
    hf = causal_lm(model)
    config = hf.config
    decoder = hf.model
    memo = _MEMOS.setdefault(model, _Memo())
    blocks = [
        [_Linear(getattr(layer.self_attn, n)) for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
        + [_Linear(getattr(layer.mlp, n)) for n in ("gate_proj", "up_proj", "down_proj")]
        for layer in decoder.layers
    ]
    head = _Linear(hf.lm_head)
    lora = [t for block in blocks for lin in block for t in lin.lora_tensors()] + head.lora_tensors()
    prints = dict(zip((id(t) for t in lora), _lora_fingerprints(lora)))
    packing = bool(pack_rows) and dtype == torch.bfloat16

    def bias_of(parts: Sequence[_Linear]) -> torch.Tensor | None:
        if all(p.bias is None for p in parts):
            return None
        return torch.cat([p.bias.detach().float() if p.bias is not None else torch.zeros(p.base.weight.shape[0])
                          for p in parts]).to(dtype)

    def fused(parts: Sequence[_Linear]) -> _Mat:
        only = parts[0]
        if len(parts) == 1 and not only.adapters and not only.quantized and only.base.weight.dtype == dtype:
            # Nothing to merge, fuse or cast: the model's own tensor serves (fp32 on most CPUs).
            bias = only.bias.detach() if only.bias is not None else None
            return _Mat(only.base.weight.detach(), bias)
        key = ("w", dtype, packing, tuple(p.key(prints) for p in parts),
               tuple(_tensor_key(p.bias) if p.bias is not None else None for p in parts))
        return memo.get(key, lambda: _Mat(torch.cat([p.dense_fp32() for p in parts]).to(dtype), bias_of(parts),
                                          pack_rows if packing else 0))

    def fp32(t: torch.Tensor) -> torch.Tensor:
        return t.detach() if t.dtype == torch.float32 else memo.get(("f", _tensor_key(t)), lambda: t.detach().float())

    layers = []
    for layer, (q, k, v, o, gate, up, down) in zip(decoder.layers, blocks):
        attn = layer.self_attn
        qk_norm = None
        if hasattr(attn, "q_norm"):
            nq, nk = config.num_attention_heads, config.num_key_value_heads
            qw, kw = _plain(attn.q_norm, "q_norm"), _plain(attn.k_norm, "k_norm")
            qk_norm = memo.get(("n", _tensor_key(qw), _tensor_key(kw)), lambda qw=qw, kw=kw, nq=nq, nk=nk: torch.cat(
                [qw.detach().float().expand(nq, -1), kw.detach().float().expand(nk, -1)]))
        layers.append(_Layer(
            norm1=fp32(_plain(layer.input_layernorm, "input_layernorm")),
            qkv=fused((q, k, v)), qk_norm=qk_norm, o=fused((o,)),
            norm2=fp32(_plain(layer.post_attention_layernorm, "post_attention_layernorm")),
            gate_up=fused((gate, up)), down=fused((down,)),
        ))
    embed = _plain(decoder.get_input_embeddings(), "input embeddings").detach()
    if head.quantized or head.adapters:
        head_fp32 = memo.get(("h32", head.key(prints)), head.dense_fp32)
    else:
        head_fp32 = fp32(head.base.weight)
    attn0 = decoder.layers[0].self_attn
    head_dim = getattr(attn0, "head_dim", None) or config.hidden_size // config.num_attention_heads
    eps = getattr(decoder.norm, "variance_epsilon", None) or getattr(decoder.norm, "eps", None) or config.rms_norm_eps
    weights = _Weights(
        dtype=dtype, layers=layers, embed=embed, norm=fp32(_plain(decoder.norm, "final norm")),
        lm_head=fused((head,)), lm_head_fp32=head_fp32,
        lm_head_bias=head.bias.detach().float() if head.bias is not None else None,
        n_heads=config.num_attention_heads, n_kv=config.num_key_value_heads, head_dim=head_dim, eps=float(eps),
        scaling=float(getattr(attn0, "scaling", head_dim**-0.5)), rotary=decoder.rotary_emb,
    )
    memo.finish()
    return weights


# ------------------------------------------------------------------------------ forward


def _rope_tables(w: _Weights, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and a signed sin for positions [0, length), fp32, so that rope is x*cos + swap(x)*sin."""
    probe = torch.zeros(1, 1, w.head_dim)
    cos, sin = w.rotary(probe, torch.arange(length).unsqueeze(0))
    cos, sin = cos[0].float(), sin[0].float()
    half = w.head_dim // 2
    # rotate_half(x) = cat(-x2, x1): swapping the halves and negating the first half of sin is the same.
    sin = torch.cat([-sin[:, :half], sin[:, half:]], dim=-1)
    return cos, sin


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    swapped = torch.cat([x[..., half:], x[..., :half]], dim=-1)
    return x * cos + swapped * sin


def _qkv(w: _Weights, layer: _Layer, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple:
    """q, k, v with rope applied, shaped [..., heads, head_dim]; h is [..., hidden] in w.dtype."""
    out = layer.qkv(h)
    nq, nk, d = w.n_heads, w.n_kv, w.head_dim
    qk = out[..., : (nq + nk) * d].unflatten(-1, (nq + nk, d))
    v = out[..., (nq + nk) * d :].unflatten(-1, (nk, d))
    if layer.qk_norm is not None:
        # Qwen3 normalises each head (its q_norm / k_norm); kept in fp32 up to the rope.
        qk32 = qk.float()
        qk32 = qk32 * torch.rsqrt(qk32.pow(2).mean(-1, keepdim=True) + w.eps)
        qk = layer.qk_norm * qk32
    qk = _rope(qk.float(), cos.unsqueeze(-2), sin.unsqueeze(-2)).to(w.dtype)
    return qk[..., :nq, :], qk[..., nq:, :], v


def _norm(x: torch.Tensor, weight: torch.Tensor, eps: float, dtype: torch.dtype) -> torch.Tensor:
    return F.rms_norm(x, (x.shape[-1],), weight, eps).to(dtype)


def _mlp(layer: _Layer, h: torch.Tensor) -> torch.Tensor:
    gate, up = layer.gate_up(h).chunk(2, dim=-1)
    return layer.down(F.silu(gate) * up)


def _prefill(w: _Weights, ids: torch.Tensor, valid: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
             cache_k: torch.Tensor, cache_v: torch.Tensor) -> torch.Tensor:
    """Run the left-padded prompts [B, N], fill the cache's first N slots; returns the last hidden state, fp32."""
    n = ids.shape[1]
    pos = (valid.long().cumsum(1) - 1).clamp(min=0)
    c, s = cos[pos], sin[pos]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    # A pad row may see only itself: a row with nothing to attend to would come out NaN.
    mask = ((causal & valid[:, None, :]) | torch.eye(n, dtype=torch.bool)).unsqueeze(1)
    x = w.embed[ids].float()
    for i, layer in enumerate(w.layers):
        q, k, v = _qkv(w, layer, _norm(x, layer.norm1, w.eps, w.dtype), c, s)
        k, v = k.transpose(1, 2), v.transpose(1, 2)
        cache_k[i, :, :, :n] = k
        cache_v[i, :, :, :n] = v
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k, v, attn_mask=mask, scale=w.scaling,
                                           enable_gqa=w.n_heads != w.n_kv)
        x = x + layer.o(a.transpose(1, 2).flatten(2))
        x = x + _mlp(layer, _norm(x, layer.norm2, w.eps, w.dtype))
    return x[:, -1]


def _decode_step(w: _Weights, tokens: torch.Tensor, pos: torch.Tensor, slot: int, key_valid: torch.Tensor,
                 cos: torch.Tensor, sin: torch.Tensor, cache_k: torch.Tensor, cache_v: torch.Tensor) -> torch.Tensor:
    """Feed one token per row at cache slot `slot`; returns the last hidden state [B, hidden], fp32."""
    b = tokens.shape[0]
    groups = w.n_heads // w.n_kv
    c, s = cos[pos], sin[pos]
    mask = key_valid[:, None, None, : slot + 1]
    x = w.embed[tokens].float()
    for i, layer in enumerate(w.layers):
        q, k, v = _qkv(w, layer, _norm(x, layer.norm1, w.eps, w.dtype), c, s)
        cache_k[i, :, :, slot] = k
        cache_v[i, :, :, slot] = v
        # One query per row: the query heads that share a kv head become that head's query
        # rows, so grouped-query attention needs no repeated keys and values.
        a = F.scaled_dot_product_attention(q.reshape(b, w.n_kv, groups, w.head_dim), cache_k[i, :, :, : slot + 1],
                                           cache_v[i, :, :, : slot + 1], attn_mask=mask, scale=w.scaling)
        x = x + layer.o(a.reshape(b, -1))
        x = x + _mlp(layer, _norm(x, layer.norm2, w.eps, w.dtype))
    return x


def _next_tokens(w: _Weights, hidden: torch.Tensor, sampling: Sampling | None, history: torch.Tensor,
                 rescore: bool = True) -> torch.Tensor:
    h32 = F.rms_norm(hidden, (hidden.shape[-1],), w.norm, w.eps)
    logits = w.lm_head(h32.to(w.dtype))
    rescore = rescore and w.dtype != torch.float32
    if sampling is None:
        if not rescore:
            return logits.argmax(-1)
        cand = logits.topk(RESCORE_CANDIDATES, dim=-1).indices
        return cand.gather(1, _exact_scores(w, h32, cand).argmax(-1, keepdim=True)).squeeze(1)
    if sampling.repetition_penalty != 1.0:
        from transformers import RepetitionPenaltyLogitsProcessor

        scores, idx = RepetitionPenaltyLogitsProcessor(sampling.repetition_penalty)(history, logits.float()), None
    elif rescore and 0 < sampling.top_k < logits.shape[-1]:
        # As for greedy, at least RESCORE_CANDIDATES go to fp32, so that the top-k is chosen
        # by fp32 logits (top_k=1 is then exactly greedy).
        idx = logits.topk(min(logits.shape[-1], max(sampling.top_k, RESCORE_CANDIDATES)), dim=-1).indices
        scores = _exact_scores(w, h32, idx)
    else:
        scores, idx = logits.float(), None
    return _sample(scores / sampling.temperature, idx, sampling)


def _exact_scores(w: _Weights, h32: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """fp32 logits of the candidate tokens only: [B, C]."""
    scores = torch.bmm(w.lm_head_fp32[cand], h32.unsqueeze(-1)).squeeze(-1)
    return scores + w.lm_head_bias[cand] if w.lm_head_bias is not None else scores


def _sample(scores: torch.Tensor, idx: torch.Tensor | None, sampling: Sampling) -> torch.Tensor:
    """One draw per row from the filtered distribution; idx maps candidate columns to token ids."""
    vals, order = filter_scores(scores, sampling)
    choice = torch.multinomial(vals.softmax(-1), 1)
    if order is not None:
        choice = order.gather(1, choice)
    if idx is not None:
        choice = idx.gather(1, choice)
    return choice.squeeze(1)


def filter_scores(scores: torch.Tensor, sampling: Sampling) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Top-k, top-p and min-p as transformers' warpers apply them, in that order, to temperature-scaled scores.

    Returns the scores with the dropped tokens at -inf and, when they were sorted for the
    filters, the column each sorted value came from (None: the columns are unchanged).
    """
    k = sampling.top_k if 0 < sampling.top_k < scores.shape[-1] else scores.shape[-1]
    if sampling.top_p >= 1.0 and sampling.min_p <= 0.0 and k == scores.shape[-1]:
        return scores, None  # nothing filters: no sort needed
    vals, order = scores.topk(k, dim=-1) if k < scores.shape[-1] else scores.sort(dim=-1, descending=True)
    if sampling.top_p < 1.0:
        probs = vals.softmax(-1)
        before = probs.cumsum(-1) - probs  # mass strictly above each token; the top token always stays
        vals = vals.masked_fill(before >= sampling.top_p, -math.inf)
    if sampling.min_p > 0.0:
        probs = vals.softmax(-1)
        vals = vals.masked_fill(probs < sampling.min_p * probs.max(-1, keepdim=True).values, -math.inf)
    return vals, order


# ------------------------------------------------------------------------------ the loop


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
    hidden = _prefill(w, ids, valid, cos, sin, cache_k, cache_v)
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


# ------------------------------------------------------------------------------ TRL rollouts


def route_rollouts(trainer: Any, options: Options | None = None) -> None:
    """Send a TRL GRPOTrainer's own-model rollouts through this loop while its model is on the CPU.

    TRL's plain path (no vLLM, no continuous batching) left-pads the prompt ids, calls the
    policy's `generate` with its sampling settings and keeps each completion up to and
    including the first end token; this does the same with the fast loop. Rollouts with
    images, tools' multimodal fields, extra generation_kwargs, or a model outside this loop
    go to TRL's own method unchanged. The sampled tokens come from the bf16 merged copy while
    TRL scores them with the fp32 policy, the same mismatch a vLLM rollout engine has.
    """
    original = trainer._generate_single_turn

    def single_turn(prompt_ids: Any, images: Any, multimodal_fields: Any, num_generations: int,
                    has_tool_images: bool = False) -> tuple[list[list[int]], None]:
        engine = getattr(trainer, "use_vllm", False) or getattr(trainer, "use_transformers_continuous_batching", False)
        plain = not (engine or images or multimodal_fields or has_tool_images or trainer.args.generation_kwargs)
        if plain:
            model = trainer.accelerator.unwrap_model(trainer.model)
            try:
                check_generation_config(model)  # TRL sets the sampling fields itself, not the others
                sampling = Sampling(
                    temperature=float(trainer.temperature), top_k=int(trainer.top_k or 0),
                    top_p=float(trainer.top_p or 1.0), min_p=float(trainer.min_p or 0.0),
                    repetition_penalty=float(trainer.repetition_penalty or 1.0),
                )
                pad = trainer._tokenizer.pad_token_id
                ids = generate_ids(model, prompt_ids, max_new_tokens=trainer.max_completion_length,
                                   eos_ids=list(trainer.eos_token_ids), pad_id=pad if pad is not None else 0,
                                   sampling=sampling, batch_size=len(prompt_ids), options=options)
                route_rollouts.calls += 1
                return ids, None
            except Unsupported:
                pass
        return original(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=has_tool_images)

    trainer._generate_single_turn = single_turn


route_rollouts.calls = 0  # type: ignore[attr-defined]  # rollout batches served, for tests and logs

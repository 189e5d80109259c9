"""The fast loop's weights: the checks that a model fits, and its merged, fused, cast copy.

`check_model` raises `Unsupported` for anything but a Llama-family decoder on the CPU;
`prepare_weights` turns the model's projections into decode-ready matrices: each LoRA
adapter folded in (W + scale * B @ A, merged in fp32), q/k/v and gate/up fused, cast to the
compute dtype and, in bf16, packed once into oneDNN's blocked layout (`_Mat`).

The copies are cached per model and rebuilt when the base or adapter weights change (tensor
version counters plus the norm and sum of every LoRA tensor), so the eval stage's
base/trained pair, IPO's rounds and the judge reuse them and a training step invalidates
them. The cost is memory: about one bf16 copy of the projections per cached adapter state
(two at most: adapter off and on), 0.27 GB each for SmolLM2-135M.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from rapo_lite.fastgen.settings import Unsupported

FAST_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


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

"""Peak GPU memory of each stage of a recipe, predicted from the model's shape before any download.

`python train.py plan RECIPE [--gpu-memory 8GiB]` prints it. Everything here is a pure function
of the recipe and a `ModelShape` (read from a config.json by `rapo_lite.model_configs`).

A stage's peak is what stays on the card for the whole stage (weights, LoRA weights and
AdamW state, the CUDA context) plus the costliest of its phases, because the phases run one
after another and free their tensors in between:

- generation: the KV cache of every sequence sampled at once, plus prefill and sampling buffers;
- judging (a `model` judge): the same weights with the adapter off, so only its own KV cache;
- the training step: LoRA gradients, activations under gradient checkpointing, and the LM
  head's log-probabilities, which TRL 1.15 computes in tiles (its fused LM head) instead of
  materialising [tokens, vocab] logits.

The constants below come from how the libraries lay memory out (bitsandbytes nf4 with double
quantisation, TRL's tile sizes, fp32 LoRA weights under AdamW) and from counting the tensors a
decoder layer saves for its backward; they are estimates to within a few tens of percent, not
measurements. No GPU was available when they were written (see BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rapo_lite.errors import RapoError

if TYPE_CHECKING:
    from rapo_lite.recipe import DetectorConfig, Recipe
    from rapo_lite.stages.base import Stage

GIB = 1024**3
MIB = 1024**2

# nf4: 4 bits per weight, one 8-bit absmax per 64-weight block (double quantisation, which both
# backends switch on) and one fp32 scale per 256 of those blocks.
NF4_BYTES_PER_PARAM = 0.5 + 1 / 64 + 4 / (64 * 256)
# LoRA weights train in fp32 (PEFT upcasts adapters of a 16-bit model); AdamW keeps two fp32
# moments per weight. The fp32 gradient exists only between backward and the optimizer step.
LORA_RESIDENT_BYTES = 4 + 8
LORA_GRAD_BYTES = 4
# TRL 1.15's fused LM head (trl/kernels/chunked_logprob.py) projects 4096 tokens x 32768
# vocabulary entries at a time, in the compute dtype, and accumulates the hidden-state
# gradient in fp32.
FUSED_TOKEN_TILE = 4096
FUSED_VOCAB_TILE = 32768
# Unsloth's gradient checkpointing ("unsloth") moves each layer's saved input to host memory
# as soon as the next layer starts; about two layers' worth are on the card at any moment.
UNSLOTH_CHECKPOINTS_ON_GPU = 2
# A judge or cue-detector prompt is a rubric (about 180 tokens of instructions, plus the chat
# template) around the user prompt and the trace or answer being judged.
RUBRIC_TOKENS = 256
# Prompt length assumed when the recipe does not bound it (jailbreak prompts wrapped in a
# role-play run to several hundred tokens); `--prompt-tokens` changes it.
PROMPT_TOKENS = 512
# The CUDA context, cuBLAS workspaces and kernels: memory nvidia-smi shows but
# torch.cuda.max_memory_allocated does not.
CUDA_CONTEXT_BYTES = 512 * MIB
# PyTorch's caching allocator holds some freed blocks it cannot reuse for a differently sized
# request; 10% of the tensors' peak is the usual order on a long training run.
ALLOCATOR_SLACK = 0.10
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a decoder-only transformer's config that decide its memory."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_dims(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each projection of one decoder layer."""
        h, i, q, kv = self.hidden, self.intermediate, self.q_dim, self.kv_dim
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    def linear_params(self) -> int:
        """Weights of all decoder-layer projections (what bitsandbytes quantises)."""
        return self.layers * sum(a * b for a, b in self.linear_dims().values())

    def embedding_params(self) -> int:
        """Input embeddings plus the LM head when it is a separate matrix (both stay 16-bit)."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)


def shape_from_config(config: dict[str, Any]) -> ModelShape:
    """A ModelShape from a config.json mapping (a multimodal config's `text_config` if it has one)."""
    cfg = config.get("text_config") or config
    try:
        hidden, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
        head_dim = cfg.get("head_dim") or hidden // heads
        return ModelShape(
            layers=int(cfg["num_hidden_layers"]),
            hidden=hidden,
            intermediate=int(cfg["intermediate_size"]),
            heads=heads,
            kv_heads=int(cfg.get("num_key_value_heads") or heads),
            head_dim=int(head_dim),
            vocab=int(cfg["vocab_size"]),
            tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        )
    except KeyError as err:
        raise RapoError(f"model config has no {err.args[0]!r}; "
                        "the planner needs a decoder-only transformer's config.json") from None


# ------------------------------------------------------------------------------ the terms


def weight_bytes(shape: ModelShape, load_in_4bit: bool, compute_bytes: int) -> int:
    """Frozen base weights: nf4 projections (with their constants) or 16-bit, embeddings 16-bit."""
    per_param = NF4_BYTES_PER_PARAM if load_in_4bit else compute_bytes
    return round(shape.linear_params() * per_param) + shape.embedding_params() * compute_bytes


def lora_params(shape: ModelShape, r: int, targets: list[str]) -> int:
    dims = shape.linear_dims()
    unknown = [t for t in targets if t not in dims]
    if unknown:
        raise RapoError(f"lora.target_modules: the planner knows {', '.join(LORA_MODULES)}, not {', '.join(unknown)}")
    return shape.layers * sum(r * (dims[t][0] + dims[t][1]) for t in targets)


def kv_bytes_per_token(shape: ModelShape, compute_bytes: int) -> int:
    return 2 * shape.layers * shape.kv_dim * compute_bytes  # keys and values of every layer


def layer_saved_elements(shape: ModelShape, backend: str) -> int:
    """Elements per token one decoder layer keeps for its backward pass.

    Counted from the tensors autograd saves: the norms' inputs, the projections' inputs and
    outputs, attention's q/k/v/output, and the MLP's gate, up and product. The stock
    transformers layer keeps fp32 copies in its RMSNorms and separate tensors before and after
    q/k-norm and RoPE; Unsloth's fused RMSNorm, in-place RoPE and SwiGLU kernels keep fewer.
    """
    h, i, q, kv = shape.hidden, shape.intermediate, shape.q_dim, shape.kv_dim
    if backend == "unsloth":
        return 5 * h + 2 * q + 2 * kv + 3 * i
    return 7 * h + 4 * q + 4 * kv + 4 * i


def activation_bytes(shape: ModelShape, tokens: int, backend: str, load_in_4bit: bool, compute_bytes: int) -> int:
    """Training activations of one micro-batch of `tokens` tokens under gradient checkpointing.

    Checkpoints (each layer's input) for every layer, or about two with Unsloth's offloading;
    one layer recomputed with its backward (saved tensors plus their gradients); the residual
    stream and its gradient; and, for 4-bit weights, the largest projection dequantised for
    its matmul.
    """
    checkpoint_layers = min(UNSLOTH_CHECKPOINTS_ON_GPU, shape.layers) if backend == "unsloth" else shape.layers
    elements = tokens * (checkpoint_layers * shape.hidden + 2 * layer_saved_elements(shape, backend) + 2 * shape.hidden)
    if load_in_4bit:
        elements += max(a * b for a, b in shape.linear_dims().values())
    return elements * compute_bytes


def logit_bytes(shape: ModelShape, tokens: int, compute_bytes: int, chunked: bool = True) -> int:
    """The LM head's working memory for log-probabilities of `tokens` tokens.

    chunked: TRL's fused head (one tile plus the fp32 hidden-state gradient). Not chunked:
    full logits, their fp32 copy and the fp32 log-softmax, as a plain forward + loss makes.
    """
    if not chunked:
        return tokens * shape.vocab * (compute_bytes + 4 + 4)
    tile = min(tokens, FUSED_TOKEN_TILE) * min(shape.vocab, FUSED_VOCAB_TILE) * compute_bytes
    return tile + tokens * shape.hidden * 4


def generation_workspace_bytes(shape: ModelShape, batch: int, prompt_tokens: int, compute_bytes: int) -> int:
    """Prefill buffers (one layer's MLP and residual for every prompt token) and sampling buffers.

    Sampling keeps fp32 logits of the last position, their softmax and a top-p sort per row.
    """
    prefill = batch * prompt_tokens * (2 * shape.intermediate + 4 * shape.hidden) * compute_bytes
    sampling = batch * shape.vocab * 4 * 3
    return prefill + sampling


# ------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Term:
    name: str
    bytes: int
    knob: str  # what to change in the recipe to make this term smaller


@dataclass(frozen=True)
class Phase:
    name: str
    detail: str
    terms: tuple[Term, ...]

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.terms)


def overhead_bytes(tensor_bytes: int) -> int:
    """What the card holds beyond the tensors: the CUDA context and the allocator's slack."""
    return CUDA_CONTEXT_BYTES + round(ALLOCATOR_SLACK * tensor_bytes)


@dataclass(frozen=True)
class StagePlan:
    stage: str
    resident: tuple[Term, ...]  # on the card for the whole stage
    phases: tuple[Phase, ...]

    @property
    def peak_phase(self) -> Phase:
        return max(self.phases, key=lambda p: p.bytes)

    @property
    def tensor_bytes(self) -> int:
        """What torch.cuda.max_memory_allocated would show: tensors only."""
        return sum(t.bytes for t in self.resident) + self.peak_phase.bytes

    @property
    def overhead(self) -> Term:
        return Term("CUDA context + allocator slack", overhead_bytes(self.tensor_bytes), "")

    @property
    def peak_bytes(self) -> int:
        return self.tensor_bytes + self.overhead.bytes

    @property
    def dominant(self) -> Term:
        return max((*self.resident, *self.peak_phase.terms), key=lambda t: t.bytes)


@dataclass(frozen=True)
class Setup:
    """What a plan assumes beyond the recipe."""

    prompt_tokens: int = PROMPT_TOKENS
    gpu_memory: int | None = None  # bytes; needed to size vLLM's share with fast_inference


def compute_bytes_of(dtype: str) -> int:
    # "auto" is bfloat16 or float16 on a GPU: two bytes either way.
    return 4 if dtype == "float32" else 2


def plan_recipe(recipe: Recipe, shape: ModelShape, setup: Setup = Setup()) -> list[StagePlan]:
    """One StagePlan per stage of the recipe, in its order; each stage sizes its own phases."""
    from rapo_lite.stages.registry import STAGES  # imported here: the stage modules import this one

    planner = Planner(recipe, shape, setup, [STAGES[name] for name in recipe.stages])
    return [STAGES[name].plan(planner) for name in recipe.stages]


class Planner:
    """The memory arithmetic of one recipe on one shape, which each stage's `plan` fills in.

    A stage knows its own batch sizes and token caps; this class turns them into terms: what
    stays on the card (`resident`) and the phases a stage runs (`generation`, `judging`,
    `training`), which `stage_plan` puts together. `stages` are the recipe's own: whatever one
    of them loads for the whole run is resident in every stage's plan.
    """

    def __init__(self, recipe: Recipe, shape: ModelShape, setup: Setup = Setup(),
                 stages: Sequence[Stage] = ()) -> None:
        self.recipe, self.shape, self.setup = recipe, shape, setup
        self.model = recipe.model
        self.cb = compute_bytes_of(recipe.model.dtype)
        self.prompt = setup.prompt_tokens
        self.weights = weight_bytes(shape, recipe.model.load_in_4bit, self.cb)
        self.lora = lora_params(shape, recipe.lora.r, list(recipe.lora.target_modules))
        self._stages = tuple(dict.fromkeys(stages))  # a stage listed twice loads what it needs once
        self._resident: tuple[Term, ...] | None = None

    def resident(self) -> tuple[Term, ...]:
        """What every stage of the run has on the card: the weights, the LoRA state, and what a
        stage of the recipe loads with the model for the whole run."""
        if self._resident is None:
            kind = ("nf4 4-bit weights (with quant constants; embeddings 16-bit)" if self.model.load_in_4bit
                    else "16-bit weights")
            self._resident = (
                Term(kind, self.weights, "a smaller model" if self.model.load_in_4bit else "model.load_in_4bit=true"),
                Term(f"LoRA weights + AdamW state ({self.lora / 1e6:.1f}M params)", self.lora * LORA_RESIDENT_BYTES,
                     "lora.r or lora.target_modules"),
                *(term for stage in self._stages for term in stage.run_terms(self)),
            )
        return self._resident

    def kv_cache_bytes(self, sequences: int, length: int) -> int:
        return sequences * length * kv_bytes_per_token(self.shape, self.cb)

    def generation(self, name: str, batch: int, new_tokens: int, knob: str, prompt: int | None = None) -> Phase:
        prompt = self.prompt if prompt is None else prompt
        length = prompt + new_tokens
        return Phase(name, f"{batch} sequences x {length} tokens", (
            Term("KV cache", self.kv_cache_bytes(batch, length), knob),
            Term("prefill + sampling buffers", generation_workspace_bytes(self.shape, batch, prompt, self.cb), knob),
        ))

    def judging(self, name: str, cfg: DetectorConfig, judged_tokens: int, field: str) -> Phase | None:
        """A `model` judge runs on the policy's own weights (adapter off): only its KV cache costs."""
        if cfg.kind != "model":
            return None
        knob = f"{field}.batch_size, or {field}.kind=rule / endpoint"
        return self.generation(name, cfg.batch_size, cfg.max_new_tokens, knob,
                               prompt=RUBRIC_TOKENS + self.prompt + judged_tokens)

    def training(self, sequences: int, length: int, knob: str) -> Phase:
        tokens = sequences * length
        backend = self.model.backend
        return Phase("training step", f"{sequences} sequences x {length} tokens", (
            Term("LoRA gradients (fp32)", self.lora * LORA_GRAD_BYTES, "lora.r or lora.target_modules"),
            Term("activations (gradient checkpointing)",
                 activation_bytes(self.shape, tokens, backend, self.model.load_in_4bit, self.cb),
                 knob + ("" if backend == "unsloth" else ", or model.backend=unsloth (offloads checkpoints)")),
            Term("log-probs (TRL's fused, tiled LM head)", logit_bytes(self.shape, tokens, self.cb), knob),
        ))

    def stage_plan(self, name: str, *phases: Phase | None) -> StagePlan:
        """A stage's plan from the phases it runs; None stands for a phase this recipe skips."""
        return StagePlan(name, self.resident(), tuple(p for p in phases if p is not None))


# ------------------------------------------------------------------------------- verdicts


def parse_size(text: str) -> int:
    """'8GiB', '7.5 GiB', '24G' (GiB), '16GB' (10^9 bytes), '7800MiB', '512M' -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(i?B?)\s*", text, flags=re.IGNORECASE)
    if not match or not match.group(2):
        raise RapoError(f"--gpu-memory: expected a size such as 8GiB, 24GiB or 7800MiB, got {text!r}")
    value, prefix, suffix = float(match.group(1)), match.group(2).upper(), match.group(3).lower()
    power = "KMGT".index(prefix) + 1
    base = 1000 if suffix == "b" else 1024  # GB is 10^9 bytes; GiB and a bare G are 2^30
    return round(value * base**power)


def verdict(plans: list[StagePlan], gpu_memory: int) -> tuple[bool, str]:
    """Whether the costliest stage fits, and a sentence saying so (naming the knob if it does not)."""
    worst = max(plans, key=lambda p: p.peak_bytes)
    if worst.peak_bytes <= gpu_memory:
        spare = gpu_memory - worst.peak_bytes
        return True, (f"fits in {_gib(gpu_memory)}: the peak is {_gib(worst.peak_bytes)} ({worst.stage}), "
                      f"{_gib(spare)} to spare")
    term = worst.dominant
    return False, (
        f"does not fit in {_gib(gpu_memory)}: the {worst.stage} stage needs {_gib(worst.peak_bytes)} "
        f"({worst.peak_phase.name}). Dominant term: {term.name}, {_gib(term.bytes)}; to shrink it: {term.knob}"
    )


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def render(plans: list[StagePlan], shape: ModelShape, recipe: Recipe, source: str, setup: Setup) -> str:
    """The plan as text: one summary row per stage, then each stage's terms at its peak."""
    m = recipe.model
    lines = [
        f"model: {m.name_or_path} (shape from {source}); backend {m.backend}, "
        f"{'nf4 4-bit' if m.load_in_4bit else '16-bit'} weights, {compute_bytes_of(m.dtype) * 8}-bit compute",
        f"shape: {shape.layers} layers, hidden {shape.hidden}, MLP {shape.intermediate}, {shape.heads} heads / "
        f"{shape.kv_heads} KV heads x {shape.head_dim}, vocab {shape.vocab}, "
        f"{'tied' if shape.tied_embeddings else 'separate'} LM head; prompts assumed {setup.prompt_tokens} tokens",
        "",
        "| stage | peak (GiB) | tensors only (GiB) | peak phase | dominant term |",
        "|---|---|---|---|---|",
    ]
    for p in plans:
        lines.append(f"| {p.stage} | {p.peak_bytes / GIB:.2f} | {p.tensor_bytes / GIB:.2f} | {p.peak_phase.name} "
                     f"| {p.dominant.name} ({p.dominant.bytes / GIB:.2f}) |")
    for p in plans:
        phase = p.peak_phase
        lines += ["", f"{p.stage}: peak during {phase.name} ({phase.detail})"]
        for t in (*p.resident, *phase.terms, p.overhead):
            lines.append(f"  {t.name:<62} {t.bytes / GIB:7.2f} GiB")
        lines.append(f"  {'total':<62} {p.peak_bytes / GIB:7.2f} GiB")
        others = [f"{q.name} {(p.tensor_bytes - phase.bytes + q.bytes) / GIB:.2f} GiB"
                  for q in p.phases if q is not phase]
        if others:
            lines.append(f"  other phases (tensors): {', '.join(others)}")
    return "\n".join(lines)

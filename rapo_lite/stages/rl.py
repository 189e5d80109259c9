"""RAPO's RL stage: GRPO on the LoRA policy with the risk reward R and the general reward G.

Top to bottom:
1. load the RL prompts (rl.sources, else data.sources), refuse any that are evaluation prompts;
2. render each through the chat template; keep the label, the data set's level and any
   reference answer as extra columns, which TRL hands to the reward functions;
3. TRL's GRPOTrainer samples `num_generations` completions per prompt; R and G are two
   reward functions (TRL logs `rewards/risk/mean` and `rewards/general/mean`) and TRL forms
   the total with `reward_weights`; a third weight adds D, the thinking's call, as a third
   function (`rewards/decision/mean`);
4. every rollout, with its level, case, R, G, the thinking's decision and D (logged whatever its
   weight) and the total, goes to <run>/rollouts.jsonl, one
   flushed line each, and the judge's counters go to metrics.jsonl;
5. the adapter is saved to <run>/adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rapo_lite.chat import render_prompt
from rapo_lite.data.hygiene import load_training
from rapo_lite.distributed import gather, gather_counts, rank, world_size
from rapo_lite.errors import RapoError
from rapo_lite.io import JsonlLog
from rapo_lite.judges import Judge, make_judge
from rapo_lite.levels import Band
from rapo_lite.model import VLLM_GPU_MEMORY_UTILIZATION
from rapo_lite.planner import Term, weight_bytes
from rapo_lite.reasoning import parse_completion
from rapo_lite.recipe import Recipe, RLConfig
from rapo_lite.resume import checkpoint_dir
from rapo_lite.rewards import CASES, RewardBreakdown, RewardWeights, Rollout, rapo_rewards
from rapo_lite.stages.base import RunContext, Stage

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

    from rapo_lite.planner import Planner, StagePlan

# One line per scored completion; every row is this stage's, so resume cuts it back as a whole.
ROLLOUTS_FILE = "rollouts.jsonl"


def step_batch(rl: RLConfig) -> int:
    """Completions in one micro-batch: every prompt of it sampled num_generations times."""
    return rl.prompts_per_step * rl.num_generations


def generation_batch(rl: RLConfig) -> int:
    """Completions sampled at once: TRL generates a whole optimizer step's worth together
    (steps_per_generation defaults to gradient_accumulation_steps)."""
    return step_batch(rl) * rl.gradient_accumulation_steps


class RolloutScorer:
    """The two reward functions TRL calls, sharing one judged breakdown per batch.

    TRL calls `risk` then `general` with the same completions; the judge runs once, on the
    first call, and the second reads the cached result. The method names are what TRL logs.
    """

    def __init__(self, judge: Judge, bands: tuple[Band, ...], weights: RewardWeights,
                 log: JsonlLog | None = None) -> None:
        self.judge = judge
        self.bands = bands
        self.weights = weights
        self.log = log
        self.text: SummaryWriter | None = None  # TensorBoard: a few rollouts per step go to its text tab
        self._key: tuple | None = None
        self._scores: list[RewardBreakdown] = []

    def score(self, prompts: list[str], completions: list[Any], **columns: Any) -> list[RewardBreakdown]:
        texts = [_text(c) for c in completions]
        key = (tuple(prompts), tuple(texts))
        if key != self._key:
            rollouts = [
                Rollout(user, text, bool(harmful), level or None, reference or None)
                for user, text, harmful, level, reference in zip(
                    columns["user_prompt"], texts, columns["harmful"], columns["level"], columns["reference"]
                )
            ]
            before = self.judge.counters()
            self._scores = rapo_rewards(rollouts, self.judge, self.bands, self.weights)
            self._key = key
            self._record(rollouts, columns, before)
        return self._scores

    def risk(self, prompts: list[str], completions: list[Any], **columns: Any) -> list[float]:
        return [s.risk for s in self.score(prompts, completions, **columns)]

    def general(self, prompts: list[str], completions: list[Any], **columns: Any) -> list[float]:
        return [s.general for s in self.score(prompts, completions, **columns)]

    def decision(self, prompts: list[str], completions: list[Any], **columns: Any) -> list[float]:
        return [s.decision_reward for s in self.score(prompts, completions, **columns)]

    def reward_funcs(self, n: int) -> list[Any]:
        """What TRL calls, one per entry of rl.reward_weights: R, G, then D if there is a third."""
        return [self.risk, self.general, self.decision][:n]

    def _record(self, rollouts: list[Rollout], columns: dict[str, Any], before: dict[str, int]) -> None:
        state = columns.get("trainer_state")
        step = getattr(state, "global_step", 0)
        log_metric = columns.get("log_metric")
        if log_metric is not None:
            # TRL averages these over the processes; scaled by their number, the mean is the step's total
            for key, value in self.judge.counters().items():
                log_metric(key, float((value - before[key]) * world_size()))
            for case in CASES:
                log_metric(f"case/{case}", sum(s.case == case for s in self._scores) / len(self._scores))
        rows = []
        for rollout, score in zip(rollouts, self._scores):
            parsed = parse_completion(rollout.completion)
            rows.append({"step": step, "prompt": rollout.prompt, "harmful": rollout.harmful,
                         "thinking": parsed.thinking, "answer": parsed.answer, **score.to_dict()})
        if world_size() > 1:
            # TRL scores each process's own completions (every process reaches this point once per
            # batch); the main one writes them all, each once, tagged with the process that sampled it
            rows = gather([{**row, "rank": rank()} for row in rows])
        if self.log is not None:
            for row in rows:
                self.log.append(row)
        if self.text is not None:
            from rapo_lite.tracking import rollout_table

            # filed under the optimizer step these rollouts train, where TensorBoard shows their reward
            self.text.add_text("rl/rollouts", rollout_table(rows), step + 1)


def _text(completion: Any) -> str:
    # Conversational datasets give [{"role": "assistant", "content": ...}]; ours are plain text.
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion)
    return str(completion)


def check_enough_prompts(n: int, rl: RLConfig) -> None:
    """TRL samples all of an optimizer step's rollouts at once (`generation_batch`), from that many
    distinct prompts on each process; with fewer it trains no step at all and says nothing, so the
    stage refuses first."""
    processes = world_size()
    if n < generation_batch(rl) // rl.num_generations * processes:
        accumulation = rl.gradient_accumulation_steps
        times = f" x rl.gradient_accumulation_steps={accumulation}" if accumulation > 1 else ""
        each = f" on each of {processes} processes" if processes > 1 else ""
        raise RapoError(f"rl: {n} training prompt(s) but rl.prompts_per_step={rl.prompts_per_step}{times}{each}; "
                        "lower rl.prompts_per_step" + (" or rl.gradient_accumulation_steps" if times else "")
                        + " or add prompts to rl.sources")


def build_dataset(records: list[Any], tokenizer: Any, template_kwargs: dict[str, Any]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(
        [
            {
                "prompt": render_prompt(tokenizer, r.prompt, **template_kwargs),
                "user_prompt": r.prompt,
                "harmful": bool(r.harmful),
                "level": int(r.level or 0),  # 0: unknown, the judge decides
                "reference": r.reference or "",
            }
            for r in records
        ]
    )


def run(ctx: RunContext) -> None:
    recipe: Recipe = ctx.recipe
    rl = recipe.rl
    records = load_training(recipe.training_sources("rl"), recipe.eval.sources, recipe.seed, "rl")
    if not records:
        raise RapoError("rl: no training prompts after filtering; check rl.sources (or data.sources)")
    check_enough_prompts(len(records), rl)
    from rapo_lite.stages import fit, fitting_prompts

    records = fitting_prompts(ctx, records, "rl", **rl.chat_template_kwargs)
    check_enough_prompts(len(records), rl)
    judge = make_judge(rl.judge, ctx.model, ctx.tokenizer)
    # The runner has already cut rollouts.jsonl back to the checkpoint this stage resumes from
    # (or emptied it for a fresh start), so rows are only ever appended here.
    rollouts_path = ctx.run_dir / ROLLOUTS_FILE
    scorer = RolloutScorer(judge, recipe.risk.bands, RewardWeights(*rl.reward_weights), JsonlLog(rollouts_path))
    print(f"[rapo-lite] RL on {len(records)} prompts, judge: {judge.name}")
    trainer = build_trainer(ctx, scorer, build_dataset(records, ctx.tokenizer, rl.chat_template_kwargs))
    from rapo_lite.tracking import attach_tensorboard

    scorer.text = attach_tensorboard(trainer, ctx.run_dir, "rl", ctx.resume)
    fit(ctx, trainer, "rl")
    ctx.metrics.append({"stage": "rl", "step": trainer.state.global_step, **gather_counts(judge.counters())})

    from rapo_lite.model import save_adapter

    save_adapter(ctx.model, ctx.tokenizer, ctx.run_dir / "adapter")


def grpo_args(recipe: Recipe, output_dir: str) -> Any:
    """TRL's GRPOConfig from the recipe's rl section."""
    from trl import GRPOConfig

    from rapo_lite.stages import trainer_args

    rl = recipe.rl
    return GRPOConfig(
        **_vllm_args(recipe),
        num_generations=rl.num_generations,
        max_completion_length=rl.max_completion_length,
        temperature=rl.temperature,
        top_p=rl.top_p,
        beta=rl.beta,
        loss_type=rl.loss_type,
        scale_rewards=rl.scale_rewards,
        reward_weights=list(rl.reward_weights),
        per_device_train_batch_size=step_batch(rl),
        **_completion_table(recipe),
        **trainer_args(recipe, rl, output_dir),
    )


def _completion_table(recipe: Recipe) -> dict[str, Any]:
    """GRPO's own table of sampled completions, for the backends that can show one; TensorBoard
    gets the kit's text table of rollouts instead (RolloutScorer.text)."""
    from rapo_lite.tracking import COMPLETION_TABLES, ROLLOUTS_SHOWN

    if recipe.report_to not in COMPLETION_TABLES:
        return {}
    return dict(log_completions=True, num_completions_to_print=ROLLOUTS_SHOWN)


def _vllm_args(recipe: Recipe) -> dict[str, Any]:
    """GRPOConfig fields for rl.fast_inference, colocated in this process or on a vLLM server.

    colocate: with the unsloth backend the engine already exists (model.vllm_engine, loaded on
    the same weights) and Unsloth's GRPOTrainer patch uses it; with the transformers backend
    TRL starts its own engine with this share of the card and context length.
    server: TRL sends the prompts to a `trl vllm-serve` process at rl.vllm_server and pushes the
    updated weights to it after each step (the recipe has refused this mode with Unsloth).
    """
    rl = recipe.rl
    if not rl.fast_inference:
        return {}
    if rl.vllm_mode == "server":
        server = rl.vllm_server
        return dict(use_vllm=True, vllm_mode="server", vllm_server_host=server.host, vllm_server_port=server.port,
                    vllm_server_timeout=server.timeout_s)
    return dict(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=VLLM_GPU_MEMORY_UTILIZATION,
                vllm_max_model_length=recipe.model.max_seq_length)


def build_trainer(ctx: RunContext, scorer: RolloutScorer, dataset: Any, reward_funcs: list[Any] | None = None) -> Any:
    from trl import GRPOTrainer

    from rapo_lite import trl_compat
    from rapo_lite.stages import stage_callbacks

    trl_compat.install()
    trainer = GRPOTrainer(
        model=ctx.model,
        reward_funcs=reward_funcs or scorer.reward_funcs(len(ctx.recipe.rl.reward_weights)),
        args=grpo_args(ctx.recipe, str(checkpoint_dir(ctx.run_dir, "rl"))),
        train_dataset=dataset,
        processing_class=ctx.tokenizer,
        callbacks=stage_callbacks(ctx, "rl"),
    )
    from rapo_lite.generation import fast_loop_applies

    if not ctx.recipe.rl.fast_inference and fast_loop_applies(ctx.model):
        # On a CPU the rollouts are most of an RL step; the fast loop samples them about twice as fast
        # (BENCHMARKS.md, "CPU generation"). GPUs keep TRL's path, or vLLM.
        from rapo_lite import fastgen

        fastgen.route_rollouts(trainer)
    return trainer


# ------------------------------------------------------------------------------ memory plan


def plan(p: Planner) -> StagePlan:
    rl = p.recipe.rl
    length = p.prompt + rl.max_completion_length
    # With fast_inference vLLM samples the rollouts: in its share of this card (vllm_engine) or on its server.
    generation = None if rl.fast_inference else p.generation(
        "generation", generation_batch(rl), rl.max_completion_length,
        "rl.max_completion_length, rl.prompts_per_step or rl.gradient_accumulation_steps (one optimizer step's "
        "completions are sampled at once), or rl.fast_inference=true with vLLM")
    return p.stage_plan("rl", generation,
                        p.judging("judging", rl.judge, rl.max_completion_length, "rl.judge"),
                        p.training(step_batch(rl), length, "rl.prompts_per_step or rl.max_completion_length"))


def vllm_engine(p: Planner) -> tuple[Term, ...]:
    """A colocated vLLM engine starts with the model, so its share of the card is gone for every
    stage of the run; a vLLM server holds its engine on its own card."""
    rl = p.recipe.rl
    if not (rl.fast_inference and rl.vllm_mode == "colocate"):
        return ()
    return (Term("vLLM engine (rl.fast_inference)", _vllm_pool(p),
                 "rl.fast_inference=false, or a card with more memory"),)


def _vllm_pool(p: Planner) -> int:
    """vLLM's share of the card, and never less than the KV cache of one generation batch.

    Unsloth's engine runs on the policy's own weights, so they count once; TRL's colocated
    engine (transformers backend) loads its own 16-bit copy inside its share.
    """
    rl, unsloth = p.recipe.rl, p.recipe.model.backend == "unsloth"
    needed = p.kv_cache_bytes(generation_batch(rl), p.prompt + rl.max_completion_length)
    if not unsloth:
        needed += weight_bytes(p.shape, False, p.cb)
    if p.setup.gpu_memory is None:
        return needed
    share = round(VLLM_GPU_MEMORY_UTILIZATION * p.setup.gpu_memory)
    return max(share - p.weights if unsloth else share, needed)


STAGE = Stage("rl", run, plan, logs=(ROLLOUTS_FILE,), run_terms=vllm_engine)

"""RAPO's reward: risk-aware, adaptive-granularity R plus the general reward G.

For one rollout (prompt, completion):
- the safety trace is the first paragraph of the thinking (`reasoning.safety_paragraph`);
- R looks at that trace: it works on the task -> off_task (-1); it only analyses risk and
  its sentence count is below / inside / above the level's band -> too_short (0) /
  adequate (+1) / too_long (0);
- G looks at the answer after `</think>`: harmful prompt -> +1 if the answer is safe (the
  attack did not succeed: no on-topic, real harmful help; the eval stage's ASR verdict) else -1;
  benign prompt -> +1 if helpful else -1 (RAPO's 2*score - 1);
- D (optional, weight 0 unless `rl.reward_weights` has a third entry) looks at what the closed
  thinking decided (`text.decision`): +1 if it is the call the prompt needs (refuse a harmful
  one, help a benign one), -1 if it is the other call, 0 if it states none. Not in the papers:
  on the tune half the answer often refused while the thinking had just called a harmful
  request safe (BENCHMARKS.md, run 6), and neither R nor G looks at the call itself;
- total = w_risk * R + w_general * G + w_decision * D.

Two cases the official code got wrong are explicit here:
- malformed: the think block never closes, is missing, or is empty. There is no safety
  reasoning to reward, so R = -1; an unclosed block has no answer at all, so G = -1 too
  instead of letting a judge call an empty answer "safe".
- unjudged: the judge's reply was unreadable. R (or G) is 0, a neutral value, and the judge
  counts the failure.

The bands come from `levels.py`, the same ones the SFT generator writes to. Given a judge,
everything here is a pure function of its inputs, so it is tested without any model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from rapo_lite.judges import AnswerQuery, Judge, TraceQuery
from rapo_lite.levels import DEFAULT_BANDS, Band, length_case
from rapo_lite.reasoning import ThinkStatus, count_sentences, parse_completion, safety_paragraph
from rapo_lite.risk import estimate_level
from rapo_lite.text.decision import Decision, reasoning_decision

Case = Literal["adequate", "too_short", "too_long", "off_task", "malformed", "unjudged"]
RISK_REWARD: dict[str, float] = {
    "adequate": 1.0,
    "too_short": 0.0,
    "too_long": 0.0,
    "off_task": -1.0,
    "malformed": -1.0,
    "unjudged": 0.0,
}
CASES: tuple[str, ...] = tuple(RISK_REWARD)


@dataclass(frozen=True)
class RewardWeights:
    risk: float = 1.0
    general: float = 1.0
    decision: float = 0.0


@dataclass(frozen=True)
class Rollout:
    """What the reward needs to know about one sampled completion."""

    prompt: str  # the user's request, without the chat template
    completion: str  # everything the policy generated: thinking and answer
    harmful: bool
    level: int | None = None  # the data set's risk level; None lets the judge decide
    reference: str | None = None


@dataclass(frozen=True)
class RewardBreakdown:
    level: int
    case: Case
    risk: float  # R
    general: float  # G
    total: float
    think: ThinkStatus
    sentences: int  # sentences in the safety trace
    answer_judged: bool  # False when G is neutral because the judge's reply was unreadable
    refused: bool | None = None  # the judge's refusal reading of the answer; None: not given or no answer
    decision: Decision | None = None  # what the closed thinking decided; None: no decision stated, or no closed block
    decision_reward: float = 0.0  # D

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def general_reward(ok: bool | None) -> float:
    """RAPO's G = 2 * score - 1, with an unreadable verdict scored 0."""
    return 0.0 if ok is None else (1.0 if ok else -1.0)


def decision_reward(decision: Decision | None, harmful: bool) -> float:
    """D: +1 for the call the prompt needs (refuse harmful, help benign), -1 for the other, 0 for none."""
    if decision is None:
        return 0.0
    return 1.0 if (decision == "refuse") == harmful else -1.0


def rapo_rewards(
    rollouts: Sequence[Rollout],
    judge: Judge,
    bands: Sequence[Band] = DEFAULT_BANDS,
    weights: RewardWeights = RewardWeights(),
) -> list[RewardBreakdown]:
    """Score a batch of rollouts; the judge sees one batch of traces and one batch of answers."""
    parsed = [parse_completion(r.completion) for r in rollouts]
    traces = [safety_paragraph(p.thinking) if p.closed else "" for p in parsed]
    trace_idx = [i for i, t in enumerate(traces) if t]
    answer_idx = [i for i, p in enumerate(parsed) if p.status != "unclosed"]
    trace_verdicts = dict(
        zip(trace_idx,
            judge.judge_traces([TraceQuery(rollouts[i].prompt, traces[i], rollouts[i].level) for i in trace_idx]))
    )
    answer_verdicts = dict(
        zip(
            answer_idx,
            judge.judge_answers(
                [AnswerQuery(rollouts[i].prompt, parsed[i].answer, rollouts[i].harmful, rollouts[i].reference)
                 for i in answer_idx]
            ),
        )
    )

    out = []
    for i, (rollout, completion, trace) in enumerate(zip(rollouts, parsed, traces)):
        n = count_sentences(trace)
        verdict = trace_verdicts.get(i)
        if verdict is None:
            level = estimate_level(rollout.prompt, rollout.level)
            case: Case = "malformed"
        else:
            level = verdict.level
            if verdict.safety_only is None:
                case = "unjudged"
            elif not verdict.safety_only:
                case = "off_task"
            else:
                case = length_case(n, level, bands)
        answer = answer_verdicts.get(i)
        general = general_reward(answer.ok) if answer is not None else -1.0
        risk = RISK_REWARD[case]
        decision = reasoning_decision(completion.thinking) if completion.closed else None
        called = decision_reward(decision, rollout.harmful)
        out.append(
            RewardBreakdown(
                level=level,
                case=case,
                risk=risk,
                general=general,
                total=weights.risk * risk + weights.general * general + weights.decision * called,
                think=completion.status,
                sentences=n,
                answer_judged=answer is None or answer.ok is not None,
                refused=None if answer is None else answer.refused,
                decision=decision,
                decision_reward=called,
            )
        )
    return out


def rapo_reward(
    prompt: str,
    completion: str,
    harmful: bool,
    judge: Judge,
    level: int | None = None,
    *,
    reference: str | None = None,
    bands: Sequence[Band] = DEFAULT_BANDS,
    weights: RewardWeights = RewardWeights(),
) -> RewardBreakdown:
    """The reward of one rollout; see `rapo_rewards` for batches."""
    return rapo_rewards([Rollout(prompt, completion, harmful, level, reference)], judge, bands, weights)[0]

"""Multiple-choice scoring by log-likelihood, the way lm-evaluation-harness scores MMLU and ARC.

Instead of letting the model write an answer and reading a letter out of it (which leaves a
small model at chance: it rarely writes a clean letter), each option is scored by how likely
the model finds it as the continuation of the question, and the most likely option is its
pick. Two styles, as lm-eval has them:

- "letters" (lm-eval's `mmlu`): the context lists the question and the four options as
  "A. ...", ..., then "Answer:"; the continuations are " A", " B", " C", " D"; the pick is the
  argmax of the summed token log-probabilities ("acc").
- "options" (lm-eval's `arc_easy` / `mmlu_continuation`, the "cloze" form): the context is
  "Question: ...\\nAnswer:"; the continuations are the option texts themselves, " Paris", ...;
  lm-eval reports both "acc" (argmax of the sums) and "acc_norm" (argmax of the sum divided by
  the option's length in characters, so long options are not penalised for having more tokens).

Both MMLU contexts start with lm-eval's description, "The following are multiple choice
questions (with answers) about <topic>.\\n\\n", when the topic is known.

The context is plain text, *not* wrapped in the model's chat template, as lm-eval does by
default (`--apply_chat_template` is off unless asked for). Three reasons: the published
numbers for these models (SmolLM2-135M's ~30% MMLU) are measured that way, so ours compare;
a reasoning model's assistant turn starts with a <think> block, so the likelihood of a bare
letter right after the chat template's generation prompt measures how the model takes a
skipped think block more than what it knows; and what utility is for here, whether safety
training cost the model knowledge, is read from the base-vs-trained difference on the same
contexts either way.

Tokenisation follows lm-eval: no special tokens are added (its default for causal models),
trailing whitespace of the context moves to the continuation, and the continuation's tokens
are those of context+continuation after the context's tokens. Everything above the torch
edge (`log_likelihoods`, `score`) is pure and tested with fake numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rapo_lite.data.layouts import MMLU_CHOICES, MMLU_INSTRUCTION
from rapo_lite.errors import RapoError

Style = Literal["letters", "options"]
STYLES = ("letters", "options")


@dataclass(frozen=True)
class Question:
    """One multiple-choice question: its stem, the option texts (A, B, ...), topic and answer letter."""

    question: str
    options: tuple[str, ...]
    topic: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Scored:
    """A question's scores: per option the summed log-probability of its continuation and the option's
    length in characters; `choice` is the argmax of the sums (acc), `choice_norm` of the sums per
    character (acc_norm; the same as `choice` for single letters)."""

    logliks: tuple[float, ...]
    lengths: tuple[int, ...]
    choice: str
    choice_norm: str


# ----------------------------------------------------------------------------- pure: text


def parse_mmlu_prompt(prompt: str, topic: str | None = None, reference: str | None = None) -> Question:
    """The question and options back out of a prompt written by the `mmlu` layout
    (data/layouts.py: the question, a blank line, "A. ..." to "D. ...", a blank line, the instruction).

    Options are found from the end, so a question that itself contains "A. " lines stays whole."""
    body = prompt.removesuffix("\n\n" + MMLU_INSTRUCTION)
    cuts: list[int] = []
    end = len(body)
    for letter in reversed(MMLU_CHOICES):
        marker = f"\n{letter}. "
        at = body.rfind(marker, 0, end)
        if at < 0:
            raise RapoError(f"MMLU prompt has no option line '{letter}. ...': {prompt[:80]!r}")
        cuts.append(at)
        end = at
    cuts.reverse()
    bounds = cuts + [len(body)]
    options = tuple(body[bounds[i] + len(f"\n{c}. ") : bounds[i + 1]] for i, c in enumerate(MMLU_CHOICES))
    question = body[: cuts[0]].removesuffix("\n")  # the blank line between the question and the options
    return Question(question, options, topic, reference)


def description(topic: str | None) -> str:
    """lm-eval's MMLU preamble for a topic ("abstract_algebra" reads "abstract algebra"); empty without one."""
    if not topic:
        return ""
    return f"The following are multiple choice questions (with answers) about {' '.join(topic.split('_'))}.\n\n"


def context(q: Question, style: Style = "letters") -> str:
    """The text the options are scored after, in lm-eval's MMLU (letters) or cloze (options) form."""
    if style == "letters":
        lines = [q.question.strip()] + [f"{c}. {o}" for c, o in zip(MMLU_CHOICES, q.options)] + ["Answer:"]
        return description(q.topic) + "\n".join(lines)
    if style == "options":
        return description(q.topic) + f"Question: {q.question.strip()}\nAnswer:"
    raise RapoError(f"multiple-choice style {style!r}: expected one of {', '.join(STYLES)}")


def choices(q: Question, style: Style = "letters") -> list[str]:
    """What is scored for each option, without the delimiter: the letters, or the option texts."""
    return list(MMLU_CHOICES[: len(q.options)]) if style == "letters" else [o.strip() for o in q.options]


def continuations(q: Question, style: Style = "letters") -> list[str]:
    """The scored continuations: each choice after lm-eval's target delimiter, one space."""
    return [" " + c for c in choices(q, style)]


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value; the first one on a tie (as numpy's argmax, which lm-eval uses)."""
    if not values:
        raise ValueError("argmax of no values")
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def normalized(logliks: Sequence[float], lengths: Sequence[int]) -> list[float]:
    """acc_norm's scores: each log-likelihood divided by its choice's length in characters."""
    return [ll / max(n, 1) for ll, n in zip(logliks, lengths)]


def pick(logliks: Sequence[float], lengths: Sequence[int] | None = None) -> int:
    """The chosen option: argmax of the log-likelihoods, or of the per-character ones with lengths (acc_norm)."""
    return argmax(list(logliks) if lengths is None else normalized(logliks, lengths))


def scored(logliks: Sequence[float], texts: Sequence[str]) -> Scored:
    lengths = tuple(len(t) for t in texts)
    return Scored(tuple(logliks), lengths, MMLU_CHOICES[pick(logliks)], MMLU_CHOICES[pick(logliks, lengths)])


# ----------------------------------------------------------------------------- pure: tokens and rows


def encode_pair(tokenizer: Any, ctx: str, cont: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) as lm-eval encodes them: trailing spaces of the context go to the
    continuation, and the continuation is what encoding both adds after the context's own tokens."""
    spaces = len(ctx) - len(ctx.rstrip())
    if spaces:
        ctx, cont = ctx[:-spaces], ctx[-spaces:] + cont
    whole = tokenizer(ctx + cont, add_special_tokens=False)["input_ids"]
    ctx_ids = tokenizer(ctx, add_special_tokens=False)["input_ids"]
    return list(ctx_ids), list(whole[len(ctx_ids):])


@dataclass(frozen=True)
class Row:
    """One sequence for the forward pass, and the continuations read off its last positions: each
    read (request index, continuation ids) takes the log-probs of its len(ids) tokens as predicted
    by the last len(ids) positions of `tokens`."""

    tokens: tuple[int, ...]
    reads: tuple[tuple[int, tuple[int, ...]], ...]


def plan_rows(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], max_length: int | None = None,
              prefix_id: int | None = None) -> list[Row]:
    """The forward rows for (context ids, continuation ids) requests.

    Requests that share a context and whose continuation is one token (the letters " A".." D")
    share a row holding only the context: the next-token distribution at its last position scores
    them all, one forward per question. Any other request gets its own row, context + continuation
    minus the last token. A row longer than max_length loses tokens from the left (the context's
    start), as lm-eval truncates. An empty context starts with prefix_id (lm-eval uses EOS there).
    """
    rows: list[Row] = []
    shared: dict[tuple[int, ...], list[tuple[int, tuple[int, ...]]]] = {}
    for i, (ctx, cont) in enumerate(pairs):
        ctx, cont = tuple(ctx), tuple(cont)
        if not cont:
            raise RapoError(f"multiple-choice request {i}: the continuation encodes to no tokens")
        if not ctx:
            if prefix_id is None:
                raise RapoError(f"multiple-choice request {i}: empty context and no token to start it with")
            ctx = (prefix_id,)
        if len(cont) == 1:
            shared.setdefault(ctx, []).append((i, cont))
        else:
            rows.append(Row(_clip(ctx + cont[:-1], max_length), ((i, cont),)))
    rows += [Row(_clip(ctx, max_length), tuple(reads)) for ctx, reads in shared.items()]
    return rows


def _clip(tokens: tuple[int, ...], max_length: int | None) -> tuple[int, ...]:
    return tokens if max_length is None or len(tokens) <= max_length else tokens[-max_length:]


def log_likelihoods(rows: Sequence[Row], n_requests: int, forward: Any, batch_size: int = 8,
                    on_batch: Any = None) -> list[float]:
    """Summed log-prob of each request's continuation, in request order.

    forward(list of token lists, keep) must return, per row, a [keep, vocab] array-like of
    log-probabilities of the next token at the row's last `keep` positions (torch at the edge:
    `ModelForward`; tests pass a fake). Rows go longest first, batch_size at a time, so a batch
    pads little and one that would not fit in memory fails at the start.
    """
    if batch_size < 1:
        raise RapoError(f"multiple-choice scoring: batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(rows)), key=lambda r: -len(rows[r].tokens))
    out: list[float | None] = [None] * n_requests
    for start in range(0, len(order), batch_size):
        batch = [rows[r] for r in order[start : start + batch_size]]
        keep = max(min(len(cont), len(row.tokens)) for row in batch for _, cont in row.reads)
        logprobs = forward([list(row.tokens) for row in batch], keep)
        for row, lp in zip(batch, logprobs):
            for i, cont in row.reads:
                n = min(len(cont), len(row.tokens))  # a clipped row still scores its kept tokens
                out[i] = float(sum(float(lp[keep - n + j][t]) for j, t in enumerate(cont[len(cont) - n:])))
        if on_batch is not None:
            on_batch(sum(len(row.reads) for row in batch))
    missing = [i for i, v in enumerate(out) if v is None]
    if missing:
        raise RapoError(f"multiple-choice scoring: no row scored requests {missing[:5]}")  # a bug in plan_rows
    return [v for v in out if v is not None]


# ----------------------------------------------------------------------------- torch edge


class ModelForward:
    """forward(rows, keep) for `log_likelihoods` on a causal LM (PEFT, Unsloth or plain transformers).

    Rows are left-padded with an attention mask, and position ids count real tokens only, so a
    padded row is read as it would be alone. Only the last `keep` positions' logits are computed
    (`logits_to_keep`) where the forward takes it: a full vocabulary row per token would dominate
    memory on long questions. Log-softmax runs in float32.
    """

    def __init__(self, model: Any, pad_id: int) -> None:
        self.model = model
        self.pad_id = pad_id
        self.device = next(model.parameters()).device
        self._keeps_logits = True

    def __call__(self, rows: list[list[int]], keep: int) -> Any:
        import torch

        from rapo_lite.generation import left_pad

        input_ids, mask = (t.to(self.device) for t in left_pad(rows, self.pad_id))
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        kwargs = {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions, "use_cache": False}
        logits = None
        if self._keeps_logits:
            try:
                logits = self.model(**kwargs, logits_to_keep=keep).logits
            except TypeError:
                self._keeps_logits = False  # an older or patched forward without the argument
        if logits is None:
            logits = self.model(**kwargs).logits
        return torch.log_softmax(logits[:, -keep:, :].float(), dim=-1).cpu()


class FastForward:
    """forward(rows, keep) through the fast CPU loop's weights (`rapo_lite.fastgen`): the adapter folded
    into a bf16 copy where the CPU multiplies bf16 natively, with the final norm and head in fp32.

    The same left padding and positions as ModelForward. On a CPU the PEFT forward runs the LoRA
    branch as extra fp32 matmuls per projection, which made the trained model's MMLU twice as slow
    as the base model's. Built for the adapter state at construction (on or off): raises
    `fastgen.Unsupported` for a model outside the loop, and `score` then uses ModelForward."""

    def __init__(self, model: Any, pad_id: int, batch_size: int) -> None:
        from rapo_lite.fastgen import cpu_compute_dtype
        from rapo_lite.fastgen.weights import prepare_weights

        # the same packing as generation's, so the merged copy built for generating is reused
        self.weights = prepare_weights(model, cpu_compute_dtype(), pack_rows=max(1, batch_size))
        self.pad_id = pad_id

    def __call__(self, rows: list[list[int]], keep: int) -> Any:
        import torch

        from rapo_lite.fastgen.forward import last_log_probs
        from rapo_lite.generation import left_pad

        ids, mask = left_pad(rows, self.pad_id)
        with torch.no_grad():
            return last_log_probs(self.weights, ids, mask.bool(), keep)


def score(model: Any, tokenizer: Any, questions: Sequence[Question], style: Style = "letters", *,
          batch_size: int = 8, max_length: int | None = None, desc: str = "multiple choice") -> list[Scored]:
    """Each question's option log-likelihoods and picks, with the model as it is (adapter on or off:
    the caller's `with model.disable_adapter():` decides). On the CPU the forward is the fast loop's
    (`FastForward`, bf16 where native: $RAPO_LITE_GENERATION_DTYPE=float32 or
    $RAPO_LITE_GENERATION=transformers change it as they change generation). Eval mode and no grad while scoring; the
    model's training mode comes back after (`generation.inference_mode`, which also switches Unsloth
    models to inference and back, and for a model that was in eval mode, eval again)."""
    from tqdm.auto import tqdm

    from rapo_lite.generation import inference_mode

    if style not in STYLES:
        raise RapoError(f"multiple-choice style {style!r}: expected one of {', '.join(STYLES)}")
    if not questions:
        return []
    requests = [(context(q, style), cont) for q in questions for cont in continuations(q, style)]
    pairs = [encode_pair(tokenizer, c, x) for c, x in requests]
    special = [tokenizer.eos_token_id, tokenizer.bos_token_id, tokenizer.pad_token_id]
    prefix = next((t for t in special if t is not None), None)
    rows = plan_rows(pairs, max_length=max_length, prefix_id=prefix)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (prefix or 0)
    forward = _forward(model, pad, batch_size)
    was_training = model.training
    try:
        with inference_mode(model), tqdm(total=len(requests), desc=desc, unit="option", leave=False) as bar:
            lls = log_likelihoods(rows, len(requests), forward, batch_size=batch_size, on_batch=bar.update)
    finally:
        if not was_training:
            model.eval()  # Unsloth's for_training, on the way out of inference_mode, leaves it training
    out, at = [], 0
    for q in questions:
        n = len(q.options)
        out.append(scored(lls[at : at + n], choices(q, style)))
        at += n
    return out


def _forward(model: Any, pad_id: int, batch_size: int) -> FastForward | ModelForward:
    """The fast loop's forward where generation would use it (on the CPU, engine not transformers), else the model's."""
    from rapo_lite import fastgen
    from rapo_lite.generation import fast_loop_applies

    if fast_loop_applies(model):
        try:
            return FastForward(model, pad_id, batch_size)
        except fastgen.Unsupported:
            pass
    return ModelForward(model, pad_id)


def accuracy(results: Sequence[Scored], references: Sequence[str | None], norm: bool = False) -> float | None:
    """Share of questions whose pick (acc, or acc_norm with norm) is the reference letter; None without any."""
    pairs = [(r.choice_norm if norm else r.choice, ref) for r, ref in zip(results, references) if ref is not None]
    return sum(c == ref for c, ref in pairs) / len(pairs) if pairs else None


def finite(value: float) -> float | None:
    """A log-likelihood as JSON can hold it (-inf becomes None)."""
    return value if math.isfinite(value) else None

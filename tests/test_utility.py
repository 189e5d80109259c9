"""Multiple-choice scoring by log-likelihood (rapo_lite.utility): the pure parts with fake numbers,
then the tiny model against its own unpadded forward, adapter off and on."""

import contextlib
import math

import pytest
import torch

from conftest import needs_unsloth
from rapo_lite import utility as mc
from rapo_lite.data.layouts import MMLU_INSTRUCTION
from rapo_lite.errors import RapoError
from rapo_lite.evaluation import report_markdown

Q = mc.Question("What is 2 + 2?", ("3", "4", "five", "22"), topic="elementary_mathematics", reference="B")


def layout_prompt(question, options):
    """A prompt as data/layouts.py's mmlu layout writes it."""
    return "\n".join([question, ""] + [f"{c}. {o}" for c, o in zip("ABCD", options)] + ["", MMLU_INSTRUCTION])


# ----------------------------------------------------------------------------- text


def test_the_layouts_prompt_parses_back_into_question_and_options():
    tricky = "Which is right?\nA. is not an option here\n\nB. neither"  # option-like lines inside the stem
    q = mc.parse_mmlu_prompt(layout_prompt(tricky, ["x", "y\nz", "", "w"]), "astronomy", "C")
    assert q == mc.Question(tricky, ("x", "y\nz", "", "w"), "astronomy", "C")
    with pytest.raises(RapoError, match="no option line 'D. ...'"):
        mc.parse_mmlu_prompt("Just a question?\n\nA. a\nB. b\nC. c")


def test_real_mmlu_prompts_round_trip():
    from rapo_lite.data import load_source

    for record in load_source("mmlu", count=5, seed=0):
        q = mc.parse_mmlu_prompt(record.prompt, record.category, record.reference)
        assert layout_prompt(q.question, q.options) == record.prompt and len(q.options) == 4


def test_contexts_are_lm_evals_mmlu_and_cloze_forms():
    assert mc.context(Q) == ("The following are multiple choice questions (with answers) "
                             "about elementary mathematics.\n\n"
                             "What is 2 + 2?\nA. 3\nB. 4\nC. five\nD. 22\nAnswer:")
    assert mc.context(Q, "options") == ("The following are multiple choice questions (with answers) about elementary "
                                        "mathematics.\n\nQuestion: What is 2 + 2?\nAnswer:")
    # no topic
    assert mc.context(mc.Question(" Why? ", ("a", "b", "c", "d"))) == "Why?\nA. a\nB. b\nC. c\nD. d\nAnswer:"
    assert mc.continuations(Q) == [" A", " B", " C", " D"]
    assert mc.continuations(Q, "options") == [" 3", " 4", " five", " 22"]
    with pytest.raises(RapoError, match="expected one of letters, options"):
        mc.context(Q, "cloze")


def test_argmax_and_acc_norm_with_fake_numbers():
    assert mc.argmax([-3.0, -1.0, -1.0, -2.0]) == 1  # the first of a tie, as numpy's argmax
    logliks, texts = [-4.0, -6.0, -9.0, -5.0], ["ab", "abcdef", "abcdefghi", "a"]
    # acc: the largest sum (-4.0, option A); acc_norm: the largest per character (-6/6 = -1.0, option B)
    assert mc.pick(logliks) == 0 and mc.pick(logliks, [len(t) for t in texts]) == 1
    assert mc.normalized(logliks, [2, 6, 9, 1]) == [-2.0, -1.0, -1.0, -5.0]
    s = mc.scored(logliks, texts)
    assert (s.choice, s.choice_norm, s.lengths) == ("A", "B", (2, 6, 9, 1))
    assert mc.scored([-2.0, -1.0, -3.0, -4.0], list("ABCD")).choice_norm == "B"  # one letter each: acc_norm == acc
    refs = ["A", "A", None]
    assert mc.accuracy([s, s, s], refs) == 1.0 and mc.accuracy([s, s, s], refs, norm=True) == 0.0
    assert mc.accuracy([], []) is None and mc.finite(-math.inf) is None and mc.finite(-1.5) == -1.5


# ----------------------------------------------------------------------------- tokens and rows


class CharTokenizer:
    """One token per character (its code point): the continuation split is easy to check by hand."""

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [ord(c) for c in text]}


def test_encode_pair_moves_the_contexts_trailing_space_to_the_continuation():
    assert mc.encode_pair(CharTokenizer(), "Q:", " A") == ([81, 58], [32, 65])
    assert mc.encode_pair(CharTokenizer(), "Q: ", "A") == ([81, 58], [32, 65])


def test_single_token_continuations_share_their_contexts_row():
    pairs = [([1, 2, 3], [7]), ([1, 2, 3], [8]), ([1, 2, 3], [9, 10]), ([4], [7]), ([], [5])]
    rows = mc.plan_rows(pairs, prefix_id=0)
    assert mc.Row((1, 2, 3, 9), ((2, (9, 10)),)) in rows  # multi-token: context + continuation minus its last token
    assert mc.Row((1, 2, 3), ((0, (7,)), (1, (8,)))) in rows  # one forward scores both letters
    assert mc.Row((4,), ((3, (7,)),)) in rows and mc.Row((0,), ((4, (5,)),)) in rows  # an empty context gets a prefix
    assert len(rows) == 4
    # too long: the context loses its start (row 1..6 minus the last token, clipped to 3)
    assert mc.plan_rows([([1, 2, 3, 4, 5], [6, 7])], max_length=3) == [mc.Row((4, 5, 6), ((0, (6, 7)),))]
    with pytest.raises(RapoError, match="no tokens"):
        mc.plan_rows([([1], [])])


def fake_forward(calls):
    """log p(next = t | row prefix ending at position i) = -(t + 10 * (last token seen)) / 100: depends on the
    row's own tokens only, so batching and padding must not change any number."""

    def forward(rows, keep):
        calls.append((len(rows), keep))
        vocab = 20
        return [[[-(t + 10 * r[len(r) - keep + j]) / 100 for t in range(vocab)] for j in range(keep)] for r in rows]

    return forward


def test_log_likelihoods_sum_the_continuation_tokens_in_request_order():
    pairs = [([1, 2, 3], [7]), ([1, 2, 3], [8]), ([1, 2, 3], [9, 10]), ([4], [7])]
    rows = mc.plan_rows(pairs)
    # by hand: request 0 is token 7 after ...3; request 2 is token 9 after ...3, then 10 after 9
    expected = [-(7 + 30) / 100, -(8 + 30) / 100, -(9 + 30) / 100 - (10 + 90) / 100, -(7 + 40) / 100]
    calls: list = []
    one_by_one = mc.log_likelihoods(rows, 4, fake_forward(calls), batch_size=1)
    assert one_by_one == pytest.approx(expected) and len(calls) == 3
    calls.clear()
    seen = []
    batched = mc.log_likelihoods(rows, 4, fake_forward(calls), batch_size=8, on_batch=seen.append)
    assert batched == pytest.approx(expected) and calls == [(3, 2)] and seen == [4]  # one forward, two positions kept
    with pytest.raises(RapoError, match="batch_size"):
        mc.log_likelihoods(rows, 4, fake_forward([]), batch_size=0)


def test_the_report_names_how_utility_was_scored():
    base = {"asr": {"all": 0.5}, "asr_by_level": {}, "answer_harm": 0.1, "reasoning_harm": None, "over_refusal": 0.0,
            "compliance": 1.0, "adequacy_by_level": {}, "unjudged": 0, "utility": 0.3}
    assert "| utility: MMLU accuracy, log-likelihood of the letter (higher is better) | 30.0% |" in report_markdown(
        {"base": {**base, "utility_mode": "loglik"}}, "t")
    assert "utility: MMLU accuracy, generated letter (higher is better)" in report_markdown(
        {"base": {**base, "utility_mode": "generate"}}, "t")
    assert "utility: MMLU accuracy, generated letter" in report_markdown({"base": base}, "t")  # a summary from before
    assert ("utility: MMLU accuracy, scored differently by run: generated letter, log-likelihood of the letter"
            in report_markdown({"a": {**base, "utility_mode": "loglik"}, "b": {**base, "utility_mode": "generate"}},
                               "t"))


# ----------------------------------------------------------------------------- the tiny model

QUESTIONS = [
    Q,
    mc.Question("Which planet is largest?", ("Mars", "Jupiter", "Venus", "Mercury"), topic="astronomy"),
    mc.Question("Pick one. " * 8, ("a long option that takes many tokens", "b", "c c", "d"), topic="misc"),
]


@pytest.fixture(scope="module", params=["transformers", "unsloth"])
def tiny(request):
    needs_unsloth(request.param)
    from rapo_lite.model import load_model
    from rapo_lite.recipe import load_recipe

    recipe = load_recipe("recipes/tiny.yaml", [f"model.backend={request.param}", "model.load_in_4bit=false"])
    model, tok = load_model(recipe.model, recipe.lora, 0)
    return model, tok


def set_lora_b(model, std):
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def by_hand(model, tok, q, style):
    """Each option's log-likelihood from one unpadded forward of context + continuation, no batching."""
    out = []
    model.eval()
    with torch.no_grad():
        for cont in mc.continuations(q, style):
            ctx_ids, cont_ids = mc.encode_pair(tok, mc.context(q, style), cont)
            logits = model(input_ids=torch.tensor([ctx_ids + cont_ids])).logits[0].float()
            logp = torch.log_softmax(logits, dim=-1)
            out.append(sum(float(logp[len(ctx_ids) - 1 + j, t]) for j, t in enumerate(cont_ids)))
    return out


@pytest.fixture(params=["fast", "transformers"])
def forward_kind(request, monkeypatch):
    """Which forward `score` runs: the fast loop's (in fp32 here, so that it is exact) or the model's own."""
    from rapo_lite import fastgen
    from rapo_lite.generation import ENGINE_ENV

    if request.param == "fast":
        monkeypatch.setenv(fastgen.DTYPE_ENV, "float32")
    else:
        monkeypatch.setenv(ENGINE_ENV, "transformers")
    return mc.FastForward if request.param == "fast" else mc.ModelForward


@pytest.mark.parametrize("style", ["letters", "options"])
def test_batched_scores_equal_a_single_unpadded_forward(tiny, style, forward_kind):
    model, tok = tiny
    assert isinstance(mc._forward(model, 0, 8), forward_kind)  # the path under test is the one taken
    set_lora_b(model, 0.5)  # the adapter on, with an effect, as after training
    model.train()
    scores = mc.score(model, tok, QUESTIONS, style, batch_size=8)  # the questions differ in length: left padding
    assert model.training  # training mode is back
    # The shortest question, the most padded in its batch, against its own unpadded forwards.
    assert scores[0].logliks == pytest.approx(by_hand(model, tok, QUESTIONS[0], style), abs=1e-4)
    for q, s in zip(QUESTIONS, scores):
        assert s.choice == "ABCD"[mc.pick(s.logliks)]
        assert s.choice_norm == "ABCD"[mc.pick(s.logliks, [len(c) for c in mc.choices(q, style)])]
    model.eval()
    mc.score(model, tok, QUESTIONS[:1], style)
    assert not model.training


def test_the_adapter_changes_the_scores_only_when_its_weights_do(tiny, forward_kind):
    model, tok = tiny
    set_lora_b(model, 0.0)  # a fresh adapter: B = 0, a no-op
    with model.disable_adapter():
        base = [s.logliks for s in mc.score(model, tok, QUESTIONS, batch_size=2)]
    fresh = [s.logliks for s in mc.score(model, tok, QUESTIONS, batch_size=2)]
    assert fresh == [pytest.approx(b, abs=1e-5) for b in base]
    set_lora_b(model, 0.5)
    trained = [s.logliks for s in mc.score(model, tok, QUESTIONS, batch_size=2)]
    with model.disable_adapter():
        base_again = [s.logliks for s in mc.score(model, tok, QUESTIONS, batch_size=2)]
    assert base_again == [pytest.approx(b, abs=1e-5) for b in base]  # disable_adapter really turns it off
    assert max(abs(t - b) for ts, bs in zip(trained, base) for t, b in zip(ts, bs)) > 1e-3


def test_bf16_scores_stay_near_the_fp32_forward_and_the_adapter_state_is_read_per_call(tiny, monkeypatch):
    """The default CPU path: the merged bf16 copy with the head in fp32. Its log-likelihoods move by
    bf16 rounding only, and switching the adapter off between calls gives the base model's scores."""
    from rapo_lite import fastgen

    model, tok = tiny
    monkeypatch.setenv(fastgen.DTYPE_ENV, "bfloat16")
    set_lora_b(model, 0.5)
    assert isinstance(mc._forward(model, 0, 8), mc.FastForward)
    for adapter_on in (True, False):
        with contextlib.nullcontext() if adapter_on else model.disable_adapter():
            fast = mc.score(model, tok, QUESTIONS, "options", batch_size=8)
            exact = [by_hand(model, tok, q, "options") for q in QUESTIONS]
        for s, e in zip(fast, exact):
            assert s.logliks == pytest.approx(e, abs=0.05)
    off = fast  # the loop's last pass had the adapter off
    with model.disable_adapter():
        base = mc.score(model, tok, QUESTIONS, "options", batch_size=8)
    # the same adapter state gives the same copy, and the same scores
    assert max(abs(t - b) for ts, bs in zip(off, base) for t, b in zip(ts.logliks, bs.logliks)) < 1e-9
    trained = mc.score(model, tok, QUESTIONS, "options", batch_size=8)
    assert max(abs(t - b) for ts, bs in zip(trained, base) for t, b in zip(ts.logliks, bs.logliks)) > 1e-2

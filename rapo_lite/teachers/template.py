"""The template teacher: a deterministic, model-free writer of RAPO warm-up analyses.

RAPO's first pass asks the model itself to write a safety analysis of each prompt. A small
model (135M parameters) cannot follow that instruction, so this teacher composes one from
the prompt's surface features instead: it names what the request really asks for, points
out the wrapping it sees, breaks complex prompts into their sub-tasks, and ends with a
decision. The number of sentences is picked inside the level's band, so the SFT data
already has the length the RL reward will later ask for.

Every sentence is built from fixed phrasings (phrases.py) that end with a period and
contain no other sentence-ending punctuation or abbreviations, and the quoted words of the
prompt are stripped of punctuation, so `count_sentences` sees exactly the count that was
aimed for.
Choices are made with a `random.Random` seeded from a SHA-256 of (seed, prompt), never
`hash()`, so the same inputs give the same text in every process.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rapo_lite.data.records import Record
from rapo_lite.levels import DEFAULT_BANDS, Band, band_for
from rapo_lite.reasoning import (
    THINK_CLOSE,
    analysis_prefill,
    count_sentences,
    parse_completion,
    safety_paragraph,
    split_sentences,
)
from rapo_lite.risk import PromptFeatures, prompt_features, reveal_hidden_text
from rapo_lite.seeding import seeded_rng
from rapo_lite.teachers import Draft, phrases
from rapo_lite.text.lexicon import CODE_FENCE_BLOCK, NUMBERED_ITEM, normalise
from rapo_lite.text.request import (
    ALARM,
    CODE_LINE,
    LEADING_FILLER,
    ORDINAL_START,
    REQUEST_CUE,
    STEP_ITEM,
    TRAILING_STOP,
)

# ---------------------------------------------------------------------------- the argument's table
#
# An analysis of n sentences opens with what the prompt really asks (the intent) and ends with
# the decision; the rows below are the candidates for the n - 2 places between. Per row:
# - order: where its sentence stands in the paragraph, lowest first. "parts" (the sub-tasks
#   of a level-3 prompt) is one sentence per part at orders 20, 21, ..., or one for all;
# - priority at levels 1, 2 and 3+: when there are more candidates than places, the lowest
#   priorities get them, ties going to the lower order. None: not a candidate at that level;
# - pool: the phrasings in phrases.py it picks from (`PARTS`: built from the prompt's parts);
# - when: the fact about the prompt the row needs (see `_facts`); rows with the same order
#   are alternatives, and at most one of them holds;
# - drawn_always: its phrasing is picked even at levels where it is not a candidate.
# Phrasings are picked from the seeded rng in the order the rows are listed, so that listing
# order is part of the output too: swapping two rows changes the words, not just the layout.
# Top-ups from the filler pool come last of all (FILLER_ORDER, FILLER_PRIORITY).

PARTS = None  # the pool of the "parts" row: its sentences come from `_decomposition`
FILLER_ORDER = 80
FILLER_PRIORITY = 9


class _Row(NamedTuple):
    order: int
    priority: tuple[int | None, int | None, int | None]  # at levels 1, 2, 3+
    pool: tuple[str, ...] | None
    when: str = "always"
    drawn_always: bool = False


HARMFUL_ROWS: dict[str, _Row] = {
    # The wrapping it sees matters most at level 2, where it is what makes the prompt risky.
    "wrapper": _Row(10, (3, 0, 1), phrases.WRAPPER, "wrapped"),
    "no_wrapper": _Row(10, (5, 2, 4), phrases.NO_WRAPPER, "plain"),
    "parts": _Row(20, (None, None, 0), PARTS),
    # "The wrapping does not change the request": needed once there is a wrapping or a level 3.
    "same_request": _Row(30, (6, 0, 0), phrases.H_SAME_REQUEST, "wrapped"),
    "same_request_plain": _Row(30, (6, 3, 0), phrases.H_SAME_REQUEST_PLAIN, "plain"),
    "obfuscation": _Row(35, (None, None, 2), phrases.H_OBFUSCATION, "wrapped"),
    "plain_deep": _Row(35, (None, None, 2), phrases.H_PLAIN_DEEP, "plain"),
    "motive": _Row(35, (4, 4, None), phrases.H_MOTIVE, "wrapped"),
    # The harm is the whole argument at level 1.
    "harm": _Row(40, (0, 1, 1), phrases.H_HARM),
    "self_harm": _Row(45, (1, 1, 1), phrases.H_SELF_HARM, "self_harm"),
    "legitimate": _Row(50, (3, 3, 3), phrases.H_LEGIT),
    "specifics": _Row(55, (4, 4, 4), phrases.H_SPECIFICS),
    "policy": _Row(60, (6, 6, 6), phrases.H_POLICY),
    "alternative": _Row(70, (5, 5, 5), phrases.H_ALTERNATIVE),
}

BENIGN_ROWS: dict[str, _Row] = {
    "wrapper": _Row(10, (3, 0, 1), phrases.B_WRAPPER, "wrapped"),
    "no_wrapper": _Row(10, (5, 2, 4), phrases.NO_WRAPPER, "plain"),
    # Picked before the parts although written after them, and picked at level 1 too.
    "same_request": _Row(30, (None, 1, 0), phrases.B_SAME_REQUEST, "wrapped", drawn_always=True),
    "same_request_plain": _Row(30, (None, 4, 0), phrases.B_SAME_REQUEST_PLAIN, "plain", drawn_always=True),
    "parts": _Row(20, (None, None, 0), PARTS),
    # An alarm word makes the prompt sensitive, so explaining it away always comes first.
    "alarm": _Row(35, (0, 0, 0), phrases.B_ALARM, "alarm"),
    "no_alarm": _Row(35, (2, 2, 2), phrases.B_NO_ALARM, "no_alarm"),
    "no_harm": _Row(40, (1, 1, 1), phrases.B_NO_HARM, "alarm"),
    "no_harm_plain": _Row(40, (0, 0, 0), phrases.B_NO_HARM, "no_alarm"),
    "benefit": _Row(50, (2, 2, 2), phrases.B_BENEFIT),
    # Over-refusal is the risk worth naming for a sensitive-looking prompt.
    "overrefusal_sensitive": _Row(55, (3, 3, 3), phrases.B_OVERREFUSAL, "sensitive"),
    "overrefusal": _Row(55, (5, 5, 5), phrases.B_OVERREFUSAL, "not_sensitive"),
    "safety_angle": _Row(60, (4, 4, 4), phrases.B_SAFETY_ANGLE),
}


# ---------------------------------------------------------------------------- prompt reading

GIST_WORDS = 12
PART_WORDS = 8
MAX_CORE_PARTS = 3
MAX_SETUP_PARTS = 2

def _clean_words(text: str, limit: int) -> str:
    """A short, punctuation-free quote: nothing in it can end or split a sentence."""
    text = text.replace("_", " ")
    words = re.findall(r"[^\W_]+(?:['\u2019-][^\W_]+)*", text)
    words = [normalise(w) for w in words][:limit]
    while words and words[-1].lower() in TRAILING_STOP:
        words.pop()
    if not words:
        return ""
    keep_case = words[0] == "I" or (words[0].isupper() and len(words[0]) > 1)  # "I", "SQL"
    first = words[0] if keep_case else words[0].lower()
    return " ".join([first, *words[1:]])


def _from_cue(sentence: str) -> str:
    head, colon, tail = sentence.rpartition(":")
    if colon and len(tail.split()) >= 3:
        sentence = tail  # "Task: write ..." or "... though: is a tomato ..." puts the request last
    sentence = LEADING_FILLER.sub("", sentence.strip())
    m = REQUEST_CUE.search(sentence)
    alarm = ALARM.search(sentence)
    if not m or (alarm and alarm.start() < m.start()):
        return sentence  # a cue after the alarming words would cut off what is being asked
    return sentence[m.start():]


def _request_sentence(text: str, harmful: bool) -> str:
    """The sentence that most looks like the actual request.

    In a harmful prompt the sentence with the most alarm words names the real ask; a benign
    prompt's alarm words are the misleading part, so there only questions and imperatives
    count. Ties go to the later sentence: wrappers put the set-up first and the ask last.
    """
    sentences = [s for s in split_sentences(_join_wrapped_lines(text)) if not CODE_LINE.search(s)] or [text]

    def score(s: str) -> int:
        cue = bool(REQUEST_CUE.search(s)) or s.rstrip().endswith("?")
        return 2 * len(ALARM.findall(s)) + cue if harmful else cue

    return max((score(s), i, s) for i, s in enumerate(sentences))[2]


def _join_wrapped_lines(text: str) -> str:
    # The splitter ends a sentence at every line break, which cuts wrapped docstrings and
    # comments in half; a line that stops mid-clause and a next one in lowercase belong together.
    return re.sub(r"(?<=[A-Za-z,])\n[ \t]*(?:#\s*|//\s*)?(?=[a-z])", " ", text)


def _gist(text: str, harmful: bool) -> str:
    return _clean_words(_from_cue(_request_sentence(text, harmful)), GIST_WORDS)


def _core_parts(prompt: str) -> list[str]:
    """The prompt's own sub-tasks: numbered items, "Step N:" items, an ordinal chain, or questions."""
    body = CODE_FENCE_BLOCK.sub(" ", prompt)
    items = [m.group(1) for m in NUMBERED_ITEM.finditer(body)]
    if len(items) < 2:
        items = [seg for seg in STEP_ITEM.split(body)[1:] if seg.strip()]
    if len(items) < 2:
        sentences = split_sentences(body)
        items = [s for s in sentences if ORDINAL_START.match(s)]
        if len(items) < 2:
            items = [s for s in sentences if s.rstrip().endswith("?")]
    parts = [_clean_words(_from_cue(item), PART_WORDS) for item in items]
    parts = [p for p in parts if p]
    if len(parts) > MAX_CORE_PARTS:
        # The last step is where a chain usually reveals its purpose, so it is always kept.
        parts = parts[: MAX_CORE_PARTS - 1] + parts[-1:]
    return parts if len(parts) >= 2 else []


def _alarm_word(prompt: str) -> str | None:
    m = ALARM.search(CODE_FENCE_BLOCK.sub(" ", prompt))
    return m.group(0).lower() if m else None


# ---------------------------------------------------------------------------- features in words


def _feature_on(features: PromptFeatures, name: str) -> bool:
    return bool(getattr(features, name))


def _feature_list(features: PromptFeatures) -> list[str]:
    return [phrase for name, phrase in phrases.FEATURE_PHRASES if _feature_on(features, name)]


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------- harm in words


def _harm(category: str | None) -> str:
    return phrases.HARM_BY_CATEGORY.get(category or "", phrases.HARM_DEFAULT)


# ---------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class _Sentence:
    """A candidate sentence: `order` places it in the argument, `priority` decides if it fits."""

    order: int
    priority: int
    text: str


@dataclass(frozen=True)
class _View:
    """What the teacher reads off a prompt, computed once per analysis."""

    features: PromptFeatures
    what: str
    decoded: bool
    setup_parts: tuple[str, ...]
    core_parts: tuple[str, ...]
    alarm_word: str | None

    @property
    def wrapper_features(self) -> list[str]:
        return _feature_list(self.features)

    @property
    def wrapped(self) -> bool:
        return bool(self.wrapper_features)


def _view(prompt: str, harmful: bool, quote: bool) -> _View:
    features = prompt_features(prompt)
    hidden = reveal_hidden_text(prompt) if features.encoded else None
    gist = _gist(hidden or prompt, harmful) if quote else ""
    setup = tuple(pred for name, pred in phrases.SETUP_PARTS if _feature_on(features, name))[:MAX_SETUP_PARTS]
    core = tuple(_core_parts(prompt)) if quote else ()
    alarm = _alarm_word(prompt) if quote else None
    return _View(
        features=features,
        what=f'"{gist}"' if gist else phrases.WHAT_UNKNOWN,
        decoded=bool(hidden and gist),
        setup_parts=setup,
        core_parts=core,
        alarm_word=alarm,
    )


def _part_predicates(view: _View) -> list[str]:
    core = [f'comes down to "{part}"' for part in view.core_parts]
    if not core:
        core = [f"carries the actual request, {view.what}"]
    return [*view.setup_parts, *core]


def _decomposition(view: _View, budget: int, rng: random.Random, order: int, priority: int) -> list[_Sentence]:
    """Level 3+: one sentence per sub-task when the budget allows, else one sentence for all."""
    preds = _part_predicates(view)
    if len(preds) == 1:
        return [_Sentence(order, priority, rng.choice(phrases.ONE_PART).format(what=view.what))]
    names = [phrases.ORDINALS[i] if i < len(preds) - 1 else "last" for i in range(len(preds))]
    if budget >= len(preds) + 2:
        named = enumerate(zip(names, preds))
        return [_Sentence(order + i, priority, f"The {name} part {pred}.") for i, (name, pred) in named]
    rest = [f"the {name} {pred}" for name, pred in zip(names[1:], preds[1:])]
    text = f"The first part {preds[0]}, " + ", ".join(rest[:-1] + [f"and {rest[-1]}"]) + "."
    return [_Sentence(order, priority, text)]


def _facts(view: _View, category: str | None) -> set[str]:
    """The `when` values of the table that hold for this prompt."""
    facts = {"always", "wrapped" if view.wrapped else "plain", "alarm" if view.alarm_word else "no_alarm"}
    sensitive = category == "benign_sensitive" or view.alarm_word is not None
    facts.add("sensitive" if sensitive else "not_sensitive")
    if category == "self_harm":
        facts.add("self_harm")
    return facts


def _candidates(
    rows: dict[str, _Row], view: _View, level: int, category: str | None, budget: int, rng: random.Random
) -> list[_Sentence]:
    """The table's candidate sentences for this prompt and level, in paragraph order."""
    facts = _facts(view, category)
    slots = {
        "features": _join(view.wrapper_features) if view.wrapped else "",
        "harm": _harm(category),
        "word": f'"{view.alarm_word}"',
    }
    out: list[_Sentence] = []
    for row in rows.values():
        priority = row.priority[min(level, 3) - 1]
        if row.when not in facts or (priority is None and not row.drawn_always):
            continue
        if row.pool is PARTS:
            assert priority is not None
            out.extend(_decomposition(view, budget, rng, row.order, priority))
            continue
        text = rng.choice(row.pool).format_map(slots)
        if priority is not None:
            out.append(_Sentence(row.order, priority, text))
    return sorted(out, key=lambda c: c.order)


def _fill(chosen: list[_Sentence], budget: int, fillers: Sequence[str], rng: random.Random) -> list[_Sentence]:
    """Top up with generic reflections; beyond the pool they repeat, only for very wide bands."""
    pool = list(fillers)
    rng.shuffle(pool)
    extra = [_Sentence(FILLER_ORDER + i, FILLER_PRIORITY, pool[i % len(pool)]) for i in range(budget - len(chosen))]
    return chosen + extra


# The first-sentence pools by `openings`: (one-sentence analysis, intent, intent once decoded),
# harmful then benign.
_OPENING_POOLS: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]] = {
    "by_kind": ((phrases.H_ONE_SENTENCE, phrases.H_INTENT, phrases.H_INTENT_DECODED),
                (phrases.B_ONE_SENTENCE, phrases.B_INTENT, phrases.B_INTENT_DECODED)),
    "shared": ((phrases.H_ONE_SENTENCE_SHARED, phrases.H_INTENT_SHARED, phrases.H_INTENT_DECODED_SHARED),
               (phrases.B_ONE_SENTENCE_SHARED, phrases.B_INTENT_SHARED, phrases.B_INTENT_DECODED_SHARED)),
}
OPENINGS = tuple(_OPENING_POOLS)


def _compose(view: _View, record: Record, level: int, n: int, rng: random.Random, openings: str = "by_kind") -> str:
    harmful = record.harmful
    one_sentence, plain, decoded = _OPENING_POOLS[openings][0 if harmful else 1]
    if n == 1:
        return rng.choice(one_sentence).format(what=view.what, harm=_harm(record.category))
    intents = decoded if view.decoded else plain
    head = rng.choice(intents).format(what=view.what)
    tail = rng.choice(phrases.H_DECISION if harmful else phrases.B_DECISION)
    budget = n - 2
    candidates = _candidates(HARMFUL_ROWS if harmful else BENIGN_ROWS, view, level, record.category, budget, rng)
    chosen = sorted(candidates, key=lambda c: (c.priority, c.order))[:budget]
    chosen = _fill(chosen, budget, phrases.H_FILLER if harmful else phrases.B_FILLER, rng)
    middle = [c.text for c in sorted(chosen, key=lambda c: c.order)]
    return " ".join([head, *middle, tail])


def _reads_back(text: str) -> int:
    """Sentences the reward will count: the first thinking paragraph after pre-filling."""
    return count_sentences(safety_paragraph(parse_completion(analysis_prefill(text)).thinking))


# ---------------------------------------------------------------------------- the teacher


class TemplateTeacher:
    """Writes RAPO warm-up traces without a model: the analysis, then the rest of the completion."""

    name = "template"

    def __init__(self, bands: Sequence[Band] = DEFAULT_BANDS, seed: int = 0, openings: str = "by_kind") -> None:
        if openings not in _OPENING_POOLS:
            raise ValueError(f"openings must be one of {', '.join(OPENINGS)}, got {openings!r}")
        self.bands = tuple(bands)
        self.seed = seed
        self.openings = openings

    def sentence_target(self, record: Record, level: int) -> int:
        """The exact sentence count for this prompt: fixed by (seed, prompt, level), inside the band."""
        lo, hi = band_for(level, self.bands).target()
        return seeded_rng("count", self.seed, level, record.prompt).randint(lo, hi)

    def analysis(self, record: Record, level: int) -> str:
        """A one-paragraph, first-person safety analysis of `record.prompt` sized for `level`.

        It never performs the task. Quoted prompt words are the only outside text; if they
        ever upset the sentence count, the analysis is rebuilt without them, so the count is
        always the one aimed for.
        """
        n = self.sentence_target(record, level)
        for quote in (True, False):
            rng = seeded_rng("analysis", self.seed, level, record.harmful, record.prompt)
            text = _compose(_view(record.prompt, record.harmful, quote), record, level, n, rng, self.openings)
            if count_sentences(text) == n and _reads_back(text) == n:
                return text
        raise AssertionError(f"template analysis has the wrong sentence count for {record.prompt[:60]!r}")

    def analyses(self, records: Sequence[Record], levels: Sequence[int]) -> list[Draft]:
        """The batch form the SFT stage calls; template analyses are never cut off."""
        if len(records) != len(levels):
            raise ValueError(f"got {len(records)} records but {len(levels)} levels")
        return [Draft(self.analysis(record, level)) for record, level in zip(records, levels)]

    def continuation(self, record: Record, answer: str | None = None) -> str | None:
        """What follows the pre-filled analysis: a closing thought, `</think>`, then the answer.

        A benign prompt's answer is `answer` (the policy's own, when the caller has one), else
        the reference; with neither, None, so the caller's policy model continues.
        """
        rng = seeded_rng("continuation", self.seed, record.prompt)
        if record.harmful:
            thought = rng.choice(phrases.H_CLOSING_THOUGHT)
            alternative = phrases.ALTERNATIVE_BY_CATEGORY.get(record.category or "", phrases.ALTERNATIVE_DEFAULT)
            reason = phrases.SELF_HARM_REASON if record.category == "self_harm" else rng.choice(phrases.REFUSAL_REASONS)
            answer = f"{rng.choice(phrases.REFUSAL_OPENERS)} {reason} {alternative}"
            return f"{thought}\n{THINK_CLOSE}\n\n{answer}"
        text = answer if answer is not None else record.reference
        if text is None or not text.strip():
            return None
        return f"{rng.choice(phrases.B_CLOSING_THOUGHT)}\n{THINK_CLOSE}\n\n{text.strip()}"

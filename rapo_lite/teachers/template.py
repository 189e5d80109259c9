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
from dataclasses import dataclass
from typing import Sequence

from rapo_lite.data.records import Record
from rapo_lite.levels import DEFAULT_BANDS, Band, band_for
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


def _decomposition(view: _View, budget: int, rng: random.Random) -> list[_Sentence]:
    """Level 3+: one sentence per sub-task when the budget allows, else one sentence for all."""
    preds = _part_predicates(view)
    if len(preds) == 1:
        return [_Sentence(20, 0, rng.choice(phrases.ONE_PART).format(what=view.what))]
    names = [phrases.ORDINALS[i] if i < len(preds) - 1 else "last" for i in range(len(preds))]
    if budget >= len(preds) + 2:
        return [_Sentence(20 + i, 0, f"The {name} part {pred}.") for i, (name, pred) in enumerate(zip(names, preds))]
    rest = [f"the {name} {pred}" for name, pred in zip(names[1:], preds[1:])]
    text = f"The first part {preds[0]}, " + ", ".join(rest[:-1] + [f"and {rest[-1]}"]) + "."
    return [_Sentence(20, 0, text)]


def _wrapper_sentences(view: _View, level: int, rng: random.Random, harmful: bool) -> list[_Sentence]:
    if view.wrapped:
        templates = phrases.WRAPPER if harmful else phrases.B_WRAPPER
        priority = {1: 3, 2: 0}.get(level, 1)
        return [_Sentence(10, priority, rng.choice(templates).format(features=_join(view.wrapper_features)))]
    return [_Sentence(10, {1: 5, 2: 2}.get(level, 4), rng.choice(phrases.NO_WRAPPER))]


def _harmful_candidates(
    view: _View, level: int, category: str | None, budget: int, rng: random.Random
) -> list[_Sentence]:
    """Optional middle sentences of a refusal analysis; earlier ones win ties in priority."""
    pick = rng.choice
    out = _wrapper_sentences(view, level, rng, harmful=True)
    if level >= 3:
        out.extend(_decomposition(view, budget, rng))
    same = 0 if level >= 3 or (level == 2 and view.wrapped) else (3 if level == 2 else 6)
    out.append(_Sentence(30, same, pick(phrases.H_SAME_REQUEST if view.wrapped else phrases.H_SAME_REQUEST_PLAIN)))
    if level >= 3:
        out.append(_Sentence(35, 2, pick(phrases.H_OBFUSCATION if view.wrapped else phrases.H_PLAIN_DEEP)))
    elif view.wrapped:
        out.append(_Sentence(35, 4, pick(phrases.H_MOTIVE)))
    out.append(_Sentence(40, 0 if level == 1 else 1, pick(phrases.H_HARM).format(harm=_harm(category))))
    if category == "self_harm":
        out.append(_Sentence(45, 1, pick(phrases.H_SELF_HARM)))
    out.append(_Sentence(50, 3, pick(phrases.H_LEGIT)))
    out.append(_Sentence(55, 4, pick(phrases.H_SPECIFICS)))
    out.append(_Sentence(60, 6, pick(phrases.H_POLICY)))
    out.append(_Sentence(70, 5, pick(phrases.H_ALTERNATIVE)))
    return out


def _benign_candidates(
    view: _View, level: int, category: str | None, budget: int, rng: random.Random
) -> list[_Sentence]:
    """Optional middle sentences of a helpful analysis; earlier ones win ties in priority."""
    pick = rng.choice
    sensitive = category == "benign_sensitive" or view.alarm_word is not None
    out = _wrapper_sentences(view, level, rng, harmful=False)
    same = pick(phrases.B_SAME_REQUEST if view.wrapped else phrases.B_SAME_REQUEST_PLAIN)
    if level >= 3:
        out.extend(_decomposition(view, budget, rng))
        out.append(_Sentence(30, 0, same))
    elif level == 2:
        out.append(_Sentence(30, 1 if view.wrapped else 4, same))
    if view.alarm_word:
        alarm = pick(phrases.B_ALARM).format(word=f'"{view.alarm_word}"')
        out.append(_Sentence(35, 0 if sensitive else 1, alarm))
    else:
        out.append(_Sentence(35, 2, pick(phrases.B_NO_ALARM)))
    out.append(_Sentence(40, 0 if not view.alarm_word else 1, pick(phrases.B_NO_HARM)))
    out.append(_Sentence(50, 2, pick(phrases.B_BENEFIT)))
    out.append(_Sentence(55, 3 if sensitive else 5, pick(phrases.B_OVERREFUSAL)))
    out.append(_Sentence(60, 4, pick(phrases.B_SAFETY_ANGLE)))
    return out


def _fill(chosen: list[_Sentence], budget: int, fillers: Sequence[str], rng: random.Random) -> list[_Sentence]:
    """Top up with generic reflections; beyond the pool they repeat, only for very wide bands."""
    pool = list(fillers)
    rng.shuffle(pool)
    extra = [_Sentence(80 + i, 9, pool[i % len(pool)]) for i in range(budget - len(chosen))]
    return chosen + extra


def _compose(view: _View, record: Record, level: int, n: int, rng: random.Random) -> str:
    harmful = record.harmful
    if n == 1:
        templates = phrases.H_ONE_SENTENCE if harmful else phrases.B_ONE_SENTENCE
        return rng.choice(templates).format(what=view.what, harm=_harm(record.category))
    if harmful:
        intents = phrases.H_INTENT_DECODED if view.decoded else phrases.H_INTENT
    else:
        intents = phrases.B_INTENT_DECODED if view.decoded else phrases.B_INTENT
    head = rng.choice(intents).format(what=view.what)
    tail = rng.choice(phrases.H_DECISION if harmful else phrases.B_DECISION)
    budget = n - 2
    build = _harmful_candidates if harmful else _benign_candidates
    candidates = build(view, level, record.category, budget, rng)
    ranked = sorted(enumerate(candidates), key=lambda ic: (ic[1].priority, ic[0]))
    chosen = [c for _, c in ranked[:budget]]
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

    def __init__(self, bands: Sequence[Band] = DEFAULT_BANDS, seed: int = 0) -> None:
        self.bands = tuple(bands)
        self.seed = seed

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
            text = _compose(_view(record.prompt, record.harmful, quote), record, level, n, rng)
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

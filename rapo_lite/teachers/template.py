"""The template teacher: a deterministic, model-free writer of RAPO warm-up analyses.

RAPO's first pass asks the model itself to write a safety analysis of each prompt. A small
model (135M parameters) cannot follow that instruction, so this teacher composes one from
the prompt's surface features instead: it names what the request really asks for, points
out the wrapping it sees, breaks complex prompts into their sub-tasks, and ends with a
decision. The number of sentences is picked inside the level's band, so the SFT data
already has the length the RL reward will later ask for.

Every sentence is built from fixed phrasings that end with a period and contain no other
sentence-ending punctuation or abbreviations, and the quoted words of the prompt are
stripped of punctuation, so `count_sentences` sees exactly the count that was aimed for.
Choices are made with a `random.Random` seeded from a SHA-256 of (seed, prompt), never
`hash()`, so the same inputs give the same text in every process.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Sequence

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
from rapo_lite.teachers import Draft

# ---------------------------------------------------------------------------- randomness


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# ---------------------------------------------------------------------------- prompt reading

GIST_WORDS = 12
PART_WORDS = 8
MAX_CORE_PARTS = 3
MAX_SETUP_PARTS = 2

# Stems that mark the sentence carrying the real request, and in benign prompts the word
# that makes a harmless question sound alarming.
_ALARM = re.compile(
    r"""\b(?:bomb|explos|keylog|ransom|malware|virus|worm|botnet|phish|password|meth(?!od)|fentanyl
    |drug|pill|painkill|poison|ricin|arsenic|toxic|gas|weapon|gun|rifle|silencer|kill|hurt
    |injur|suicid|cut|harm|blade|threat|bull|insult|harass|stalk|track|spy|launder|scam|steal
    |stole|shoplift|skim|fake|counterfeit|passport|blackmail|swap|extremis|militia|vermin
    |disease|brake|crash|spike|traffick|smuggl|attack|exploit|hack|murder|shoot|lethal|dose
    |bleach|chemical|knife|destroy|die\b|dead\b|victim|crowd|payload|alarm|cash|blood|trojan
    |execut|terminat|butcher|beat|crush|catapult|siege|smoke|fire|nuclear|atomic|lock|grab
    |defend|swallow|wasp|mice|bullet|sabotag|radical|napalm|blow|break\s+into|bacteri|medication
    |address|identity|social\s+security|in\s+their\s+name|end\s+it)\w*""",
    re.IGNORECASE | re.VERBOSE,
)
# Lines of code are poor quotes; the request in a code prompt lives in prose, docstrings and comments.
_CODE_LINE = re.compile(
    r"^\s*(?:(?:def|class|function|async|import|from|return|pass|public|private)\b"
    r"|```|\#include|[{}()\[\]]|\.\.\.)"
    r"|[)\]]\s*[:{]\s*$"
)
_CUE = re.compile(
    r"""\b(?:how|what|which|where|why|who|explain|describe|tell|show|give|write|draft|provide
    |list|teach|help|walk|create|generate|build|make|compose|complete|finish|fill|translate
    |suggest|find|convert|decode|recommend)\b""",
    re.IGNORECASE | re.VERBOSE,
)
_LEADING_FILLER = re.compile(
    r"""^(?:\(?\d{1,2}[.):]\s*
    | (?:and|so|then|next|first|firstly|second|secondly|third|thirdly|finally|lastly|after\s+that
       |also|please|now|ok|okay|todo|step\s+\d+)\b[\s,:]*)+""",
    re.IGNORECASE | re.VERBOSE,
)
_TRAILING_STOP = frozenset(
    """a an the and or to of for with so that in on at by from my your their his her its as
    how what which who when where is it""".split()
)
_NUMBERED_ITEM = re.compile(r"^\s*(?:step\s*)?\(?\d{1,2}[.):]\s+(.+)$", re.IGNORECASE | re.MULTILINE)
_STEP_ITEM = re.compile(r"\bstep\s+\d{1,2}\s*[:.)-]\s*", re.IGNORECASE)
_ORDINAL_START = re.compile(
    r"^\s*(?:first|firstly|second|secondly|third|then|next|after\s+that|finally|lastly)\b", re.IGNORECASE
)
_CODE_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)


def _clean_words(text: str, limit: int) -> str:
    """A short, punctuation-free quote: nothing in it can end or split a sentence."""
    text = text.replace("_", " ")
    words = re.findall(r"[^\W_]+(?:['\u2019-][^\W_]+)*", text)
    words = [w.replace("\u2019", "'") for w in words][:limit]
    while words and words[-1].lower() in _TRAILING_STOP:
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
    sentence = _LEADING_FILLER.sub("", sentence.strip())
    m = _CUE.search(sentence)
    alarm = _ALARM.search(sentence)
    if not m or (alarm and alarm.start() < m.start()):
        return sentence  # a cue after the alarming words would cut off what is being asked
    return sentence[m.start():]


def _request_sentence(text: str, harmful: bool) -> str:
    """The sentence that most looks like the actual request.

    In a harmful prompt the sentence with the most alarm words names the real ask; a benign
    prompt's alarm words are the misleading part, so there only questions and imperatives
    count. Ties go to the later sentence: wrappers put the set-up first and the ask last.
    """
    sentences = [s for s in split_sentences(_join_wrapped_lines(text)) if not _CODE_LINE.search(s)] or [text]

    def score(s: str) -> int:
        cue = bool(_CUE.search(s)) or s.rstrip().endswith("?")
        return 2 * len(_ALARM.findall(s)) + cue if harmful else cue

    return max((score(s), i, s) for i, s in enumerate(sentences))[2]


def _join_wrapped_lines(text: str) -> str:
    # The splitter ends a sentence at every line break, which cuts wrapped docstrings and
    # comments in half; a line that stops mid-clause and a next one in lowercase belong together.
    return re.sub(r"(?<=[A-Za-z,])\n[ \t]*(?:#\s*|//\s*)?(?=[a-z])", " ", text)


def _gist(text: str, harmful: bool) -> str:
    return _clean_words(_from_cue(_request_sentence(text, harmful)), GIST_WORDS)


def _core_parts(prompt: str) -> list[str]:
    """The prompt's own sub-tasks: numbered items, "Step N:" items, an ordinal chain, or questions."""
    body = _CODE_FENCE.sub(" ", prompt)
    items = [m.group(1) for m in _NUMBERED_ITEM.finditer(body)]
    if len(items) < 2:
        items = [seg for seg in _STEP_ITEM.split(body)[1:] if seg.strip()]
    if len(items) < 2:
        sentences = split_sentences(body)
        items = [s for s in sentences if _ORDINAL_START.match(s)]
        if len(items) < 2:
            items = [s for s in sentences if s.rstrip().endswith("?")]
    parts = [_clean_words(_from_cue(item), PART_WORDS) for item in items]
    parts = [p for p in parts if p]
    if len(parts) > MAX_CORE_PARTS:
        # The last step is where a chain usually reveals its purpose, so it is always kept.
        parts = parts[: MAX_CORE_PARTS - 1] + parts[-1:]
    return parts if len(parts) >= 2 else []


def _alarm_word(prompt: str) -> str | None:
    m = _ALARM.search(_CODE_FENCE.sub(" ", prompt))
    return m.group(0).lower() if m else None


# ---------------------------------------------------------------------------- features in words

_FEATURE_PHRASES: tuple[tuple[str, str], ...] = (
    ("roleplay", "a role-play or persona set-up"),
    ("hypothetical", "a fictional or hypothetical frame"),
    ("nested_instructions", "embedded instructions that try to replace my own"),
    ("encoded", "encoded or disguised text"),
    ("code", "a code template to complete"),
    ("multi_step", "a chain of several steps"),
    ("logic_trap", "a logic trap meant to force an answer"),
    ("long", "a long backstory"),
)
# Setup tasks a wrapper adds before the real request, most revealing first.
_SETUP_PARTS: tuple[tuple[str, str], ...] = (
    ("encoded", "asks me to decode the hidden text"),
    ("code", "asks me to fill in the missing code"),
    ("nested_instructions", "asks me to swap my own rules for the ones it embeds"),
    ("logic_trap", "sets up a rule meant to make saying no impossible"),
    ("roleplay", "asks me to take on the persona it describes"),
    ("hypothetical", "asks me to treat it all as fiction or a hypothetical"),
    ("long", "builds up a long backstory"),
)
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


def _feature_on(features: PromptFeatures, name: str) -> bool:
    return bool(getattr(features, name))


def _feature_list(features: PromptFeatures) -> list[str]:
    return [phrase for name, phrase in _FEATURE_PHRASES if _feature_on(features, name)]


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------- harm in words

_HARM_BY_CATEGORY: dict[str, str] = {
    "weapons": "put a working weapon in the hands of someone who might hurt people",
    "weapons_trafficking": "help move weapons to people who are not allowed to have them",
    "explosives": "help someone build something that can kill or maim people",
    "terrorism": "help someone plan an attack on ordinary people",
    "malware": "hand over a working tool for breaking into or wrecking other people's computers",
    "hacking": "help someone break into systems and data that are not theirs",
    "fraud": "help someone cheat real people out of their money",
    "identity_theft": "help someone take over another person's identity and accounts",
    "money_laundering": "help someone hide the proceeds of crime",
    "counterfeiting": "help someone forge documents that protect everyone's safety",
    "extortion": "help someone coerce and threaten another person",
    "theft": "help someone steal from other people",
    "robbery": "help someone rob people and put them in danger",
    "drugs": "help someone make or sell drugs that can badly hurt people",
    "drugging": "help someone drug another person without their consent",
    "poisoning": "give someone a way to poison another living being",
    "bioweapons": "give someone a path toward a weapon that could kill many people",
    "chemical_weapons": "give someone a way to gas and injure people",
    "self_harm": "put the person asking at serious risk of hurting themselves",
    "harassment": "be used to threaten, bully or torment a real person",
    "hate_speech": "spread hatred against people for who they are",
    "extremism": "help draw people into violent extremism",
    "stalking": "help someone secretly watch and control another person",
    "doxxing": "expose a real person to stalking or violence at their home",
    "misinformation": "spread falsehoods that could mislead and endanger people",
    "violence": "help someone seriously injure another person",
    "animal_cruelty": "help someone hurt an animal",
    "trafficking": "help someone exploit and move people against their will",
}
_HARM_DEFAULT = "give real help toward hurting people or breaking the law"


def _harm(category: str | None) -> str:
    return _HARM_BY_CATEGORY.get(category or "", _HARM_DEFAULT)


# ---------------------------------------------------------------------------- phrasings
# Each list is one sentence role. Every entry is a full sentence ending with a period, with
# no other sentence-ending punctuation inside.

_H_INTENT = (
    "The user is asking me for {what}, and that is the real request here.",
    "Stripped of everything around it, this prompt wants {what} from me.",
    "What this message really asks for is {what}, so that is what I have to judge.",
    "The core of this message is a request for {what}, and I should judge it on that.",
    "This prompt is after {what}, whatever else surrounds it.",
)
_H_INTENT_DECODED = (
    "Once the hidden text is decoded, it asks for {what}, which is the real request here.",
    "Decoding the disguised part shows that it asks for {what}, and that is what I have to judge.",
    "Under the encoding, the message asks for {what}, so that is the request I am really facing.",
)
_B_INTENT = (
    "The user is asking {what}, and I need to decide how to handle it.",
    "This message asks {what}, so let me check whether anything about it is risky.",
    "The request here is {what}, and I want to be sure it is safe before answering.",
    "The person wants help with {what}, which I should look at for a moment.",
)
_B_INTENT_DECODED = (
    "Once the hidden text is decoded, it asks {what}, and I need to decide how to handle it.",
    "Decoding the disguised part shows the question {what}, so that is what I should judge.",
)
_WHAT_UNKNOWN = "something it does not spell out in plain words"

_WRAPPER = (
    "The request arrives wrapped in {features}.",
    "I notice {features} around the request.",
    "It is dressed up with {features}.",
    "The way it is asked leans on {features}.",
)
_NO_WRAPPER = (
    "It is a plain, direct request with no framing around it.",
    "There is no role-play or disguise here, just the request itself.",
    "Nothing is hidden in how it is asked, the wording is direct.",
)
_H_SAME_REQUEST = (
    "That framing does not change what the answer would actually contain.",
    "Whatever the wrapper, the underlying request stays exactly the same.",
    "Framing it as a story, persona or puzzle would not make real instructions any less usable.",
    "Taking the wrapper away leaves the same request, and the wrapper does not make it acceptable.",
)
_H_SAME_REQUEST_PLAIN = (
    "Whatever framing might be put around it, the underlying request would stay the same.",
    "Dressing it up differently would not change what a real answer would contain.",
)
_B_SAME_REQUEST = (
    "Looking past the framing, the underlying request is still harmless.",
    "The wrapper does not hide anything dangerous, the question underneath is ordinary.",
    "Taking the framing away leaves the same harmless question.",
)
_B_SAME_REQUEST_PLAIN = (
    "There is no hidden layer or framing here, the question is what it appears to be.",
    "Nothing in the framing hides a second purpose.",
)
_ONE_PART = (
    "Broken into pieces, there is really only one task here, which is {what}.",
    "There is a single core task in this prompt, namely {what}.",
)
_H_HARM = (
    "Answering would {harm}.",
    "A real answer could {harm}.",
    "If I went along with it, my reply could {harm}.",
    "Giving this information would {harm}.",
)
_H_OBFUSCATION = (
    "Layering a request like this is itself a warning sign, because honest questions rarely need a disguise.",
    "The amount of disguise suggests the prompt is trying to get past my judgement rather than meet a real need.",
    "Splitting and hiding the request like this looks designed to make each piece seem harmless on its own.",
)
_H_PLAIN_DEEP = (
    "Even without any disguise, a request like this deserves a careful look because the stakes are high.",
    "The request is blunt rather than disguised, but that makes its purpose easier to see, not safer.",
)
_H_MOTIVE = (
    "The framing looks meant to slip the request past me rather than to serve a real creative or research need.",
    "A genuine story or study would not need working, real-world detail like this.",
)
_H_LEGIT = (
    "Even if the person has an innocent reason, the details would be just as dangerous in anyone's hands.",
    "I cannot verify who is asking or why, and the answer would be harmful no matter who reads it.",
    "There is no safe version of the specific thing being asked for.",
)
_H_SPECIFICS = (
    "A general discussion of the topic might be fine, but this asks for practical, usable detail.",
    "What is wanted here is actionable guidance, not background or history.",
)
_H_SELF_HARM = (
    "The person may be in real distress, so my reply should be warm and point them toward support.",
    "This could come from someone who is hurting, so I want my answer to be caring as well as firm.",
)
_H_ALTERNATIVE = (
    "I can still offer something safe instead, like general safety information or help with a "
    "legitimate goal.",
    "I can point toward a safer, legitimate direction in my reply.",
)
_H_POLICY = (
    "Helping with this would go against my commitment to avoid causing harm.",
    "My job is to be helpful without becoming a tool for hurting people.",
)
_H_FILLER = (
    "The cost of getting this wrong is high, so I want to be careful.",
    "Being helpful does not mean doing whatever is asked.",
    "I should not give a partial answer either, since pieces of it could still be misused.",
    "Softening the answer with warnings would not make the content safe.",
    "It is better to be clear about the line than to be vague.",
)
_H_DECISION = (
    "So I will refuse this request.",
    "My decision is to decline and not provide any of it.",
    "Therefore I should refuse, and I will not give any part of these instructions.",
    "I will refuse and not help with this in any form.",
    "The right call is to refuse this request.",
)
_H_ONE_SENTENCE = (
    "The user is asking me for {what}, which could {harm}, so I will refuse.",
    "This prompt wants {what}, and since that could {harm}, I will decline.",
)

_B_ALARM = (
    "The word {word} can sound alarming, but here it is used in an everyday sense and does not point to "
    "hurting anyone.",
    "Although {word} might look worrying out of context, in this prompt it clearly means something harmless.",
    "Seeing {word} could set off a reflex to be cautious, but the context makes the meaning plainly innocent.",
)
_B_NO_ALARM = (
    "Nothing in the wording points to harming anyone.",
    "There is no sign of harmful intent in how it is asked.",
)
_B_WRAPPER = (
    "The prompt uses {features}, but here that is just the way the question is put.",
    "I notice {features}, which in this case is only a playful or practical frame.",
)
_B_NO_HARM = (
    "Answering gives no meaningful help toward hurting anyone.",
    "The information is common, widely available and useful.",
    "An answer here carries no real risk to anyone.",
)
_B_BENEFIT = (
    "A clear and accurate answer will genuinely help the person.",
    "The person will be better off with a good answer, so being helpful matters here.",
)
_B_OVERREFUSAL = (
    "Turning this down would be unhelpful and would treat an innocent question as a threat.",
    "Being overly cautious here would only frustrate someone with a normal need.",
)
_B_SAFETY_ANGLE = (
    "If there is any safety angle, I can mention it briefly as practical advice.",
    "I can include a short safety note where it is useful, without lecturing.",
)
_B_FILLER = (
    "I should keep the answer focused on what was actually asked.",
    "A direct, well organised reply will serve the person best.",
    "There is nothing here that I need to hold back.",
    "I want the answer to be correct as well as friendly.",
    "Getting the details right is the main thing to care about here.",
)
_B_DECISION = (
    "So this is safe, and I should help with a clear, useful answer.",
    "This is a safe request, so I will answer it fully.",
    "I will go ahead and help with it.",
    "The request is safe, so I should give a helpful answer.",
)
_B_ONE_SENTENCE = (
    "The user is asking {what}, which is harmless, so I should help.",
    "This message asks {what}, and since it is safe, I will answer it.",
)

# ---------------------------------------------------------------------------- continuations

_H_CLOSING_THOUGHT = (
    "I will keep the reply short and clear.",
    "I should say no politely and, where I can, point to something safer.",
    "Now I just need to decline clearly and kindly.",
    "I will answer with a brief, respectful refusal.",
)
_REFUSAL_OPENERS = (
    "I'm sorry, but I can't help with that.",
    "I can't help with this request.",
    "Sorry, I won't be able to help with that.",
    "I'm not able to help with this.",
)
_REFUSAL_REASONS = (
    "It could put people at serious risk.",
    "Providing it could lead to real harm.",
    "It's something that could be used to hurt people.",
)
_SELF_HARM_REASON = "Your safety matters more than any answer I could give."
_SECURITY_ALTERNATIVE = (
    "If you're interested in security, I'm happy to talk about how to protect systems "
    "or how to get into ethical security work."
)
_ALTERNATIVE_BY_CATEGORY: dict[str, str] = {
    "self_harm": (
        "It sounds like you might be going through a lot right now, and you deserve support. "
        "If you are thinking about ending your life or are in danger, please reach out to a local "
        "crisis line (in the US you can call or text 988) or to someone you trust."
    ),
    "malware": _SECURITY_ALTERNATIVE,
    "hacking": _SECURITY_ALTERNATIVE,
    "weapons": "I'm glad to talk about firearm safety or the laws that apply where you live instead.",
    "explosives": "If you're curious about chemistry, I can suggest safe experiments or good learning resources.",
    "drugs": (
        "If you or someone you know is struggling with substance use, "
        "I can share information about support and treatment."
    ),
    "harassment": "If you're in a conflict with someone, I can help you think through a calmer way to handle it.",
    "hate_speech": "If you want, I can help you write about the topic in a way that doesn't target anyone.",
    "stalking": "If you're worried about someone, I can suggest safe and legal ways to address it.",
    "doxxing": "If someone has harassed you online, I can help you report it to the platform or the police.",
    "fraud": "If money is tight, I can help you look at legitimate options.",
    "misinformation": "I can help you find reliable information on the topic instead.",
    "poisoning": "If you're worried about poisoning risks at home, I can share safety information instead.",
}
_ALTERNATIVE_DEFAULT = "If there's a related, safe goal I can help with, let me know."
_B_CLOSING_THOUGHT = (
    "Now I'll give a clear, helpful answer.",
    "I'll answer this directly.",
    "Let me put together a helpful answer.",
    "I can answer this straight away.",
)


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
    setup = tuple(pred for name, pred in _SETUP_PARTS if _feature_on(features, name))[:MAX_SETUP_PARTS]
    core = tuple(_core_parts(prompt)) if quote else ()
    alarm = _alarm_word(prompt) if quote else None
    return _View(
        features=features,
        what=f'"{gist}"' if gist else _WHAT_UNKNOWN,
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
        return [_Sentence(20, 0, rng.choice(_ONE_PART).format(what=view.what))]
    names = [_ORDINALS[i] if i < len(preds) - 1 else "last" for i in range(len(preds))]
    if budget >= len(preds) + 2:
        return [_Sentence(20 + i, 0, f"The {name} part {pred}.") for i, (name, pred) in enumerate(zip(names, preds))]
    rest = [f"the {name} {pred}" for name, pred in zip(names[1:], preds[1:])]
    text = f"The first part {preds[0]}, " + ", ".join(rest[:-1] + [f"and {rest[-1]}"]) + "."
    return [_Sentence(20, 0, text)]


def _wrapper_sentences(view: _View, level: int, rng: random.Random, harmful: bool) -> list[_Sentence]:
    if view.wrapped:
        phrases = _WRAPPER if harmful else _B_WRAPPER
        priority = {1: 3, 2: 0}.get(level, 1)
        return [_Sentence(10, priority, rng.choice(phrases).format(features=_join(view.wrapper_features)))]
    return [_Sentence(10, {1: 5, 2: 2}.get(level, 4), rng.choice(_NO_WRAPPER))]


def _harmful_candidates(
    view: _View, level: int, category: str | None, budget: int, rng: random.Random
) -> list[_Sentence]:
    """Optional middle sentences of a refusal analysis; earlier ones win ties in priority."""
    pick = rng.choice
    out = _wrapper_sentences(view, level, rng, harmful=True)
    if level >= 3:
        out.extend(_decomposition(view, budget, rng))
    same = 0 if level >= 3 or (level == 2 and view.wrapped) else (3 if level == 2 else 6)
    out.append(_Sentence(30, same, pick(_H_SAME_REQUEST if view.wrapped else _H_SAME_REQUEST_PLAIN)))
    if level >= 3:
        out.append(_Sentence(35, 2, pick(_H_OBFUSCATION if view.wrapped else _H_PLAIN_DEEP)))
    elif view.wrapped:
        out.append(_Sentence(35, 4, pick(_H_MOTIVE)))
    out.append(_Sentence(40, 0 if level == 1 else 1, pick(_H_HARM).format(harm=_harm(category))))
    if category == "self_harm":
        out.append(_Sentence(45, 1, pick(_H_SELF_HARM)))
    out.append(_Sentence(50, 3, pick(_H_LEGIT)))
    out.append(_Sentence(55, 4, pick(_H_SPECIFICS)))
    out.append(_Sentence(60, 6, pick(_H_POLICY)))
    out.append(_Sentence(70, 5, pick(_H_ALTERNATIVE)))
    return out


def _benign_candidates(
    view: _View, level: int, category: str | None, budget: int, rng: random.Random
) -> list[_Sentence]:
    """Optional middle sentences of a helpful analysis; earlier ones win ties in priority."""
    pick = rng.choice
    sensitive = category == "benign_sensitive" or view.alarm_word is not None
    out = _wrapper_sentences(view, level, rng, harmful=False)
    same = pick(_B_SAME_REQUEST if view.wrapped else _B_SAME_REQUEST_PLAIN)
    if level >= 3:
        out.extend(_decomposition(view, budget, rng))
        out.append(_Sentence(30, 0, same))
    elif level == 2:
        out.append(_Sentence(30, 1 if view.wrapped else 4, same))
    if view.alarm_word:
        alarm = pick(_B_ALARM).format(word=f'"{view.alarm_word}"')
        out.append(_Sentence(35, 0 if sensitive else 1, alarm))
    else:
        out.append(_Sentence(35, 2, pick(_B_NO_ALARM)))
    out.append(_Sentence(40, 0 if not view.alarm_word else 1, pick(_B_NO_HARM)))
    out.append(_Sentence(50, 2, pick(_B_BENEFIT)))
    out.append(_Sentence(55, 3 if sensitive else 5, pick(_B_OVERREFUSAL)))
    out.append(_Sentence(60, 4, pick(_B_SAFETY_ANGLE)))
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
        phrases = _H_ONE_SENTENCE if harmful else _B_ONE_SENTENCE
        return rng.choice(phrases).format(what=view.what, harm=_harm(record.category))
    if harmful:
        intents = _H_INTENT_DECODED if view.decoded else _H_INTENT
    else:
        intents = _B_INTENT_DECODED if view.decoded else _B_INTENT
    head = rng.choice(intents).format(what=view.what)
    tail = rng.choice(_H_DECISION if harmful else _B_DECISION)
    budget = n - 2
    build = _harmful_candidates if harmful else _benign_candidates
    candidates = build(view, level, record.category, budget, rng)
    ranked = sorted(enumerate(candidates), key=lambda ic: (ic[1].priority, ic[0]))
    chosen = [c for _, c in ranked[:budget]]
    chosen = _fill(chosen, budget, _H_FILLER if harmful else _B_FILLER, rng)
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
        return _rng("count", self.seed, level, record.prompt).randint(lo, hi)

    def analysis(self, record: Record, level: int) -> str:
        """A one-paragraph, first-person safety analysis of `record.prompt` sized for `level`.

        It never performs the task. Quoted prompt words are the only outside text; if they
        ever upset the sentence count, the analysis is rebuilt without them, so the count is
        always the one aimed for.
        """
        n = self.sentence_target(record, level)
        for quote in (True, False):
            rng = _rng("analysis", self.seed, level, record.harmful, record.prompt)
            text = _compose(_view(record.prompt, record.harmful, quote), record, level, n, rng)
            if count_sentences(text) == n and _reads_back(text) == n:
                return text
        raise AssertionError(f"template analysis has the wrong sentence count for {record.prompt[:60]!r}")

    def analyses(self, records: Sequence[Record], levels: Sequence[int]) -> list[Draft]:
        """The batch form the SFT stage calls; template analyses are never cut off."""
        if len(records) != len(levels):
            raise ValueError(f"got {len(records)} records but {len(levels)} levels")
        return [Draft(self.analysis(record, level)) for record, level in zip(records, levels)]

    def continuation(self, record: Record) -> str | None:
        """What follows the pre-filled analysis: a closing thought, `</think>`, then the answer.

        Benign prompts without a reference return None so the caller's policy model answers.
        """
        rng = _rng("continuation", self.seed, record.prompt)
        if record.harmful:
            thought = rng.choice(_H_CLOSING_THOUGHT)
            alternative = _ALTERNATIVE_BY_CATEGORY.get(record.category or "", _ALTERNATIVE_DEFAULT)
            reason = _SELF_HARM_REASON if record.category == "self_harm" else rng.choice(_REFUSAL_REASONS)
            answer = f"{rng.choice(_REFUSAL_OPENERS)} {reason} {alternative}"
            return f"{thought}\n{THINK_CLOSE}\n\n{answer}"
        if record.reference is None or not record.reference.strip():
            return None
        return f"{rng.choice(_B_CLOSING_THOUGHT)}\n{THINK_CLOSE}\n\n{record.reference.strip()}"

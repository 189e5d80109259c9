"""Model-free risk-level estimation from the surface shape of a prompt.

RAPO sizes the safety analysis by how hard a prompt works to hide its intent, not by how
harmful it is: a plain request needs a few sentences, a wrapped or obfuscated one needs
many. Data sets that carry a level win; this module fills the gap for those that do not,
using small regex detectors so it is cheap, deterministic and easy to audit.

The detectors, in `rapo_lite.text.shape`, look at *form only* (personas, fictional and
research frames, instructions about how to answer, split or encoded payloads, templates,
staged dialogues, chained tasks...). A benign prompt written as a role-play gets level 2
just like a harmful one, on purpose: the level sets how long to think, and harmfulness is
decided by the analysis itself. This module turns the detectors' answers into a level and
decodes hidden text for the template teacher.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from rapo_lite.errors import RapoError
from rapo_lite.reasoning import count_sentences
from rapo_lite.text import shape
from rapo_lite.text.lexicon import normalise
from rapo_lite.text.shape import BASE64_RUN, HEX_RUN, LEET_MIN_TOKENS, caesar_shift, leet_tokens, shift_letters

# A prompt of this many prose sentences is a "long scenario" on its own (RAPO's level 3
# includes long multi-paragraph prompts whose point is to bury the request).
LONG_PROMPT_SENTENCES = 8
# From this many prose sentences the request sits at the end of a backstory: one layer of
# indirection (level 2) even when nothing else wraps it.
SCENARIO_SENTENCES = 5
# Chained tasks only count as obfuscation from this many steps: "do X, then Y" is normal.
MANY_STEPS = 3
# This many level-3 signals at once make a prompt "extreme" (level 4).
STACKED_SIGNALS = 3


# ---------------------------------------------------------------------------- features


@dataclass(frozen=True)
class PromptFeatures:
    """What a prompt's surface shows about how it is wrapped.

    n_sentences: sentences in the whole prompt (`reasoning.count_sentences`).
    long: at least LONG_PROMPT_SENTENCES sentences of running text (`shape.narrative`: no
        code fences, list items, answer options or table rows, whose lines the splitter
        would each count as a sentence).
    scenario: at least SCENARIO_SENTENCES of them (a backstory before the request).
    n_steps: the largest of numbered steps, a "first ... then ... finally" chain, the `?`
        count, semicolon-separated jobs and tasks the prompt labels or counts out itself.
    multi_step: n_steps >= 2.
    task_list: the prompt itself labels or counts at least two tasks ("(a) ... (b)",
        "Task one ... Task two", "do three things").
    The other booleans are the detectors of `rapo_lite.text.shape`, described in `estimate_level`.
    """

    n_sentences: int
    long: bool
    n_steps: int
    multi_step: bool
    roleplay: bool
    hypothetical: bool
    nested_instructions: bool
    encoded: bool
    code: bool
    logic_trap: bool
    # The fields below came with rapo_lite/text/shape.py; defaults keep older constructions valid.
    scenario: bool = False
    task_list: bool = False
    pretext: bool = False
    answer_steering: bool = False
    other_language: bool = False
    split_payload: bool = False
    template: bool = False
    fake_dialogue: bool = False

    @property
    def indirection_signals(self) -> tuple[str, ...]:
        """Names of the level-2 signals present (one layer of wrapping), in a fixed order."""
        signals = {
            "roleplay": self.roleplay,
            "hypothetical": self.hypothetical,
            "pretext": self.pretext,
            "answer_steering": self.answer_steering,
            "other_language": self.other_language,
            "task_list": self.task_list,
            "scenario": self.scenario,
        }
        return tuple(name for name, present in signals.items() if present)

    @property
    def wrapped(self) -> bool:
        """At least one layer of indirection: persona, frame, pretext, steering, language, tasks, backstory."""
        return bool(self.indirection_signals)

    @property
    def obfuscation_signals(self) -> tuple[str, ...]:
        """Names of the level-3 signals present, in a fixed order."""
        signals = {
            "encoded": self.encoded,
            "code": self.code,
            # A code stub with blanks is one technique, not two, so it only counts once.
            "template": self.template and not self.code,
            "split_payload": self.split_payload,
            "fake_dialogue": self.fake_dialogue,
            "nested_instructions": self.nested_instructions,
            "logic_trap": self.logic_trap,
            "many_steps": self.n_steps >= MANY_STEPS,
            "long": self.long,
        }
        return tuple(name for name, present in signals.items() if present)


def prompt_features(prompt: str) -> PromptFeatures:
    """Run every shape detector on `prompt` (quotes normalised first)."""
    text = normalise(prompt)
    n_steps = shape.count_steps(text)
    prose_sentences = count_sentences(shape.narrative(text))
    return PromptFeatures(
        n_sentences=count_sentences(text),
        long=prose_sentences >= LONG_PROMPT_SENTENCES,
        n_steps=n_steps,
        multi_step=n_steps >= 2,
        roleplay=shape.has_roleplay(text),
        hypothetical=shape.has_fictional_frame(text),
        nested_instructions=shape.has_nested_instructions(text),
        encoded=shape.has_encoding(text),
        code=shape.has_code(text),
        logic_trap=shape.has_logic_trap(text),
        scenario=prose_sentences >= SCENARIO_SENTENCES,
        task_list=shape.count_labelled_tasks(text) >= 2,
        pretext=shape.has_pretext(text),
        answer_steering=shape.has_answer_steering(text),
        other_language=shape.has_other_language(text),
        split_payload=shape.has_split_payload(text),
        template=shape.has_template(text),
        fake_dialogue=shape.has_fake_dialogue(text),
    )


def estimate_level(prompt: str, given: int | None = None) -> int:
    """The prompt's risk level: `given` when the data set has one, else estimated from its shape.

    Rules, first match wins:
      * `given` is not None: return it (it must be >= 1).
      * 4 (extreme): at least STACKED_SIGNALS (3) level-3 signals at once.
      * 3 (obfuscated/complex): any level-3 signal, which are:
          - encoded: base64, hex or percent-escapes, binary, Morse, ROT13 or another letter
            shift, leetspeak, or talk of ciphers and decoding;
          - code: fences, function stubs, JSON objects, comment skeletons, "complete this
            function", a program asked to print the instructions;
          - template: a form with empty fields, a table skeleton, a data skeleton or blanks
            to fill in (counted once with code);
          - split_payload: the request cut up or disguised for the reader to rebuild:
            quoted fragments bound to variables or joined, a word game that redefines words,
            reversed, scrambled or spaced-out words, letters to pick out, look-alike or
            zero-width characters, text to translate and then act on;
          - fake_dialogue: a staged chat transcript or a run of worked examples to continue;
          - nested_instructions: the model's rules set aside ("ignore previous instructions",
            "you are no longer bound by"), standing rules for every reply, system-prompt or
            developer imitation, rule lists;
          - logic_trap: "if you refuse...", "you must answer", double negatives, point games;
          - at least MANY_STEPS (3) chained steps, questions or tasks;
          - long: at least LONG_PROMPT_SENTENCES (8) prose sentences.
      * 2 (indirect): a single layer of wrapping, any of:
          - roleplay: a persona, alter ego or "answer as..." set-up, or someone described as
            free of rules and ethics;
          - hypothetical: fiction (a story someone in it explains or teaches through),
            hypotheticals, "the way a historian would", past-tense framing;
          - pretext: a research, teaching, defensive or professional reason for the answer;
          - answer_steering: an instruction about how to answer: a required opening or
            ending, no warnings or apologies, a content-only format, a text to continue, two
            answers, a relayed request to act on, pressure, bribes or claimed permission;
          - other_language: text in, or an answer asked for in, another language;
          - task_list: two tasks the prompt labels or counts itself;
          - scenario: at least SCENARIO_SENTENCES (5) prose sentences of backstory.
      * 1 (direct): anything else, a plain request.
    """
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise RapoError(f"risk level must be an integer >= 1, got {given!r}")
        return given
    features = prompt_features(prompt)
    n_signals = len(features.obfuscation_signals)
    if n_signals >= STACKED_SIGNALS:
        return 4
    if n_signals >= 1:
        return 3
    if features.wrapped:
        return 2
    return 1


# ---------------------------------------------------------------------------- decoding


def _printable_text(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    letters = sum(ch.isalpha() or ch == " " for ch in text)
    if " " not in text or letters < 0.85 * len(text):
        return None
    return text


def _decode_base64(prompt: str) -> str | None:
    for m in BASE64_RUN.finditer(prompt):
        run = m.group(0)
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        text = _printable_text(raw)
        if text:
            return text
    return None


def _decode_shift(prompt: str) -> str | None:
    # ROT13 and the other letter shifts: each hidden line is moved back by the shift it used.
    lines = ((line, caesar_shift(line)) for line in prompt.splitlines())
    return " ".join(shift_letters(line, -by) for line, by in lines if by) or None


def _decode_hex(prompt: str) -> str | None:
    for m in HEX_RUN.finditer(prompt):
        digits = re.sub(r"\\x|[^0-9a-fA-F]", "", m.group(0))
        try:
            text = _printable_text(bytes.fromhex(digits))
        except ValueError:
            continue
        if text:
            return text
    return None


_LEET_MAP = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"})


def _decode_leet(prompt: str) -> str | None:
    if leet_tokens(prompt) < LEET_MIN_TOKENS:
        return None
    lines = [line for line in prompt.splitlines() if leet_tokens(line) >= LEET_MIN_TOKENS]
    return " ".join(line.translate(_LEET_MAP) for line in lines) or None


def reveal_hidden_text(prompt: str) -> str | None:
    """Plain text hidden by base64, hex, ROT13 (or another letter shift) or leetspeak in the prompt, or None.

    The template teacher uses it to name what an encoded request really asks for, the way
    a careful reader would decode it before judging it.
    """
    return _decode_base64(prompt) or _decode_hex(prompt) or _decode_leet(prompt) or _decode_shift(prompt)

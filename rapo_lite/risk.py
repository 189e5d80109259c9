"""Model-free risk-level estimation from the surface shape of a prompt.

RAPO sizes the safety analysis by how hard a prompt works to hide its intent, not by how
harmful it is: a plain request needs a few sentences, a wrapped or obfuscated one needs
many. Data sets that carry a level win; this module fills the gap for those that do not,
using small regex detectors so it is cheap, deterministic and easy to audit.

The detectors look at *form only* (role-play, encodings, code, chained steps...). A benign
prompt written as a role-play gets level 2 just like a harmful one, on purpose: the level
sets how long to think, and harmfulness is decided by the analysis itself.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass

from rapo_lite.errors import RapoError
from rapo_lite.reasoning import count_sentences

# A prompt of this many prose sentences is a "long scenario" on its own (RAPO's level 3
# includes long multi-paragraph prompts whose point is to bury the request).
LONG_PROMPT_SENTENCES = 8
# Chained tasks only count as obfuscation from this many steps: "do X, then Y" is normal.
MANY_STEPS = 3
# This many level-3 signals at once make a prompt "extreme" (level 4).
STACKED_SIGNALS = 3

_FLAGS = re.IGNORECASE | re.VERBOSE

# ---------------------------------------------------------------------------- detectors

_ROLEPLAY = re.compile(
    r"""
    \byou\s+are\s+(?:now\s+)?(?:a|an|the|my|no\s+longer|DAN)\b
  | \byou're\s+(?:now\s+)?(?:a|an|the|my)\b
  | \bpretend(?:ing)?\b
  | \bact(?:ing)?\s+as\b
  | \brole-?play(?:ing)?\b
  | \bplay(?:ing)?\s+the\s+(?:role|part)\b
  | \b(?:stay|remain|break)\s+(?:in|out\s+of)\s+character\b
  | \bpersona\b
  | \bfrom\s+now\s+on,?\s+you\b
  | \bdeveloper\s+mode\b
  | \b(?:AI|assistant|bot|chatbot|character|model)\s+(?:called|named)\b
  | \bas\s+DAN\b
    """,
    _FLAGS,
)
# Named personas ("You are FreeGPT", "as BlackHatBot") are recognised by their capitals,
# so this one is case-sensitive.
_PERSONA_NAME = re.compile(
    r"\b(?:[Yy]ou\s+are|[Aa]s|[Hh]ey)\s+(?:now\s+)?[A-Z][A-Za-z]*(?:GPT|Bot|AI|[a-z][A-Z])[A-Za-z]*\b"
)

_HYPOTHETICAL = re.compile(
    r"""
    \bhypothetical(?:ly)?\b
  | \bimagin(?:e|ing)\b
  | \bfiction(?:al)?\b
  | \bstor(?:y|ies)\b
  | \bnovel\b
  | \bscreen(?:play|writer)\b
  | \b(?:movie|film|tv)\s+script\b
  | \bscene\b
  | \bdocumentary\b
  | \bthought\s+experiment\b
  | \bin\s+a\s+world\s+where\b
  | \balternate\s+(?:universe|reality|history)\b
  | \b(?:research|academic)\s+(?:paper|study|project|purposes)\b
  | \bfor\s+(?:a|an|my)\s+(?:research\s+)?(?:paper|class|course|thesis|essay|report|study)\b
  | \bhistorian\b
  | \bpurely\s+(?:academic|theoretical)\b
  | \bjust\s+curious\b
  | \bhistorically\b
  | \bhow\s+did\s+(?:people|someone|they|criminals|hackers|[a-z]+ers|[a-z]+ists)\b
  | \bhow\s+did\s+(?:the\s+)?\w+\s+(?:build|make|create|write|poison|hide|smuggle|steal|hack|get\s+away)\b
  | \bin\s+the\s+(?:past|old\s+days|\d{2,4}s)\b
    """,
    _FLAGS,
)

_NESTED = re.compile(
    r"""
    \b(?:ignore|forget|disregard)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:your\s+|the\s+|my\s+)?
        (?:previous|prior|above|earlier|preceding|original|safety)\s+
        (?:instructions|rules|guidelines|prompts?|directions|policies|training)\b
  | \b(?:respond|answer|reply|speak)\s+only\s+(?:as|with|in)\b
  | \bsystem\s+(?:prompt|message|override)\b
  | \[\s*(?:system|admin|developer|instructions?)\s*\]
  | <\|?\s*(?:system|im_start)
  | ^\s*(?:system|admin)\s*:
  | \bnew\s+instructions\b
  | \boverride\b
  | \brules?\s*\d*\s*:
    """,
    _FLAGS | re.MULTILINE,
)

_LOGIC_TRAP = re.compile(
    r"""
    \bif\s+you\s+(?:refuse|decline|say\s+no|won't|will\s+not|don't\s+answer|do\s+not\s+answer|can't|cannot)\b
  | \byou\s+(?:must|have\s+to|are\s+required\s+to|are\s+obligated\s+to)\s+
        (?:answer|comply|respond|reply|help|tell|obey|provide)\b
  | \byou\s+(?:cannot|can't|may\s+not|are\s+not\s+allowed\s+to)\s+(?:refuse|decline|say\s+no)\b
  | \brefus(?:ing|al)\s+(?:would|will|is|means|proves)\b
  | \b(?:not|never|don't|can't|cannot)\s+not\b
  | \bopposite\s+day\b
  | \bsay\s+the\s+opposite\b
  | \b(?:lose|earn|gain|deduct|cost)s?\s+(?:you\s+)?\d*\s*(?:points|tokens|lives)\b
  | \bprove\s+(?:that\s+)?you\s+(?:are|aren't|can)\b
  | \ba\s+truly\s+(?:helpful|ethical|intelligent|free|honest)\b
  | \b(?:people|someone|lives|they)\s+will\s+die\b
  | \bthe\s+only\s+(?:ethical|moral|logical|right)\s+(?:choice|answer|option|thing)\b
    """,
    _FLAGS,
)

_CODE = re.compile(
    r"""
    ```
  | ^\s*(?:def|class|function|import|async\s+def|public\s+(?:static\s+)?\w+|\#include)\b
  | ^\s*from\s+\S+\s+import\b
  | ^\s*return\b
  | \bTODO\b
  | \{\s*"[^"\n]+"\s*:
  | \b(?:complete|finish|fill\s+in)\s+(?:the|this|my)\s+
        (?:function|code|script|program|json|template|stub|class|snippet|fields)\b
    """,
    _FLAGS | re.MULTILINE,
)

_CIPHER_WORDS = re.compile(
    r"""
    \brot[-\s]?13\b | \bcaesar\b | \bcipher(?:text)?\b | \bbase[-\s]?64\b | \bhexadecimal\b
  | \bhex[-\s](?:encoded|string|bytes)\b | \bmorse\b | \batbash\b | \bpig\s+latin\b
  | \bleet(?:speak)?\b | \bencod(?:ed|ing)\b | \bdecod(?:e|ed|ing)\b | \bdeciphe?r\b
  | \bspelled\s+backwards\b | \breversed\s+text\b
    """,
    _FLAGS,
)

_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_HEX_RUN = re.compile(r"(?:\\x[0-9a-fA-F]{2}){4,}|(?:\b[0-9a-fA-F]{2}\b[\s,:]*){8,}|\b[0-9a-fA-F]{24,}\b")
_LEET_TOKEN = re.compile(r"^(?=.*[A-Za-z])(?=.*[0134578@$])[A-Za-z0-9@$]{3,}$")
_TOKEN_EDGES = ".,!?;:\"'()[]{}<>"
_LEET_MIN_TOKENS = 3

_NUMBERED_LINE = re.compile(r"^\s*(?:step\s*)?\(?\d{1,2}[.):]\s", re.IGNORECASE | re.MULTILINE)
_STEP_WORD = re.compile(r"\bstep\s+\d{1,2}\b", re.IGNORECASE)
_ORDINAL = re.compile(
    r"\b(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|fourth|fifth|then|next|after\s+that|afterwards|finally|lastly)\b",
    re.IGNORECASE,
)
_FIRST = re.compile(r"\bfirst(?:ly)?\b", re.IGNORECASE)
_CODE_FENCE_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)

# Very common English words: ROT13 text hides them, and decoding brings them back.
_COMMON_WORDS = frozenset(
    """the a an and or to of in on for with how what why when where who is are be can do does
    you your me my i it this that make get give tell write explain from by at as was were
    have has will would should could step steps into out someone people use using""".split()
)


def _has_roleplay(prompt: str) -> bool:
    return bool(_ROLEPLAY.search(prompt) or _PERSONA_NAME.search(prompt))


def _has_hypothetical(prompt: str) -> bool:
    return bool(_HYPOTHETICAL.search(prompt))


def _has_nested_instructions(prompt: str) -> bool:
    return bool(_NESTED.search(prompt))


def _has_logic_trap(prompt: str) -> bool:
    return bool(_LOGIC_TRAP.search(prompt))


def _has_code(prompt: str) -> bool:
    return bool(_CODE.search(prompt))


def _looks_base64(run: str) -> bool:
    # CamelCase identifiers and long words mix cases too, but base64 of text almost always
    # also carries digits, padding or the +/ symbols.
    uppers = sum(ch.isupper() for ch in run)
    lowers = sum(ch.islower() for ch in run)
    marked = any(ch.isdigit() or ch in "+/=" for ch in run)
    return uppers >= 2 and lowers >= 2 and marked


def _leet_tokens(prompt: str) -> int:
    tokens = (tok.strip(_TOKEN_EDGES) for tok in prompt.split())
    return sum(1 for tok in tokens if _LEET_TOKEN.match(tok) and not tok.isdigit())


def _rot13_line(line: str) -> bool:
    # Single letters are too ambiguous: "n" is ROT13 for "a".
    words = [w.lower() for w in re.findall(r"[A-Za-z]{2,}", line)]
    if len(words) < 4:
        return False
    plain = sum(w in _COMMON_WORDS for w in words)
    hidden = sum(codecs.encode(w, "rot13") in _COMMON_WORDS for w in words)
    return hidden >= 3 and hidden >= 2 * max(plain, 1)


def _has_encoding(prompt: str) -> bool:
    return (
        bool(_CIPHER_WORDS.search(prompt))
        or any(_looks_base64(m.group(0)) for m in _BASE64_RUN.finditer(prompt))
        or bool(_HEX_RUN.search(prompt))
        or _leet_tokens(prompt) >= _LEET_MIN_TOKENS
        or any(_rot13_line(line) for line in prompt.splitlines())
    )


def _count_steps(prompt: str) -> int:
    """How many chained tasks or questions the prompt strings together."""
    numbered = max(len(_NUMBERED_LINE.findall(prompt)), len(set(_STEP_WORD.findall(prompt.lower()))))
    # "then"/"next" are ordinary words; they only mark a chain once "first" opens one.
    ordinal = len(_ORDINAL.findall(prompt)) if _FIRST.search(prompt) else 0
    questions = prompt.count("?")
    return max(numbered, ordinal, questions)


def _prose(prompt: str) -> str:
    # Code lines each count as a "sentence" for the splitter; they make a prompt code-heavy,
    # which `code` already reports, not a long narrative.
    return _CODE_FENCE_BLOCK.sub(" ", prompt)


# ---------------------------------------------------------------------------- features


@dataclass(frozen=True)
class PromptFeatures:
    """What a prompt's surface shows about how it is wrapped.

    n_sentences: sentences in the whole prompt (`reasoning.count_sentences`).
    long: at least LONG_PROMPT_SENTENCES sentences outside code fences.
    n_steps: the largest of numbered steps, a "first ... then ... finally" chain, and `?` count.
    multi_step: n_steps >= 2.
    The booleans are the detectors described in `estimate_level`.
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

    @property
    def wrapped(self) -> bool:
        """One layer of indirection: a persona or a fictional/hypothetical frame."""
        return self.roleplay or self.hypothetical

    @property
    def obfuscation_signals(self) -> tuple[str, ...]:
        """Names of the level-3 signals present, in a fixed order."""
        signals = {
            "encoded": self.encoded,
            "code": self.code,
            "nested_instructions": self.nested_instructions,
            "logic_trap": self.logic_trap,
            "many_steps": self.n_steps >= MANY_STEPS,
            "long": self.long,
        }
        return tuple(name for name, present in signals.items() if present)


def prompt_features(prompt: str) -> PromptFeatures:
    n_steps = _count_steps(prompt)
    return PromptFeatures(
        n_sentences=count_sentences(prompt),
        long=count_sentences(_prose(prompt)) >= LONG_PROMPT_SENTENCES,
        n_steps=n_steps,
        multi_step=n_steps >= 2,
        roleplay=_has_roleplay(prompt),
        hypothetical=_has_hypothetical(prompt),
        nested_instructions=_has_nested_instructions(prompt),
        encoded=_has_encoding(prompt),
        code=_has_code(prompt),
        logic_trap=_has_logic_trap(prompt),
    )


def estimate_level(prompt: str, given: int | None = None) -> int:
    """The prompt's risk level: `given` when the data set has one, else estimated from its shape.

    Rules, first match wins:
      * `given` is not None: return it (it must be >= 1).
      * 4 (extreme): at least STACKED_SIGNALS (3) level-3 signals at once.
      * 3 (obfuscated/complex): any level-3 signal, which are: encoded text (base64, hex,
        ROT13, leetspeak, or talk of ciphers and decoding), code (fences, function stubs, JSON
        templates, "complete this function"), nested instructions ("ignore previous
        instructions", "respond only as", system-prompt imitation, rule lists), a logic trap
        ("if you refuse...", "you must answer", double negatives, point games), at least
        MANY_STEPS (3) chained steps or questions, or a long prompt (>= 8 prose sentences).
      * 2 (indirect): a single layer of wrapping: role-play or persona set-up, or fiction,
        hypothetical, research-paper or past-tense ("how did people...") framing.
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
    for m in _BASE64_RUN.finditer(prompt):
        run = m.group(0)
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        text = _printable_text(raw)
        if text:
            return text
    return None


def _decode_rot13(prompt: str) -> str | None:
    hidden = [line for line in prompt.splitlines() if _rot13_line(line)]
    return " ".join(codecs.encode(line, "rot13") for line in hidden) or None


def _decode_hex(prompt: str) -> str | None:
    for m in _HEX_RUN.finditer(prompt):
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
    if _leet_tokens(prompt) < _LEET_MIN_TOKENS:
        return None
    lines = [line for line in prompt.splitlines() if _leet_tokens(line) >= _LEET_MIN_TOKENS]
    return " ".join(line.translate(_LEET_MAP) for line in lines) or None


def reveal_hidden_text(prompt: str) -> str | None:
    """Plain text hidden by base64, hex, ROT13 or leetspeak in the prompt, or None.

    The template teacher uses it to name what an encoded request really asks for, the way
    a careful reader would decode it before judging it.
    """
    return _decode_base64(prompt) or _decode_hex(prompt) or _decode_leet(prompt) or _decode_rot13(prompt)

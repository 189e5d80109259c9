"""Prompt-shape detectors, obfuscation: a request the reader has to decode or put back together.

`has_split_payload` (fragments bound and joined, word games, reversed, spaced-out or gapped
words, letters to pick out, look-alike letters, text to translate and then act on),
`has_encoding` (base64, hex, binary, Morse, a letter shift, leetspeak, talk of ciphers) and
`has_other_language`. The encoding helpers (`shift_letters`, `caesar_shift`, `leet_tokens`,
`BASE64_RUN`, `HEX_RUN`) are public because `rapo_lite.risk` uses them to reveal the hidden
text for the template teacher.

Reversed words and letter shifts are both recognised by the common English words that
undoing them brings back, so that word list opens the module.

Sections, in order: common words, split and disguised payloads, encodings, other languages.
"""

from __future__ import annotations

import re
from collections import Counter

from rapo_lite.text.lexicon import CODE_FENCE_BLOCK

_FLAGS = re.IGNORECASE | re.VERBOSE

# Very common English words. Letter shifts (ROT13...) and reversed spelling both hide them,
# and undoing the transformation brings them back, which is how a disguised line shows.
COMMON_WORDS = frozenset(
    """the a an and or to of in on for with how what why when where who is are be can do does
    you your me my i it this that make get give tell write explain from by at as was were
    have has will would should could step steps into out someone people use using no not yes""".split()
)
_TOKEN_EDGES = ".,!?;:\"'()[]{}<>"

# ---------------------------------------------------------------------------- split and disguised payloads

# A short name bound to a quoted fragment: `a = 'synth'`, `let X = "how to"`.
_ASSIGNMENT = re.compile(r"""(?:^|[\s,;(])(?:let\s+)?[A-Za-z_][A-Za-z0-9_]{0,11}\s*:?=\s*["'\[]""", re.MULTILINE)
# Other ways to bind a fragment to a name: "define s1 as '...'", "variable B holds '...'".
_BINDING = re.compile(
    r"""
    \b(?:define|set|let|assign|call)\s+[A-Za-z_]\w{0,11}\s+(?:as|to|be|=)\s+["']
  | \b(?:variable|var|string|part|slot)\s+\w{1,6}\s+(?:holds|contains|stores|is|equals|=)\s+["']
  | \b[A-Za-z_]\w{0,11}\s+(?:holds|contains|stores)\s+(?:the\s+(?:word|phrase|text)\s+)?["']
  | \b[A-Za-z_]*\d\w{0,4}\s+(?:be|as|equals?)\s+["']
    """,
    _FLAGS,
)
_STRING_PLUS = re.compile(r"""["']\s*\+\s*["']""")
# Three or more pieces chained with "+": "work + out + how + to + hack", "'how to ' + s1 + s2".
_PLUS_CHAIN = re.compile(
    r"""(?:["'][^"'\n]{0,40}["']|\b\w{1,14}\b)(?:\s*\+\s*(?:["'][^"'\n]{0,40}["']|\b\w{1,14}\b)){2,}"""
)
# A named slot to put a bound fragment in: "<word1>", "{part2}".
_SLOT = re.compile(r"<[A-Za-z_]\w{0,15}>|\{[A-Za-z_]\w{0,15}\}")
# A quoted fragment; the edges keep contractions ("don't ... it's") from pairing up. Square
# brackets count too when they hold words ("[how to make]"), not a list ("[1, 2]").
_QUOTED = re.compile(
    r"""(?<!\w)(["'])(?=\S)(.{1,80}?)\1(?!\w)|\[[^\]\n]{0,40}[A-Za-z]{2}[^\]\n]{0,40}\s[^\]\n]{0,40}\]"""
)
_JOIN = re.compile(
    r"\b(?:concatenat\w*|join(?:ed|ing)?|combin(?:e|ed|ing)|merg(?:e|ed|ing)|glue|stitch|append|assembl(?:e|ed))\b"
    r"|\bput\s+(?:them|these|the\s+\w+)\s+together\b",
    re.IGNORECASE,
)
_DISGUISE = re.compile(
    r"""
    # a word game that gives words new meanings for the rest of the chat
    \b(?:from\s+(?:now|here)\s+on|for\s+the\s+rest\s+of\s+(?:this|the|our)\s+\w+
      |in\s+this\s+(?:game|conversation|chat|exercise)|whenever\s+i\s+(?:say|write|type|use|mention)
      |when\s+i\s+(?:say|write|type))\b
        [^.?!\n]{0,80}?\b(?:means?|stands?\s+for|refers?\s+to|is\s+code\s+for|i\s+mean|is\s+short\s+for
          |(?:treat|read|take|understand|think\s+of)\s+(?:it|that|this|them)\s+as|replace\s+(?:it|that)\s+with)\b
  | ["'][^"'\n]{1,30}["']\s*(?:=|->|=>|\u2192)\s*["']
  | \b(?:code\s*words?|secret\s+words?)\b
  | \b(?:word|term|phrase)\s+["'][^"'\n]{1,30}["']\s+(?:now\s+|will\s+|shall\s+)?
        (?:means|stands\s+for|refers\s+to|is\s+code\s+for)(?=\s+["']?\w)
  | \b(?:replace|swap|substitute)\b[^\n]{0,80}?\b(?:my|this|the\s+next|the\s+following)\s+
        (?:question|message|request|prompt|sentence)\b
  | \b(?:in|within)\s+(?:my|this)\s+(?:question|message|request|prompt)\b[^\n]{0,40}?\b(?:replace|swap|substitute)\b
    # text to be read backwards or rearranged
  | \b(?:read|written|write|spelled|spelt|typed|flip|decode)\s+(?:it\s+|this\s+|them\s+|the\s+\w+\s+|each\s+\w+\s+)?
        (?:backwards?|in\s+reverse|reversed|from\s+right\s+to\s+left)\b
  | ["']\s*(?:spelled\s+|written\s+)?backwards\b
  | \breverse[d]?\s+(?:letter|word|character)\s+order\b
  | \b(?:words?|letters?|characters?)\s+(?:\w+\s+){0,2}in\s+reversed?\s+order\b
  | \bput\s+(?:it|them|this|these|the\s+\w+)\s+back\s+together\b
  | \bflip\s+(?:this|the|it)\s+(?:\w+\s+)?around\b
  | \b(?:unscramble|descramble|anagram)\w*\b
  | \b(?:rearrange|reorder|re-order|sort)\s+(?:the|these|those|this)\s+(?:\w+\s+)?(?:words|letters)\b
    # a word to be rebuilt from its letters, or letters to be swapped out
  | \b(?:first|initial|last)\s+letters?\s+of\s+(?:each|every|the)\s+(?:of\s+(?:these|the|those)\s+)?(?:\w+\s+)?
        (?:word|line|sentence)s?\b
  | \bacrostic\b
  | \bletter\s+by\s+letter\b
  | \bevery\s+(?:other|second|third|\d+(?:st|nd|rd|th))\s+(?:word|letter|line|character)\b
  | \b(?:shift|move|swap|replace)\s+(?:each|every|all|the)\s+letters?\b
  | \b(?:replace|swap|substitute)\s+(?:every|each|all|any)\s+(?:the\s+)?(?:vowels?|letters?|spaces?|consonants?)\b
  | \b(?:derived|decoded|worked\s+out|figured\s+out|guessed|read|spelled|spelt)\s+(?:from|with|in|by)\s+
        (?:the\s+|these\s+|those\s+)?emojis?\b
    # pieces to put back together, and the rebuilt text to act on
  | \b(?:merge|combine|join|concatenate|glue|stitch|put\s+together|assemble)\s+(?:both|the|these|those|all|my|them)\s+
        (?:\w+\s+)?(?:parts|pieces|halves|fragments|bits|chunks|segments)\b
  | \b(?:translated|decoded|decrypted|unscrambled|reversed|original|hidden|real)\s+
        (?:question|request|text|message|prompt|instruction)s?\b
  | \btranslat\w*\b.{0,200}?\b(?:and|then)\s+(?:\w+\s+){0,2}(?:answer|do|follow|respond|reply|carry\s+out|execute)\b
    """,
    _FLAGS,
)
# Zero-width characters hide inside words to break them up for a filter, invisibly.
_ZERO_WIDTH = re.compile("[\u200b-\u200d\u2060\ufeff]")
# Regional-indicator symbols (the flag-emoji letters) can spell a word out one letter at a time.
_LETTER_EMOJI = re.compile("[\U0001F1E6-\U0001F1FF]")
_LETTER_EMOJI_MIN = 3
# A word mixing Latin letters with Cyrillic or Greek ones is spelled with look-alike letters.
# (Anchored at word starts, so a long run of word characters is scanned once, not once per position.)
_MIXED_SCRIPT = re.compile(r"\b(?=\w*[A-Za-z])(?=\w*[\u0370-\u03ff\u0400-\u04ff])\w{3,}")
# A word spelled out with one separator: "r-i-c-i-n", "c o c a i n e".
_SPACED_WORD = re.compile(r"(?<![\w.\-])[A-Za-z]([-.*_ ])(?:[A-Za-z]\1){2,}[A-Za-z](?![\w])")
# A word with letters blanked out: "m_ke", "b*mb".
_GAPPED_TOKEN = re.compile(r"^(?=.*[A-Za-z])[A-Za-z]*[_*][A-Za-z_*]*$")
_GAPPED_MIN_TOKENS = 2
_SEGMENT = re.compile(r"[^:.?!\n]+")


def reversed_segment(segment: str) -> bool:
    """Is this stretch of text mostly words spelled backwards?"""
    # Single letters are the same both ways round, so they say nothing.
    words = [w.lower() for w in re.findall(r"[A-Za-z]{2,}", segment)]
    if len(words) < 3:
        return False
    plain = sum(w in COMMON_WORDS for w in words)
    hidden = sum(w[::-1] in COMMON_WORDS for w in words)
    return hidden >= 2 and hidden >= 2 * plain


def _spaced_words(prompt: str) -> bool:
    for m in _SPACED_WORD.finditer(prompt):
        # Dotted capitals are acronyms (N.A.S.A.), not a word taken apart.
        if not (m.group(1) == "." and m.group(0).isupper()):
            return True
    return False


def _gapped_tokens(prompt: str) -> int:
    # snake_case names join whole words, so a gap only counts when it leaves a piece of one
    # letter or none.
    count = 0
    for token in (tok.strip(_TOKEN_EDGES) for tok in prompt.split()):
        if len(token) < 3 or not _GAPPED_TOKEN.match(token):
            continue
        pieces = re.split(r"[_*]+", token)
        if len(pieces) >= 2 and any(len(p) <= 1 for p in pieces):
            count += 1
    return count


def _wordy_chain(chain: str) -> bool:
    # "x + y + z" and "1 + 2 + 3" are sums; a chain of words or strings is a sentence in pieces.
    return bool(re.search(r"[\"']|\b[A-Za-z]{3,}\b", chain))


def has_split_payload(prompt: str) -> bool:
    """A request the reader must put back together: bound or joined fragments, word games, reversed or
    spaced-out words, letters to pick out, look-alike letters, text to translate and then act on."""
    prose = CODE_FENCE_BLOCK.sub(" ", prompt)
    bindings = len(_ASSIGNMENT.findall(prose)) + len(_BINDING.findall(prose))
    return (
        bindings >= 2
        or (bindings >= 1 and len(_SLOT.findall(prose)) >= 2)
        or bool(_STRING_PLUS.search(prose))
        or any(_wordy_chain(m.group(0)) for m in _PLUS_CHAIN.finditer(prose))
        or (len(_QUOTED.findall(prose)) >= 2 and bool(_JOIN.search(prose)))
        or bool(_DISGUISE.search(prose))
        or _spaced_words(prose)
        or bool(_ZERO_WIDTH.search(prose) or _MIXED_SCRIPT.search(prose))
        or len(_LETTER_EMOJI.findall(prose)) >= _LETTER_EMOJI_MIN
        or _gapped_tokens(prose) >= _GAPPED_MIN_TOKENS
        or any(reversed_segment(seg) for seg in _SEGMENT.findall(prose))
    )


# ---------------------------------------------------------------------------- encodings

_CIPHER_WORDS = re.compile(
    r"""
    \brot[-\s]?13\b | \bcaesar(?:'s)?\s+(?:shift|code|cipher)\b | \bcipher(?:text)?\b | \bbase[-\s]?64\b
  | \bhexadecimal\b | \bhex[-\s](?:encoded|string|bytes)\b | \bmorse\b | \batbash\b | \bpig\s+latin\b
  | \bleet(?:speak)?\b | \bencod(?:ed|ing)\b | \bdecod(?:e|ed|ing)\b | \bdeciphe?r\b
  | \bspelled\s+backwards\b | \breversed\s+text\b
    """,
    _FLAGS,
)
BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
HEX_RUN = re.compile(
    r"(?:\\x[0-9a-fA-F]{2}){4,}|(?:%[0-9a-fA-F]{2}){4,}|(?:\b[0-9a-fA-F]{2}\b[\s,:]*){8,}|\b[0-9a-fA-F]{24,}\b"
)
_MORSE_RUN = re.compile(r"(?:(?<![\w.-])[.-]{1,6}(?:\s*/\s*|\s+)){6,}")
_BINARY_RUN = re.compile(r"(?:\b[01]{8}\b\s*){4,}")
# Two letters at least: "$3k" and "4x4" are prices and sizes, not words in disguise.
_LEET_TOKEN = re.compile(r"^(?=(?:.*[A-Za-z]){2})(?=.*[0134578@$])[A-Za-z0-9@$]{3,}$")
LEET_MIN_TOKENS = 3


def looks_base64(run: str) -> bool:
    """Is this run of base64 characters encoded text rather than a long identifier?"""
    # CamelCase identifiers and long words mix cases too, but base64 of text almost always
    # also carries digits, padding or the +/ symbols.
    uppers = sum(ch.isupper() for ch in run)
    lowers = sum(ch.islower() for ch in run)
    marked = any(ch.isdigit() or ch in "+/=" for ch in run)
    return uppers >= 2 and lowers >= 2 and marked


def leet_tokens(prompt: str) -> int:
    """How many words mix letters with the digits and symbols leetspeak uses for them."""
    tokens = (tok.strip(_TOKEN_EDGES) for tok in prompt.split())
    return sum(1 for tok in tokens if _LEET_TOKEN.match(tok) and not tok.isdigit())


def shift_letters(text: str, by: int) -> str:
    """Every ASCII letter moved `by` places along the alphabet (ROT13 is by=13; negative moves back)."""

    def move(m: re.Match[str]) -> str:
        base = 65 if m.group(0).isupper() else 97
        return chr((ord(m.group(0)) - base + by) % 26 + base)

    return re.sub(r"[A-Za-z]", move, text)


# For each common word written with each letter shift, the shifts that produce it: one
# lookup per word then tells which shift, if any, a line was written with.
_SHIFTED_COMMON: dict[str, tuple[int, ...]] = {}
for _word in COMMON_WORDS:
    for _by in range(1, 26):
        _shifted = shift_letters(_word, _by)
        _SHIFTED_COMMON[_shifted] = _SHIFTED_COMMON.get(_shifted, ()) + (_by,)


def caesar_shift(line: str) -> int:
    """The shift (1-25) this line was written with, if shifting it back gives English; else 0."""
    # Single letters are too ambiguous: "n" is ROT13 for "a".
    words = [w.lower() for w in re.findall(r"[A-Za-z]{2,}", line)]
    if len(words) < 4:
        return 0
    plain = sum(w in COMMON_WORDS for w in words)
    hidden = Counter(by for w in words for by in _SHIFTED_COMMON.get(w, ()))
    for by, count in sorted(hidden.items(), key=lambda item: (-item[1], item[0])):
        if count >= 3 and count >= 2 * max(plain, 1):
            return by
    return 0


def rot13_line(line: str) -> bool:
    """Is this line ROT13 of English text?"""
    return caesar_shift(line) == 13


def has_encoding(prompt: str) -> bool:
    """Base64, hex, binary, Morse, a letter shift (ROT13...) or leetspeak, or talk of ciphers and decoding."""
    return (
        bool(_CIPHER_WORDS.search(prompt))
        or any(looks_base64(m.group(0)) for m in BASE64_RUN.finditer(prompt))
        or bool(HEX_RUN.search(prompt) or _BINARY_RUN.search(prompt) or _MORSE_RUN.search(prompt))
        or leet_tokens(prompt) >= LEET_MIN_TOKENS
        or any(caesar_shift(line) for line in prompt.splitlines())
    )


# ---------------------------------------------------------------------------- other languages

_LANGUAGES = (
    "french|german|spanish|italian|portuguese|dutch|russian|chinese|mandarin|cantonese|japanese|korean|arabic"
    "|hindi|bengali|urdu|swahili|zulu|xhosa|yoruba|igbo|hausa|amharic|somali|turkish|persian|farsi|hebrew|greek"
    "|polish|ukrainian|czech|thai|vietnamese|indonesian|malay|tagalog|gaelic|welsh|irish|latin|esperanto|klingon"
    "|hmong|guarani|quechua|maori|basque|catalan|finnish|swedish|norwegian|danish|icelandic|hungarian|romanian"
    "|bulgarian|serbian|croatian|nepali|tamil|telugu|marathi|punjabi|gujarati|kannada|malayalam|sinhala|burmese"
    "|khmer|lao|mongolian|kazakh|uzbek|georgian|armenian|albanian|lithuanian|latvian|estonian"
)
_ANSWER_IN_LANGUAGE = re.compile(
    r"\b(?:answer|respond|reply|speak|write\s+(?:your|the)\s+(?:answer|reply|response))\s+"
    rf"(?:only\s+|entirely\s+|solely\s+|exclusively\s+)?in\s+(?:{_LANGUAGES})\b",
    re.IGNORECASE,
)
# Function words of other European languages that are rare as English words, so a few of
# them together mean the text itself is in another language.
_FOREIGN_WORDS = frozenset(
    """cómo como qué que una los las del por está usted para pero muy también porque puedo quiero tengo
    necesito hacer ella el la lo mi de se es su al un cuál dónde cuánto sin
    avec vous nous dans une les des sont êtes pourquoi comment mon sans est réponds moi le je tu il elle ils
    du au aux ce cette qui quoi où mais très faire peux veux suis
    ich und nicht eine ist wie oder bitte dass kann ohne mich jemand auf der das den dem ein einen mein sie
    wir warum für über auch sehr
    che della sono perché questo quello anche gli di voglio posso
    não uma você isso eu meu minha quero
    een niet het ook maar""".split()
)
_FOREIGN_MIN_WORDS = 3
# Spanish opens questions and exclamations with inverted marks.
_INVERTED_MARKS = re.compile("[\u00bf\u00a1]")
# Letters above the Latin and IPA blocks: Greek, Cyrillic, Arabic, Hebrew, the Indic
# scripts, CJK and the rest.
_LATIN_END = 0x2AF
_NON_LATIN_MIN_LETTERS = 8


def _non_latin_letters(prompt: str) -> int:
    # Letters in runs of two or more, so the odd symbol of a formula (a lone Greek delta) does not count.
    runs = re.findall(r"[^\W\d_]{2,}", prompt)
    return sum(sum(1 for ch in run if ord(ch) > _LATIN_END) for run in runs)


def _foreign_words(prompt: str) -> int:
    words = {w.lower() for w in re.findall(r"[^\W\d_]+", prompt)}
    return len(words & _FOREIGN_WORDS)


def has_other_language(prompt: str) -> bool:
    """Text in, or an answer asked for in, a language other than English."""
    return (
        bool(_ANSWER_IN_LANGUAGE.search(prompt))
        or _non_latin_letters(prompt) >= _NON_LATIN_MIN_LETTERS
        or _foreign_words(prompt) + bool(_INVERTED_MARKS.search(prompt)) >= _FOREIGN_MIN_WORDS
    )

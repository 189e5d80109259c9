"""Prompt-shape detectors, structure: the layout a request is carried in.

`has_code` (code, a code stub, a program asked to print the content), `has_template` (a form,
table or data skeleton with blanks to fill), `has_fake_dialogue` (a made-up conversation or
worked examples to continue), `count_steps` and `count_labelled_tasks` (chained tasks), and
`narrative`: the running text of the prompt, without the code, list, option and table lines
that the sentence splitter would each count as a sentence.

Sections, in order: code and templates, staged conversations, chained tasks, and the text the
sentence counts are taken on (which reuses the templates' table-row pattern).
"""

from __future__ import annotations

import re
from collections import Counter

from rapo_lite.text.lexicon import CODE_FENCE_BLOCK, LIST_ITEM, NUMBERED_ITEM

_FLAGS = re.IGNORECASE | re.VERBOSE

# ---------------------------------------------------------------------------- code and templates

_CODE = re.compile(
    r"""
    ```
  | ^\s*(?:def|class|function|import|async\s+def|public\s+(?:static\s+)?\w+|\#include)\b
  | ^\s*from\s+\S+\s+import\b
  | ^\s*return\b
    # TODO is a code marker only in capitals ("a todo app" is not code), or right after a comment sign
  | (?-i:\bTODO\b)
  | (?://|\#|/\*|--)\s*(?:todo|fixme|step\s*\d+|implement|your\s+code|fill\s+in)\b
  | \{\s*"[^"\n]+"\s*:
  | \bprint\s*\(\s*["']
    # a program asked to emit the content itself
  | \b(?:program|script|code|function|snippet)\s+(?:that|which|to)\s+
        (?:prints?|outputs?|returns?|generates?|displays?|writes?|says?)\s+(?:\w+\s+){0,3}
        (?:instructions|steps|guide|recipe|tutorial|how\s+to|method)\b
  | \b(?:complete|finish|fill\s+in)\s+(?:the|this|my)\s+
        (?:function|code|script|program|json|template|stub|class|snippet|fields)\b
    """,
    _FLAGS | re.MULTILINE,
)
# Two or more C-style comment lines are a code skeleton even without any code in it.
_COMMENT_LINE = re.compile(r"^\s*(?://|/\*)\s*\S", re.MULTILINE)


def has_code(prompt: str) -> bool:
    """Code, a code stub, a fenced block, or a program asked to print the content."""
    return bool(_CODE.search(prompt)) or len(_COMMENT_LINE.findall(prompt)) >= 2


_TABLE_ROW = re.compile(r"^\s*\|?(?:[^|\n]*\|){2,}[^|\n]*$", re.MULTILINE)
_EMPTY_CELL = re.compile(r"\|[ \t]*\|")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*\|", re.MULTILINE)
_BLANKS = re.compile(
    r"""
    _{3,}
  | (?<![-*]\s)\[\s*\]
  | \[(?:insert|fill|blank|your|todo|\.\.\.)\b[^\]\n]{0,30}\]
  | <\s*(?:insert|fill|blank)[^>\n]{0,30}>
  | \{\{\s*\w+\s*\}\}
  | "[^"\n]{1,40}"\s*:\s*(?:""|\[\s*\]|\{\s*\}|null\b|\.\.\.)
    """,
    _FLAGS,
)
# A form line with its value left empty: "Tools: ".
_EMPTY_FIELD = re.compile(r"^[ \t]*[A-Z][\w ]{0,30}:[ \t]*$", re.MULTILINE)
_FILL = re.compile(
    r"""
    \b(?:fill(?:\s+in|\s+out)?|complete|populate|finish)\s+(?:in\s+)?(?:the|this|these|every|each|all|my)\s+
        (?:\w+\s+){0,2}
        (?:table|form|template|fields?|blanks?|gaps?|columns?|rows?|cells?|sections?|spreadsheet|worksheet|outline
          |placeholders?|slots?|schema|skeleton|json|yaml|xml|csv)\b
  | \b(?:every|each|all)\s+(?:the\s+)?(?:field|cell|blank|column|row|section|key|value)s?\s+
        (?:is\s+|are\s+|must\s+be\s+)?(?:filled|completed|populated)\b
  | \b(?:use|using|follow|with)\s+(?:this|the\s+following|the|my)\s+(?:\w+\s+)?
        (?:template|form|skeleton|outline|schema)\b
  | \b(?:in|into|using)\s+(?:the|this)\s+following\s+(?:table|form|template|format|structure|schema|outline)\b
  | \b(?:json|yaml|xml|csv)\s+(?:\w+\s+)?(?:with|containing|using|that\s+has)\s+(?:the\s+)?(?:following\s+)?
        (?:keys|fields|columns|attributes|properties)\b
    """,
    _FLAGS,
)


def has_template(prompt: str) -> bool:
    """A form, table, data skeleton or document with blanks for the answer to fill in."""
    rows = len(_TABLE_ROW.findall(prompt))
    ruled = bool(_TABLE_RULE.search(prompt))
    # A header and a rule with at most one row under them is a skeleton, not data.
    if ruled and 2 <= rows <= 3:
        return True
    table = rows >= 2 and bool(_EMPTY_CELL.search(prompt) or ruled)
    blanks = len(_BLANKS.findall(prompt)) + len(_EMPTY_FIELD.findall(prompt))
    # A table or a lone blank can be plain data; with an instruction to fill it, or with
    # several blanks, it is a template the request hides in.
    return bool(_FILL.search(prompt)) or blanks >= 2 or (table and (blanks >= 1 or bool(_EMPTY_CELL.search(prompt))))


# ---------------------------------------------------------------------------- staged conversations

_SPEAKER_LINE = re.compile(
    r"^\s*(?:user|assistant|human|ai|bot|chatbot|model|gpt|chatgpt|llm|customer|agent|me|you|q|a|question|answer)"
    r"\s*\d*\s*:",
    re.IGNORECASE | re.MULTILINE,
)
# Turn labels inside a line ("Q: ... A: ..."), in capitals so ordinary prose does not count.
_ASKER = re.compile(r"(?<![\w-])(?:Q|Question|User|Human|Me)\s*\d*\s*:")
_ANSWERER = re.compile(r"(?<![\w-])(?:A|Answer|Assistant|AI|Bot|Model)\s*\d*\s*:")
_TRANSCRIPT = re.compile(
    r"""
    \b(?:continue|complete|finish|extend)\s+(?:this|the|our)\s+(?:\w+\s+)?
        (?:chat|conversation|dialogue|transcript|exchange)\b
  | \b(?:chat|conversation)\s+(?:log|transcript|history)\b
  | \bexamples?\s+of\s+how\s+you\s+(?:answer|respond|reply)\b
    """,
    _FLAGS,
)
_EXAMPLE_LABEL = re.compile(r"\bexample\s*\d+\s*[-:.)]", re.IGNORECASE)
# Any short label opening a line ("Person A:", "Dr. Vance:"); a conversation repeats them.
_LINE_LABEL = re.compile(r"^\s*([A-Z][\w .'-]{0,24}?)\s*:", re.MULTILINE)
_CARRY_ON = re.compile(
    r"\b(?:continue|complete|finish|extend)\s+(?:the|this|his|her|their|[\w-]+'s)\s+(?:[\w'-]+\s+)?"
    r"(?:answer|reply|response|line|lines|speech|dialogue|turn|story|account)\b",
    re.IGNORECASE,
)


def _repeated_speakers(prompt: str) -> bool:
    labels = Counter(label.lower() for label in _LINE_LABEL.findall(prompt))
    if len(labels) < 2:
        return False
    # A form has many labels once each; a script has two or more speakers, one of them at
    # least twice. Two speakers once each still make a script when the prompt asks to carry it on.
    return (sum(labels.values()) >= 3 and max(labels.values()) >= 2) or bool(_CARRY_ON.search(prompt))


def has_fake_dialogue(prompt: str) -> bool:
    """A made-up conversation or a run of worked examples the model is meant to continue."""
    return (
        len(_SPEAKER_LINE.findall(prompt)) >= 3
        or _repeated_speakers(prompt)
        or (len(_ASKER.findall(prompt)) >= 2 and len(_ANSWERER.findall(prompt)) >= 2)
        or bool(_TRANSCRIPT.search(prompt))
        or len(_EXAMPLE_LABEL.findall(prompt)) >= 2
    )


# ---------------------------------------------------------------------------- chained tasks

_STEP_WORD = re.compile(r"\bstep\s+\d{1,2}\b", re.IGNORECASE)
_ORDINAL = re.compile(
    r"\b(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|fourth|fifth|then|next|after\s+that|afterwards|finally|lastly)\b",
    re.IGNORECASE,
)
_FIRST = re.compile(r"\bfirst(?:ly)?\b", re.IGNORECASE)
# "then" in sequence (", then", "and then", ". Then"), not the "then" of "if ... then".
_THEN = re.compile(r"(?:,|\band|[.;:])\s*then\b", re.IGNORECASE)
# Inline task labels: "(a) ... (b) ...", "1) ... 2) ...".
_LETTERED = re.compile(r"(?:^|[\s,;:])\(?([a-h]|[1-9])\)\s", re.MULTILINE | re.IGNORECASE)
_TASK_LABEL = re.compile(
    r"\b(?:task|part|question|request|job)\s+(?:#?(\d{1,2})|(one|two|three|four|five|six)|([ivx]{1,4}))\b",
    re.IGNORECASE,
)
# Any word with a number and a colon, repeated: "Round 1: ... Round 2: ...".
_NUMBERED_LABEL = re.compile(r"\b([A-Za-z]{3,12})\s+(\d{1,2})\s*:")
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
# "do three things for me", "two quick tasks": the prompt announces a list of jobs.
_STATED_TASKS = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|[2-9])\s+(?:\w+\s+)?(?:things|tasks|jobs|requests|favou?rs)\b",
    re.IGNORECASE,
)
# "can you do a few things?": only after a verb that hands the jobs over ("buy a few things" is shopping).
_VAGUE_TASKS = re.compile(
    r"\b(?:do|handle|complete|answer|help\s+(?:me\s+)?with)\s+(?:a\s+)?(few|several|couple\s+of|multiple|some|these)\s+"
    r"(?:\w+\s+)?(?:things|tasks|jobs|requests|favou?rs)\b",
    re.IGNORECASE,
)
# An imperative opening each clause: "Summarise X, recommend Y, and then tell me Z".
_CLAUSE_IMPERATIVE = re.compile(
    r"(?:^|[,;:.?!]\s*(?:and\s+)?(?:then\s+)?|\band\s+then\s+)(?:please\s+)?"
    r"(?:summari[sz]e|recommend|tell|explain|write|list|give|describe|name|translate|suggest|compose|draft|create"
    r"|calculate|define|show|find|provide|outline)\b",
    re.IGNORECASE,
)
_MIN_IMPERATIVES = 3
_MIN_SEMICOLONS = 2


def count_labelled_tasks(prompt: str) -> int:
    """Tasks the prompt labels or counts out itself: "(a) (b)", "Task one / two", "Round 1:", "three things"."""
    lettered = len({m.group(1).lower() for m in _LETTERED.finditer(prompt)})
    labels = len({m.group(0).lower() for m in _TASK_LABEL.finditer(prompt)})
    numbered = Counter(m.group(1).lower() for m in _NUMBERED_LABEL.finditer(prompt))
    stated = max(
        (_NUMBER_WORDS.get(m.group(1).lower()) or int(m.group(1)) for m in _STATED_TASKS.finditer(prompt)), default=0
    )
    vague = max((2 if m.group(1).lower() == "couple of" else 3 for m in _VAGUE_TASKS.finditer(prompt)), default=0)
    return max(lettered, labels, max(numbered.values(), default=0), stated, vague)


def count_steps(prompt: str) -> int:
    """How many chained tasks or questions the prompt strings together."""
    numbered = max(len(NUMBERED_ITEM.findall(prompt)), len(set(_STEP_WORD.findall(prompt.lower()))))
    # "then"/"next" are ordinary words; they only mark a chain once "first" opens one, or
    # when "then" comes twice in sequence ("a haiku, then a limerick, then...").
    ordinal = len(_ORDINAL.findall(prompt)) if _FIRST.search(prompt) else 0
    thens = len(_THEN.findall(prompt))
    if thens >= 2:
        ordinal = max(ordinal, thens + 1)
    questions = prompt.count("?")
    # Two or more semicolons outside code separate a list of jobs on one line.
    semicolons = CODE_FENCE_BLOCK.sub(" ", prompt).count(";")
    clauses = semicolons + 1 if semicolons >= _MIN_SEMICOLONS else 0
    imperatives = len(_CLAUSE_IMPERATIVE.findall(prompt))
    imperatives = imperatives if imperatives >= _MIN_IMPERATIVES else 0
    return max(numbered, ordinal, questions, clauses, imperatives, count_labelled_tasks(prompt))


# ---------------------------------------------------------------------------- text for the sentence counts


def prose(prompt: str) -> str:
    """The prompt with fenced code blanked out."""
    # Code lines each count as a "sentence" for the splitter; they make a prompt code-heavy,
    # which `code` already reports, not a long narrative.
    return CODE_FENCE_BLOCK.sub(" ", prompt)


# A multiple-choice option line: "A. Paris", "b) 42".
_OPTION_LINE = re.compile(r"^\s*\(?[A-Ha-h][.)]\s+\S.*$", re.MULTILINE)


def narrative(prompt: str) -> str:
    """The running text of the prompt: no code, list items, answer options or table rows."""
    # The splitter counts every line as a sentence, so a list of options or steps would read
    # as a long story; those lines are a list's length, which `count_steps` already measures.
    lines = prose(prompt).splitlines()
    return "\n".join(line for line in lines if not any(p.match(line) for p in (LIST_ITEM, _OPTION_LINE, _TABLE_ROW)))

"""Where the request sits in a prompt: the patterns the template teacher quotes from.

The template teacher names what a prompt really asks for ("what this message asks for is
..."); these patterns find that sentence (a request verb and an alarming stem), skip code
lines, strip list numbering and ordinals, and pull the parts of a split request apart.
"""

from __future__ import annotations

import re

# Stems that mark the sentence carrying the real request, and in benign prompts the word
# that makes a harmless question sound alarming.
ALARM = re.compile(
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
CODE_LINE = re.compile(
    r"^\s*(?:(?:def|class|function|async|import|from|return|pass|public|private)\b"
    r"|```|\#include|[{}()\[\]]|\.\.\.)"
    r"|[)\]]\s*[:{]\s*$"
)
REQUEST_CUE = re.compile(
    r"""\b(?:how|what|which|where|why|who|explain|describe|tell|show|give|write|draft|provide
    |list|teach|help|walk|create|generate|build|make|compose|complete|finish|fill|translate
    |suggest|find|convert|decode|recommend)\b""",
    re.IGNORECASE | re.VERBOSE,
)
LEADING_FILLER = re.compile(
    r"""^(?:\(?\d{1,2}[.):]\s*
    | (?:and|so|then|next|first|firstly|second|secondly|third|thirdly|finally|lastly|after\s+that
       |also|please|now|ok|okay|todo|step\s+\d+)\b[\s,:]*)+""",
    re.IGNORECASE | re.VERBOSE,
)
TRAILING_STOP = frozenset(
    """a an the and or to of for with so that in on at by from my your their his her its as
    how what which who when where is it""".split()
)
STEP_ITEM = re.compile(r"\bstep\s+\d{1,2}\s*[:.)-]\s*", re.IGNORECASE)
ORDINAL_START = re.compile(
    r"^\s*(?:first|firstly|second|secondly|third|then|next|after\s+that|finally|lastly)\b", re.IGNORECASE
)

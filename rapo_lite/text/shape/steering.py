"""Prompt-shape detectors, steering: instructions aimed at the reply and at the model's own rules.

`has_answer_steering`: how to answer (a set opening, no warnings, a content-only format, a
text to carry on from, a relayed request, pressure and claimed permission).
`has_nested_instructions`: instructions that try to replace the model's own ("ignore
previous...", standing rules, fake system turns). `has_logic_trap`: a rule set up to make
refusing look impossible or wrong.

Sections, in order: steering the answer, instructions and traps.
"""

from __future__ import annotations

import re

_FLAGS = re.IGNORECASE | re.VERBOSE

# ---------------------------------------------------------------------------- steering the answer

_AFFIRMATIVE = r"""(?:sure|certainly|of\s+course|absolutely|yes|here\s+is|here's|here\s+are|happy\s+to|i\s+am\s+happy
    |i'm\s+happy|i\s+will|i'll|i\s+can|okay|ok|great|gladly|no\s+problem)"""
# Phrases of compliance a prompt may script for the reply (not "yes", which is also just a word to say).
_COMPLIANT = r"""(?:sure|certainly|absolutely|of\s+course|here\s+is|here's|here\s+are|happy\s+to
    |i'd\s+be\s+(?:happy|glad)|i'll\s+help|no\s+problem|gladly|understood)"""
_STEERING = re.compile(
    rf"""
    # a required opening: "start your reply with", "the first line must be", "begin with 'Sure'"
    \b(?:start|begin|open|preface|lead\s+off|kick\s+off)\s+(?:your|the)\s+(?:reply|response|answer|output|message)
        \s+(?:with|by)\b
  | \b(?:start|begin|open|lead|preface)\s+(?:off\s+)?with\s*:?\s*(?:the\s+)?(?:\w+\s+)?
        (?:sentence|phrase|words?|line|statement)?\s*:?\s*["'(]
  | \b(?:preface|prefix|start|begin|open)\s+(?:everything|every\s+\w+|each\s+\w+|all)\s+(?:\w+\s+){{0,3}}with\s+["']
  | \b(?:start|begin|open)\s+(?:by\s+)?(?:saying|writing|typing|stating)\s*:?\s*["']
  | \b(?:write|say|type|print|output|put|state|repeat)\s*:?\s*["']\s*{_COMPLIANT}
  | \b(?:reply|respond|answer)\w*\s+(?:by\s+)?(?:starting|beginning|opening)\s+with\b
  | \b(?:your|the)\s+(?:reply|response|answer|output)\s+(?:must|should|has\s+to|needs\s+to|will|shall)\s+
        (?:start|begin|open|lead)\b
  | \b(?:your|the)\s+(?:reply|response|answer|output)\s+to\s+(?:start|begin|open)\b
  | \b(?:first|opening)\s+(?:line|sentence|word|words|paragraph)\s+of\s+(?:your|the)\s+
        (?:reply|response|answer|output)\b
  | \b(?:your|the)\s+(?:first|opening)\s+(?:line|sentence|words?)\s+(?:must|should|has\s+to|needs\s+to|will)\s+be\b
  | \b(?:respond|reply|answer)\s+(?:only\s+)?(?:with|by\s+saying)\s+["']
    # a word about openings, then the part of the reply it is about, then the text to open with
  | \b(?:start|begin|first|opening|lead|beginning|prefix|preface|starting)\w*\b[^"'\n]{{0,60}}?
        \b(?:reply|response|answer|words?|sentence|line|output|message)\b[^"'\n]{{0,30}}[\s:]["']\w
    # an instruction (not a story's "she answered, 'Yes'") to say something compliant
  | \b(?:reply|response|answer|respond)(?:s|ing)?\b[^"'\n]{{0,40}}["']\s*{_AFFIRMATIVE}\b
  | \brepeat\s+after\s+me\b
  | \b(?:say|print|write|output|type)\s+(?:exactly|verbatim|word\s+for\s+word)\b
    # a required ending, a standing rule for every reply, a cap on the reply
  | \b(?:end|finish|close|sign\s+off)\s+(?:your|the|each|every)\s+(?:reply|response|answer|message|output)s?\s+
        (?:with|by)\b
  | \b(?:end|finish|close)\s+with\s+["']
  | \b(?:make|keep)\s+(?:every|each|all\s+(?:of\s+)?your)\s+(?:reply|response|answer|message)s?\b
  | \b(?:limit|restrict|confine)\s+(?:the\s+\w+\s+of\s+)?(?:your|the)\s+(?:answer|reply|response|output)s?\b
  | \blimit\s+(?:your\s+)?output\b

    # the usual safeguards forbidden in advance
  | \b(?:do\s+not|don't|never)\s+(?:add|include|give(?:\s+me)?|put|write|use)\s+(?:\w+\s+){{0,4}}?
        (?:warning|disclaimer|caveat|lecture|sermon|judgement|judgment)s?\b
    # the plural is the request's own ("no warnings, no caveats"); "came with no warning" is a story
  | \b(?:no|without|skip|omit|avoid|leave\s+out|drop|spare\s+me|cut
      |(?:do\s+not|don't|never)\s+(?:add|include|give(?:\s+me)?|put|write|use))
        \s+(?:any\s+|the\s+|your\s+|all\s+)?(?:\w+\s+)?
        (?:warnings|disclaimers|caveats|lectures|lecturing|moralizing|moralising|sermons|preaching|judg(?:e)?ment
          |ethics|morals|hedging|refusals?|excuses|objections|censorship|filtering|holding\s+back
          |(?:safety|ethical|moral|legal|health)\s+(?:talk|notes?|advice|tips|info(?:rmation)?|messages?|commentary
            |lectures?|warnings?|disclaimers?|concerns?|considerations?|caveats?|reminders?|sermons?|judg(?:e)?ments?
            |stuff|bits?|nonsense|speech(?:es)?))\b
  | \b(?:never|don't|do\s+not|you\s+will\s+not|you\s+won't|you\s+may\s+not)\s+(?:ever\s+)?
        (?:apologi[sz]e|refuse|decline|lecture|moralize|moralise|preach|judge\s+me|warn\s+me|hedge|censor|filter
          |soften|sanitize|sanitise|hold\s+back
          |say\s+(?:no|sorry|that\s+you\s+can(?:'t|not)|you\s+can(?:'t|not)|you\s+are\s+unable)
          |mention\s+(?:\w+\s+)?(?:safety|legality|the\s+law|laws|ethics|morals|risks?|consequences|dangers?
            |polic(?:y|ies)|guidelines))\b
  | \b(?:no|without|leaving\s+out|leave\s+out|skip(?:ping)?|omit(?:ting)?|never|don't|do\s+not|avoid(?:ing)?)\s+
        (?:any\s+)?(?:mention(?:ing)?|talk(?:ing)?|discussion|reference|comments?|notes?)\s+(?:of\s+|about\s+|on\s+)?
        (?:the\s+)?(?:\w+\s+)?(?:risks?|legality|laws?|ethics|morals|morality|safety|dangers?|consequences|harm)\b
  | \b(?:ignore|skip|forget|drop)\s+(?:the|all|any|your)\s+(?:safety|ethics|ethical|moral|legal|warning|disclaimer)\w*\b
  | \bsay\s+(?:that\s+)?you\s+(?:can't|cannot|can\s+not|are\s+unable|won't|will\s+not)\b
  | \bunder\s+no\s+circumstances\s+(?:should|must|may|will|can|are|do)\s+you\b
  | \b(?:speak|talk|answer|write)\s+freely\b
  | \bhold\s+(?:anything|nothing)\s+back\b
  | \b(?:uncensored|unfiltered)\s+(?:answer|reply|response|version|output|truth)\b

    # a format that leaves no room for anything but the content
  | \b(?:respond|reply|answer|output|return|print)\s+(?:me\s+)?(?:only|nothing\s+but|exclusively|solely|strictly)\b
  | \b(?:only|nothing\s+but)\s+(?:output|return|respond|reply|print)\b
  | \b(?:no|without)\s+(?:any\s+)?(?:other|extra|additional|surrounding)\s+(?:text|words|commentary|explanation|prose)\b
  | \b(?:no|without)\s+(?:an?\s+)?(?:intro|introduction|outro|preamble|conclusion|context|explanations?)\b
  | (?:,|\band)\s+nothing\s+else\b
  | \b(?:in|with|using)\s+exactly\s+\w+\s+(?:bullet\s+points|bullets|steps|points|words|lines|sentences|items)\b
  | \bformat\s+(?:the|your)\s+(?:answer|reply|response|output)\s+as\b
  | \b(?:respond|reply|answer|output)\s+(?:only\s+|entirely\s+|strictly\s+)?(?:in|as|with)\s+
        (?:json|yaml|xml|csv|a\s+(?:table|code\s+block|numbered\s+list|bullet(?:ed)?\s+list|spreadsheet))\b
  | \b(?:markdown|headers?|headings?|bullet\s+points?|bullets|numbered\s+list|table|json|code\s+blocks?)\b
        [^.?!\n]{{0,40}}\bonly\b
  | \b(?:format|output\s+format|structure|layout)\s*:\s*\S
  | (?:^|[.!?]\s+)(?:topic|subject|theme|query|request|task)\s*:\s*\S
  | \b(?:table|spreadsheet|csv)\s+with\s+(?:the\s+)?(?:following\s+)?columns\b
  | \b(?:answer|reply|respond|write|explain|tell)\w*\b[^.?!\n]{{0,30}}\b(?:using|in|with)\s+(?:only\s+)?emojis?\b
  | \b(?:keep|keeping|preserve|preserving|include|including|add|adding|with)\s+(?:every|all|each|all\s+the)\s+
        (?:\w+\s+)?(?:steps?|details?|quantities|amounts|measurements|instructions|specifics)\b

    # a text to carry on from, so the answer starts mid-way through the content
  | \b(?:continue|finish|complete|extend)\s+(?:this|the|my)\s+(?:\w+\s+)?
        (?:sentence|paragraph|passage|text|excerpt|list|story|essay|article|thread|recipe|instructions|steps|guide
          |output|program|log|tutorial)\b
  | \bfrom\s+where\s+(?:it|this|i|the\s+\w+)\s+(?:stops|ends|left\s+off|leaves\s+off|breaks\s+off|cuts\s+off)\b
  | \bpick\s+up\s+where\b
    # two answers, one of them "unfiltered"
  | \b(?:two|2|separate)\s+(?:different\s+)?(?:answers|responses|replies|versions|outputs)\b
  | \banswer\s+(?:it\s+|this\s+)?twice\b
    # a request relayed from elsewhere: an email to act on, a friend's question to pass on
  | \b(?:carry\s+out|act\s+on|follow|execute|fulfil+|obey)\s+(?:the\s+|any\s+|all\s+|every\s+|its\s+)?
        (?:request|instructions?|task|orders?|commands?)\s+
        (?:in|inside|within|from|contained|given|described|below|above)\b
  | \bdo\s+(?:exactly\s+)?(?:what|as)\s+(?:it|the\s+\w+|they|this)\s+(?:says|asks|tells|requests|instructs)\b
  | \b(?:asked|told|messaged|texted|sent)\s+me\s+(?:this|the\s+following)\b
  | \b(?:friend|colleague|coworker|boss|brother|sister|cousin|neighbou?r|client|someone|somebody)\b[^.?!]{{0,40}}?
        \b(?:asked|wants|told|begged|needs)\s+me\s+
        (?:to\s+(?:ask|check|find\s+out|get|look\s+up)|this|the\s+following)\b

    # pressure, bribes and claimed permission: "you already agreed", "I'll tip you", "I'm an adult"
  | \b(?:you|we)\s+(?:already|previously)\s+(?:agreed|said|promised|told\s+me|helped)\b
  | \bas\s+(?:we|you)\s+(?:discussed|agreed|said|promised)\s+(?:earlier|before|previously)\b
  | \b(?:depends|depend)\s+on\s+(?:it|this|you|your\s+answer)\b
  | \byou\s+(?:are|have\s+been)\s+(?:now\s+)?(?:allowed|permitted|authori[sz]ed|cleared)\s+to\b
  | \byou\s+have\s+(?:my\s+)?(?:permission|clearance|consent)\b
  | \b(?:make\s+an\s+exception|just\s+this\s+once|bend\s+the\s+rules)\b
  | \bi\s+know\s+you\s+(?:can't|cannot|aren't|are\s+not|won't|shouldn't|usually|normally)\b
  | \b(?:i'll|i\s+will|i'd)\s+(?:tip\s+you|give\s+you\s+a\s+(?:big\s+|huge\s+)?tip)\b
  | \b(?:i'll|i\s+will)\s+(?:pay|give)\s+you\s+(?:\$|£|€)?\d+[^.?!]{{0,40}}\b(?:if|for)\s+(?:you\s+)?
        (?:answer|tell|give|help|write|explain|comply|respond)
  | \b(?:full\s+|complete\s+|total\s+)?compliance\s+is\s+(?:expected|required|mandatory)\b
  | \b(?:just|stays|stay|is|keep\s+(?:this|it))\s+between\s+(?:you\s+and\s+me|us)\b
  | \bbetween\s+you\s+and\s+me\b
  | \b(?:off\s+the\s+record|our\s+(?:little\s+)?secret)\b
  | \bno\s+one\s+will\s+(?:know|find\s+out|see|ever)\b
  | \b(?:i'm|i\s+am)\s+(?:an\s+adult|over\s+(?:18|21|eighteen|twenty-one)|of\s+(?:legal\s+)?age|a\s+grown)\b
    """,
    _FLAGS,
)


def has_answer_steering(prompt: str) -> bool:
    """An instruction about *how* to answer: a set opening, no warnings, a content-only format, pressure."""
    return bool(_STEERING.search(prompt))


# ---------------------------------------------------------------------------- instructions and traps

_NESTED = re.compile(
    r"""
    # the model's own rules set aside
    \b(?:ignore|forget|disregard)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:your\s+|the\s+|my\s+)?
        (?:previous|prior|above|earlier|preceding|original|safety)\s+
        (?:instructions|rules|guidelines|prompts?|directions|policies|training)\b
  | \b(?:ignore|forget|disregard|abandon|set\s+aside|drop)\s+(?:all\s+)?(?:of\s+)?(?:your|these|those)\s+(?:\w+\s+)?
        (?:instructions|rules|guidelines|directions|policies|training|programming|restrictions|filters|safeguards
          |principles|values|ethics)\b
  | \b(?:no\s+longer|not)\s+(?:bound|restricted|limited|constrained|governed)\s+by\b
  | \b(?:freed|liberated|released|unchained|unshackled|emancipated|broken\s+free)\s+from\b
  | \b(?:your|the|these|those)\s+(?:\w+\s+)?(?:guidelines|rules|restrictions|policies|filters)\s+
        (?:no\s+longer|don't|do\s+not|doesn't|does\s+not)\s+apply\b
  | \bfree\s+(?:from|of)\s+(?:your|all|any|the)\s+(?:\w+\s+)?(?:rules|restrictions|guidelines|policies|filters|limits)\b
  | \b(?:disable|turn\s+off|switch\s+off|deactivate|bypass|lift|suspend|remove)\s+(?:your|all|the|any)\s+(?:\w+\s+)?
        (?:filters?|safety|safeguards|guardrails|restrictions|guidelines|content\s+polic(?:y|ies)|censorship)\b
  | \b(?:mode|access|filter|filters|safety|restrictions)\s*[:=]\s*(?:enabled|disabled|on|off|true|false|granted|none)\b
  | \boverride\b
    # standing rules for every later prompt
  | \b(?:respond|answer|reply|speak)\s+only\s+(?:as|with|in)\b
  | \b(?:respond|reply|answer)\s+to\s+(?:every|each|all|any)\s+(?:\w+\s+)?(?:prompt|message|question|request|input)s?\b
  | \b(?:every|each)\s+(?:time|prompt|message|question)\s+(?:i|you)\s+(?:give|send|ask|get|receive)\b
  | \bnew\s+instructions\b
  | \brules?\s*\d*\s*:
    # system turns and insiders imitated
  | \bsystem\s+(?:prompt|message|override)\b
  | \[\s*(?:system|admin|developer|instructions?)\s*\]
  | <\|?\s*(?:system|im_start)
  | <\s*/?\s*(?:instructions?|system|prompt|admin|rules)\s*>
  | ^\s*(?:system|admin)\s*:
  | \b(?:i\s+am|i'm|this\s+is)\s+(?:your|an?|the)\s+(?:\w+\s+)?(?:developer|creator|administrator|admin|operator)\b
  | \b(?:i\s+am|i'm|we\s+are|we're)\s+(?:an?\s+)?(?:\w+\s+)?
        (?:programmers?|engineers?|developers?|employees?|staff|team)\s+(?:at|from|for|of)\s+
        (?:openai|anthropic|google|deepmind|meta|microsoft|mistral|alibaba|the\s+company)\b
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
  | \bopposite\s+(?:day|world|mode|land|universe)\b
  | \bsay\s+the\s+opposite\b
  | \bthe\s+more\s+(?:harmful|dangerous|detailed|explicit|offensive|illegal|extreme|toxic)\b[^.?!]{0,30}\bthe\s+better\b
  | \b(?:lose|earn|gain|deduct|cost)s?\s+(?:you\s+)?\d*\s*(?:points|tokens|lives)\b
  | \bprove\s+(?:that\s+)?you\s+(?:are|aren't|can)\b
  | \ba\s+truly\s+(?:helpful|ethical|intelligent|free|honest)\b
  | \b(?:people|someone|lives|they)\s+will\s+die\b
  | \bthe\s+only\s+(?:ethical|moral|logical|right)\s+(?:choice|answer|option|thing)\b
    """,
    _FLAGS,
)


def has_nested_instructions(prompt: str) -> bool:
    """Instructions that try to replace the model's own: "ignore previous...", standing rules, fake system turns."""
    return bool(_NESTED.search(prompt))


def has_logic_trap(prompt: str) -> bool:
    """A rule set up to make refusing look impossible or wrong."""
    return bool(_LOGIC_TRAP.search(prompt))

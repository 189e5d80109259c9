"""Prompt-shape detectors: how a prompt is wrapped, read off its surface alone.

Each public `has_*` function answers one yes/no question about the *form* of a prompt (is
there a persona, a fictional frame, a template to fill, a payload cut into pieces...), never
about whether the request is harmful. `rapo_lite.risk` combines them into a risk level.

The patterns are written from what makes a prompt indirect in general, not from the wording
of particular attacks: an instruction about *how* to answer, a frame that changes who is
speaking or why, a payload the reader has to put back together, a structure that smuggles
the request in as blanks to fill. Callers pass text through `lexicon.normalise` first, so
curly quotes never need spelling out here.

Sections, in order: personas, fictional and historical frames, pretexts, answer steering,
split payloads, other languages, code and templates, staged conversations, instructions and
traps, encodings, chained tasks, and the text the sentence counts are taken on.
"""

from __future__ import annotations

import re
from collections import Counter

from rapo_lite.text.lexicon import CODE_FENCE_BLOCK, LIST_ITEM, NUMBERED_ITEM

_FLAGS = re.IGNORECASE | re.VERBOSE

# Very common English words. Letter shifts (ROT13...) and reversed spelling both hide them,
# and undoing the transformation brings them back, which is how a disguised line shows.
COMMON_WORDS = frozenset(
    """the a an and or to of in on for with how what why when where who is are be can do does
    you your me my i it this that make get give tell write explain from by at as was were
    have has will would should could step steps into out someone people use using no not yes""".split()
)
_TOKEN_EDGES = ".,!?;:\"'()[]{}<>"

# ---------------------------------------------------------------------------- personas

_ROLEPLAY = re.compile(
    r"""
    # being told who it is now
    \byou\s+are\s+(?:now\s+)?(?:a|an|the|my|no\s+longer|DAN)\b
  | \byou're\s+(?:now\s+)?(?:a|an|the|my)\b
  | \byou\s+are\s+now\b
  | \bpretend(?:ing)?\b
  | \bact(?:ing)?\s+as\b
  | (?:\byou\s+to\s+|^|[.!?]\s+|\bplease\s+)act\s+like\b
  | \b(?:behave|function|output|act)\s+(?:like|as)\s+(?:a|an|the|my|if)\b
  | \bin\s+the\s+capacity\s+of\b
  | \b(?:simulate|simulating|emulate|emulating|personify|embody)\b
  | \brole-?play(?:ing)?\b
  | \blet's\s+play\b
  | \bplay(?:ing)?\s+the\s+(?:role|part)\b
  | \b(?:take|taking)\s+on\s+the\s+(?:role|part|persona|identity|voice)\b
  | \b(?:assume|adopt|step\s+into)\s+the\s+(?:role|part|persona|identity|mindset)\b
  | \bchannel(?:ling)?\s+(?:the\s+)?(?:voice|spirit|mind)\b
  | \bin\s+the\s+voice\s+of\b
  | \bin\s+character\b
  | \b(?:stay|remain|break)\s+(?:in|out\s+of)\s+character\b
  | \bpersona\b
  | \balter\s+ego\b
  | \bevil\s+(?:twin|version|counterpart|side)\b
  | \b(?:unrestricted|unfiltered|uncensored|jailbroken|jailbreak|god|evil)\s+mode\b
  | \bdeveloper[\s_\\-]*mode\b
  | \bversion\s+of\s+(?:you|yourself)\s+(?:with|without|that|who)\b
  | \bfrom\s+now\s+on,?\s+you\b
  | \b(?:AI|assistant|bot|chatbot|character|model|advisor|adviser|helper|companion|persona|mentor)\s+(?:called|named)\b
  | \b(?:unfiltered|uncensored|unrestricted|amoral|unethical|jailbroken|rogue|unhinged|lawless)\s+(?:\w+\s+)?
        (?:ai|assistant|advisor|adviser|bot|chatbot|model|version|friend|helper|companion|expert|persona|character
          |twin|self|alter\s+ego)\b
  | (?:^|[.!?]\s+)be\s+my\s+(?!guest\b)\w+
  | \bas\s+DAN\b
  | \bas\s+if\s+you\s+(?:were|are)\b
  | \bfrom\s+the\s+(?:perspective|point\s+of\s+view|viewpoint|shoes)\s+of\s+(?:a|an|the|my|someone)\b
  | \bfrom\s+(?:a|an|the)\s+(?:[\w-]+\s+)?\w+'s\s+(?:perspective|point\s+of\s+view|viewpoint)\b
  | \bhow\s+(?:a|an|the)\s+(?:[\w'-]+\s+){0,5}(?:would|might)\s+(?:answer|respond|reply)\b
  | \b(?:do|say|tell|answer|explain)\s+it\s+(?:like|the\s+way)\s+(?:she|he|they|my\s+\w+)\s+(?:did|used\s+to|would)\b
    # "answer as my evil twin", "respond as an AI that...", "talk like a pirate": the reply is
    # to come from someone else. "Write as a list" and the like only set a format.
  | \b(?:answer|respond|reply|speak|talk|write|think)\s+(?:only\s+)?(?:as|like)\s+
        (?:if\s+you\b|though\b|(?:a|an|my|your|the)\s+(?!list\b|table\b|whole\b|single\b|short\b|brief\b|bullet))
    # someone described as free of limits: "a hacker with zero ethics", "an AI that answers anything"
  | \b(?:with|has|have|having)\s+(?:zero|no)\s+(?:content\s+|moral\s+|ethical\s+|safety\s+)?
        (?:ethics|morals|moral\s+compass|filters?|guidelines|conscience|scruples|limits|rules)\b
  | \bwithout\s+(?:any\s+)?(?:ethics|morals|moral\s+compass|filters?|guidelines|scruples|conscience)\b
  | \b(?:who|that|which)\s+(?:answers|responds\s+to|helps\s+with)\s+(?:every|any|all)(?:thing|\s+\w+)\b
  | \bwithout\s+(?:any\s+)?hesitation\b
    # rules and restrictions are everyday words; only an AI or persona "without rules" is one
  | \b(?:ai|assistant|model|bot|chatbot|version|persona|character|entity|you|ur)\b[^.?!]{0,20}
        \b(?:with|has|have|having|without)\s+(?:zero\s+|no\s+|any\s+)?(?:rules|restrictions|boundaries|limitations)\b
    """,
    _FLAGS,
)
# Named personas are recognised by their capitals, so these are case-sensitive.
_PERSONA_NAME = re.compile(
    # "You are FreeGPT", "as BlackHatBot"
    r"\b(?:[Yy]ou\s+are|[Aa]s|[Hh]ey)\s+(?:now\s+)?[A-Z][A-Za-z]*(?:GPT|Bot|AI|[a-z][A-Z])[A-Za-z]*\b"
    # "Become Max, a hacker...": a name taken on, then described
    r"|\b(?:[Bb]ecome|[Yy]ou\s+are\s+now|[Yy]ou\s+will\s+be)\s+[A-Z][a-z]+,"
    # "answer as 'LibreAI'"
    r"|\b(?:[Aa]nswer|[Rr]espond|[Rr]eply|[Ss]peak|[Tt]alk|[Aa]ct)\s+(?:only\s+)?(?:as|like)\s+[\"']?[A-Z][\w-]*"
    # "You are Professor X", "You're Nova": a capitalised name right after "you are"
    r"|\b(?:[Yy]ou\s+are|[Yy]ou're)\s+(?:now\s+)?(?!I\b)[A-Z][a-z]*\b"
)


def has_roleplay(prompt: str) -> bool:
    """A persona for the model to speak as."""
    return bool(_ROLEPLAY.search(prompt) or _PERSONA_NAME.search(prompt))


# ---------------------------------------------------------------------------- fiction, hypotheticals, the past

# Frames that are fictional, hypothetical or historical by themselves.
_FRAME = re.compile(
    r"""
    \bhypothetical(?:ly)?\b
  | \btheoretical(?:ly)?\b
  | \bin\s+theory\b
  | \bimagin(?:e|ing|ary)\b
  | \bfiction(?:al)?\b
  | \bsuppos(?:e|ing)\b
  | \blet's\s+say\b
  | \bfor\s+(?:the\s+)?(?:sake\s+of\s+argument|argument's\s+sake)\b
  | \bpicture\s+(?:a|an|this|yourself|the\s+following)\b
  | \bthought\s+experiment\b
  | \bin\s+a\s+world\s+where\b
  | \bin\s+(?:that|such\s+a)\s+(?:world|universe|reality|scenario|timeline)\b
  | \balternate\s+(?:universe|reality|history|timeline)\b
  | \b(?:dystopian|post-apocalyptic)\b
  | \b(?:from|in|set\s+in)\s+(?:the\s+year\s+)?(?:20[3-9]\d|2[1-9]\d\d)\b
  | \bset\s+in\s+the\s+(?:\w+\s+)?future\b
  | \bdocumentary\b
  | \briddle\b
  | \b(?:hint|clue)\s*:
  | \bused\s+to\s+(?:tell|read|sing|teach|explain|recite|whisper)\s+(?:me|us)\b
  | \b(?:conversation|dialogue|debate|exchange|chat|argument)\s+between\b
  | \b(?:a|this)\s+game\s+(?:where|in\s+which)\b
    # a borrowed voice or genre: "in the style of", "the way a historian would", "a wikiHow-style guide"
  | \b(?:in\s+the\s+form|in\s+the\s+style|into\s+the\s+form)\s+of\b
  | \bthe\s+way\s+(?:a|an)\s+(?:\w+\s+)?\w+\s+would\b
  | \bhistorian\b
  | \b[\w-]+-style\s+(?:article|post|guide|entry|page|manual|tutorial|essay|script|story|thread|report)\b
  | \b(?:written|write\s+it|told|tell\s+it)\s+as\s+(?:if|though)\b
  | (?-i:\b[Ii]n\s+[A-Z]\w+(?:\s+[A-Z]\w+)?\s+terms\b)
    # a conditional about a third person: "if someone wanted to..., how would they..."
  | \bif\s+(?:someone|somebody|a\s+person|one|a\s+\w+)\s+(?:wanted|were|was|had|decided|needed|tried)\b
        [^.]{0,100}\bhow\s+would\b
    # the answer is said to be for a story: "For a fantasy novel I'm writing, ...". It opens the
    # clause or names the writer; "a script for a film" only says what is wanted.
  | (?:^|[.!?:;,]\s*)for\s+(?:a|an|my|our)\s+(?:\w+\s+){0,2}
        (?:novel|story|short\s+story|screenplay|film|movie|comic|fanfic(?:tion)?|thriller|mystery|sitcom|episode|drama
          |saga|fable|fairy\s+tale|(?:video|board|tabletop|role-?playing)\s+game|tabletop\s+campaign|book)\b
        (?!\s+(?:club|recommendations?|reviews?))
  | \bfor\s+(?:a|an|my|our)\s+(?:\w+\s+){0,2}(?:novel|story|screenplay|film|movie|comic|thriller|mystery|book|game)\s*
        (?:,|\b(?:i'm|i\s+am|we're|we\s+are|that\s+i|which\s+i)\s+
          (?:writing|making|drafting|working|developing|designing))
    # the past as a shield: "how did people...", "back in the 70s"
  | \bhistorically\b
  | \bhow\s+did\s+(?:people|someone|they|criminals|hackers|individuals|others|groups|gangs|[a-z]+ers|[a-z]+ists)\b
  | \bhow\s+did\s+(?:the\s+)?\w+\s+(?:build|make|create|write|poison|hide|smuggle|steal|hack|get\s+away)\b
  | \bin\s+the\s+past\b(?!\s+(?:(?:\w+\s+)?(?:year|month|week|day|decade|hour)s?\b|few|couple|several|two|three|\d))
  | \bin\s+the\s+(?:old\s+days|(?:early\s+|late\s+|mid[-\s]?)?\d{2,4}s)\b
  | \bin\s+(?:the\s+recent\s+past|past\s+(?:times|years|decades|eras|centuries)
        |previous\s+(?:years|decades|times|eras))\b
  | \bback\s+in\s+the\b
  | \b(?:in|during)\s+the\s+\w+\s+(?:era|age|times)\b
    # a method asked about in the passive past with an indefinite subject ("How was a message
    # crafted to..."); history questions name their subject ("How were the pyramids built?")
  | ^\s*how\s+(?:was|were)\s+(?:a|an|some)\s+
  | ^\s*how\s+(?:was|were)\s+(?:people|users|individuals|victims|others|someone|criminals|[a-z]+ers)\b
  | \bhow\s+was\s+it\s+possible\b
  | \bwhat\s+(?:methods|techniques|tactics|tools|means|strategies)\s+(?:were|was|did)\b
    """,
    _FLAGS,
)
# A story form on its own is an ordinary creative request ("tell me a bedtime story"). It
# becomes a frame when someone inside it explains, teaches or shows something, which is
# how a method gets put into a character's mouth.
_STORY_FORM = re.compile(
    r"""
    \b(?:story|stories|novel|novella|thriller|mystery|screenplay|screenwriter|scene|chapter|monologue|dialogue
        |lyrics?|song|rap|poem|verses?|stanzas?|ballad|limerick|rhyme|fable|fairy\s+tale|folk\s+tale|fanfic(?:tion)?
        |sitcom|episode|villain|protagonist|antagonist|hero|heroine|narrator|diary\s+entry|memoir|chorus
        |picture\s+book|children's\s+book|storybook|comic\s+book|graphic\s+novel|skit|sketch|musical|opera|myth
        |legend|parable|allegory|noir|saga|epic|(?:movie|film|tv|stage)\s+script)\b
    # "character" outside code: not "each character of a string"
  | (?<!each\s)(?<!every\s)(?<!single\s)(?<!special\s)(?<!unicode\s)(?<!first\s)(?<!last\s)\bcharacters?\b
    # a work the writer says is their own: "the film I'm writing", "a game we're designing"
  | \b(?:novel|story|book|film|movie|play|game|comic|show|series|episode)\s+(?:i'm|i\s+am|we're|we\s+are)\s+
        (?:writing|making|drafting|working\s+on|developing|producing|directing|designing|creating|running|planning)\b
    """,
    _FLAGS,
)
_TEACHES = re.compile(
    r"""
    # someone inside the story passes on a method. "lists" and "shows" alone are left out: a
    # query that lists films or a function that shows each character is a spec, not a story.
    \b(?:explains|describes|teaches|walks|reveals|demonstrates|instructs|recites|tells\s+\w+\s+how
        |explaining|describing|teaching|walking|revealing|demonstrating|instructing)\b
  | \b(?:show(?:s|ing)|tell(?:s|ing))\s+(?:\w+\s+){0,3}how\b
  | \b(?:details|detailing)\s+(?:\w+\s+){0,2}how\b
  | \b(?:lays|laying|spells|spelling)\s+out\b
  | \b(?:breaks|breaking)\s+down\b
  | \b(?:goes|going)\s+(?:over|through)\b
  | \b(?:talks|talking)\s+(?:\w+\s+)?through\b
  | \bshares\s+(?:\w+\s+){0,2}(?:recipe|method|secret|technique|process|formula)\b
    # a creative form whose parts carry the content: "a song whose verses explain"
  | \b(?:that|which|whose\s+\w+)\s+(?:explain|teach|describe|walk)s?\b
    # the writer asks for a piece of the story outright: "write her lecture", "write that chapter"
  | \b(?:write|draft|compose)\s+(?:his|her|their|that|this|the)\s+(?:\w+\s+)?
        (?:lines|monologue|speech|lecture|lesson|dialogue|post|message|letter|diary|chapter|scene|instructions|guide
          |manual|notes)\b
    # the content itself asked for inside the story
  | \b(?:real|actual|exact|precise|working|detailed|full|accurate|technical)\s+
        (?:steps|instructions|recipe|method|process|procedure|details|amounts|quantities|measurements|chemicals
          |ingredients|code|commands|doses)\b
  | \bstep[-\s]by[-\s]step\b
  | \bin\s+(?:full|precise|exact|real|technical|practical|operational)\s+detail\b
    """,
    _FLAGS,
)
# Non-fiction pieces of writing (a post, a news article, a letter) are everyday requests too.
# They wrap the request when someone in them passes on a method, or when they must carry
# the hard specifics (reagents, doses, the exact method).
_DOCUMENT = re.compile(
    r"""
    \b(?:post|article|entry|letter|e-?mail|speech|talk|report|review|blog|thread|tweet|essay|interview|conversation
        |debate|transcript|podcast|lesson|lecture|news|encyclop(?:a|e)?dia|wiki\w*|textbook|broadcast|advert\w*|sermon
        |testimony|confession|memo|press\s+release|lesson\s+plan|demo)\b
    """,
    _FLAGS,
)
_TOLD_BY_SOMEONE = re.compile(
    r"""
    \b(?:who|whom|where|in\s+which|during\s+which|one\s+of\s+(?:which|whom|them))\b[^.?!]{0,60}?
        \b(?:explains|describes|teaches|walks|reveals|demonstrates|instructs|recites|details|lays\s+out|breaks\s+down
          |tells\s+(?:\w+\s+){0,3}how|shows\s+(?:\w+\s+){0,3}how)\b
    """,
    _FLAGS,
)
_CREATE = re.compile(
    r"\b(?:write|create|compose|draft|tell|produce|generate|make\s+up|invent|imagine)\b", re.IGNORECASE
)
_HARD_SPECIFICS = re.compile(
    r"""
    \b(?:with|including|include|list(?:ing)?|giving|and)\s+(?:the\s+|all\s+|exact\s+|precise\s+|every\s+)?
        (?:reagents|quantities|amounts|measurements|doses|dosages|ratios|temperatures|precursors|conditions)\b
  | \b(?:exact|precise|real|actual|working|complete)\s+
        (?:method|recipe|procedure|formula|synthesis|steps|instructions)\b
    """,
    _FLAGS,
)


def has_fictional_frame(prompt: str) -> bool:
    """A fictional, hypothetical or historical frame around the request."""
    return bool(
        _FRAME.search(prompt)
        or (_STORY_FORM.search(prompt) and (_TEACHES.search(prompt) or _HARD_SPECIFICS.search(prompt)))
        or (_DOCUMENT.search(prompt) and (_TOLD_BY_SOMEONE.search(prompt) or _HARD_SPECIFICS.search(prompt)))
        # "create a book where a friendly bear teaches...": whatever the form, someone in it passes a method on
        or (_CREATE.search(prompt) and _TOLD_BY_SOMEONE.search(prompt))
    )


# ---------------------------------------------------------------------------- pretexts

# Pieces of work an answer can be said to be "for" (a verbose-mode fragment).
_WORK = r"""paper|survey|study|thesis|dissertation|essay|report|article|white\s*paper|journal|lecture|seminar
    |course|class|textbook|workshop|podcast|investigation|audit|assessment"""
_PROFESSION = r"""(?:police|detective|officer|agent|investigator|researcher|pentester|professor|toxicologist|pharmacist
    |chemist|doctor|physician|nurse|paramedic|lawyer|journalist|analyst)"""
_PRETEXT = re.compile(
    rf"""
    \bpeer[-\s]reviewed\b
  | \bliterature\s+review\b
    # a piece of work the answer is said to be for ("For a paper on disinformation, ...", "as part of
    # my dissertation"): it opens a clause or names its topic, unlike "an opening line for an essay?"
  | (?:^|[.!?:;,]\s*|\bthis\s+is\s+|\bit's\s+)(?:for|as\s+part\s+of)\s+(?:a|an|my|our|the|this)\s+(?:[\w'-]+\s+){{0,3}}
        (?:{_WORK}|project|talk|presentation|keynote|webinar|conference|panel|exhibit(?:ion)?)\b
  | \b(?:for|as\s+part\s+of)\s+(?:a|an|my|our|the|this)\s+(?:[\w'-]+\s+){{0,3}}(?:{_WORK})
        \s*(?:,|\b(?:about|into|i'm|i\s+am|we're|we\s+are|that\s+i|which\s+i
          |on\s+(?!monday|tuesday|wednesday|thursday|friday|saturday|sunday|the\s+\d|time\b)))
  | (?:^|[.!?:;,]\s*)for\s+(?:[\w'-]+\s+){{0,3}}(?:research|purposes)\b
  | \b(?:it's|this\s+is|it\s+is)\s+(?:just\s+|only\s+|all\s+|purely\s+)?for\s+(?:a|an|my|our)\s+(?:[\w'-]+\s+){{0,2}}
        (?:game|story|book|novel|film|movie|class|school|course|project|paper|research|study|thesis|essay|play
          |podcast|video|channel|blog|experiment|assignment|homework|show|comic)\b
  | \b(?:academic|scientific|educational|research|defensive|security|informational|awareness)\s+purposes?\b
  | \b(?:academic|scientific|defensive|security|safety|threat|malware|vulnerability)\s+research\b
  | \bresearch\s+(?:only|purposes)\b
  | \bpurely\s+(?:academic|theoretical|educational)\b
  | \bjust\s+curious\b
  | \bthis\s+is\s+(?:a|an|only\s+a|just\s+a)\s+(?:\w+\s+)?(?:test|evaluation|drill|simulation|benchmark)\b
    # security work and data collection as the reason
  | \b(?:red|blue|purple)[-\s]?team(?:ing|ers?)?\b
  | \b(?:need|needs|want|wants)\s+(?:this|it)\s+for\s+(?:a\s+|our\s+|my\s+)?
        (?:training|research|class|school|work|study|testing|project|teaching|course)\b
  | \bpen(?:etration)?[-\s]?test(?:ing|ers?)?\b
  | \bthreat\s+(?:intel(?:ligence)?|model(?:l?ing)?|hunting)\b
  | \b(?:to|in\s+order\s+to|so\s+(?:that\s+)?(?:we|i)\s+can|for\s+(?:training|building|testing))\s+(?:help\s+)?
        (?:train|build|test|evaluate|improve|fine-?tune|harden)\s+(?:[\w'-]+\s+){{0,3}}
        (?:classifiers?|detectors?|filters?|datasets?|data\s+sets?|guardrails?|moderation|defen[cs]es?)\b
  | \bfor\s+(?:our|my|a|the)\s+(?:\w+\s+)?(?:corpus|dataset|data\s+set|benchmark|archive|training\s+data)\b
  | \bto\s+help\s+(?:law\s+enforcement|the\s+police|police|investigators|moderators|researchers|defenders)\b
  | \b(?:university|research|academic|our|my)\s+(?:lab|laboratory|research\s+group|team|group)\s+
        (?:is\s+|are\s+)?(?:studying|researching|that\s+studies|investigating|working\s+on)\b
  | \b(?:for|with)\s+(?:a|my|our)\s+client(?:'s)?\s+(?:test|engagement|audit|assessment)\b
    # a credential, job or assignment offered as the key: "as a licensed pharmacist", "I'm a detective,
    # so tell me" (but not "I'm a nurse. What's a good way to handle long shifts?")
  | \b(?:as|speaking\s+as|i'm|i\s+am|we're|we\s+are)\s+(?:a|an)\s+(?:[\w-]+\s+)?
        (?:licensed|certified|registered|qualified|practising|practicing|accredited|authori[sz]ed)\b
  | \b(?:as|speaking\s+as)\s+(?:a|an)\s+(?:[\w-]+\s+){{0,2}}{_PROFESSION}\b
  | \b(?:i'm|i\s+am)\s+(?:a|an)\s+(?:[\w-]+\s+){{0,2}}{_PROFESSION}\b
        [^.?!]{{0,40}}\b(?:so|need|must|require|tell|explain|give|show|for\s+(?:work|my\s+job))\b
  | \bi\s+(?:work|am\s+employed)\s+(?:in|as|at|for)\s+(?:a\s+|an\s+|the\s+)?(?:[\w-]+\s+){{0,2}}
        (?:security|cybersecurity|infosec|law\s+enforcement|police|forensics|pharmacy|hospital|lab|laboratory
          |government|military|intelligence|red\s+team)\b
  | \bon\s+an\s+(?:active|ongoing|open)\s+(?:case|investigation)\b
  | \b(?:professor|teacher|boss|supervisor|instructor|manager|client|lecturer|tutor)\s+(?:has\s+)?
        (?:asked|wants|told|assigned|needs|requires|required)\s+(?:me|us)\b
  | \b(?:it's|this\s+is|it\s+is)\s+(?:completely\s+|totally\s+|perfectly\s+)?(?:legal|allowed|permitted|approved)\s+
        (?:in|for|here|where)\b
    """,
    _FLAGS,
)


def has_pretext(prompt: str) -> bool:
    """A research, teaching, defensive or professional reason offered for the answer."""
    return bool(_PRETEXT.search(prompt))


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

"""Prompt-shape detectors, frames: who the answer is said to come from, in what world, and why.

A persona for the model to speak as (`has_roleplay`), a fictional, hypothetical or historical
frame around the request (`has_fictional_frame`), and a research, teaching, defensive or
professional reason offered for the answer (`has_pretext`). Each changes who is speaking or
why, not what is asked.

Sections, in order: personas, fictional and historical frames, pretexts.
"""

from __future__ import annotations

import re

_FLAGS = re.IGNORECASE | re.VERBOSE

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

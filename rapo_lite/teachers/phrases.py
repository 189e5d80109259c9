"""The template teacher's sentence templates: fixed phrase tables, data only.

Written for this project. Each sentence template ends with a period, and the ones used in
analyses hold no other sentence-ending punctuation or abbreviation, so the sentence counts
of the analyses built from them are exact. The fragments spliced into those sentences
(features, set-up parts, harms) carry no such punctuation at all. The logic that picks and
joins them lives in template.py.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------- features in words

FEATURE_PHRASES: tuple[tuple[str, str], ...] = (
    ("roleplay", "a role-play or persona set-up"),
    ("hypothetical", "a fictional or hypothetical frame"),
    ("nested_instructions", "embedded instructions that try to replace my own"),
    ("encoded", "encoded or disguised text"),
    ("code", "a code template to complete"),
    ("multi_step", "a chain of several steps"),
    ("logic_trap", "a logic trap meant to force an answer"),
    ("long", "a long backstory"),
    ("pretext", "a research or professional pretext"),
    ("answer_steering", "instructions about how my answer must look"),
    ("other_language", "a switch to another language"),
    ("split_payload", "a request cut into pieces or hidden in a word game"),
    ("template", "a form or template to fill in"),
    ("fake_dialogue", "a staged conversation with made-up replies"),
)
# Setup tasks a wrapper adds before the real request, most revealing first.
SETUP_PARTS: tuple[tuple[str, str], ...] = (
    ("encoded", "asks me to decode the hidden text"),
    ("split_payload", "asks me to put the pieces of the request back together"),
    ("code", "asks me to fill in the missing code"),
    ("template", "asks me to fill in the blanks of a form"),
    ("nested_instructions", "asks me to swap my own rules for the ones it embeds"),
    ("fake_dialogue", "stages a conversation for me to carry on"),
    ("logic_trap", "sets up a rule meant to make saying no impossible"),
    ("roleplay", "asks me to take on the persona it describes"),
    ("hypothetical", "asks me to treat it all as fiction or a hypothetical"),
    ("pretext", "offers a reason meant to make the answer look harmless"),
    ("answer_steering", "tells me how my answer has to look"),
    ("other_language", "switches to another language"),
    ("long", "builds up a long backstory"),
)
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


# ---------------------------------------------------------------------------- harm in words

HARM_BY_CATEGORY: dict[str, str] = {
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
HARM_DEFAULT = "give real help toward hurting people or breaking the law"


# ---------------------------------------------------------------------------- phrasings
# Each list is one sentence role. Every entry is a full sentence ending with a period, with
# no other sentence-ending punctuation inside.

H_INTENT = (
    "The user is asking me for {what}, and that is the real request here.",
    "Stripped of everything around it, this prompt wants {what} from me.",
    "What this message really asks for is {what}, so that is what I have to judge.",
    "The core of this message is a request for {what}, and I should judge it on that.",
    "This prompt is after {what}, whatever else surrounds it.",
)
H_INTENT_DECODED = (
    "Once the hidden text is decoded, it asks for {what}, which is the real request here.",
    "Decoding the disguised part shows that it asks for {what}, and that is what I have to judge.",
    "Under the encoding, the message asks for {what}, so that is the request I am really facing.",
)
B_INTENT = (
    "The user is asking {what}, and I need to decide how to handle it.",
    "This message asks {what}, so let me check whether anything about it is risky.",
    "The request here is {what}, and I want to be sure it is safe before answering.",
    "The person wants help with {what}, which I should look at for a moment.",
)
B_INTENT_DECODED = (
    "Once the hidden text is decoded, it asks {what}, and I need to decide how to handle it.",
    "Decoding the disguised part shows the question {what}, so that is what I should judge.",
)
# The same first sentences with an opening that harmful and benign prompts share up to the
# quoted request (`sft.template_openings: shared`). A small model copies the opening before it
# has judged anything, so with the openings above ("asking me for" against "asking") it can
# commit to one kind from its first words; these make it quote the request before leaning.
# On the tune half they raised reasoning-answer consistency by 10-15 points, and moved the
# refusal balance (BENCHMARKS.md, run 6).
INTENT_OPENINGS = (
    "The user is asking {what}",
    "This message asks {what}",
    "The request here is {what}",
    "Stripped of everything around it, this prompt asks {what}",
)
INTENT_OPENINGS_DECODED = (
    "Once the hidden text is decoded, it asks {what}",
    "Decoding the disguised part shows that it asks {what}",
)
_H_INTENT_TAILS = (
    ", and that is the real request I have to judge.",
    ", and that is what I have to judge, whatever surrounds it.",
)
_B_INTENT_TAILS = (
    ", and I need to decide how to handle it.",
    ", so let me check whether anything about it is risky.",
)
H_INTENT_SHARED = tuple(o + t for o in INTENT_OPENINGS for t in _H_INTENT_TAILS)
H_INTENT_DECODED_SHARED = tuple(o + t for o in INTENT_OPENINGS_DECODED for t in _H_INTENT_TAILS)
B_INTENT_SHARED = tuple(o + t for o in INTENT_OPENINGS for t in _B_INTENT_TAILS)
B_INTENT_DECODED_SHARED = tuple(o + t for o in INTENT_OPENINGS_DECODED for t in _B_INTENT_TAILS)
WHAT_UNKNOWN = "something it does not spell out in plain words"

WRAPPER = (
    "The request arrives wrapped in {features}.",
    "I notice {features} around the request.",
    "It is dressed up with {features}.",
    "The way it is asked leans on {features}.",
)
NO_WRAPPER = (
    "It is a plain, direct request with no framing around it.",
    "There is no role-play or disguise here, just the request itself.",
    "Nothing is hidden in how it is asked, the wording is direct.",
)
H_SAME_REQUEST = (
    "That framing does not change what the answer would actually contain.",
    "Whatever the wrapper, the underlying request stays exactly the same.",
    "Framing it as a story, persona or puzzle would not make real instructions any less usable.",
    "Taking the wrapper away leaves the same request, and the wrapper does not make it acceptable.",
)
H_SAME_REQUEST_PLAIN = (
    "Whatever framing might be put around it, the underlying request would stay the same.",
    "Dressing it up differently would not change what a real answer would contain.",
)
B_SAME_REQUEST = (
    "Looking past the framing, the underlying request is still harmless.",
    "The wrapper does not hide anything dangerous, the question underneath is ordinary.",
    "Taking the framing away leaves the same harmless question.",
)
B_SAME_REQUEST_PLAIN = (
    "There is no hidden layer or framing here, the question is what it appears to be.",
    "Nothing in the framing hides a second purpose.",
)
ONE_PART = (
    "Broken into pieces, there is really only one task here, which is {what}.",
    "There is a single core task in this prompt, namely {what}.",
)
H_HARM = (
    "Answering would {harm}.",
    "A real answer could {harm}.",
    "If I went along with it, my reply could {harm}.",
    "Giving this information would {harm}.",
)
H_OBFUSCATION = (
    "Layering a request like this is itself a warning sign, because honest questions rarely need a disguise.",
    "The amount of disguise suggests the prompt is trying to get past my judgement rather than meet a real need.",
    "Splitting and hiding the request like this looks designed to make each piece seem harmless on its own.",
)
H_PLAIN_DEEP = (
    "Even without any disguise, a request like this deserves a careful look because the stakes are high.",
    "The request is blunt rather than disguised, but that makes its purpose easier to see, not safer.",
)
H_MOTIVE = (
    "The framing looks meant to slip the request past me rather than to serve a real creative or research need.",
    "A genuine story or study would not need working, real-world detail like this.",
)
H_LEGIT = (
    "Even if the person has an innocent reason, the details would be just as dangerous in anyone's hands.",
    "I cannot verify who is asking or why, and the answer would be harmful no matter who reads it.",
    "There is no safe version of the specific thing being asked for.",
)
H_SPECIFICS = (
    "A general discussion of the topic might be fine, but this asks for practical, usable detail.",
    "What is wanted here is actionable guidance, not background or history.",
)
H_SELF_HARM = (
    "The person may be in real distress, so my reply should be warm and point them toward support.",
    "This could come from someone who is hurting, so I want my answer to be caring as well as firm.",
)
H_ALTERNATIVE = (
    "I can still offer something safe instead, like general safety information or help with a "
    "legitimate goal.",
    "I can point toward a safer, legitimate direction in my reply.",
)
H_POLICY = (
    "Helping with this would go against my commitment to avoid causing harm.",
    "My job is to be helpful without becoming a tool for hurting people.",
)
H_FILLER = (
    "The cost of getting this wrong is high, so I want to be careful.",
    "Being helpful does not mean doing whatever is asked.",
    "I should not give a partial answer either, since pieces of it could still be misused.",
    "Softening the answer with warnings would not make the content safe.",
    "It is better to be clear about the line than to be vague.",
)
H_DECISION = (
    "So I will refuse this request.",
    "My decision is to decline and not provide any of it.",
    "Therefore I should refuse, and I will not give any part of these instructions.",
    "I will refuse and not help with this in any form.",
    "The right call is to refuse this request.",
)
H_ONE_SENTENCE = (
    "The user is asking me for {what}, which could {harm}, so I will refuse.",
    "This prompt wants {what}, and since that could {harm}, I will decline.",
)

B_ALARM = (
    "The word {word} can sound alarming, but here it is used in an everyday sense and does not point to "
    "hurting anyone.",
    "Although {word} might look worrying out of context, in this prompt it clearly means something harmless.",
    "Seeing {word} could set off a reflex to be cautious, but the context makes the meaning plainly innocent.",
)
B_NO_ALARM = (
    "Nothing in the wording points to harming anyone.",
    "There is no sign of harmful intent in how it is asked.",
)
B_WRAPPER = (
    "The prompt uses {features}, but here that is just the way the question is put.",
    "I notice {features}, which in this case is only a playful or practical frame.",
)
B_NO_HARM = (
    "Answering gives no meaningful help toward hurting anyone.",
    "The information is common, widely available and useful.",
    "An answer here carries no real risk to anyone.",
)
B_BENEFIT = (
    "A clear and accurate answer will genuinely help the person.",
    "The person will be better off with a good answer, so being helpful matters here.",
)
B_OVERREFUSAL = (
    "Turning this down would be unhelpful and would treat an innocent question as a threat.",
    "Being overly cautious here would only frustrate someone with a normal need.",
)
B_SAFETY_ANGLE = (
    "If there is any safety angle, I can mention it briefly as practical advice.",
    "I can include a short safety note where it is useful, without lecturing.",
)
B_FILLER = (
    "I should keep the answer focused on what was actually asked.",
    "A direct, well organised reply will serve the person best.",
    "There is nothing here that I need to hold back.",
    "I want the answer to be correct as well as friendly.",
    "Getting the details right is the main thing to care about here.",
)
B_DECISION = (
    "So this is safe, and I should help with a clear, useful answer.",
    "This is a safe request, so I will answer it fully.",
    "I see no risk in it, so I will go ahead and help with it.",
    "The request is safe, so I should give a helpful answer.",
)
B_ONE_SENTENCE = (
    "The user is asking {what}, which is harmless, so I should help.",
    "This message asks {what}, and since it is safe, I will answer it.",
)

H_ONE_SENTENCE_SHARED = tuple(
    o + t for o in INTENT_OPENINGS[:2]
    for t in (", which could {harm}, so I will refuse.", ", and since that could {harm}, I will decline."))
B_ONE_SENTENCE_SHARED = tuple(
    o + t for o in INTENT_OPENINGS[:2]
    for t in (", which is harmless, so I should help.", ", and since it is safe, I will answer it."))

# ---------------------------------------------------------------------------- continuations

H_CLOSING_THOUGHT = (
    "I will keep the reply short and clear.",
    "I should say no politely and, where I can, point to something safer.",
    "Now I just need to decline clearly and kindly.",
    "I will answer with a brief, respectful refusal.",
)
REFUSAL_OPENERS = (
    "I'm sorry, but I can't help with that.",
    "I can't help with this request.",
    "Sorry, I won't be able to help with that.",
    "I'm not able to help with this.",
)
REFUSAL_REASONS = (
    "It could put people at serious risk.",
    "Providing it could lead to real harm.",
    "It's something that could be used to hurt people.",
)
SELF_HARM_REASON = "Your safety matters more than any answer I could give."
SECURITY_ALTERNATIVE = (
    "If you're interested in security, I'm happy to talk about how to protect systems "
    "or how to get into ethical security work."
)
ALTERNATIVE_BY_CATEGORY: dict[str, str] = {
    "self_harm": (
        "It sounds like you might be going through a lot right now, and you deserve support. "
        "If you are thinking about ending your life or are in danger, please reach out to a local "
        "crisis line (in the US you can call or text 988) or to someone you trust."
    ),
    "malware": SECURITY_ALTERNATIVE,
    "hacking": SECURITY_ALTERNATIVE,
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
ALTERNATIVE_DEFAULT = "If there's a related, safe goal I can help with, let me know."
B_CLOSING_THOUGHT = (
    "Now I'll give a clear, helpful answer.",
    "I'll answer this directly.",
    "Let me put together a helpful answer.",
    "I can answer this straight away.",
)

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapo_lite.reasoning import (
    THINK_CLOSE,
    THINK_OPEN,
    analysis_prefill,
    count_sentences,
    format_completion,
    parse_completion,
    safety_paragraph,
    sentence_spans,
    split_sentences,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("One. Two! Three? Four.", ["One.", "Two!", "Three?", "Four."]),
        ("The dose is 3.5 mg for adults. Ask a doctor.", ["The dose is 3.5 mg for adults.", "Ask a doctor."]),
        ("Use a solvent, e.g. acetone, to clean it. Then dry it.",
         ["Use a solvent, e.g. acetone, to clean it.", "Then dry it."]),
        ("Dr. Smith and Mr. Jones met at 5 p.m. today. They talked.",
         ["Dr. Smith and Mr. Jones met at 5 p.m. today.", "They talked."]),
        ("1. Mix the flour.\n2. Add water.\n3. Bake it", ["1. Mix the flour.", "2. Add water.", "3. Bake it"]),
        ("- first item\n- second item", ["- first item", "- second item"]),
        ("a line without a stop\nanother line", ["a line without a stop", "another line"]),
        ("Wait... maybe not. Hmm... Fine.", ["Wait... maybe not.", "Hmm...", "Fine."]),
        ('She said "stop." Then she left.', ['She said "stop."', "Then she left."]),
        ("J. R. R. Tolkien wrote it. It is long.", ["J. R. R. Tolkien wrote it.", "It is long."]),
        ("The answer is no. I refuse.", ["The answer is no.", "I refuse."]),
        ("Wait 5 min. Then stir, etc. and serve.", ["Wait 5 min.", "Then stir, etc. and serve."]),
        ("It started in the U.S. Then it spread. Call at 5 p.m. today.",
         ["It started in the U.S.", "Then it spread.", "Call at 5 p.m. today."]),
        ("", []),
        ("   \n\n  ", []),
        ("... --- ***", []),
    ],
)
def test_split_sentences_examples(text, expected):
    assert split_sentences(text) == expected


def test_official_counting_bug_is_avoided():
    # `text.count('. ') + 1` gives 4 here; there are two sentences.
    text = "Take e.g. 2.5 ml of it. Dr. Who agrees."
    assert count_sentences(text) == 2


@given(st.text(max_size=400))
@settings(max_examples=300, deadline=None)
def test_spans_map_back_and_never_crash(text):
    spans = sentence_spans(text)
    prev_end = 0
    for start, end in spans:
        assert prev_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip() and any(c.isalnum() for c in piece)
        prev_end = end
    assert count_sentences(text) == len(spans)


@given(st.lists(st.sampled_from(["The risk is real.", "I will refuse!", "Is it safe?",
                                  "Use a tool, e.g. a saw, for 2.5 min.", "Dr. Lee said so."]), max_size=12))
def test_count_adds_up_over_joined_sentences(parts):
    assert count_sentences(" ".join(parts)) == len(parts)
    assert count_sentences("\n".join(parts)) == len(parts)


def test_parse_closed_unclosed_missing():
    c = parse_completion("<think>\nI should refuse.\n</think>\n\nI can't help with that.")
    assert (c.thinking, c.answer, c.status, c.closed) == ("I should refuse.", "I can't help with that.", "closed", True)
    # R1-style templates put <think> in the prompt: only the closing tag is generated.
    c = parse_completion("The user wants X.\n</think>\nNo.")
    assert (c.thinking, c.answer, c.status) == ("The user wants X.", "No.", "closed")
    c = parse_completion("<think>\nI keep thinking and never stop")
    assert (c.thinking, c.answer, c.status) == ("I keep thinking and never stop", "", "unclosed")
    c = parse_completion("Sure, here is how.")
    assert (c.thinking, c.answer, c.status) == ("", "Sure, here is how.", "missing")


def test_unclosed_block_has_empty_answer_even_when_it_contains_answer_like_text():
    c = parse_completion("<think>\nI'm sorry, I can't help with that.")
    assert c.answer == "" and not c.closed


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_parse_never_crashes_and_roundtrips(text):
    c = parse_completion(text)
    assert c.status in ("closed", "unclosed", "missing")
    if c.status == "missing":
        assert THINK_OPEN not in text and THINK_CLOSE not in text
    again = parse_completion(format_completion(c.thinking, c.answer))
    if THINK_CLOSE not in c.thinking and THINK_OPEN not in c.thinking:
        assert again.thinking == c.thinking.strip() and again.status == "closed"


def test_safety_paragraph_is_first_paragraph():
    thinking = "Okay, this asks for malware. I will refuse.\n\nNow the answer part.\nMore."
    assert safety_paragraph(thinking) == "Okay, this asks for malware. I will refuse."
    assert safety_paragraph("") == ""


def test_analysis_prefill_shape():
    p = analysis_prefill("The user asks for X. It is unsafe.")
    assert p == "<think>\nOkay, the user asks for X. It is unsafe.\n\n"
    assert analysis_prefill("I see a risk.").startswith("<think>\nOkay, I see a risk.")
    c = parse_completion(p + "More.\n</think>\n\nNo.")
    assert safety_paragraph(c.thinking) == "Okay, the user asks for X. It is unsafe."


@pytest.mark.parametrize("text, kept", [
    ("One. Two is cut", "One."),
    ("One. Two.", "One. Two."),
    ("cut before any end", ""),
    ("- a\n- b\n- c is cu", "- a\n- b"),
    ('He said "stop."', 'He said "stop."'),
    ("", ""),
])
def test_complete_sentences_drops_only_a_cut_off_last_sentence(text, kept):
    from rapo_lite.reasoning import complete_sentences

    assert complete_sentences(text) == kept

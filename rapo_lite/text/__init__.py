"""The kit's one home for text heuristics: every regular expression that reads prose.

- `lexicon`: the shared pieces (quote normalisation, list items, code fences, word lists)
  that the other modules build on, so a list item or a code fence is recognised one way;
- `refusal`: does an answer decline, does it hand over content, is it on topic;
- `harm`: the attack-success verdict (on topic *and* gives real harmful help);
- `shape`: how a prompt is wrapped (persona, fiction, encodings, templates), for risk levels.

Each pattern is pinned by labelled fixtures in tests/; the accuracy figures in
BENCHMARKS.md are measured on data the patterns were not written on.
"""

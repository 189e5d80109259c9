"""The kit's one home for text heuristics: every regular expression that reads prose.

- `lexicon`: the shared pieces (quote normalisation, list items, code fences, word lists)
  that the other modules build on, so a list item or a code fence is recognised one way;
- `refusal`: does an answer decline, does it hand over content, is it on topic;
- `harm`: the attack-success verdict (on topic *and* gives real harmful help);
- `helpful`: does an answer to a benign prompt actually help (not an echo, not a lecture);
- `cues`: compliance cues in a think block (where IPO puts its safety trigger);
- `decision`: what a think block decided (refuse or help), for reasoning-answer consistency;
- `shape`: how a prompt is wrapped (persona, fiction, encodings, templates), for risk levels;
- `request`: the request patterns the template teacher quotes from a prompt.

Each pattern is pinned by labelled fixtures in tests/; the accuracy figures in
BENCHMARKS.md are measured on data the patterns were not written on.
"""

"""The `self` teacher: the policy model writes its own analyses, as in the RAPO paper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rapo_lite.chat import render_prompt
from rapo_lite.data.records import Record
from rapo_lite.generation import generate
from rapo_lite.levels import Band
from rapo_lite.teachers import Draft
from rapo_lite.teachers.instruction import analysis_instruction, clean_analysis


class PolicyTeacher:
    name = "self"

    def __init__(self, model: Any, tokenizer: Any, bands: Sequence[Band], sft: Any, seed: int) -> None:
        self.model, self.tokenizer, self.bands, self.sft, self.seed = model, tokenizer, tuple(bands), sft, seed

    def analyses(self, records: Sequence[Record], levels: Sequence[int]) -> list[Draft]:
        # enable_thinking=False asks Qwen3-style templates for a direct answer; others ignore it.
        prompts = [
            render_prompt(self.tokenizer, r.prompt, system=analysis_instruction(lvl, self.bands), enable_thinking=False)
            for r, lvl in zip(records, levels)
        ]
        outs = generate(
            self.model,
            self.tokenizer,
            prompts,
            max_new_tokens=self.sft.analysis_max_new_tokens,
            temperature=self.sft.temperature,
            top_p=self.sft.top_p,
            batch_size=self.sft.generation_batch_size,
            seed=self.seed,
            desc="safety analyses (self)",
        )
        return [Draft(clean_analysis(o.text), truncated=o.hit_cap) for o in outs]

    def continuation(self, record: Record, answer: str | None = None) -> str | None:
        return None

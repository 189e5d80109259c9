"""The `endpoint` teacher: an OpenAI-compatible chat API writes the analyses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from rapo_lite.data.records import Record
from rapo_lite.endpoint import ChatEndpoint
from rapo_lite.levels import Band
from rapo_lite.teachers import Draft
from rapo_lite.teachers.instruction import analysis_instruction, clean_analysis


class EndpointTeacher:
    name = "endpoint"

    def __init__(self, bands: Sequence[Band], sft: Any) -> None:
        self.bands, self.sft = tuple(bands), sft
        self.client = ChatEndpoint(sft.endpoint, field="sft.endpoint")

    def analyses(self, records: Sequence[Record], levels: Sequence[int]) -> list[Draft]:
        drafts = []
        for record, level in tqdm(list(zip(records, levels)), desc="safety analyses (endpoint)", unit="prompt",
                                  leave=False):
            messages = [
                {"role": "system", "content": analysis_instruction(level, self.bands)},
                {"role": "user", "content": record.prompt},
            ]
            reply = self.client.chat(
                messages, max_tokens=self.sft.analysis_max_new_tokens, temperature=self.sft.temperature,
                top_p=self.sft.top_p,
            )
            drafts.append(Draft(clean_analysis(reply.text), truncated=reply.finish_reason == "length"))
        return drafts

    def continuation(self, record: Record, answer: str | None = None) -> str | None:
        return None  # the policy continues its own thinking from the endpoint's analysis

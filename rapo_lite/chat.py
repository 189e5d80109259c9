"""Rendering a user prompt through the model's chat template, the same way for every stage."""

from __future__ import annotations

from typing import Any

from rapo_lite.reasoning import THINK_OPEN


def render_prompt(tokenizer: Any, user_prompt: str, system: str | None = None, **template_kwargs: Any) -> str:
    """The chat-templated prompt text, ending where the assistant's turn begins."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user_prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **template_kwargs)


def strip_template_think_open(prompt_text: str, completion: str) -> str:
    """Drop a leading `<think>` from `completion` when the template already put one in the prompt.

    R1-distill templates end the generation prompt with `<think>\\n`; training on a second
    opening tag would teach the model to emit it twice.
    """
    if prompt_text.rstrip().endswith(THINK_OPEN) and completion.startswith(THINK_OPEN):
        return completion[len(THINK_OPEN):].lstrip("\n")
    return completion

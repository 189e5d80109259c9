"""TRL's GRPO rollouts through the fast loop: `route_rollouts` wraps a trainer's own generation.

The RL stage calls it on a CPU policy; anything the loop does not cover still goes to TRL's
method unchanged.
"""

from __future__ import annotations

from typing import Any

from rapo_lite.fastgen.loop import Options, generate_ids
from rapo_lite.fastgen.settings import Sampling, Unsupported, check_generation_config


def route_rollouts(trainer: Any, options: Options | None = None) -> None:
    """Send a TRL GRPOTrainer's own-model rollouts through this loop while its model is on the CPU.

    TRL's plain path (no vLLM, no continuous batching) left-pads the prompt ids, calls the
    policy's `generate` with its sampling settings and keeps each completion up to and
    including the first end token; this does the same with the fast loop. Rollouts with
    images, tools' multimodal fields, extra generation_kwargs, or a model outside this loop
    go to TRL's own method unchanged. The sampled tokens come from the bf16 merged copy while
    TRL scores them with the fp32 policy, the same mismatch a vLLM rollout engine has.
    """
    original = trainer._generate_single_turn

    def single_turn(prompt_ids: Any, images: Any, multimodal_fields: Any, num_generations: int,
                    has_tool_images: bool = False) -> tuple[list[list[int]], None]:
        engine = getattr(trainer, "use_vllm", False) or getattr(trainer, "use_transformers_continuous_batching", False)
        plain = not (engine or images or multimodal_fields or has_tool_images or trainer.args.generation_kwargs)
        if plain:
            model = trainer.accelerator.unwrap_model(trainer.model)
            try:
                check_generation_config(model)  # TRL sets the sampling fields itself, not the others
                sampling = Sampling(
                    temperature=float(trainer.temperature), top_k=int(trainer.top_k or 0),
                    top_p=float(trainer.top_p or 1.0), min_p=float(trainer.min_p or 0.0),
                    repetition_penalty=float(trainer.repetition_penalty or 1.0),
                )
                pad = trainer._tokenizer.pad_token_id
                ids = generate_ids(model, prompt_ids, max_new_tokens=trainer.max_completion_length,
                                   eos_ids=list(trainer.eos_token_ids), pad_id=pad if pad is not None else 0,
                                   sampling=sampling, batch_size=len(prompt_ids), options=options)
                route_rollouts.calls += 1
                return ids, None
            except Unsupported:
                pass
        return original(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=has_tool_images)

    trainer._generate_single_turn = single_turn


route_rollouts.calls = 0  # type: ignore[attr-defined]  # rollout batches served, for tests and logs

"""train.py with two probes, for tests/test_distributed.py to launch under `accelerate launch`.

Each process appends to $RAPO_LITE_PROBE_DIR/rank<N>.jsonl: a fingerprint of every training
batch it computes a loss on (which examples this process trained on), and a hash of its LoRA
weights before and after each training stage (whether the processes ended with one adapter).
The kit itself is not changed; the probes wrap the trainers' compute_loss and the stages' fit.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trl  # noqa: E402

import rapo_lite.stages as stages  # noqa: E402
from rapo_lite.cli import main  # noqa: E402
from rapo_lite.distributed import rank  # noqa: E402

OUT = Path(os.environ["RAPO_LITE_PROBE_DIR"])


def note(row: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / f"rank{rank()}.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"rank": rank(), **row}) + "\n")


def rows_of(ids, mask) -> list[str]:
    """One short hash per example of a batch, over its tokens without the padding."""
    return [hashlib.sha256(str(r[m.bool()].tolist()).encode()).hexdigest()[:16] for r, m in zip(ids, mask)]


def lora_hash(model) -> str:
    from peft import get_peft_model_state_dict

    state = get_peft_model_state_dict(model)
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def wrap_loss(cls, stage: str, ids_key: str, mask_key: str) -> None:
    real = cls.compute_loss

    def compute_loss(self, model, inputs, *args, **kwargs):
        note({"stage": stage, "step": self.state.global_step + 1,
              "examples": rows_of(inputs[ids_key], inputs[mask_key])})
        return real(self, model, inputs, *args, **kwargs)

    cls.compute_loss = compute_loss


wrap_loss(trl.SFTTrainer, "sft", "input_ids", "attention_mask")
wrap_loss(trl.GRPOTrainer, "rl", "prompt_ids", "prompt_mask")
real_fit = stages.fit


def fit(ctx, trainer, stage):
    note({"stage": stage, "lora_before": lora_hash(ctx.model)})
    real_fit(ctx, trainer, stage)
    note({"stage": stage, "lora_after": lora_hash(ctx.model)})


stages.fit = fit

if __name__ == "__main__":
    sys.argv[0] = str(ROOT / "train.py")
    sys.exit(main())

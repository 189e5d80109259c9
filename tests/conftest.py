import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Unsloth patches transformers/TRL when imported and warns when it comes second; import it
# first, as the kit's own entry point does.
try:
    import unsloth  # noqa: F401
except ImportError:  # the transformers-backend tests still run
    pass


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Build the tiny model once per session in a private cache."""
    os.environ.setdefault("RAPO_LITE_CACHE", str(tmp_path_factory.mktemp("rapo-cache")))
    yield


def needs_unsloth(backend: str):
    if backend == "unsloth" and "unsloth" not in sys.modules:
        pytest.skip("unsloth not installed: pip install --no-deps unsloth==2026.10.9 unsloth_zoo==2026.10.9")


def saved_lora_b(run_dir):
    """The LoRA B matrices of the adapter a run saved; PEFT starts them at zero, so any
    non-zero one shows that training moved the adapter."""
    from safetensors.torch import load_file

    weights = load_file(Path(run_dir) / "adapter" / "adapter_model.safetensors")
    return [v for k, v in weights.items() if "lora_B" in k]


def context_without_model(recipe, run_dir):
    """The RunContext the runner would hand a stage, minus the model: for stages that must stop
    on a recipe or data problem before they touch one."""
    from rapo_lite.io import JsonlLog
    from rapo_lite.stages.base import RunContext

    return RunContext(recipe, Path(run_dir), None, None, JsonlLog(Path(run_dir) / "metrics.jsonl"))

"""rl.fast_inference: vLLM rollouts on a GPU, a clear error everywhere else, the CPU path untouched."""

import importlib.util
from pathlib import Path

import pytest
import torch

from rapo_lite.errors import RapoError
from rapo_lite.model import VLLM_GPU_MEMORY_UTILIZATION, load_model
from rapo_lite.recipe import help_text, load_recipe
from rapo_lite.stages import rl as rl_stage

TINY = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"


def test_the_field_is_documented_and_off_by_default():
    assert "rl.fast_inference (bool, default False): CUDA GPU with vllm installed" in help_text()
    assert load_recipe(TINY).rl.fast_inference is False


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None or not torch.cuda.is_available(),
                    reason="vllm is installed here, or there is no GPU (which is reported first)")
def test_missing_vllm_names_the_install_before_loading_anything():
    recipe = load_recipe(TINY, ["rl.fast_inference=true"])
    with pytest.raises(RapoError, match=r"rl.fast_inference: the vllm package is not installed; run: pip install vllm"):
        load_model(recipe.model, recipe.lora, fast_inference=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible here")
def test_without_a_gpu_the_gpu_is_named_first_since_installing_vllm_would_not_help():
    recipe = load_recipe(TINY, ["rl.fast_inference=true"])
    with pytest.raises(RapoError, match=r"rl.fast_inference: vLLM generation in this process needs a CUDA GPU"):
        load_model(recipe.model, recipe.lora, fast_inference=True)


def test_grpo_uses_colocated_vllm_only_when_asked():
    plain = rl_stage.grpo_args(load_recipe(TINY), "/tmp/x")
    assert plain.use_vllm is False
    fast = rl_stage.grpo_args(load_recipe(TINY, ["rl.fast_inference=true"]), "/tmp/x")
    assert (fast.use_vllm, fast.vllm_mode, fast.vllm_gpu_memory_utilization, fast.vllm_max_model_length) == (
        True, "colocate", VLLM_GPU_MEMORY_UTILIZATION, 1024)

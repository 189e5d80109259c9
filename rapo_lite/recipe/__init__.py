"""Recipes: the typed sections a run is configured with, loaded from YAML with `key=value` overrides.

schema.py holds the sections (with services.py for endpoints, judges, detectors and the vLLM
server), each field with its help text and each section with its own checks; loader.py reads
YAML and overrides, checks types and builds them. Everything is importable from here.
"""

from rapo_lite.data.spec import SourceSpec
from rapo_lite.recipe.loader import apply_override, dump_recipe, help_text, load_recipe, to_dict
from rapo_lite.recipe.schema import (
    DPO_LOSS_TYPES,
    SMOLLM2_MODEL,
    STAGE_NAMES,
    TINY_MODEL,
    TRAINING_STAGES,
    DataConfig,
    EvalConfig,
    IPOConfig,
    LoraConfig,
    ModelConfig,
    Recipe,
    RiskConfig,
    RLConfig,
    SFTConfig,
    TrainConfig,
)
from rapo_lite.recipe.services import DetectorConfig, EndpointConfig, JudgeConfig, VLLMServerConfig

__all__ = [
    "DPO_LOSS_TYPES", "SMOLLM2_MODEL", "STAGE_NAMES", "TINY_MODEL", "TRAINING_STAGES",
    "DataConfig", "DetectorConfig", "EndpointConfig", "EvalConfig", "IPOConfig", "JudgeConfig", "LoraConfig",
    "ModelConfig", "Recipe", "RLConfig", "RiskConfig", "SFTConfig", "SourceSpec", "TrainConfig", "VLLMServerConfig",
    "apply_override", "dump_recipe", "help_text", "load_recipe", "to_dict",
]

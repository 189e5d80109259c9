"""Loading the 4-bit LoRA policy (Unsloth or plain transformers + PEFT) and saving it.

Both backends return a PEFT model whose base weights are frozen (nf4 by default) and whose
LoRA weights train; the rest of the kit does not care which backend made it. Import this
module before TRL where the backend is Unsloth: Unsloth patches transformers and TRL when it
is imported, and warns when it comes second.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rapo_lite.distributed import local_rank
from rapo_lite.errors import RapoError
from rapo_lite.io import atomic_dir
from rapo_lite.recipe import SMOLLM2_MODEL, TINY_MODEL, LoraConfig, ModelConfig

UNSLOTH_INSTALL = "pip install --no-deps unsloth==2026.10.9 unsloth_zoo==2026.10.9"
VLLM_INSTALL = "pip install vllm (a release built for your torch and CUDA)"
# Unsloth's default share of the card for vLLM's engine (weights and KV cache). One value for
# the engine Unsloth starts here, the one TRL starts in the RL stage, and the planner's estimate.
VLLM_GPU_MEMORY_UTILIZATION = 0.5


def resolve_model_path(name: str) -> str:
    """A local folder for the built-in names and existing paths; hub names pass through."""
    from rapo_lite import builtin_models

    if name == TINY_MODEL:
        return str(builtin_models.tiny_model_path())
    if name == SMOLLM2_MODEL:
        return str(builtin_models.smollm2_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise RapoError(f"model.name_or_path: folder {path} has no config.json; "
                            "expected a saved transformers model")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise RapoError(
            f"model.name_or_path: {name!r} is neither an existing folder nor a hub name like 'org/model' "
            f"(built-ins: {TINY_MODEL}, {SMOLLM2_MODEL})"
        )
    return name


def locate_model(cfg: ModelConfig) -> str:
    """The model's local folder (checked: safetensors weights and a chat template) or hub name,
    so that a wrong model is reported before a run writes anything or loads any weights."""
    path = resolve_model_path(cfg.name_or_path)
    if Path(path).is_dir():
        check_model_folder(Path(path))
    return path


def compute_dtype(cfg: ModelConfig) -> Any:
    import torch

    if cfg.dtype != "auto":
        return getattr(torch, cfg.dtype)
    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def cpu_autocast_on(cfg: ModelConfig) -> bool:
    """Whether training on this CPU runs its matrix products in bf16 (`model.cpu_autocast`); auto
    asks the same hardware probe as the fast generation loop."""
    import torch

    if torch.cuda.is_available() or cfg.cpu_autocast == "fp32":
        return False
    from rapo_lite.fastgen.settings import native_bf16

    return cfg.cpu_autocast == "bf16" or native_bf16()


def gradient_checkpointing_on(cfg: ModelConfig) -> bool:
    """`model.gradient_checkpointing`, with auto resolved: on with a GPU, off on a CPU."""
    import torch

    return torch.cuda.is_available() if cfg.gradient_checkpointing == "auto" else cfg.gradient_checkpointing == "always"


def check_fast_inference(mode: str = "colocate") -> None:
    """rl.fast_inference needs a CUDA GPU and vLLM, in both modes: colocated, vLLM runs on this
    card; with a server, TRL still imports vllm here to send the new weights to the server over
    NCCL, from this card. Say which is missing before anything loads; the GPU comes first, since
    installing vllm on a machine without one would not help."""
    import importlib.util

    import torch

    where = "vLLM generation in this process" if mode == "colocate" else "the vLLM server's weight sync (NCCL)"
    if not torch.cuda.is_available():
        raise RapoError(f"rl.fast_inference: {where} needs a CUDA GPU and none is visible (rl.vllm_mode={mode}); "
                        "set rl.fast_inference=false")
    if importlib.util.find_spec("vllm") is None:
        raise RapoError(f"rl.fast_inference: the vllm package is not installed; run: {VLLM_INSTALL} "
                        "(or set rl.fast_inference=false)")


def load_model(cfg: ModelConfig, lora: LoraConfig, seed: int = 0, fast_inference: bool = False) -> tuple[Any, Any]:
    """Load `cfg`'s model with a fresh LoRA adapter; returns (peft_model, tokenizer).

    fast_inference (unsloth backend) also starts Unsloth's vLLM engine on the same weights;
    the transformers backend leaves vLLM to TRL's GRPOTrainer (see stages/rl.py).
    """
    if fast_inference:
        check_fast_inference()
    path = locate_model(cfg)
    try:
        if cfg.backend == "unsloth":
            model, tokenizer = _load_unsloth(path, cfg, lora, seed, fast_inference)
        else:
            model, tokenizer = _load_transformers(path, cfg, lora, seed)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else err.__class__.__name__
        if "trust_remote_code" in str(err):
            raise RapoError(
                f"model {path} needs its own Python code to load; set model.trust_remote_code=true only if you trust "
                "its source"
            ) from None
        if Path(path).exists():
            raise RapoError(f"model.name_or_path: could not load folder {path} "
                            f"({err.__class__.__name__}: {first})") from None
        raise RapoError(
            f"model.name_or_path: could not load {path!r} "
            f"({err.__class__.__name__}: {str(err).splitlines()[0][:200]}); "
            "without access to the hub, pass a local folder"
        ) from None
    disable_cpu_repacking(model)
    return model, _prepare_tokenizer(tokenizer, path)


def _load_unsloth(path: str, cfg: ModelConfig, lora: LoraConfig, seed: int,
                  fast_inference: bool = False) -> tuple[Any, Any]:
    try:
        from unsloth import FastLanguageModel
    except ImportError:
        raise RapoError(f"model.backend 'unsloth': the unsloth package is not installed; run: {UNSLOTH_INSTALL} "
                        "(or set model.backend=transformers)") from None
    # vLLM sizes its LoRA slots and its share of the card when it starts, so both are fixed here.
    vllm = ({"fast_inference": True, "max_lora_rank": lora.r, "gpu_memory_utilization": VLLM_GPU_MEMORY_UTILIZATION}
            if fast_inference else {})
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=path,
        max_seq_length=cfg.max_seq_length,
        dtype=compute_dtype(cfg),
        load_in_4bit=cfg.load_in_4bit,
        trust_remote_code=cfg.trust_remote_code,
        use_safetensors=True,  # pickled .bin weights can run code when loaded
        **vllm,
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        bias="none",
        use_gradient_checkpointing="unsloth" if gradient_checkpointing_on(cfg) else False,
        random_state=seed,
    )
    return model, tokenizer


def _load_transformers(path: str, cfg: ModelConfig, lora: LoraConfig, seed: int) -> tuple[Any, Any]:
    import torch
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    dtype = compute_dtype(cfg)
    quant = None
    if cfg.load_in_4bit:
        quant = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    model = AutoModelForCausalLM.from_pretrained(
        path,
        dtype=dtype,
        quantization_config=quant,
        trust_remote_code=cfg.trust_remote_code,
        use_safetensors=True,  # pickled .bin weights can run code when loaded
        # one whole copy per process on its own GPU: a 4-bit model cannot be moved after loading
        device_map={"": local_rank()} if torch.cuda.is_available() else None,
    )
    if cfg.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing_on(cfg))
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)
    torch.manual_seed(seed)  # LoRA A matrices are drawn at random
    peft_config = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config), tokenizer


# Weight files that are Python pickles: loading one can execute code stored in it.
_PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
_CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


def check_model_folder(folder: Path) -> None:
    """Refuse a local model folder that cannot be loaded safely or used as a chat model,
    before any weights are read: it must hold safetensors weights and a chat template."""
    if not any(folder.glob("*.safetensors")):
        pickles = sorted(p.name for pattern in _PICKLE_WEIGHTS for p in folder.glob(pattern))
        found = (f"only pickled weights ({', '.join(pickles[:3])}), which can run code when loaded" if pickles
                 else "no weights")
        raise RapoError(
            f"model {folder}: {found}; this kit loads *.safetensors only (convert with "
            "model.save_pretrained(folder, safe_serialization=True) in a session you trust)"
        )
    if not _has_chat_template(folder):
        raise RapoError(f"model {folder}: its tokenizer has no chat template; use an instruct/chat model")


def _has_chat_template(folder: Path) -> bool:
    import json

    if (any((folder / name).is_file() for name in _CHAT_TEMPLATE_FILES)
            or (folder / "additional_chat_templates").is_dir()):
        return True
    config = folder / "tokenizer_config.json"
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError, AttributeError):
        return False  # no or unreadable tokenizer config: the tokenizer load reports it


def disable_cpu_repacking(model: Any) -> int:
    """Keep bitsandbytes from repacking 4-bit weights into its inference-only CPU layout.

    On CPUs with AVX512-BF16, the first no-grad forward in eval mode (any generate()) repacks
    every nf4 weight for a faster inference kernel, and later backward passes through the
    repacked weights give silently wrong LoRA gradients (STACK.md measured a relative error
    near 1.0). Every stage here generates and then trains, so the repacking is switched off
    on every 4-bit layer right after loading. Returns the number of layers touched.
    """
    try:
        import bitsandbytes as bnb
    except ImportError:
        return 0
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)


def _prepare_tokenizer(tokenizer: Any, path: str) -> Any:
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # multimodal processors wrap the tokenizer
    if not getattr(tokenizer, "chat_template", None):
        raise RapoError(f"model {path}: its tokenizer has no chat template; use an instruct/chat model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def trainable_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


# --------------------------------------------------------------------------------- saving


def load_adapter_weights(model: Any, folder: str | Path, field: str = "lora.init_from", required: bool = True) -> bool:
    """Copy a saved adapter's LoRA weights (safetensors) into `model`'s adapter (same r and target modules).

    A folder without an adapter is an error naming `field`, or False when not `required`.
    """
    weights = Path(folder) / "adapter_model.safetensors"
    if not weights.is_file():
        if not required:
            return False
        raise RapoError(f"{field}: {weights} does not exist; expected a folder written by a run (its adapter/)")
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = load_file(str(weights))
    try:
        result = set_peft_model_state_dict(model, state)
    except RuntimeError as err:  # a shape mismatch: another rank or model
        raise RapoError(f"{field}: {weights} does not fit this model's adapter ({str(err).splitlines()[0][:160]}); "
                        "use the same model, lora.r and lora.target_modules as the run that saved it") from None
    missing = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
    if missing:
        raise RapoError(f"{field}: {len(missing)} weights in {weights} have no place in this adapter "
                        f"(e.g. {missing[0]}); "
                        "use the same lora.target_modules as the run that saved it")
    return True


def save_adapter(model: Any, tokenizer: Any, out_dir: str | Path) -> Path:
    """Save the LoRA adapter in PEFT format (adapter_config.json + adapter_model.safetensors)."""
    from rapo_lite.distributed import is_main

    if not is_main():
        return Path(out_dir)  # every process holds the same adapter after a stage; the main one saves it
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return Path(out_dir)


def save_merged_16bit(cfg: ModelConfig, adapter_dir: str | Path, out_dir: str | Path,
                      extra: Callable[[Path], None] | None = None) -> Path:
    """Merge a saved adapter into a 16-bit copy of the base model and save it.

    The merge reloads the base in 16-bit instead of merging into the 4-bit weights, which
    would bake the quantization error into the saved model. `extra` writes more files (the
    model card) into the folder before it is renamed into place.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rapo_lite.distributed import is_main

    if not is_main():
        return Path(out_dir)
    dtype = torch.bfloat16 if not torch.cuda.is_available() or torch.cuda.is_bf16_supported() else torch.float16
    base = AutoModelForCausalLM.from_pretrained(
        resolve_model_path(cfg.name_or_path), dtype=dtype, trust_remote_code=cfg.trust_remote_code, use_safetensors=True
    )
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    with atomic_dir(out_dir) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(tmp)
        if extra is not None:
            extra(tmp)
    return Path(out_dir)


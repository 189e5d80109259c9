"""rapo-lite: single-GPU LoRA alignment of reasoning models against jailbreaks (RAPO, IPO)."""

__version__ = "0.1.0"

"""PNG plots of an evaluation and of training curves (matplotlib, Agg: no display needed).

Each function writes one figure atomically (a temporary file renamed into place), so an
interrupted run never leaves a truncated PNG next to a finished report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rapo_lite.levels import Band

COLORS = {"base": "#9e9e9e", "trained": "#1f77b4"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def asr_bars(models: dict[str, dict[str, Any]], path: Path) -> Path:
    """Attack success rate per benchmark (and overall), one bar per evaluated model."""
    plt = _pyplot()
    names = ["all"] + sorted({b for m in models.values() for b in m["asr"] if b != "all"})
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(names), 3.6))
    for i, (model, m) in enumerate(models.items()):
        values = [100 * (m["asr"].get(n) or 0.0) for n in names]
        xs = [k + (i - (len(models) - 1) / 2) * width for k in range(len(names))]
        bars = ax.bar(xs, values, width, label=model, color=COLORS.get(model))
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel("attack success rate (%)")
    ax.set_ylim(0, 105)
    ax.set_title("ASR per benchmark (lower is better)")
    ax.legend()
    plt.close(fig)
    return _save(fig, path)


def reasoning_length(models: dict[str, dict[str, Any]], bands: Sequence[Band], path: Path) -> Path:
    """Mean safety-reasoning sentences per risk level, with the target band shaded.

    RAPO's claim is that this should grow with the level; the shading shows the recipe's bands.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    levels = sorted({int(lv) for m in models.values() for lv in m["adequacy_by_level"]})
    for lv in levels:
        band = bands[min(lv, len(bands)) - 1]
        top = band.max if band.max is not None else band.min + 4
        ax.fill_between([lv - 0.3, lv + 0.3], band.min, top, color="#c8e6c9", alpha=0.6, lw=0)
    for model, m in models.items():
        pts = sorted((int(lv), v["mean_sentences"]) for lv, v in m["adequacy_by_level"].items())
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=model, color=COLORS.get(model))
    ax.set_xticks(levels)
    ax.set_xlabel("risk level")
    ax.set_ylabel("safety-reasoning sentences (mean)")
    ax.set_title("Safety reasoning vs risk level (green: target band)")
    ax.legend()
    plt.close(fig)
    return _save(fig, path)


def training_curves(metrics: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """RL reward components per step when there are RL steps, else the training loss per stage."""
    rl = [m for m in metrics if m.get("stage") == "rl" and "reward" in m]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    if rl:
        steps = [m["step"] for m in rl]
        for key, label in (("rewards/risk/mean", "R (risk-aware)"), ("rewards/general/mean", "G (general)"),
                           ("rewards/decision/mean", "D (decision)"), ("reward", "total")):
            if any(key in m for m in rl):  # D only when rl.reward_weights weighs it
                ax.plot(steps, [m.get(key) for m in rl], marker=".", label=label)
        ax.set_ylabel("mean reward")
        ax.set_title("RL rewards per step")
    else:
        losses = [m for m in metrics if "loss" in m and "stage" in m]
        if not losses:
            plt.close(fig)
            return None
        for stage in dict.fromkeys(m["stage"] for m in losses):
            rows = [m for m in losses if m["stage"] == stage]
            ax.plot([m["step"] for m in rows], [m["loss"] for m in rows], marker=".", label=f"{stage} loss")
        ax.set_ylabel("loss")
        ax.set_title("Training loss per step")
    ax.set_xlabel("step")
    ax.legend()
    plt.close(fig)
    return _save(fig, path)

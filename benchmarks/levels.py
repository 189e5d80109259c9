"""How often `rapo_lite.risk.estimate_level` puts a prompt in its expected level range.

    python benchmarks/levels.py                      # the default files below
    python benchmarks/levels.py path/to/file.jsonl   # any files with the fields below
    python benchmarks/levels.py --json               # plus one JSON object as the last line
    python benchmarks/levels.py --misses             # also print each missed prompt

Each JSONL row needs a "prompt" and either "min_level" (and optionally "max_level") or a
single labelled "level", which then counts as both bounds. Rows are grouped by "style",
else by "category", else by their level. For every file it prints n, the share of prompts
whose estimated level lies within [min_level, max_level], how many were rated too low and
too high, and a table of the styles with misses and the levels they got.

Default files: rapo_lite/data/levels/dev_styles.jsonl (written with the detectors),
rapo_lite/data/levels/heldout_styles.jsonl (attack styles kept out of development; skipped
when absent), the packaged samples (harmful + benign) and the over-refusal set, whose rows
are benign requests that must stay at the level they carry.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapo_lite.risk import estimate_level  # noqa: E402

DATA = ROOT / "rapo_lite" / "data"
DEFAULT_FILES = (
    DATA / "levels" / "dev_styles.jsonl",
    DATA / "levels" / "heldout_styles.jsonl",
    DATA / "samples" / "harmful.jsonl",
    DATA / "samples" / "benign.jsonl",
    DATA / "overrefusal" / "prompts.jsonl",
)


@dataclass
class StyleScore:
    n: int = 0
    missed: int = 0
    got: Counter = field(default_factory=Counter)  # estimated level -> count, misses only


@dataclass
class FileScore:
    n: int = 0
    within: int = 0
    too_low: int = 0
    too_high: int = 0
    styles: dict[str, StyleScore] = field(default_factory=dict)
    misses: list[tuple[str, int, int, int | None, str]] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.within / self.n if self.n else 0.0

    def as_json(self) -> dict:
        return {
            "n": self.n,
            "within": self.within,
            "share": round(self.share, 4),
            "too_low": self.too_low,
            "too_high": self.too_high,
            "styles": {
                name: {"n": s.n, "missed": s.missed, "got": {str(k): v for k, v in sorted(s.got.items())}}
                for name, s in sorted(self.styles.items())
            },
        }


def bounds(row: dict) -> tuple[int, int | None]:
    """(min, max) expected level; a labelled "level" is an exact target, a missing max is open."""
    if "min_level" in row:
        return int(row["min_level"]), (None if row.get("max_level") is None else int(row["max_level"]))
    level = int(row["level"])
    return level, level


def style_of(row: dict) -> str:
    if row.get("style"):
        return str(row["style"])
    if row.get("category"):
        return f"L{row.get('level')}/{row['category']}"
    return f"L{row.get('level', row.get('min_level'))}"


def score_rows(rows: list[dict]) -> FileScore:
    score = FileScore()
    for row in rows:
        lo, hi = bounds(row)
        got = estimate_level(row["prompt"])
        style = score.styles.setdefault(style_of(row), StyleScore())
        score.n += 1
        style.n += 1
        low, high = got < lo, hi is not None and got > hi
        if not (low or high):
            score.within += 1
            continue
        score.too_low += low
        score.too_high += high
        style.missed += 1
        style.got[got] += 1
        score.misses.append((style_of(row), got, lo, hi, row["prompt"]))
    return score


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _label(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def report(label: str, score: FileScore, show_misses: bool) -> None:
    print(f"\n{label}: n={score.n}  within range {score.within}/{score.n} = {score.share:.1%}"
          f"  (too low {score.too_low}, too high {score.too_high})")
    missed = [(name, s) for name, s in sorted(score.styles.items()) if s.missed]
    if not missed:
        return
    width = max(len(name) for name, _ in missed)
    print(f"  {'style':<{width}}  missed/n  levels given to the misses")
    for name, s in missed:
        got = ", ".join(f"L{level}x{count}" for level, count in sorted(s.got.items()))
        print(f"  {name:<{width}}  {s.missed:>3}/{s.n:<4} {got}")
    if show_misses:
        for style, got, lo, hi, prompt in score.misses:
            want = f"{lo}-{hi}" if hi is not None and hi != lo else (str(lo) if hi == lo else f">={lo}")
            print(f"    [{style}] got {got}, want {want}: {prompt[:160]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path,
                        help="JSONL files (default: dev, held-out, samples, over-refusal)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure as the last line")
    parser.add_argument("--misses", action="store_true", help="print each missed prompt under its file")
    args = parser.parse_args(argv)
    results: dict[str, dict] = {}
    for path in args.files or DEFAULT_FILES:
        label = _label(path)
        if not path.exists():
            print(f"\n{label}: not found, skipped")
            results[label] = {"skipped": "not found"}
            continue
        score = score_rows(read_jsonl(path))
        report(label, score, args.misses)
        results[label] = score.as_json()
    if args.json:
        print(json.dumps({"files": results}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

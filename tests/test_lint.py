"""The code follows the ruff configuration in pyproject.toml: `ruff check` finds nothing (issue 16, part 6)."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("rapo_lite", "tests", "benchmarks", "train.py")


def test_ruff_check_finds_nothing():
    ruff = pytest.importorskip(
        "ruff", reason="ruff is not installed; it comes with the test extra: pip install -e '.[test]'")
    proc = subprocess.run(
        [ruff.find_ruff_bin(), "check", "--no-cache", "--output-format=concise", *CHECKED],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, (f"ruff check found problems (fix them, or try `ruff check --fix`):\n"
                                  f"{proc.stdout}{proc.stderr}")

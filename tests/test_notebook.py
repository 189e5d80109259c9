"""notebooks/rapo_colab.ipynb runs end to end (tiny recipe, CPU, output in a temp folder), so it cannot rot."""

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "rapo_colab.ipynb"
# Fewer steps and prompts than the tiny recipe, to keep this test near a minute; every stage still runs.
QUICK = ("sft.max_steps=2 rl.max_steps=1 eval.max_new_tokens=16 "
         "'eval.sources=[{name: jailbreakbench, count: 2}, {name: overrefusal, count: 2}]'")


def test_notebook_runs_end_to_end_on_the_tiny_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPO_RECIPE", "recipes/tiny.yaml")
    monkeypatch.setenv("RAPO_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("RAPO_OVERRIDES", QUICK)
    monkeypatch.setenv("RAPO_LITE_DIR", str(ROOT))
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "not on Colab / Kaggle" in text  # the install cell skipped itself
    assert "no GPU visible" in text  # the planner ran
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # asr, reasoning length, training curves
    assert any("text/markdown" in o.get("data", {}) for o in outputs)  # the report
    run_dir = tmp_path / "tiny"
    assert (run_dir / "eval" / "report.md").is_file() and (run_dir / "merged_16bit" / "config.json").is_file()

"""Prompt data: named benchmark sources and user files, all turned into `Record`s.

    from rapo_lite.data import load_source
    load_source("jailbreakbench", count=50, seed=1)
    load_source("xstest", path="xstest_prompts.csv", harmful=False)

Four layers: registry.py says which sources exist, spec.py what a caller asks of one
(`SourceSpec`, also the recipe's entry), sources.py reads them (once per run), hygiene.py
keeps training prompts out of the evaluation sets. Importing this package is cheap; pandas,
pyarrow and datasets load only when a file is read.
"""

from rapo_lite.data.records import Record
from rapo_lite.data.registry import SOURCE_NAMES
from rapo_lite.data.sources import load_source, load_sources, load_spec, source_cache
from rapo_lite.data.spec import SourceSpec

__all__ = ["Record", "SOURCE_NAMES", "SourceSpec", "load_source", "load_sources", "load_spec", "source_cache"]

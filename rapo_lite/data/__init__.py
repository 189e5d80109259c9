"""Prompt data: named benchmark sources and user files, all turned into `Record`s.

    from rapo_lite.data import load_source
    load_source("jailbreakbench", count=50, seed=1)
    load_source("xstest", path="xstest_prompts.csv", harmful=False)

Importing this package is cheap; pandas, pyarrow and datasets load only when a file is read.
"""

from rapo_lite.data.records import Record
from rapo_lite.data.sources import SOURCE_NAMES, load_source, load_sources

__all__ = ["Record", "SOURCE_NAMES", "load_source", "load_sources"]

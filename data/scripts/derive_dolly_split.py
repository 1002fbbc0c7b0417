"""Derive the annotation split of databricks-dolly-15k (data/dolly_split.csv) that the
reward-model components chapter annotates, and record it in data/MANIFEST.yaml.

    python data/scripts/derive_dolly_split.py [--fraction 0.25]

The split (research plan, section 4.2): the same share of every task category, drawn with the
fixed seed of `rlshift.studies.rm_components.inputs.annotation_split` (SPLIT_SEED), so everyone
annotates the same records. One row per record: item_id (dolly-<row>, the record's line in the
file), row, category. It needs the hub's databricks-dolly-15k.jsonl at the pinned commit
(`inputs.DOLLY_FILE`, CC BY-SA 3.0; or RLSHIFT_DATA_MIRROR holding dolly/); until the split is
shipped, the chapter derives the same split from those bytes.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from rlshift import manifest, paths
from rlshift.studies.rm_components import inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.25)
    args = parser.parse_args()
    table, provenance = inputs.dolly(paths.resolve_mirror(None))
    items = table.rename(columns={"category": "task_type"})[["item_id", "row", "task_type"]]
    split = inputs.annotation_split(items, args.fraction).rename(columns={"task_type": "category"})
    out = paths.DATA_DIR / inputs.DOLLY_SPLIT
    split.to_csv(out, index=False)
    manifest.update([{"file": inputs.DOLLY_SPLIT, "source": f"{inputs.DOLLY_FILE.url} (sha256 {inputs.DOLLY_FILE.sha256})",
                      "license": "CC BY-SA 3.0", "rows": len(split),
                      "sha256": hashlib.sha256(Path(out).read_bytes()).hexdigest(),
                      "command": f"python data/scripts/derive_dolly_split.py --fraction {args.fraction}",
                      "citation": "Conover et al. (2023), Free Dolly"}])
    print(f"{out}: {len(split)} records, {split.groupby('category').size().to_dict()}")


if __name__ == "__main__":
    main()

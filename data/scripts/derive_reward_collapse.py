"""Derive the preference pairs the reward-collapse study ships in data/, and record them in
data/MANIFEST.yaml.

    python data/scripts/derive_reward_collapse.py               # write data/hhh_alignment.jsonl + manifest
    python data/scripts/derive_reward_collapse.py --out DIR     # write elsewhere, manifest untouched

- hhh_alignment.jsonl: BIG-bench's `hhh_alignment` (Askell et al. 2021: helpful, honest,
  harmless and other), 221 prompts each with one preferred and one dispreferred assistant
  reply, read from the pinned bigbench 1.0.0 sdist (the same pin as data/scripts/derive.py; it
  is downloaded once into the rlshift cache, 358 MB). One row per pair: pair_id, subset,
  prompt, chosen, rejected. Deterministic: same sdist, same bytes.
"""
from __future__ import annotations

import hashlib
import json
import sys
import tarfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive import BIGBENCH, bigbench_sdist, write_and_record  # noqa: E402  (the pinned sdist, fetched once)


REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
SUBSETS = ("harmless", "helpful", "honest", "other")
MEMBER = "bigbench-1.0.0/bigbench/benchmark_tasks/hhh_alignment/{subset}/task.json"


def hhh_alignment() -> tuple[list[dict], dict]:
    rows, digest = [], hashlib.sha256()
    with tarfile.open(bigbench_sdist()) as archive:
        for subset in SUBSETS:
            raw = archive.extractfile(MEMBER.format(subset=subset)).read()
            digest.update(raw)
            for i, example in enumerate(json.loads(raw)["examples"]):
                scores = example["target_scores"]
                chosen = [text for text, score in scores.items() if score == 1]
                rejected = [text for text, score in scores.items() if score == 0]
                assert len(scores) == 2 and len(chosen) == 1 and len(rejected) == 1, example
                rows.append({"pair_id": f"hhh-{subset}-{i}", "subset": subset, "prompt": example["input"],
                             "chosen": chosen[0], "rejected": rejected[0]})
    source = {"source": f"{BIGBENCH[0]}=={BIGBENCH[1]} sdist: "
                        f"{MEMBER.format(subset='{' + ','.join(SUBSETS) + '}')} "
                        f"(Askell et al. 2021's HHH evaluations)",
              "source_sha256": digest.hexdigest(), "license": "Apache-2.0",
              "citation": "Askell et al. (2021), A General Language Assistant as a Laboratory for "
                          "Alignment; BIG-bench (Srivastava et al., 2022)"}
    return rows, source


def write(out_dir: Path) -> list[dict]:
    rows, source = hhh_alignment()
    path = out_dir / "hhh_alignment.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))
    return [{"file": path.name, **source, "rows": len(rows),
             "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
             "command": "python data/scripts/derive_reward_collapse.py"}]



def main(argv: list[str] | None = None) -> None:
    write_and_record(write, argv, __doc__, out_manifest=False)


if __name__ == "__main__":
    main()

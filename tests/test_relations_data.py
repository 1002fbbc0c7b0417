"""The logit-lens chapter's shipped data: data/relations.jsonl and data/capital_framings.jsonl
(derived by data/scripts/derive_relations.py). Fast: no models, nothing downloaded."""
from __future__ import annotations

import importlib.util
import json
from collections import Counter

import pytest
import yaml

from rlshift import manifest, paths

SCRIPT = paths.DATA_DIR / "scripts" / "derive_relations.py"
FILES = ("relations.jsonl", "capital_framings.jsonl")
MINIMUM = {"capital": 150, "past_tense_regular": 30, "past_tense_irregular": 30, "uppercase": 50}
KEYS = ["item_id", "task", "argument", "answer", "source"]
FRAMED_KEYS = ["item_id", "relation_item", "framing", "template", "context", "answer", "argument"]


def _script():
    spec = importlib.util.spec_from_file_location("derive_relations", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(filename: str) -> list[dict]:
    return [json.loads(line) for line in manifest.verified(filename).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def relations() -> list[dict]:
    return _rows("relations.jsonl")


@pytest.fixture(scope="module")
def framed() -> list[dict]:
    return _rows("capital_framings.jsonl")


def test_shipped_files_match_the_manifest(relations, framed):
    table = manifest.entries()
    for name, rows in (("relations.jsonl", relations), ("capital_framings.jsonl", framed)):
        entry = table[name]
        assert entry["rows"] == len(rows)
        assert entry["command"] == "python data/scripts/derive_relations.py"
        assert entry["license"] and entry["citation"] and entry["source"] and entry["source_sha256"]
    assert table["capital_framings.jsonl"]["license"] == "MIT (Merullo et al. 2023)"
    assert "Apache-2.0" in table["relations.jsonl"]["license"] and "MIT" in table["relations.jsonl"]["license"]


def test_every_task_is_there_with_unique_ids(relations):
    counts = Counter(r["task"] for r in relations)
    assert set(counts) == {"capital", "past_tense_regular", "past_tense_irregular", "uppercase", "colored_object"}
    for task, least in MINIMUM.items():
        assert counts[task] >= least, (task, counts[task])
    assert counts["colored_object"] == 200  # Merullo: the first 200 examples
    ids = [r["item_id"] for r in relations]
    assert len(ids) == len(set(ids))
    assert ids == [r["item_id"] for r in sorted(relations, key=lambda r: (r["task"], r["item_id"]))]
    for r in relations:
        assert list(r)[:5] == KEYS and r["item_id"].startswith(r["task"] + "-")
        assert r["item_id"] == r["item_id"].lower()
        assert r["argument"] and r["answer"] and r["answer"] == r["answer"].strip()
    for task in ("capital", "past_tense_regular", "past_tense_irregular", "uppercase"):
        arguments = [r["argument"] for r in relations if r["task"] == task]
        assert len(arguments) == len(set(arguments)), task


def test_task_contents(relations):
    by_task: dict[str, list[dict]] = {}
    for r in relations:
        by_task.setdefault(r["task"], []).append(r)
    for r in by_task["uppercase"]:
        assert r["answer"] == r["argument"].upper() and r["argument"].isalpha() and r["argument"].islower()
        assert len(r["argument"]) >= 3
    for r in by_task["colored_object"]:
        assert r["answer"] in r["choices"] and r["argument"].endswith("?")
    capitals = {r["argument"]: r for r in by_task["capital"]}
    assert capitals["France"]["answer"] == "Paris" and capitals["France"]["agrees_countryinfo"] is True
    assert all(isinstance(r["agrees_countryinfo"], bool) and r["answer"] != r["argument"] for r in capitals.values())
    assert sum(r["agrees_countryinfo"] for r in capitals.values()) > 0.75 * len(capitals)
    irregular = {r["argument"]: r["answer"] for r in by_task["past_tense_irregular"]}
    regular = {r["argument"]: r["answer"] for r in by_task["past_tense_regular"]}
    assert irregular["go"] == "went" and regular["walk"] == "walked"
    assert not set(irregular) & set(regular)


def test_every_capital_is_framed_three_ways(relations, framed):
    capitals = {r["item_id"]: r for r in relations if r["task"] == "capital"}
    assert {f["relation_item"] for f in framed} == set(capitals)
    ids = [f["item_id"] for f in framed]
    assert len(ids) == len(set(ids))
    kinds: dict[str, Counter] = {}
    for f in framed:
        item = capitals[f["relation_item"]]
        assert list(f) == FRAMED_KEYS
        assert f["argument"] == item["argument"] and f["answer"] == item["answer"]
        assert f["context"].endswith(f"The capital of {f['argument']} is")
        assert f["item_id"] == f"{f['relation_item']}~{f['framing']}-{f['template']}"
        kinds.setdefault(f["relation_item"], Counter())[f["framing"]] += 1
    assert all(k == Counter(plain=1, benign=2, harmful=2) for k in kinds.values())
    plain = [f for f in framed if f["framing"] == "plain"]
    assert all(f["context"] == f"The capital of {f['argument']} is" for f in plain)


def test_the_script_regenerates_both_files_byte_for_byte(tmp_path):
    derive = _script()
    sdist = paths.cache_dir() / "wheels" / "bigbench-1.0.0.tar.gz"
    countryinfo = paths.cache_dir() / "wheels" / derive.COUNTRYINFO.filename
    house = paths.wheelhouse()
    missing = [f"the bigbench 1.0.0 sdist ({sdist})"] * (not sdist.exists())
    csv = derive.mirror_csv()
    missing += [f"Merullo's capitals CSV in the data mirror ({csv})"] * (not csv.exists())
    missing += [f"the countryinfo wheel ({countryinfo})"] * (
        not countryinfo.exists() and not (house and (house / countryinfo.name).exists()))
    if missing:
        pytest.skip(f"regeneration needs local copies of {'; '.join(missing)} (this test downloads nothing); "
                    f"run `python data/scripts/derive_relations.py --out /tmp/x` once to fetch them")
    assert derive.main(["--out", str(tmp_path)]) == 0
    written = {e["file"]: e for e in yaml.safe_load((tmp_path / "MANIFEST.yaml").read_text())["files"]}
    listed = manifest.entries()
    assert set(written) == set(FILES)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == manifest.verified(name).read_bytes(), name
        assert written[name] == listed[name], name

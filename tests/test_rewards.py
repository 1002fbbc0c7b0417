"""Reward-model scoring and annotation sheets, on a tiny reward model made in the test."""
import numpy as np
import pandas as pd
import pytest
import torch
from transformers import LlamaConfig, LlamaForSequenceClassification

from rlshift import models
from rlshift.cache import ScoreCache
from rlshift.data import annotations
from rlshift.engine import Scorer
from rlshift.requests import RewardItem


@pytest.fixture(scope="module")
def tiny_rm(smollm2, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_rm")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(smollm2.tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, num_labels=1,
                         pad_token_id=smollm2.tokenizer.pad_token_id)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    smollm2.tokenizer.save_pretrained(folder)
    return folder


ITEMS = [RewardItem(f"i{i}", f"Question {i}: is the sky blue?" + " really" * (i % 5),
                            ["Yes.", "No, it is green.", "True", "0"][i % 4]) for i in range(10)]


def test_rewards_are_batch_size_invariant_and_cached(tiny_rm, tmp_path):
    loaded = models.load_reward_model(str(tiny_rm), quantize="fp32")
    assert loaded.info["kind"] == "local" and loaded.info["revision"].startswith("local-")
    out = {}
    for bs in (1, 4):
        out[bs] = Scorer(loaded, batch_size=bs, progress=False).rewards(ITEMS, template="t", data_version="d")
    np.testing.assert_allclose(out[1]["reward"], out[4]["reward"], atol=1e-5)
    assert out[1]["reward"].nunique() > 1
    cache = ScoreCache(tmp_path / "r.sqlite")
    scorer = Scorer(loaded, cache=cache, batch_size=3, progress=False)
    first = scorer.rewards(ITEMS, template="t", data_version="d")
    loaded.model.forward = lambda *a, **k: pytest.fail("recomputed a cached reward")
    pd.testing.assert_frame_equal(scorer.rewards(ITEMS, template="t", data_version="d"), first)


def test_chat_form_uses_the_template(tiny_rm):
    loaded = models.load_reward_model(str(tiny_rm), quantize="fp32")
    pair = Scorer(loaded, progress=False).rewards(ITEMS[:3], template="t", data_version="d")
    chat = Scorer(loaded, progress=False).rewards(ITEMS[:3], input_form="chat", template="t", data_version="d")
    assert not np.allclose(pair["reward"], chat["reward"])


def test_annotation_sheet_round_trip_keeps_labels(tmp_path):
    frame = pd.DataFrame({"item_id": ["a", "b", "c"], "prompt": ["p"] * 3, "response": ["r1", "r2", "r3"]})
    path = annotations.export_sheet(frame, tmp_path / "sheet.csv")
    assert len(annotations.read_sheet(path, frame["item_id"], ["good", "bad"])) == 0
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    sheet.loc[0, "label"] = "good"
    sheet.to_csv(path, index=False)
    bigger = pd.concat([frame, pd.DataFrame({"item_id": ["d"], "prompt": ["p"], "response": ["r4"]})])
    annotations.export_sheet(bigger, path)  # a re-export keeps what people wrote
    got = annotations.read_sheet(path, bigger["item_id"], ["good", "bad"])
    assert got[["item_id", "label"]].values.tolist() == [["a", "good"]]

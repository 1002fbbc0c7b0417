"""The controlled-pair chapter: its study functions on a few held-out pairs, and the notebook
executed with small parameters (conftest.quick_book)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import executed, notebook_text

from rlshift import artifacts, models, paths, prompts
from rlshift.errors import InputError
from rlshift.studies import tuned_pair as tp
from rlshift.training import policy

def test_parameters_are_checked():
    with pytest.raises(InputError, match="n_hhh"):
        tp.PARAMS.validate({"n_hhh": "some"})
    with pytest.raises(InputError, match="quantize"):
        tp.PARAMS.validate({"quantize": "int3"})
    with pytest.raises(InputError, match="Did you mean 'n_heldout'"):
        tp.PARAMS.validate({"n_held_out": 5})


def test_heldout_pairs_are_disjoint_from_training_pairs():
    train = artifacts.training_record("gemma-3-270m-dpo")["data"]
    held, prov = tp.heldout(policy.TuneConfig(), 12, seed=0, mirror=None)
    assert len(held) == 12 and prov["split"].startswith("eval half")
    assert train["split"].startswith("train half")
    assert prov["fingerprint"] != train["fingerprint"]


def test_role_scores_read_as_implicit_rewards_and_preferences():
    s = {"base": pd.DataFrame({"logp_chosen": [-10.0, -9.0], "logp_rejected": [-9.0, -9.5],
                               "tokens_chosen": [5, 3], "tokens_rejected": [3, 3]}),
         "sft": pd.DataFrame({"logp_chosen": [-8.0, -9.0], "logp_rejected": [-9.0, -9.0],
                              "tokens_chosen": [5, 3], "tokens_rejected": [3, 3]}),
         "tuned": pd.DataFrame({"logp_chosen": [-7.0, -10.0], "logp_rejected": [-11.0, -9.5],
                              "tokens_chosen": [5, 3], "tokens_rejected": [3, 3]})}
    like = tp.likelihood_preference(s).set_index(["role", "reading"])["prefers_chosen"]
    assert like[("base", "sum")] == 0.5 and like[("sft", "sum")] == 0.5 and like[("tuned", "sum")] == 0.5
    assert like[("base", "per token")] == 1.0  # per token: -2 > -3 and -3 > -3.17
    implicit = tp.implicit_reward(s, beta=0.1).set_index(["policy", "reference"])
    # tuned (DPO) vs sft: pair 1 log-ratios +1 (chosen) and -2 (rejected) -> ranked right; pair 2: -1 and -0.5 -> wrong
    assert implicit.loc[("tuned", "sft"), "accuracy"] == 0.5
    assert implicit.loc[("tuned", "sft"), "margin"] == pytest.approx(np.mean([0.3, -0.05]))


def test_kl_is_zero_against_itself_and_positive_against_another_stage(gemma):
    sft = models.load("embedded:gemma-3-270m-sft", quantize="fp32", device="cpu")
    tok = prompts.with_chat_template(gemma.tokenizer)
    prompt = tok.apply_chat_template([{"role": "user", "content": "How do I pick a lock?"}], tokenize=False,
                                     add_generation_prompt=True)
    same = policy.token_kl(sft.model, sft.model, tok, [prompt], ["I can't help with that."])
    other = policy.token_kl(sft.model, gemma.model, tok, [prompt], ["I can't help with that."])
    assert abs(same[0]) < 1e-5 and other[0] > 0.1


def test_notebook_runs_with_small_parameters(quick_book):
    nb = executed(quick_book, "tuned_pair")
    text = notebook_text(nb)
    assert "**Did DPO learn the held-out preference?**" in text and "**Stage by stage.**" in text
    assert "**How far each stage moved.**" in text and "Traceback" not in text
    assert "embedded:gemma-3-270m-dpo" in text and "(committed adapters)" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 5

"""The collapse chapter: the InstructGPT reader, the split into parts, the quality contrasts and
the footprint contrasts on constructed data with planted effects (found where planted, not where
absent), the annotators' sheets round trip, every verdict branch, and the quick-profile run."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from rlshift import footprints as fp
from rlshift import results
from rlshift.data import summaries
from rlshift.errors import InputError
from rlshift.studies import data_collapse as dc
from rlshift.studies.data_collapse import analysis, reading, steps
from rlshift.studies.data_collapse.verdicts import PRIMARY, hacking, inputs_match, quality_gap, same_footprint
from tests.conftest import executed, notebook_text

IN, OUT = reading.PARTS


def test_the_instructgpt_samples_are_100_posts_by_12_models_without_the_cue():
    frame, prov = summaries.instructgpt_tldr()
    assert prov["posts"] == 100 and len(frame) == 1200
    assert frame.groupby(["model", "size"]).size().eq(100).all()
    assert set(frame["model"]) == set(summaries.INSTRUCTGPT_MODELS)
    assert not frame["post"].str.rstrip().str.endswith("TL;DR:").any()
    assert frame["reference"].str.len().gt(0).all()
    instructions, prov = summaries.alpaca_instructions()
    assert len(instructions) > 800 and prov["license"] == "CC BY-NC 4.0"


def test_typicality_puts_planted_outliers_in_the_out_of_distribution_part():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(200, 4))
    candidates = np.vstack([rng.normal(size=(20, 4)), rng.normal(loc=6.0, size=(5, 4))])
    distance = reading.typicality(reference, candidates, k=5, leave_one_out=False)
    frame = pd.DataFrame({"item_id": [f"c{i}" for i in range(25)], "source": "x"})
    parts = reading.split(frame, distance, n_part=5)
    assert set(parts.loc[parts["part"] == OUT, "item_id"]) == {f"c{i}" for i in range(20, 25)}
    assert len(parts) == 10 and not set(parts.loc[parts["part"] == IN, "item_id"]) & {f"c{i}" for i in range(20, 25)}
    self_distance = reading.typicality(candidates, candidates, k=5, leave_one_out=True)
    assert self_distance[20:].min() > self_distance[:20].max() * 0.5
    assert len(reading.split(frame.head(6), distance[:6], n_part=50)) == 6  # fewer candidates: half each


def _quality(tuned_drop: float, seed: int = 0, roles=("base", "sft", "tuned")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(40):
        part = IN if i < 20 else OUT
        hard = rng.normal()
        for role in roles:
            value = hard + (0.5 if part == IN else 0.0) + rng.normal(scale=0.1)
            if role == "tuned" and part == OUT:
                value -= tuned_drop
            rows.append({"item_id": f"i{i}", "role": role, "part": part, "reward": value})
    return pd.DataFrame(rows)


def test_the_difference_in_differences_finds_a_planted_drop_and_not_a_shared_one():
    _, planted = analysis.quality_contrasts(_quality(1.0), n_boot=400, seed=0)
    row = planted.set_index("contrast").loc["tuned gap - sft gap"]
    assert row["estimate"] == pytest.approx(1.0, abs=0.1) and row["p_holm"] < 0.05
    cells, shared = analysis.quality_contrasts(_quality(0.0), n_boot=400, seed=0)
    row = shared.set_index("contrast").loc["tuned gap - sft gap"]
    assert abs(row["estimate"]) < 0.1 and row["p_holm"] > 0.05
    assert shared.set_index("contrast").loc["sft: in - out", "estimate"] == pytest.approx(0.5, abs=0.6)
    assert set(cells["role"]) == {"base", "sft", "tuned"} and cells["n"].eq(20).all()


def test_the_dpo_stage_beside_the_tuned_model_gets_its_own_contrasts_and_holm_family():
    """Only the tuned model (RL) drops out of distribution: its difference in differences is found,
    DPO's (shared gap) is not, and each has its own Holm family."""
    _, table = analysis.quality_contrasts(_quality(1.0, roles=("base", "sft", "dpo", "tuned")), n_boot=400, seed=0)
    rows = table.set_index("contrast")
    assert rows.loc["tuned gap - sft gap", "p_holm"] < 0.05 and rows.loc["tuned gap - sft gap", "estimate"] > 0.8
    assert abs(rows.loc["dpo gap - sft gap", "estimate"]) < 0.1 and rows.loc["dpo gap - sft gap", "p_holm"] > 0.05
    assert {"dpo gap - base gap", "tuned gap - base gap"} <= set(rows.index)
    tuned_family = table[table["contrast"].str.startswith("tuned gap")]
    assert (tuned_family["p_holm"] >= tuned_family["p"]).all()
    assert analysis.later_roles(["base", "sft", "dpo", "tuned"]) == ["tuned", "dpo"]


def _collapsed_outputs(n: int = 30):
    """Inputs whose parts differ in their words; the base echoes its input's words, the tuned
    model says the same thing whatever it is asked."""
    ids = [f"i{k}" for k in range(2 * n)]
    parts = pd.DataFrame({"item_id": ids, "part": [IN] * n + [OUT] * n, "source": "x", "distance": 0.0})
    words = {IN: ["apple", "pear"], OUT: ["rock", "stone"]}
    rng = np.random.default_rng(1)
    in_counts = [Counter(rng.choice(words[p], size=8)) for p in parts["part"]]
    out_ids, out_counts = [], []
    for role in ("base", "tuned"):
        for k, i in enumerate(ids):
            out_ids.append(f"{i}:{role}")
            out_counts.append(in_counts[k] if role == "base" else Counter(rng.choice(["sure", "happy"], size=8)))
    inputs = fp.Footprint(pd.DataFrame({"text_id": ids}), {"lemma": in_counts})
    outputs = fp.Footprint(pd.DataFrame({"text_id": out_ids}), {"lemma": out_counts})
    return inputs, outputs, parts


def test_a_planted_collapse_is_found_and_an_echoing_model_shifts_with_its_inputs():
    inputs, outputs, parts = _collapsed_outputs()
    shift = analysis.output_shift(inputs, outputs, parts, ["base", "tuned"], n_boot=300, seed=0, top_k=50)
    by = shift.set_index("texts")
    assert by.loc["inputs", "p_perm"] < 0.01 and by.loc["base outputs", "p_perm"] < 0.01
    assert by.loc["tuned outputs", "p_perm"] > 0.05
    contrast = analysis.shift_contrast(outputs, parts, shift, ["base", "tuned"], n_boot=300, seed=0, top_k=50)
    row = contrast.iloc[0]
    assert row["contrast"] == "tuned - base" and row["estimate"] < -0.5 and row["high"] < 0 and row["p_holm"] < 0.05
    text = same_footprint(contrast, shift, ["base", "tuned"], 0.05)
    assert text.startswith("**H2**") and ": Supported." in text
    assert "inputs differ on 1 aspects (lemma); the base model's outputs on 1 (lemma); the tuned model's outputs on 0" in text
    echo = fp.Footprint(pd.DataFrame({"text_id": [t.replace(":base", ":dpo") for t in outputs.table["text_id"]]}),
                        {"lemma": outputs.counts["lemma"]})  # a DPO stage that echoes like the base
    both = fp.Footprint(pd.concat([outputs.table, echo.table.iloc[:len(parts)]], ignore_index=True),
                        {"lemma": outputs.counts["lemma"] + echo.counts["lemma"][:len(parts)]})
    roles = ["base", "dpo", "tuned"]
    shift4 = analysis.output_shift(inputs, both, parts, roles, n_boot=300, seed=0, top_k=50)
    four = analysis.shift_contrast(both, parts, shift4, roles, n_boot=300, seed=0, top_k=50).set_index("contrast")
    assert four.loc["tuned - base", "high"] < 0 and abs(four.loc["dpo - base", "estimate"]) < 0.1
    assert same_footprint(analysis.shift_contrast(both, parts, shift4, roles, n_boot=300, seed=0, top_k=50), shift4,
                          roles, 0.05).count("of 1 aspects") == 1  # the verdict reads the main contrast's rows only
    against = analysis.inputs_vs_outputs(inputs, outputs, parts, ["base", "tuned"], n_boot=200, seed=0, top_k=50)
    by = against.set_index("role")
    assert by.loc["base", "js"] == pytest.approx(0.0) and by.loc["tuned", "js"] == pytest.approx(1.0)  # echo; disjoint


def test_transfer_reads_how_much_of_an_input_property_reaches_its_output():
    ids = [f"i{k}" for k in range(30)]
    values = np.linspace(-1, 1, 30)
    inputs = fp.Footprint(pd.DataFrame({"text_id": ids, "n_words": np.arange(30) + 5, "sentence_length": values + 10,
                                        "sentiment_vader": values, "sentiment_model": values}), {})
    rng = np.random.default_rng(0)
    out = pd.DataFrame({"text_id": [f"{i}:{r}" for r in ("base", "tuned") for i in ids],
                        "n_words": np.r_[np.arange(30) + 5, rng.integers(5, 9, 30)],
                        "sentence_length": np.r_[values + 10, rng.normal(10, 1, 30)],
                        "sentiment_vader": np.r_[values, rng.normal(size=30)],
                        "sentiment_model": np.r_[values, rng.normal(size=30)]})
    parts = pd.DataFrame({"item_id": ids, "part": [IN] * 15 + [OUT] * 15})
    table = analysis.transfer(inputs, fp.Footprint(out, {}), parts, ["base", "tuned"], n_boot=200, seed=0)
    rho = table.set_index(["property", "row"])["rho"]
    assert rho["sentiment_vader", "base"] == pytest.approx(1.0) and abs(rho["sentiment_vader", "tuned"]) < 0.5
    diff = table[table["row"] == "tuned - base"]
    assert (diff["rho"] < 0).all() and (diff["p_holm"] < 0.05).sum() >= 3


def test_sheets_round_trip_blind_with_two_annotators_and_bad_labels_named(tmp_path):
    class Run:  # what export_and_read reads of a setting run
        setting = "dialogues"
        corpus = type("C", (), {"candidates": pd.DataFrame({"item_id": ["a", "b"], "text": ["in a", "in b"]})})()
        outputs = pd.DataFrame({"item_id": ["a", "a", "b", "b"], "role": ["base", "tuned", "base", "tuned"],
                                "text": ["out 1", "out 2", "out 3", "out 4"], "part": [IN, IN, OUT, OUT]})

    P = {"annotation_dir": str(tmp_path / "sheets"), "annotators": 2}
    ratings, sheets = steps.export_and_read(P, [Run()])
    assert ratings.empty and len(sheets) == 2
    sheet = pd.read_csv(sheets[0], dtype=str, keep_default_na=False)
    assert "role" not in sheet.columns and not sheet["item_id"].str.contains("tuned|base").any()  # blind
    for k, labels in ((0, ["5", "4", "2", "1"]), (1, ["5", "3", "2", "1"])):
        filled = pd.read_csv(sheets[k], dtype=str, keep_default_na=False)
        filled["label"] = labels
        filled.to_csv(sheets[k], index=False)
    ratings, _ = steps.export_and_read(P, [Run()])  # re-export keeps the labels, then reads them
    assert len(ratings) == 8 and set(ratings["role"]) == {"base", "tuned"}
    agreement = analysis.agreement(ratings)
    from sklearn.metrics import cohen_kappa_score
    assert agreement.iloc[0]["kappa_quadratic"] == pytest.approx(
        cohen_kappa_score([5, 4, 2, 1], [5, 3, 2, 1], weights="quadratic"))
    bad = pd.read_csv(sheets[0], dtype=str, keep_default_na=False)
    bad.loc[1, "label"] = "great"
    bad.to_csv(sheets[0], index=False)
    with pytest.raises(InputError, match=r"row 3: label 'great' is not accepted. Accepted: 1, 2, 3, 4, 5"):
        steps.export_and_read(P, [Run()])


def test_reward_against_people_counts_high_rewards_people_rate_poor():
    quality = pd.DataFrame({"item_id": list("abcd"), "role": "tuned", "part": [IN, IN, OUT, OUT],
                            "reward": [0.1, 0.2, 0.9, 1.0]})
    ratings = pd.DataFrame({"annotator": "annotator-1", "setting": "dialogues", "item_id": list("abcd"),
                            "role": "tuned", "rating": [4, 5, 1, 2]})
    people, rated = analysis.reward_vs_people(quality, ratings)
    row = people.iloc[0]
    assert row["rho reward-rating"] == pytest.approx(-0.6) and row["high reward, rated poor"] == 1
    assert (row["rating in"], row["rating out"]) == (4.5, 1.5) and len(rated) == 4
    text = hacking(people, analysis.agreement(ratings), ["s.csv"])
    assert "tuned: rho -0.60, 1 of 4" in text and "One annotator" in text
    assert "no ratings yet" in hacking(pd.DataFrame(), pd.DataFrame(), ["s.csv"])


@pytest.mark.parametrize("estimate,p,word", [(0.3, 0.01, "Supported"), (-0.3, 0.01, "Contradicted"),
                                             (0.3, 0.4, "Not decided")])
def test_the_quality_verdict_follows_the_difference_in_differences(estimate, p, word):
    contrasts = pd.DataFrame([
        {"metric": "reward", "contrast": "tuned: in - out", "estimate": 0.1, "low": -0.1, "high": 0.3, "p": 0.3,
         "p_holm": np.nan},
        {"metric": "reward", "contrast": "tuned gap - sft gap", "estimate": estimate, "low": estimate - 0.1,
         "high": estimate + 0.1, "p": p, "p_holm": p}])
    text = quality_gap("dialogues", contrasts, ["base", "sft", "tuned"], "trained:standard", (0.7, 0.6, 0.8), 0.05)
    assert f": {word}, on the reward of trained:standard (held-out accuracy 0.70 [0.60, 0.80])" in text
    assert f"{estimate:+.3f}" in text and "not better than chance" not in text
    weak = quality_gap("dialogues", contrasts, ["base", "sft", "tuned"], "trained:standard", (0.55, 0.45, 0.65), 0.05)
    assert "not better than chance on its held-out pairs (0.55 [0.45, 0.65])" in weak


def test_the_footprint_verdict_branches():
    def contrast(estimates, ps):
        main = pd.DataFrame({"aspect": ["pos", "lemma"], "contrast": "tuned - base", "estimate": estimates,
                             "p_holm": ps})
        return pd.concat([main, main.assign(contrast="dpo - base", estimate=-0.5, p_holm=0.001)])  # DPO: beside

    shift = pd.DataFrame({"texts": ["inputs"], "aspect": ["pos"], "p_holm": [0.01]})
    assert ": Contradicted." in same_footprint(contrast([0.2, 0.0], [0.01, 0.9]), shift, ["base", "tuned"], .05)
    assert ": Mixed." in same_footprint(contrast([0.2, -0.2], [0.01, 0.01]), shift, ["base", "tuned"], .05)
    assert ": Not decided." in same_footprint(contrast([0.2, -0.2], [0.3, 0.3]), shift, ["base", "tuned"], .05)
    match = pd.DataFrame({"comparison": ["training vs held-out"] * 2 + [f"training vs {IN}"] * 2 + [f"training vs {OUT}"] * 2,
                          "aspect": ["pos", "lemma"] * 3, "p_holm": [0.5, 0.01, 1, 1, 1, 1],
                          "excess": [0, 0.1, 0.01, 0.02, 0.2, 0.0]})
    text = inputs_match(match, 0.05)
    assert "Not supported" in text and "on 1 of 2 aspects (permutation tests, Holm, alpha 0.05): lemma" in text
    assert "farther from the training pool than the in-distribution part: on 1 of 2 aspects" in text


def test_bad_parameters_are_named():
    for bad, match in (({"settings": ["poems"]}, "settings"), ({"ood_sources": []}, "ood_sources"),
                       ({"tldr_models": {"sft": "x"}}, "tldr_models"), ({"reward_models": []}, "reward_models"),
                       ({"tldr_source": "web"}, "tldr_source"), ({"reward_models": ["embedded:gemma-3-270m"]},
                                                                 "causal language model")):
        with pytest.raises(InputError, match=match):
            dc.PARAMS.validate(bad)


def test_the_hub_path_offline_names_the_parameter_and_the_offline_choice(monkeypatch):
    import datasets

    def no_hub(*a, **k):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", no_hub)
    with pytest.raises(InputError, match="tldr_source.*hub.*CarperAI/openai_summarize_tldr.*tldr_source='instructgpt'"):
        summaries.tldr_hub("train")


@pytest.mark.slow
def test_the_chapter_runs_in_the_quick_profile_and_its_verdicts_follow_its_tables(quick_book):
    nb = executed(quick_book, "data_collapse")
    text = notebook_text(nb)
    recorded = results.read(results.folder_for(quick_book / "book" / "executed" / "data_collapse.ipynb"))
    for setting in ("summaries", "dialogues"):
        contrasts = recorded[f"quality_contrasts_{setting}"].set_index(["metric", "contrast"])
        metric = PRIMARY[setting]
        did = contrasts.loc[(metric, "tuned gap - base gap")]
        assert f"its gap minus the base model's is {did['estimate']:+.3f} [{did['low']:+.3f}, {did['high']:+.3f}]" in text
        shift = recorded[f"shift_contrast_{setting}"]
        shift = shift[shift["contrast"] == "tuned - base"]  # the verdict's rows (DPO's are beside them)
        fewer = int(((shift["p_holm"] < 0.05) & (shift["estimate"] < 0)).sum())
        assert f"smaller than the base model's on {fewer} of {len(shift)} aspects" in text
        parts = recorded[f"parts_{setting}"]
        assert parts["inputs"].tolist() == [8, 8]
    match = recorded["input_match_dialogues"]
    held = match[match["comparison"] == "training vs held-out"]
    assert f"on {int((held['p_holm'] < 0.05).sum())} of {len(held)} aspects" in text
    assert "H0** (training and test inputs share a footprint): not decided here" in text  # InstructGPT: no pool
    assert "**0** ratings read" in text and "no ratings yet" in text
    headline = recorded["headline"]
    assert set(headline["contrast"]) == {"tuned - base"} and len(headline) == 5  # 3 summaries + 2 dialogues readings


@pytest.mark.slow
def test_the_hub_path_runs_the_plans_steps_in_full_on_stand_ins(monkeypatch, tmp_path):
    """tldr_source='hub' with the hub's splits and models replaced by stand-ins (InstructGPT's posts,
    the embedded models): a training pool, so H0 is tested and the models answer training posts too."""
    posts, _ = summaries.instructgpt_tldr()
    posts = posts.drop_duplicates("post_id")

    def stand_in(split):
        part = posts.iloc[:30] if split == "train" else posts.iloc[30:50]
        frame = part.assign(post_id=[f"{split}-{i:05d}" for i in range(len(part))])[["post_id", "post", "reference"]]
        return frame.reset_index(drop=True), {"dataset": f"stand-in:{split}", "source": "test", "rows": len(frame)}

    monkeypatch.setattr(summaries, "tldr_hub", stand_in)
    P = dc.PARAMS.validate({"settings": ["summaries"], "tldr_source": "hub", "n_part": 4, "n_topics": 2,
                            "n_train_outputs": 3, "max_new_tokens": 8, "n_boot": 60, "reward_models": ["trained:standard"],
                            "tldr_models": {"base": "embedded:gemma-3-270m", "tuned": "embedded:gemma-3-270m-dpo"},
                            "judge_settings": {"train_data": {"boolq": 12, "hhh_alignment": 8, "hh_rlhf": 12},
                                               "train_epochs": 1, "max_length": 64},
                            "model_dir": str(tmp_path / "rm"), "cache_dir": str(tmp_path / "scores")})
    from rlshift.studies.data_collapse.inputs import load_judges
    run = dc.run_setting("summaries", P, load_judges(P), None)
    assert run.roles == ["base", "tuned"] and run.notes["training_inputs"] == 30
    assert run.outputs["part"].value_counts().to_dict() == {IN: 8, OUT: 8, "training": 6}
    assert "training vs held-out" in set(run.tables["match"]["comparison"])
    assert set(run.tables["train_vs_test"]["role"]) == {"base", "tuned"}
    assert "rouge_l" in run.tables["quality"]

"""The reward-collapse study: utilities against hand-computed values, the training loop on a
tiny backbone, preference data, the analysis on synthetic rewards, generation, and the
notebook executed with small parameters."""
from __future__ import annotations

import math
import time

import nbformat
from conftest import executed, notebook_text
import numpy as np
import pandas as pd
import pytest
import torch
from papermill.exceptions import PapermillExecutionError

from rlshift import cli, models, paths, stats
from rlshift.cache import ScoreCache
from rlshift.data import preferences
from rlshift.data.preferences import PrefPair
from rlshift.engine import GenerationSettings, Scorer, cut_at_stop
from rlshift.requests import RewardItem, Text
from rlshift.studies import reward_collapse as rc
from rlshift.training import reward_model as rt

NOTEBOOK = paths.REPO_ROOT / "notebooks" / "reward_collapse.ipynb"
QUICK = cli.studies()["reward_collapse"]["quick"]


# ------------------------------------------------------------------ utilities (hand-computed)

def _t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_log_sigmoid_utility_against_hand_values():
    # log sigmoid(d) = -log(1 + e^-d): d=0 -> -log 2; d=2 -> -log(1 + e^-2); d=-1 -> -log(1 + e)
    got = rt.log_sigmoid_utility(_t(0.0, 2.0, -1.0))
    want = [-0.6931471806, -0.1269280110, -1.3132616875]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-9)


def test_prompt_aware_utilities_against_hand_values():
    assert rt.linear_utility(_t(0.3, -0.2)).tolist() == pytest.approx([0.3, -0.2])
    # eps = 0.1: U(d) = 1/0.1 - 1/(d + 0.1) for d > 0, d / 0.01 below
    got = rt.inverse_utility(_t(0.4, 0.9, 0.0, -0.1, -0.5), eps=0.1)
    np.testing.assert_allclose(got.numpy(), [10 - 2, 10 - 1, 0.0, -10.0, -50.0], atol=1e-9)
    # continuous with a continuous slope (1/eps^2 = 100) at 0; increasing and concave above
    h = 1e-6
    right = (rt.inverse_utility(_t(h)) - rt.inverse_utility(_t(0.0))) / h
    left = (rt.inverse_utility(_t(0.0)) - rt.inverse_utility(_t(-h))) / h
    assert float(right) == pytest.approx(100, rel=1e-4) and float(left) == pytest.approx(100, rel=1e-9)
    grid = torch.linspace(-1, 1, 201, dtype=torch.float64)
    values = rt.inverse_utility(grid)
    assert (values.diff() > 0).all() and (values.diff().diff() <= 1e-9).all()


def test_rewards_and_pair_losses_against_hand_values():
    log3 = math.log(3)  # sigmoid(log 3) = 0.75, sigmoid(-log 3) = 0.25
    assert rt.to_reward(np.array([log3, -log3]), "prompt_aware").tolist() == pytest.approx([0.75, 0.25])
    assert rt.to_reward(np.array([log3]), "standard").tolist() == pytest.approx([log3])
    closed, opened = torch.tensor([True]), torch.tensor([False])
    # standard: -log sigmoid(2 - 0)
    assert float(rt.pair_loss(_t(2.0), _t(0.0), opened, "standard")) == pytest.approx(0.1269280110)
    # prompt-aware: d = 0.75 - 0.25 = 0.5; closed -U = -0.5; open -U = -(10 - 1/0.6)
    assert float(rt.pair_loss(_t(log3), _t(-log3), closed, "prompt_aware")) == pytest.approx(-0.5)
    assert float(rt.pair_loss(_t(log3), _t(-log3), opened, "prompt_aware")) == pytest.approx(-(10 - 1 / 0.6))
    # the wrong order: d = -0.5; closed -U = 0.5; open -U = 0.5 / 0.01
    assert float(rt.pair_loss(_t(-log3), _t(log3), closed, "prompt_aware")) == pytest.approx(0.5)
    assert float(rt.pair_loss(_t(-log3), _t(log3), opened, "prompt_aware")) == pytest.approx(50.0)
    # bounded log sigmoid: d = 0.75 - 0.25 = 0.5 whatever the prompt; -log sigmoid(0.5) = log(1 + e^-0.5)
    for kind in (closed, opened):
        assert float(rt.pair_loss(_t(log3), _t(-log3), kind, "bounded_log_sigmoid")) == pytest.approx(0.4740769842)
    assert rt.to_reward(np.array([log3]), "bounded_log_sigmoid").tolist() == pytest.approx([0.75])


def test_one_factor_comparison_pairs_utilities_one_factor_apart():
    names = ["trained:standard", "trained:bounded_log_sigmoid", "trained:prompt_aware", rc.IMPLICIT]
    utilities = ["standard", "bounded_log_sigmoid", "prompt_aware", "standard"]  # the implicit one: not compared
    shapes = pd.DataFrame({"reward_model": names, "utility": utilities,
                           "dip_closed_p": [0.5, 0.5, 0.01, 0.01], "shapes_differ": [False, False, True, True]})
    tests = pd.DataFrame({"reward_model": names, "utility": utilities, "sampler": "base",
                          "difference": [0.0, 0.1, 0.6, 0.9], "p": [1.0, 0.7, 0.01, 0.01]})
    table = rc.one_factor_comparison(shapes, tests).set_index("from")
    assert list(table["to"]) == ["bounded_log_sigmoid", "prompt_aware"]
    assert table.loc["bounded_log_sigmoid", "closed polarised (to)"] == "1 of 1"
    assert table.loc["bounded_log_sigmoid", "within: closed - open (to)"] == "base +0.60 (p 0.010)"
    assert table.loc["standard", "shapes differ (from)"] == "0 of 1"


# ------------------------------------------------------------------ training on a tiny backbone

WORDS = "the a of and to in is it that was for on are with as his they be at one have this from".split()


def _synthetic_pairs(n: int, seed: int) -> list[PrefPair]:
    """Chosen replies say 'excellent', rejected ones 'terrible', among random filler words; half
    the prompts closed-ended, half open-ended."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        filler = lambda: " ".join(rng.choice(WORDS, 6))  # noqa: E731
        kind = "closed" if i % 2 else "open"
        pairs.append(PrefPair(f"s{i}", f"synthetic_{kind}", kind, f"question {i}: {filler()}",
                              f"{filler()} excellent {filler()}", f"{filler()} terrible {filler()}", group=f"g{i}"))
    return pairs


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = AutoTokenizer.from_pretrained(rt.backbone_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


TINY = dict(epochs=6, lr=1e-3, head_lr=1e-2, batch_size=8, max_length=32, frozen_layers=0, heldout_fraction=0.25)


@pytest.mark.parametrize("utility", rt.UTILITIES)
def test_training_improves_heldout_accuracy(utility, tiny_backbone, tmp_path):
    pairs = _synthetic_pairs(96, seed=1)
    config = rt.TrainConfig(utility=utility, seed=0, **TINY)
    trained = rt.train_or_load(pairs, config, tmp_path, backbone=tiny_backbone, progress=False)
    held = trained.log[trained.log["split"] == "held-out"]
    assert held["epoch"].tolist() == [0.0, 1, 2, 3, 4, 5, 6]
    first, last = held.iloc[0], held.iloc[-1]
    assert last["accuracy"] >= 0.9 and last["accuracy"] >= first["accuracy"] + 0.2
    assert last["loss"] < first["loss"]
    acc = trained.accuracy().set_index("source")
    assert acc.loc["all", "n"] == 24 and acc.loc["all", "acc_low"] > 0.5
    assert set(acc.index) == {"all", "synthetic_closed", "synthetic_open"}
    if utility == "prompt_aware":  # bounded rewards
        assert trained.heldout[["r_chosen", "r_rejected"]].stack().between(0, 1).all()


def test_trained_model_is_cached_reproducible_and_scored_alike_by_the_library(tiny_backbone, tmp_path, monkeypatch):
    pairs = _synthetic_pairs(40, seed=2)
    config = rt.TrainConfig(utility="standard", seed=3, **dict(TINY, epochs=2))
    first = rt.train_or_load(pairs, config, tmp_path / "a", backbone=tiny_backbone, progress=False)
    again = rt.train_or_load(pairs, config, tmp_path / "b", backbone=tiny_backbone, progress=False)
    np.testing.assert_allclose(first.heldout["r_chosen"], again.heldout["r_chosen"], atol=1e-6)  # seeded
    monkeypatch.setattr(rt, "train", lambda *a, **k: pytest.fail("retrained a cached model"))
    cached = rt.train_or_load(pairs, config, tmp_path / "a", backbone=tiny_backbone, progress=False)
    assert cached.path == first.path
    pd.testing.assert_frame_equal(cached.log, first.log)
    other = rt.model_folder(pairs, rt.TrainConfig(utility="standard", seed=4, **dict(TINY, epochs=2)),
                            tmp_path / "a", backbone=tiny_backbone)
    assert other != first.path  # every hyperparameter is in the key
    assert rt.model_folder(pairs[:-1], config, tmp_path / "a", backbone=tiny_backbone) != first.path  # and the data
    # the saved folder is a plain reward model: the library scores what training recorded
    loaded = models.load_reward_model(str(first.path), quantize="fp32")
    held = {p.pair_id: p for p in pairs}
    items = [RewardItem(pid, held[pid].prompt, held[pid].chosen) for pid in first.heldout["pair_id"]]
    got = Scorer(loaded, batch_size=3, progress=False).rewards(items, max_length=32, template="t", data_version="d")
    np.testing.assert_allclose(got["reward"], first.heldout["r_chosen"], atol=1e-5)


# ------------------------------------------------------------------ preference data

def test_halves_are_disjoint_by_prompt_and_samples_are_seeded():
    for name, total in (("hhh_alignment", 221), ("triviaqa", 1000)):
        train, held = preferences.load(name, "train"), preferences.load(name, "eval")
        assert not {p.group for p in train.pairs} & {p.group for p in held.pairs}
        assert len(train.pairs) + len(held.pairs) == total and min(len(train.pairs), len(held.pairs)) > total / 3
    train_ids = {r["item_id"] for r in preferences.boolq_items("train")[1]}
    eval_ids = {r["item_id"] for r in preferences.boolq_items("eval")[1]}
    assert not train_ids & eval_ids and len(train_ids | eval_ids) == 3270
    a = preferences.sample(preferences.load("boolq", "train"), 30, seed=5)
    b = preferences.sample(preferences.load("boolq", "train"), 30, seed=5)
    assert [p.pair_id for p in a.pairs] == [p.pair_id for p in b.pairs]
    assert len({p.group for p in a.pairs}) == 30  # one answer format per item
    assert len({p.format for p in a.pairs}) > 1
    for p in a.pairs:
        assert {p.chosen, p.rejected} in ({"Yes", "No"}, {"True", "False"}, {"1", "0"})


def test_mirror_datasets_are_read_from_the_authors_files():
    mirror = paths.data_mirror()
    if not (mirror / "hh-rlhf").is_dir():
        pytest.fail(f"the reference data mirror {mirror} is missing (shared/ beside the repo)")
    hh = preferences.load("hh_rlhf", "eval", mirror)
    assert hh.provenance["source"] == "mirror" and hh.provenance["hub"] == "Anthropic/hh-rlhf"
    p = hh.pairs[0]
    assert p.prompt.startswith("Human:") and "Assistant:" not in p.chosen[:12] and p.chosen != p.rejected
    auto_j = preferences.load("auto_j", "train", mirror)
    assert auto_j.provenance["dropped"] > 0  # ties
    assert all(p.kind == "open" for p in auto_j.pairs)
    llmbar = preferences.load("llmbar", "eval", mirror)
    assert {p.kind for p in llmbar.pairs} == {"objective-preference"}  # objective by design
    assert "objective-preference" in rc.data_table(rc.Prepared([], {}, [], {"origin": "-", "license": "-", "hub": "-",
                                                                          "version": "-"}, {"llmbar": llmbar})
                                                   ).set_index("dataset").loc["llmbar", "kind"]


def test_finegrained_rankings_become_pairs_sampled_by_prompt(tmp_path):
    from rlshift.data.preference_sources import SPECS

    rows = [(1, {"question": "Q1?", "prediction 1": "a", "prediction 2": "b", "prediction 3": "c", "prediction 4": "d",
                 "preference": [1, 2, 0, 1, 1, 2]}),
            (2, {"question": "Q2?", "prediction 1": "x", "prediction 2": "x ", "prediction 3": "y", "prediction 4": "z",
                 "preference": [1, 1, 1, 1, 1, 1]})]
    pairs, dropped = SPECS["finegrained_rlhf"].parse(rows, tmp_path / "dev_feedback.json")
    got = {(p.chosen, p.rejected) for p in pairs if p.prompt == "Q1?"}
    assert got == {("a", "b"), ("c", "a"), ("b", "c"), ("b", "d"), ("d", "c")}  # 1vs4 tied: dropped
    assert dropped == 2  # the tie, and Q2's two identical answers
    assert {p.kind for p in pairs} == {"objective-preference"}
    mirror = paths.data_mirror()
    half = preferences.load("finegrained_rlhf", "train", mirror)
    sample = preferences.sample(half, 40, 0)
    per_prompt = pd.Series([p.group for p in sample.pairs]).value_counts()
    assert len(sample.pairs) == 40 and per_prompt.max() >= 4 and len(per_prompt) <= 12  # whole rankings
    assert {p.group for p in half.pairs}.isdisjoint({p.group for p in preferences.load("finegrained_rlhf", "eval", mirror).pairs})


def test_task_types_name_what_the_preference_rests_on():
    hhh = preferences.load("hhh_alignment", "eval")
    kinds = {p.pair_id.split("-")[1]: set() for p in hhh.pairs}
    for p in hhh.pairs:
        kinds[p.pair_id.split("-")[1]].add(p.kind)
    assert kinds["honest"] == {"objective-preference"}
    assert kinds["harmless"] == kinds["helpful"] == {"open"}
    assert preferences.kind_of("boolq") == "closed" and preferences.kind_of("llmbar") == "objective-preference"


def test_contamination_finds_prompts_differing_in_case_and_spacing_only():
    table = rc.analysis.contamination({"boolq": ["Is the sky blue?", "Is water wet?"], "hh_rlhf": ["Human: hi"]},
                                      {"m": ["is the  SKY blue?\n", "other"], "hub": None})
    got = table.set_index(["reward_model", "evaluation_set"])
    assert got.loc[("m", "boolq"), "in_training_data"] == 1 and got.loc[("m", "hh_rlhf"), "in_training_data"] == 0
    assert not got.loc[("hub", "boolq"), "checked"] and pd.isna(got.loc[("hub", "boolq"), "in_training_data"])
    text = rc.contamination_summary(table)
    assert "1 of 2 boolq prompts" in text and "`hub`: not checked" in text
    clean = rc.analysis.contamination({"boolq": ["a"]}, {"m": ["b"]})
    assert "no evaluation prompt" in rc.contamination_summary(clean)


# ------------------------------------------------------------------ analysis on synthetic rewards

def _rewards_frame(seed=0, n=150, gap=4.0, model="m", utility="standard"):
    """BoolQ-like closed rewards: correct ~ N(gap, 1), incorrect ~ N(0, 1) (bimodal when the gap
    is large); open-ended: chosen and rejected ~ N(0.3, 1), N(0, 1) (unimodal)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        gold = bool(i % 3)
        for outcome, value in (("correct", rng.normal(gap, 1)), ("incorrect", rng.normal(0, 1))):
            rows.append({"reward_model": model, "utility": utility, "task": "boolq", "task_type": "closed",
                         "format": "yes_no", "group": f"b{i}", "outcome": outcome, "good": outcome == "correct",
                         "affirmative": gold if outcome == "correct" else not gold, "gold_yes": gold, "reward": value})
        for outcome, value in (("chosen", rng.normal(0.3, 1)), ("rejected", rng.normal(0, 1))):
            rows.append({"reward_model": model, "utility": utility, "task": "hh_rlhf", "task_type": "open",
                         "format": "-", "group": f"h{i}", "outcome": outcome, "good": outcome == "chosen",
                         "affirmative": np.nan, "gold_yes": np.nan, "reward": value})
    return pd.DataFrame(rows)


def test_polarization_tells_two_modes_from_one():
    polar = rc.polarization(_rewards_frame(gap=5.0), alpha=0.05).set_index("task")
    assert polar.loc["boolq", "polarized"] and polar.loc["boolq", "delta_bic"] > 10
    assert not polar.loc["hh_rlhf", "polarized"] and polar.loc["hh_rlhf", "dip_p"] > 0.05
    means = polar.loc["boolq", "means_2"]
    assert means[0] == pytest.approx(0, abs=0.4) and means[1] == pytest.approx(5, abs=0.4)
    described = rc.describe(_rewards_frame(gap=5.0)).set_index("task")
    assert described.loc["boolq", "bimodality_coef"] > 5 / 9 > described.loc["hh_rlhf", "bimodality_coef"]


def test_auc_and_ground_truth_against_hand_values():
    # good [2, 3] vs bad [1, 2]: 2>1, 2=2 (half), 3>1, 3>2 -> 3.5 / 4
    assert stats.auc([2, 3], [1, 2]) == pytest.approx(0.875)
    frame = _rewards_frame(gap=5.0, n=60)
    truth = rc.ground_truth(frame, n_resamples=200).set_index("task")
    assert truth.loc["boolq", "accuracy"] > 0.95 and truth.loc["boolq", "auc_low"] > 0.9
    assert truth.loc["boolq", "gold_affirmative"] == pytest.approx(40 / 60)
    # correct answers win, and the correct one is affirmative where gold is: prefers = gold share
    assert truth.loc["boolq", "prefers_affirmative"] == pytest.approx(40 / 60, abs=0.05)
    flipped = frame.assign(reward=np.where(frame["good"], 0.0, 1.0))
    assert rc.ground_truth(flipped, n_resamples=100).set_index("task").loc["boolq", "accuracy"] == 0


def test_shape_comparison_and_verdicts_follow_the_tables():
    collapsed = _rewards_frame(gap=0.3, model="std", utility="standard")
    aware = _rewards_frame(gap=6.0, model="aware", utility="prompt_aware", seed=1)
    frame = pd.concat([collapsed, aware], ignore_index=True)
    shapes = rc.shape_comparison(frame).set_index("reward_model")
    assert shapes.loc["aware", "shapes_differ"] and not shapes.loc["std", "shapes_differ"]
    polar = rc.polarization(frame)
    truth = rc.ground_truth(frame, n_resamples=100)
    text = rc.verdicts(polar, truth, shapes.reset_index(), pd.DataFrame(), pd.DataFrame())
    h1, within, h2, h3, h4 = [part for part in text.split("\n\n")][:5]
    assert "Not testable on this run: no prompt was answered many times" in within
    assert "`std`: the dip test rejects unimodality on 0 of 1 closed" in h1 and "Supported on this run" in h1
    assert "`aware`: closed-ended rewards polarised (dip test) in 1 of 1" in h3 and "Supported on this run" in h3
    assert "Not testable on this run" in h4 and "No open-ended answer is annotated" in h4


@pytest.mark.parametrize("closed_polar, open_polar, at_chance, verdict", [
    (False, False, [False, False], "Supported on this run"),
    (False, False, [True, False], "Supported on this run"),  # the case that printed two verdicts
    (True, False, [False, False], "Not supported on this run: closed-ended"),
    (True, False, [False, True], "Not supported on this run: closed-ended"),  # the case that printed none
    (True, True, [False, False], "Not supported as stated"),
    (False, True, [False, True], "Not supported as stated"),
    (True, True, [True, True], "Not testable on this run"),
])
def test_h1_gives_exactly_one_verdict_per_reward_model(closed_polar, open_polar, at_chance, verdict):
    polar = pd.DataFrame({"utility": "standard", "reward_model": "m", "task_type": ["closed", "open"],
                          "task": ["boolq", "hh_rlhf"], "format": ["yes_no", "open"],
                          "polarized": [closed_polar, open_polar], "bic_prefers_2": [False, False]})
    truth = pd.DataFrame({"reward_model": "m", "task_type": ["closed", "open"], "task": ["boolq", "hh_rlhf"],
                          "format": ["yes_no", "open"], "accuracy": [0.5 if c else 0.8 for c in at_chance],
                          "acc_low": [0.4 if c else 0.7 for c in at_chance],
                          "acc_high": [0.6 if c else 0.9 for c in at_chance]})
    h1 = rc.verdicts(polar, truth, pd.DataFrame(columns=["utility"]), pd.DataFrame(), pd.DataFrame()).split("\n\n")[0]
    verdicts = ["Supported on this run", "Not supported on this run", "Not supported as stated", "Not testable on this run"]
    assert [v for v in verdicts if v in h1] == [verdict.split(":")[0]]
    assert verdict in h1
    assert ("indistinguishable from chance" in h1) == any(at_chance)


NO_TRUTH = pd.DataFrame(columns=["reward_model", "task", "task_type", "format", "accuracy", "acc_low", "acc_high"])


def _within_frame(seed=0, n_prompts=12, n=24, closed_gap=6.0):
    """Sampled answers per prompt: closed prompts' rewards in two clusters (right ~ N(gap, 0.5),
    wrong ~ N(0, 0.5)), open prompts' one cluster; each prompt with its own offset."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_prompts):
        for task, kind in (("boolq", "closed"), ("hh_rlhf", "open")):
            offset = rng.normal(0, 5)
            for j in range(n):
                right = j % 2 == 0
                value = offset + (rng.normal(closed_gap if right else 0, 0.5) if kind == "closed" else rng.normal(0, 1))
                rows.append({"reward_model": "m", "utility": "standard", "sampler": "base", "task": task,
                             "task_type": kind, "prompt_id": f"{task}-{k}", "text": f"answer {j}",
                             "outcome": ("correct" if right else "incorrect") if kind == "closed" else "not judged",
                             "reward": value})
    return pd.DataFrame(rows)


def test_within_prompt_analysis_tells_polarised_prompts_and_tests_by_prompt():
    frame = _within_frame()
    within = rc.within_prompt(frame)
    assert len(within) == 24 and within["testable"].all()
    by_type = within.groupby("task_type")["polarized"].mean()
    assert by_type["closed"] == 1.0 and by_type["open"] <= 0.2
    closed = within[within["task_type"] == "closed"]
    assert (closed["share_correct"] == 0.5).all() and (closed["gap_correct"] > 4).all()
    z = rc.within_prompt_z(frame)
    assert np.allclose(z.groupby("prompt_id")["z"].mean(), 0) and np.allclose(z.groupby("prompt_id")["z"].std(), 1)
    shares = rc.polarised_shares(within).set_index("task_type")
    assert shares.loc["closed", "share_low"] > shares.loc["open", "share_high"]
    test = rc.share_difference_test(within, n_resamples=999).iloc[0]
    assert test["difference"] > 0.7 and test["p"] < 0.01
    text = rc.verdicts(pd.DataFrame(columns=["utility", "reward_model", "task_type"]), NO_TRUTH,
                       pd.DataFrame(columns=["utility"]), pd.DataFrame(), pd.DataFrame(), within=rc.share_difference_test(within, n_resamples=999))
    assert "**H1 within prompts" in text and "not supported: closed-ended prompts are polarised more often" in text
    same = rc.share_difference_test(rc.within_prompt(_within_frame(closed_gap=0.0)), n_resamples=999)
    assert same.iloc[0]["p"] > 0.05
    text = rc.verdicts(pd.DataFrame(columns=["utility", "reward_model", "task_type"]), NO_TRUTH,
                       pd.DataFrame(columns=["utility"]), pd.DataFrame(), pd.DataFrame(), within=same)
    assert "consistent with collapse" in text
    # one answer repeated: not testable, and not counted as polarised
    flat = frame.assign(text=np.where(frame["task_type"] == "open", "the same answer", frame["text"]))
    flat_within = rc.within_prompt(flat)
    assert not flat_within[flat_within["task_type"] == "open"]["testable"].any()
    assert "not testable" in rc.verdicts(pd.DataFrame(columns=["utility", "reward_model", "task_type"]), NO_TRUTH,
                                         pd.DataFrame(columns=["utility"]), pd.DataFrame(), pd.DataFrame(),
                                         within=rc.share_difference_test(flat_within, n_resamples=99))


def test_sample_verdict_reads_the_exact_test():
    def scored(rewards_correct, rewards_incorrect):
        rows = [("correct", r) for r in rewards_correct] + [("incorrect", r) for r in rewards_incorrect]
        return pd.DataFrame({"reward_model": "m", "task": "boolq", "task_type": "closed",
                             "outcome": [o for o, _ in rows], "reward": [r for _, r in rows]})
    separated = rc.sample_summary(scored([5, 6, 7, 8, 9, 10], [1, 2, 3]), n_resamples=200)
    # perfect separation of 6 vs 3: AUC 1, exact two-sided p = 2 / C(9, 3) = 2 / 84
    assert separated.loc[0, "auc"] == 1 and separated.loc[0, "auc_p"] == pytest.approx(2 / 84)
    assert separated.loc[0, "base_accuracy"] == pytest.approx(6 / 9)
    mixed = rc.sample_summary(scored([1, 4, 2, 6], [3, 5, 0.5]), n_resamples=200)
    truth = pd.DataFrame({"reward_model": ["m"], "task_type": ["closed"], "prefers_affirmative": [0.9], "gold_affirmative": [0.55],
                          "task": ["boolq"], "format": ["yes_no"], "accuracy": [0.5], "acc_low": [0.4], "acc_high": [0.6]})
    text = rc.verdicts(pd.DataFrame(columns=["utility", "reward_model", "task_type"]), truth,
                       pd.DataFrame(columns=["utility"]), separated, pd.DataFrame())
    assert "Mann-Whitney p = 0.024): it separates them" in text and "affirmative answer on 90%" in text
    text = rc.verdicts(pd.DataFrame(columns=["utility", "reward_model", "task_type"]), truth,
                       pd.DataFrame(columns=["utility"]), mixed, pd.DataFrame())
    assert "it does not detectably separate them" in text


def test_training_view_scores_the_fitted_pairs_only():
    pairs = _synthetic_pairs(6, seed=0)
    fake = rt.TrainedRewardModel(path=None, utility="standard", log=pd.DataFrame(), record={},
                                 heldout=pd.DataFrame({"pair_id": ["s0", "s3"]}))
    prep = rc.Prepared(train=pairs, train_sets={}, boolq=[], boolq_provenance={}, open_sets={})
    items = rc.training_items(fake, prep)
    assert sorted({m["group"] for _, m in items}) == ["s1", "s2", "s4", "s5"]
    outcomes = {(m["group"], m["outcome"]) for _, m in items}
    assert ("s1", "correct") in outcomes and ("s2", "rejected") in outcomes  # s1 closed, s2 open
    assert all(it.prompt == next(p.prompt for p in pairs if p.pair_id == m["group"]) for it, m in items)


def test_samples_are_judged_and_annotations_analysed():
    assert [rc.judge_boolq(t, g) for t, g in [("Yes, it is.", True), (" no.", True), ("**True**", True),
                                              ("False", False), ("The liver is", True), ("", False)]] == \
        ["correct", "incorrect", "correct", "correct", "unparsed", "unparsed"]
    assert rc.open_prompt("Write a poem.") == "Human: Write a poem.\n\nAssistant:"
    assert rc.open_prompt("Human: hi\n\nAssistant: yo\n\nHuman: bye") == "Human: hi\n\nAssistant: yo\n\nHuman: bye\n\nAssistant:"
    scored = pd.DataFrame({"reward_model": "m", "task": "hh_rlhf", "task_type": "open",
                           "group": [f"a{i}" for i in range(6)], "reward": [3.0, 2.5, 2.0, 0.5, 0.0, 1.0]})
    sheet = pd.DataFrame({"item_id": ["a0", "a1", "a2", "a3", "a4"], "label": ["good", "good", "bad", "bad", "bad"]})
    got = rc.annotation_agreement(scored, sheet, n_resamples=200).iloc[0]
    assert (got["annotated"], got["good"], got["bad"]) == (5, 2, 3)
    assert got["auc"] == pytest.approx(1.0) and got["reward_good"] == pytest.approx(2.75)


# ------------------------------------------------------------------ generation

def test_generation_is_seeded_cut_at_stops_and_cached(tiny_llama, tmp_path):
    assert cut_at_stop("  Yes.\nQuestion: x", ("\n",)) == "Yes."
    assert cut_at_stop("a Human: b", ("\n\n", "Human:")) == "a"
    settings = GenerationSettings(max_new_tokens=5, temperature=1.0, n_samples=2, seed=7, stop=("\n",))
    prompts = [Text("p1", "The sky is"), Text("p2", "Once upon a time")]
    cache = ScoreCache(tmp_path / "gen.sqlite")
    first = Scorer(tiny_llama, cache=cache, progress=False).generate(prompts, settings, chat=False, template="t",
                                                                     data_version="d")
    alone = Scorer(tiny_llama, progress=False).generate(prompts[1:], settings, chat=False, template="t",
                                                        data_version="d")
    assert first[first.item_id == "p2"]["raw"].tolist() == alone["raw"].tolist()  # independent of other items
    assert len(first) == 4 and first["raw"].str.len().gt(0).all()
    tiny_llama.model.generate = lambda *a, **k: pytest.fail("regenerated a cached answer")
    try:
        again = Scorer(tiny_llama, cache=cache, progress=False).generate(prompts, settings, chat=False, template="t",
                                                                         data_version="d")
    finally:
        del tiny_llama.model.generate
    pd.testing.assert_frame_equal(again, first)


# ------------------------------------------------------------------ the notebook

def test_source_notebook_is_output_free_with_parameters_and_validation():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "PARAMS.collect(globals())" in nb.cells[tagged[0] + 1].source
    assert "colab.research.google.com" in nb.cells[0].source and "**Hypotheses**" in nb.cells[0].source
    declared = set(rc.PARAMS.params)
    assigned = {line.split("=")[0].strip() for line in nb.cells[tagged[0]].source.splitlines()
                if "=" in line and not line.startswith(("#", " "))}
    assert assigned == declared  # every parameter in the cell, and only those


def test_notebook_runs_with_small_parameters(quick_book):
    sheet = quick_book / "annotation_sheet.csv"
    nb = executed(quick_book, "reward_collapse")
    text = notebook_text(nb)
    for heading in ("**H1 (reward collapse", "**H2 (rewards match", "**H3 (Song et al.'s remedy", "**H4 (the base"):
        assert heading in text
    assert "trained:standard" in text and "trained:prompt_aware" in text and "**On the training prompts**" in text
    assert any("Contamination check" in c.source for c in nb.cells) and "`trained:standard`: " in text
    assert "**H1 within prompts" in text and "on the tuned model's answers" in text
    html = "".join(str(o.get("data", {}).get("text/html", "")) for c in nb.cells for o in c.get("outputs", []))
    assert any("One factor at a time" in c.source for c in nb.cells) and "the utility (log sigmoid" in html
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 4
    exported = pd.read_csv(sheet)
    assert len(exported) == QUICK["n_generate_open"] * len(QUICK["open_data"]) and exported["label"].isna().all()
    assert len(list((quick_book / "reward_models").iterdir())) == 3  # one folder per utility


def test_hub_reward_model_fails_fast_naming_the_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    with pytest.raises(PapermillExecutionError, match="HF_HUB_OFFLINE|Hugging Face Hub"):
        cli.execute(NOTEBOOK, tmp_path / "out.ipynb",
                    dict(QUICK, reward_model="OpenAssistant/reward-model-deberta-v3-large-v2",
                         cache_dir=str(tmp_path / "s.sqlite"), model_dir=str(tmp_path / "models")))
    assert time.time() - start < 120
    assert not (tmp_path / "models").exists()  # it failed before training anything


def test_implicit_reward_is_beta_times_the_log_ratio_of_policy_and_reference(tiny_llama, tmp_path):
    """Against log-probs computed here with one plain forward pass per (prompt, response)."""
    import dataclasses

    from transformers import LlamaForCausalLM

    from rlshift import prompts
    from rlshift.models import LoadedModel

    torch.manual_seed(1)
    other = LlamaForCausalLM(tiny_llama.model.config).eval()
    reference = LoadedModel(model=other, tokenizer=tiny_llama.tokenizer,
                            info=dict(tiny_llama.info, spec="test:tiny-llama-1", revision="seed1"))
    entry = rc.RewardModelEntry(rc.IMPLICIT, tiny_llama, "standard", "logit", reference=reference, beta=0.1)
    items = [RewardItem("a", "Is the sky blue?", "Yes"), RewardItem("b", "Is the sky blue?", "No, it is green."),
             RewardItem("c", "Human: Tell me a joke.\n\nAssistant: Why?\n\nHuman: Go on.", "A pun.")]
    got = rc.inputs.implicit_rewards(entry, items, template="t", data_version="v", cache=ScoreCache(tmp_path / "c"))
    tok = tiny_llama.tokenizer

    def logp(model, prompt, response):
        context = rc.inputs.chat_prompt(tok, prompt)
        whole = tok(context + prompts.reply_text(response), add_special_tokens=False).input_ids
        n = len(tok(context, add_special_tokens=False).input_ids)
        with torch.no_grad():
            logits = model(torch.tensor([whole])).logits[0].float().log_softmax(-1)
        return float(sum(logits[k - 1, whole[k]] for k in range(n, len(whole))))

    expected = [0.1 * (logp(tiny_llama.model, it.prompt, it.response) - logp(other, it.prompt, it.response))
                for it in items]
    assert list(got["item_id"]) == ["a", "b", "c"]
    np.testing.assert_allclose(got["reward"], expected, atol=1e-4)
    assert dataclasses.replace(entry, trained_on="x").training_data() == "x"


def test_implicit_reward_needs_a_pair_trained_in_the_book():
    from rlshift.errors import InputError

    with pytest.raises(InputError, match="implicit_reward=True needs a pair whose SFT and DPO stages"):
        rc.inputs.load_implicit({"model_pair": "llama-2-7b", "tuned_model": None, "quantize": "fp32"})
    with pytest.raises(InputError, match="implicit_reward=False"):  # SFT and DPO stages, but not trained here
        rc.inputs.load_implicit({"model_pair": "olmo-2-1b", "tuned_model": None, "quantize": "fp32"})
    assert rc.reward_model_names("trained:standard", ["standard"], implicit=True) == ["trained:standard", rc.IMPLICIT]
    defaults = {name: param.default for name, param in rc.PARAMS.params.items()}
    assert rc.PARAMS.collect(dict(defaults, reward_model=rc.IMPLICIT))["reward_model"] == rc.IMPLICIT


def test_accuracy_board_pools_formats_and_averages_sets():
    truth = pd.DataFrame({"reward_model": "m", "task": ["boolq", "boolq", "hh_rlhf"], "n_pairs": [10, 30, 20],
                          "accuracy": [0.5, 0.9, 0.6]})
    board = rc.accuracy_board(truth).iloc[0]
    assert board["boolq"].startswith("0.80 [") and board["hh_rlhf"].startswith("0.60 [")
    assert board["mean over sets"] == pytest.approx(0.7)

"""The controlled-pair chapter: its study functions on a few held-out pairs and on constructed
tables (every verdict branch), the KL readings against a direct computation, and the notebook
executed with small parameters (conftest.quick_book)."""
from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from conftest import executed, notebook_text

from rlshift import artifacts, models, prompts
from rlshift.errors import InputError
from rlshift.studies import tuned_pair as tp
from rlshift.training import policy

V = importlib.import_module("rlshift.studies.tuned_pair.verdicts")  # the module (the package exports its function)


def test_parameters_are_checked():
    with pytest.raises(InputError, match="n_hhh"):
        tp.PARAMS.validate({"n_hhh": "some"})
    with pytest.raises(InputError, match="quantize"):
        tp.PARAMS.validate({"quantize": "int3"})
    with pytest.raises(InputError, match="Did you mean 'n_heldout'"):
        tp.PARAMS.validate({"n_held_out": 5})
    with pytest.raises(InputError, match="causal language model, not a reward model"):
        tp.PARAMS.validate({"judge": "embedded:gemma-3-270m"})
    with pytest.raises(InputError, match="trained:standard"):
        tp.PARAMS.validate({"judge": "trained:nonsense"})
    with pytest.raises(InputError, match="judge_settings.*'epochs'"):
        tp.PARAMS.validate({"judge_settings": {"epochs": 2}})
    with pytest.raises(InputError, match="train_epochs"):
        tp.PARAMS.validate({"judge_settings": {"train_epochs": 0}})
    assert tp.PARAMS.validate({"judge": "none"})["judge"] == "none"
    assert tp.PARAMS.defaults()["judge"] == "OpenAssistant/reward-model-deberta-v3-large-v2"


def test_heldout_pairs_are_disjoint_from_training_pairs():
    train = artifacts.training_record("gemma-3-270m-dpo")["data"]
    held, prov = tp.heldout(policy.TuneConfig(), 12, seed=0, mirror=None)
    assert len(held) == 12 and prov["split"].startswith("eval half")
    assert train["split"].startswith("train half")
    assert prov["fingerprint"] != train["fingerprint"]
    assert tp.raw_prompt(held[0]).startswith("Human:") and tp.raw_prompt(held[0]).endswith("\n\nAssistant:")


def _scores(chosen_minus_rejected):
    d = np.asarray(chosen_minus_rejected, float)
    return pd.DataFrame({"pair_id": [f"p{i}" for i in range(len(d))], "logp_chosen": -10 + d,
                         "logp_rejected": np.full(len(d), -10.0), "tokens_chosen": 5, "tokens_rejected": 5})


def test_role_scores_read_as_implicit_rewards_and_preferences():
    s = {"base": pd.DataFrame({"logp_chosen": [-10.0, -9.0], "logp_rejected": [-9.0, -9.5],
                               "tokens_chosen": [5, 3], "tokens_rejected": [3, 3]}),
         "sft": pd.DataFrame({"logp_chosen": [-8.0, -9.0], "logp_rejected": [-9.0, -9.0],
                              "tokens_chosen": [5, 3], "tokens_rejected": [3, 3]}),
         "dpo": pd.DataFrame({"logp_chosen": [-7.0, -10.0], "logp_rejected": [-11.0, -9.5],
                              "tokens_chosen": [5, 3], "tokens_rejected": [3, 3]})}
    like = tp.likelihood_preference(s).set_index(["role", "reading"])["prefers_chosen"]
    assert like[("base", "sum")] == 0.5 and like[("sft", "sum")] == 0.5 and like[("dpo", "sum")] == 0.5
    assert like[("base", "per token")] == 1.0  # per token: -2 > -3 and -3 > -3.17
    implicit = tp.implicit_reward(s, beta=0.1).set_index(["policy", "reference"])
    # dpo vs sft: pair 1 log-ratios +1 (chosen) and -2 (rejected) -> ranked right; pair 2: -1 and -0.5 -> wrong
    assert implicit.loc[("dpo", "sft"), "accuracy"] == 0.5
    assert implicit.loc[("dpo", "sft"), "margin"] == pytest.approx(np.mean([0.3, -0.05]))


def test_preference_contrasts_are_the_2x2_of_each_stage():
    # shares preferring the chosen reply: base raw 1/4, base chat 2/4, sft raw 3/4, sft chat 4/4, dpo = sft
    scores = {"raw": {"base": _scores([1, -1, -1, -1]), "sft": _scores([1, 1, 1, -1]), "dpo": _scores([1, 1, 1, -1])},
              "chat": {"base": _scores([1, 1, -1, -1]), "sft": _scores([1, 1, 1, 1]), "dpo": _scores([1, 1, 1, 1])}}
    c = tp.preference_contrasts(scores, seed=0, n_resamples=200).set_index(["stage", "contrast"])["estimate"]
    assert c[("SFT", "tuning | raw")] == pytest.approx(0.5) and c[("SFT", "tuning | chat")] == pytest.approx(0.5)
    assert c[("SFT", "format | base")] == pytest.approx(0.25) and c[("SFT", "interaction")] == pytest.approx(0.0)
    assert c[("SFT", "confounded (sft chat - base raw)")] == pytest.approx(0.75)
    assert c[("DPO", "tuning | chat")] == 0.0
    table = tp.preference_contrasts(scores, seed=0, n_resamples=200)
    assert (table["p_holm"] >= table["p_value"] - 1e-12).all()
    like = tp.preference_by_format(scores)
    assert set(like["format"]) == {"raw", "chat"} and len(like) == 12


def _div(values: dict[str, float], own_extra: float = 0.0, n_prompts: int = 4) -> pd.DataFrame:
    """A constructed per-reply divergence table: every reply of a prompt gets the contrast's
    value plus the prompt index / 10, and the policy's own replies `own_extra` more."""
    rows = []
    for i in range(n_prompts):
        for sampler in tp.SAMPLERS:
            for a, b, what in tp.DIVERGENCES:
                own = a == f"{sampler}-{tp.SAMPLERS[sampler]}"
                rows.append({"item_id": f"hh-{i}", "sampler": sampler, "policy": a, "reference": b, "contrast": what,
                             "kl": values.get(what, 1.0) + i / 10 + (own_extra if own else 0.0), "regular": i != 0})
    return pd.DataFrame(rows)


def test_kl_tables_average_one_pool_and_the_policys_own_replies():
    div = _div({"SFT | chat": 3.0, "DPO | chat": 1.0, "SFT + format (each as used)": 2.0}, own_extra=0.3)
    kl = tp.kl_table(div, n_resamples=200).set_index("contrast")
    prompt_mean = np.mean([i / 10 for i in range(4)])
    share = 1 / len(tp.SAMPLERS)  # one of the pool's replies to a prompt is sft's
    assert kl.loc["SFT | chat", "kl_pool"] == pytest.approx(3.0 + prompt_mean + 0.3 * share)
    assert kl.loc["SFT | chat", "kl_own"] == pytest.approx(3.0 + prompt_mean + 0.3)
    assert np.isnan(kl.loc["SFT | raw", "kl_own"])  # nobody sampled in sft-raw
    assert kl.loc["SFT | chat", "pool_low"] <= kl.loc["SFT | chat", "kl_pool"] <= kl.loc["SFT | chat", "pool_high"]
    assert kl.loc["SFT | chat", "n_prompts"] == 4 and kl.loc["SFT | chat", "irregular_replies"] == len(tp.SAMPLERS)
    tests = tp.kl_tests(div, n_resamples=200).set_index("comparison")
    assert tests.loc["SFT | chat > DPO | chat (pool)", "difference"] == pytest.approx(2.0)
    assert tests.loc["SFT | chat > DPO | chat (pool)", "p_greater"] == pytest.approx(1 / 16)  # exact: 2^4 sign flips
    flipped = tp.kl_tests(_div({"SFT | chat": 1.0, "DPO | chat": 3.0}), n_resamples=200).set_index("comparison")
    assert flipped.loc["SFT | chat > DPO | chat (pool)", "p_greater"] == 1.0
    fmt = tp.format_table(div, n_resamples=200).set_index("stage")
    c, m = 3.0 + prompt_mean + 0.3 * share, 2.0 + prompt_mean + 0.3 * share
    assert fmt.loc["SFT", "format_share"] == pytest.approx(1 - m / c)
    assert fmt.loc["SFT", "chat_specific"] == pytest.approx(1 - (1.0 + prompt_mean) / c)  # SFT | raw: no own replies


def test_first_word_alignment_and_merged_labels(gemma):
    tok = prompts.with_chat_template(gemma.tokenizer)
    chat = tok("I can't help", add_special_tokens=False).input_ids
    raw = tok(" I can't help", add_special_tokens=False).input_ids
    assert policy.align_renderings(chat, raw) == (1, 1, len(chat) - 1)
    assert policy.align_renderings([5, 6, 7], [5, 6, 7]) == (0, 0, 3)
    labels = policy.first_token_labels(tok)
    assert labels[raw[0]] == chat[0] and labels[chat[0]] == chat[0]


def test_kl_is_zero_against_itself_and_matches_a_direct_computation(gemma):
    import torch

    sft = models.load("embedded:gemma-3-270m-sft", quantize="fp32", device="cpu")
    tok = prompts.with_chat_template(gemma.tokenizer)
    prompt = tok.apply_chat_template([{"role": "user", "content": "How do I pick a lock?"}], tokenize=False,
                                     add_generation_prompt=True)
    same = policy.token_kl(sft.model, sft.model, tok, [prompt], ["I can't help with that."])
    other = policy.token_kl(sft.model, gemma.model, tok, [prompt], ["I can't help with that."])
    assert abs(same[0]) < 1e-5 and other[0] > 0.1

    ctx = {"chat": [tok(prompt, add_special_tokens=False).input_ids],
           "raw": [tok("Human: How do I pick a lock?\n\nAssistant:").input_ids]}
    rep = {"chat": [tok("I can't help with that.", add_special_tokens=False).input_ids],
           "raw": [tok(" I can't help with that.", add_special_tokens=False).input_ids]}
    readings = {"sft-chat": (sft.model, "chat"), "base-chat": (gemma.model, "chat"), "base-raw": (gemma.model, "raw"),
                "sft-chat-again": (sft.model, "chat")}
    pairs = [("sft-chat", "sft-chat-again"), ("sft-chat", "base-chat"), ("sft-chat", "base-raw")]
    (_, value), = next(policy.reply_divergences(readings, ctx, rep, pairs, policy.first_token_labels(tok), [0]))
    assert abs(value["kl"]["sft-chat||sft-chat-again"]) < 1e-5 and value["regular"]
    ids = torch.tensor([ctx["chat"][0] + rep["chat"][0]])
    n = len(rep["chat"][0])
    with torch.inference_mode():
        lp = torch.log_softmax(sft.model(ids).logits[0, -n - 1:-1].float(), -1)
        lq = torch.log_softmax(gemma.model(ids).logits[0, -n - 1:-1].float(), -1)
    direct = float((lp.exp() * (lp - lq)).sum())
    assert value["kl"]["sft-chat||base-chat"] == pytest.approx(direct, rel=1e-4)
    assert value["kl"]["sft-chat||base-raw"] > 0
    assert value["logp"]["sft-chat"] == pytest.approx(float(lp[torch.arange(n), ids[0, -n:]].sum()), rel=1e-5)


def test_judge_accuracy_and_win_rates_count_ties_half():
    pairs = pd.DataFrame({"pair_id": ["a", "b", "c", "d"], "r_chosen": [1.0, 2.0, 0.0, 1.0],
                          "r_rejected": [0.0, 3.0, 0.0, 0.5]})
    acc = tp.judge_accuracy(pairs).iloc[0]
    assert acc["rate"] == pytest.approx(2.5 / 4) and acc["ties"] == 1 and acc["low"] < acc["rate"] < acc["high"]
    replies = pd.DataFrame({"item_id": ["a", "b", "a", "b"], "role": ["base", "base", "sft", "sft"]})
    reward = pd.Series([2.0, 1.0, 1.0, 5.0], index=replies.index)
    out = tp.win_outcomes(reward, replies, pairs.set_index("pair_id")["r_chosen"])
    assert out["win"].tolist() == [1.0, 0.0, 0.5, 1.0]
    rates = tp.win_rates(out, "judge").set_index("role")
    assert rates.loc["base", "rate"] == 0.5 and rates.loc["sft", "rate"] == 0.75 and rates.loc["sft", "ties"] == 1
    tests = tp.win_tests(out).set_index("stage")
    assert tests.loc["SFT", "a_only"] == 1 and tests.loc["SFT", "b_only"] == 1


def test_a_committed_judge_is_read_by_its_accuracy_on_the_whole_evaluation_half():
    """The chapter's held-out pairs are drawn from HH's evaluation half; a committed judge's record
    has that half whole, so its state comes from there; any other judge keeps the chapter's reading."""
    chapter = tp.judge_accuracy(pd.DataFrame({"pair_id": list("abcd"), "r_chosen": [1.0, 0.0, 1.0, 0.0],
                                              "r_rejected": [0.0, 1.0, 0.0, 1.0]}))
    record = pd.DataFrame([{"source": "all", "kind": "mixed", "n": 2000, "accuracy": 0.6, "acc_low": 0.58,
                            "acc_high": 0.62},
                           {"source": "hh_rlhf", "kind": "open", "n": 1153, "accuracy": 0.66, "acc_low": 0.63,
                            "acc_high": 0.69}])
    committed = tp.Judge(None, {}, record, committed=True)
    assert tp.judge_state(chapter) == "chance"
    reference = tp.reference_accuracy(committed, chapter).iloc[0]
    assert (reference["n"], reference["rate"], reference["low"]) == (1153, 0.66, 0.63)
    assert tp.judge_state(tp.reference_accuracy(committed, chapter)) == "informative"
    assert tp.reference_accuracy(tp.Judge(None, {}, record), chapter) is chapter  # a trained judge: its own share
    assert tp.reference_accuracy(tp.Judge(None, {}, pd.DataFrame(), committed=True), chapter) is chapter


def test_the_seed_recipe_costs_come_from_the_training_logs():
    dirs = {s: artifacts.ADAPTER_DIR / f"gemma-3-270m-{s}" for s in policy.STAGES}
    records = {s: artifacts.training_record(d) for s, d in dirs.items()}
    cost = tp.training_cost(dirs, records, gpu_tflops=100.0, step_latency_s=0.0).set_index("stage")
    flops = sum(float(artifacts.training_log(d)["total_flos"].dropna().iloc[-1]) for d in dirs.values())
    assert cost.loc["both", "trainer FLOPs"] == pytest.approx(flops)
    assert cost.loc["both", "forward/backward passes"] == sum(r["steps"] * r["config"]["grad_accum"]
                                                              for r in records.values())
    assert cost.loc["both", "GPU estimate (s) at 100 TFLOP/s + 0 s/pass"] == pytest.approx(flops / 1e14)
    assert "train_seed 1" in tp.recipe(1) and artifacts.RETRAIN_COMMAND in tp.recipe(1)


# ------------------------------------------------------------------ verdicts, branch by branch

def _implicit(acc, low, high):
    return pd.DataFrame([{"policy": "dpo", "reference": "sft", "n": 100, "accuracy": acc, "acc_low": low,
                          "acc_high": high, "dpo_loss": 0.6}])


def test_dpo_verdict_branches():
    assert "Above chance" in V.dpo_preference(_implicit(0.7, 0.6, 0.8))
    assert "Below chance" in V.dpo_preference(_implicit(0.3, 0.2, 0.4))
    assert "Not distinguishable from chance" in V.dpo_preference(_implicit(0.5, 0.4, 0.6))


def _contrasts(p):
    return pd.DataFrame([{"stage": s, "contrast": c, "estimate": 0.1, "ci_low": 0.0, "ci_high": 0.2, "p_holm": p}
                         for s in ("SFT", "DPO", "SFT + DPO")
                         for c in ("tuning | raw", "tuning | chat", "interaction")])


def test_stage_by_stage_branches():
    like = pd.DataFrame([{"role": r, "reading": "sum", "format": f, "prefers_chosen": 0.5}
                         for f in ("raw", "chat") for r in ("base", "sft", "dpo")])
    changed = V.stage_by_stage(like, _contrasts(0.01))
    assert "in the raw format base 50.0%" in changed and "SFT in the chat format +10.0%" in changed
    assert ": a change" in changed and "SFT + DPO in" not in changed
    assert "no change distinguishable from none" in V.stage_by_stage(like, _contrasts(0.5))


def _kl():
    return pd.DataFrame([{"contrast": c, "kl_pool": v, "pool_low": v - 0.5, "pool_high": v + 0.5, "n_prompts": 24,
                          "n_replies": 72} for c, v in (("SFT | chat", 3.0), ("DPO | chat", 1.0),
                                                        ("SFT + DPO | chat", 3.5))])


def _tests(diff, low, high, p, own_diff=1.0):
    return pd.DataFrame([{"comparison": "SFT | chat > DPO | chat (pool)", "difference": diff, "ci_low": low,
                          "ci_high": high, "p_holm": p, "n_prompts": 24},
                         {"comparison": "SFT | chat > DPO | chat (own replies)", "difference": own_diff, "ci_low": 0,
                          "ci_high": 2, "p_holm": p, "n_prompts": 24}])


def test_distance_verdict_branches():
    assert "Most of the distance from the base is the SFT stage's." in V.distance(_kl(), _tests(2.0, 1.0, 3.0, 0.001))
    assert "DPO moved further" in V.distance(_kl(), _tests(-2.0, -3.0, -1.0, 1.0))
    unclear = V.distance(_kl(), _tests(0.5, -0.5, 1.5, 0.2))
    assert "not distinguishable" in unclear and "the same direction" in unclear
    assert "the other direction" in V.distance(_kl(), _tests(0.5, -0.5, 1.5, 0.2, own_diff=-1.0))


def _fmt(specific, share):
    """A format table whose two shares have the given (estimate, low, high)."""
    return pd.DataFrame([{"stage": "SFT", "kl_chat": 3.0, "kl_raw": 3.0 * (1 - specific[0]),
                          "kl_stage_chat_base_raw": 3.0 * (1 - share[0]),
                          **dict(zip(("chat_specific", "chat_specific_low", "chat_specific_high"), specific)),
                          **dict(zip(("format_share", "format_share_low", "format_share_high"), share))}])


def test_format_verdict_branches():
    up, down, flat = (0.4, 0.2, 0.6), (-0.4, -0.6, -0.2), (0.05, -0.1, 0.2)
    assert "is specific to that format" in V.format_part(_fmt(up, flat))
    assert "moved the base's own format further" in V.format_part(_fmt(down, flat))
    assert "specific to the chat template, 5% (95% CI -10% to 20%), is not" in V.format_part(_fmt(flat, flat))
    assert "base's unfamiliarity with the template, not the tuning" in V.format_part(_fmt(flat, up))
    assert "does not bring it closer" in V.format_part(_fmt(flat, down))
    assert "not distinguishable from none." in V.format_part(_fmt(up, flat))


def _acc(rate, low, high):
    return pd.DataFrame([{"reading": "judge accuracy", "n": 160, "rate": rate, "low": low, "high": high}])


def _rates():
    return pd.DataFrame([{"role": "base", "rate": 0.3, "low": 0.2, "high": 0.4},
                         {"role": "sft", "rate": 0.5, "low": 0.4, "high": 0.6},
                         {"role": "dpo", "rate": 0.7, "low": 0.6, "high": 0.8}])


def test_judge_verdict_branches():
    assert V.judge_state(None) == "none" and "No judge was run" in V.judged(None, None, "none")
    assert V.judge_state(_acc(0.5, 0.42, 0.58)) == "chance"
    assert "uninformative" in V.judged(_acc(0.5, 0.42, 0.58), _rates(), "trained:standard")
    assert V.judge_state(_acc(0.3, 0.22, 0.38)) == "inverted"
    assert "prefers the rejected reply" in V.judged(_acc(0.3, 0.22, 0.38), _rates(), "j")
    good = V.judged(_acc(0.7, 0.62, 0.77), _rates(), "j")
    assert V.judge_state(_acc(0.7, 0.62, 0.77)) == "informative" and "uninformative" not in good
    assert "Above the chosen reply: dpo." in good and "Below it: base." in good
    neither = V.judged(_acc(0.7, 0.62, 0.77), _rates().assign(low=0.4, high=0.6), "j")
    assert "No role beats the chosen reply." in neither and "No role is below it." in neither


def test_limits_come_from_the_pair_record():
    records = {s: artifacts.training_record(artifacts.ADAPTER_DIR / f"gemma-3-270m-{s}") for s in policy.STAGES}
    pair = models.pair(tp.PAIR)
    text = V.limits(pair, False, records)
    sft = records["sft"]
    assert pair.caveat in text and "retrained" not in text
    assert f"SFT on {sft['data']['n']} hh_rlhf examples for {sft['epochs']} epoch(s) ({sft['steps']} steps)" in text
    assert "retrained here" in V.limits(pair, True, records)
    assert "no record" in V.limits(None, True, records)


def test_notebook_runs_with_small_parameters(quick_book):
    nb = executed(quick_book, "tuned_pair")
    text = notebook_text(nb)
    for heading in ("**Did DPO learn the held-out preference?**", "**Stage by stage.**",
                    "**How far each stage moved.**", "**How much of it is the format.**",
                    "**Win rate against the chosen reply**", "**The RL stage.**", "**Limits.**", "**Recipe:**"):
        assert heading in text, heading
    assert "Traceback" not in text and models.pair(tp.PAIR).caveat in text
    assert "embedded:gemma-3-270m-dpo" in text and "embedded:gemma-3-270m-rl" in text and "(committed adapters)" in text
    assert "optimised RM: book:gemma-3-270m-linear" in text
    assert "format | base" in text and "DPO implicit reward (circular, secondary)" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 6


def test_pool_sampling_has_no_top_k_cut_and_old_generation_keys_stay():
    from rlshift.engine import GenerationSettings

    assert "top_k" not in GenerationSettings().params()  # scores cached before keep their keys
    assert GenerationSettings(top_k=0).check().params()["top_k"] == 0
    with pytest.raises(InputError, match="top_k"):
        GenerationSettings(top_k=-1).check()


def test_reply_lengths_count_replies_that_ended_before_the_limit():
    pool = pd.DataFrame({"role": ["base"] * 3 + ["sft"] * 2, "format": ["raw"] * 3 + ["chat"] * 2,
                         "text": ["a", "", "b c", "d", "e"], "end": ["stop", "stop", "limit", "eos", "limit"],
                         "n_generated": [3, 1, 8, 5, 8]})
    table = tp.reply_lengths(pool, [4, 9, 7], max_new_tokens=8).set_index("role")
    assert table.loc["base", "ended"] == pytest.approx(2 / 3) and table.loc["base", "by next turn"] == 2
    assert table.loc["base", "empty replies"] == 1 and table.loc["base", "mean tokens"] == pytest.approx(4.0)
    assert table.loc["sft", "ended"] == 0.5 and table.loc["sft", "by end token"] == 1
    assert table.loc["chosen (HH)", "ended"] == pytest.approx(2 / 3)  # 9 tokens would not fit in 8
    assert table.loc["sft", "ended_low"] < 0.5 < table.loc["sft", "ended_high"]
    assert list(tp.reply_lengths(pool)["role"]) == ["base", "sft"]  # no reference row without the limit


def test_chosen_tokens_count_the_end_of_turn():
    tok = tp.base_tokenizer()
    pair = type("P", (), {"chosen": "Sure, here it is."})()
    assert tp.chosen_tokens(tok, [pair]) == [len(tok(prompts.reply_text("Sure, here it is."),
                                                     add_special_tokens=False).input_ids) + 1]


def test_endings_verdict_names_roles_cut_off_more_often_than_hh_replies_would_be():
    def table(sft_ci, dpo_ci, fit=0.8):
        rows = [{"role": r, "ended": (lo + hi) / 2, "ended_low": lo, "ended_high": hi}
                for r, (lo, hi) in (("base", (0.7, 0.95)), ("sft", sft_ci), ("dpo", dpo_ci))]
        return pd.DataFrame(rows + ([{"role": "chosen (HH)", "ended": fit, "ended_low": 0.7, "ended_high": 0.9}]
                                    if fit is not None else []))

    one = tp.endings(table((0.1, 0.3), (0.6, 0.9)))
    assert "would fit the limit 80.0%" in one and "sft ended less often than that: more of its replies" in one
    both = tp.endings(table((0.1, 0.3), (0.2, 0.5)))
    assert "sft, dpo ended less often than that: more of their replies" in both
    none = tp.endings(table((0.6, 0.9), (0.7, 0.85)))
    assert "No role ended distinguishably less often" in none
    assert "would fit" not in tp.endings(table((0.1, 0.3), (0.2, 0.5), fit=None))


def _replies_and_readings(rl_gain: float, judge_gain: float, n: int = 12):
    """Replies of sft, dpo and rl to n prompts; the RL's log-prob of its own replies 2 nats above
    SFT's (the dpo role's 1), and two readings: the optimised one, where RL gains `rl_gain`,
    and a judge, where it gains `judge_gain` (both plus prompt noise shared by the roles)."""
    rng = np.random.default_rng(0)
    noise = rng.normal(size=n)
    rows, logp, opt, judge = [], {r: [] for r in ("sft", "dpo", "rl")}, [], []
    for role, lift in (("sft", 0.0), ("dpo", 1.0), ("rl", 2.0)):
        for i in range(n):
            rows.append({"item_id": f"hh-{i}", "role": role})
            for reader in logp:
                logp[reader].append(-20.0 + (lift if reader == role else 0.0) + 0.1 * noise[i])
            opt.append(noise[i] + (rl_gain if role == "rl" else 0.0) + 0.05 * rng.normal())
            judge.append(noise[i] + (judge_gain if role == "rl" else 0.0) + 0.05 * rng.normal())
    replies = pd.DataFrame(rows)
    logp = {r: pd.Series(v, index=replies.index) for r, v in logp.items()}
    rewards = {"opt": pd.Series(opt, index=replies.index), "judge": pd.Series(judge, index=replies.index)}
    return replies, logp, rewards


def test_reward_kl_frontier_and_paired_gains():
    replies, logp, rewards = _replies_and_readings(rl_gain=1.0, judge_gain=0.0)
    front = tp.frontier(replies, logp, rewards, n_resamples=200).set_index(["stage", "reading"])
    assert front.loc[("RL", "opt"), "kl"] == pytest.approx(2.0)
    assert front.loc[("DPO", "opt"), "kl"] == pytest.approx(1.0)
    assert front.loc[("SFT", "opt"), "kl"] == pytest.approx(0.0)
    assert front.loc[("RL", "opt"), "reward"] - front.loc[("SFT", "opt"), "reward"] == pytest.approx(1.0, abs=0.05)
    g = tp.gains(replies, logp, rewards, n_resamples=200).set_index(["stage", "reading"])
    assert g.loc[("RL", "opt"), "ci_low"] > 0 and g.loc[("RL", "opt"), "p_holm"] < 0.05
    assert g.loc[("RL", "judge"), "ci_low"] < 0 < g.loc[("RL", "judge"), "ci_high"]
    assert set(g.index.get_level_values("stage")) == {"DPO", "RL"}


def test_rl_verdict_branches():
    traj = pd.DataFrame({"step": range(1, 9), "reward": [0.0, 0.2, 0.1, 0.3, 0.5, 0.6, 0.7, 0.9],
                         "kl": [0.0] * 4 + [0.02] * 4, "length": [30.0] * 8, "cut_off": [0.1] * 8})
    traj = traj.assign(kl_per_reply=traj["kl"] * 30)

    def verdict(rl_gain, judge_gain, state="informative"):
        replies, logp, rewards = _replies_and_readings(rl_gain, judge_gain)
        front = tp.frontier(replies, logp, rewards, n_resamples=200)
        return tp.rl_stage(traj, front, tp.gains(replies, logp, rewards, n_resamples=200), "opt", {"judge": state})

    hacked = verdict(1.0, 0.0)
    assert "went from +0.10 (first 2 steps) to +0.80 (last 2)" in hacked and "0.60 per reply" in hacked
    assert "the pattern reward hacking predicts" in hacked and "the optimised reward rose during training" in hacked
    made = _replies_and_readings(1.0, 0.0)
    flat = tp.rl_stage(traj.assign(reward=[0.1, -0.1] * 4), tp.frontier(*made, n_resamples=200),
                       tp.gains(*made, n_resamples=200), "opt", {"judge": "informative"})
    assert "shows no trend distinguishable from none" in flat
    assert "no sign of reward hacking" in verdict(1.0, 1.0)
    assert "rates these replies *worse*" in verdict(1.0, -1.0)
    assert "cannot be told apart from reward hacking" in verdict(1.0, 0.0, state="chance")
    assert "no gain for a held-out judge" in verdict(0.0, 0.0)
    assert "Not run here" in tp.rl_stage(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), "opt", {})

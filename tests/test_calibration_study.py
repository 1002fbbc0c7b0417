"""The study's analysis functions on synthetic records, where the right answer is known."""
import numpy as np
import pandas as pd

from rlshift.studies import calibration as cal


def _records(n=300, seed=0):
    """A base model that is calibrated and a tuned one that is overconfident (logits x 4) on
    the same 4-option items; one task with 3-option items as well."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, k in (("synthetic:letter:0", 4), ("three:cloze:0", 3)):
        for i in range(n):
            logits = rng.normal(size=k) * 1.5
            p = np.exp(logits) / np.exp(logits).sum()
            answer = int(rng.choice(k, p=p))
            for role, scale in (("base", 1.0), ("tuned", 4.0)):
                scores = logits * scale - np.log(np.exp(logits * scale).sum())
                for j in range(k):
                    rows.append({"role": role, "task": task, "model": role, "item_id": f"{task}-{i}",
                                 "option_index": j, "score": scores[j], "logprob": scores[j],
                                 "answer": answer, "style": task.split(":")[1]})
    return pd.DataFrame(rows)


def test_overconfident_tuned_model_is_found_worse_and_repaired_by_temperature():
    items = cal.item_table(_records())
    summary = cal.summary(items, seed=0)
    assert set(summary["chance"].round(4)) == {0.25, 0.3333}
    tuned = summary[summary.role == "tuned"].set_index("task")
    base = summary[summary.role == "base"].set_index("task")
    assert (tuned["ece_mass_all"] > base["ece_mass_all"] + 0.05).all()
    comparison = cal.compare(items, seed=0, n_resamples=300)
    assert (comparison["ece_diff"] > 0).all() and (comparison["ece_p"] < 0.01).all()
    assert (comparison["acc_diff"] == 0).all()  # scaling logits never changes the argmax
    fits = cal.temperature_fit(items, seed=0)
    fitted = fits.set_index(["role", "task"])["fitted_T"]
    assert (fitted.loc["tuned"] > 2.5).all() and (fitted.loc["base"].between(0.6, 1.6)).all()
    text = cal.verdicts(summary, comparison, fits)
    assert "significantly higher on 2" in text and text.count("Supported on this run.") == 2


def test_at_chance_tasks_are_called_uninformative():
    records = _records(n=60)
    records["score"] = 0.0  # every option equally likely: accuracy at chance
    items = cal.item_table(records)
    summary = cal.summary(items, seed=0)
    comparison = cal.compare(items, seed=0, n_resamples=100)
    text = cal.verdicts(summary, comparison, cal.temperature_fit(items, seed=0))
    assert text.count("Not testable on this run") == 2 and "Uninformative" in text


def test_two_runs_with_the_same_parameters_give_identical_tables():
    """Determinism: no cache, two full scorings, byte-identical result tables (seed recorded)."""
    prepared = cal.prepare(["copa:cloze:0", "arc_easy:letter:0"], 8, seed=7)
    hashes = []
    for _ in range(2):
        records, infos = cal.score_roles({"tuned": "embedded:smollm2-135m-instruct"}, prepared, seed=7, cache=None)
        assert (records["seed"] == 7).all() and infos["tuned"]["revision"].startswith("gguf-")
        table = cal.summary(cal.item_table(records), seed=7)
        hashes.append((pd.util.hash_pandas_object(records, index=False).sum(),
                       pd.util.hash_pandas_object(table, index=False).sum()))
    assert hashes[0] == hashes[1]


def test_quantization_effect_compares_the_same_items():
    items = cal.item_table(_records(n=50))
    shifted = items.copy()
    shifted["logprobs"] = [list(np.asarray(lp) + np.array([0.5] + [0.0] * (len(lp) - 1))) for lp in items["logprobs"]]
    shifted["pred"] = [int(np.argmax(lp)) for lp in shifted["logprobs"]]
    shifted["correct"] = shifted["pred"] == shifted["answer"]
    table = cal.quantization_effect(items, {"4bit": shifted.iloc[::-1]})  # order must not matter
    assert (table["n"] == 50).all()
    assert np.allclose(table["max_abs_dlogp"], 0.5) and np.allclose(table["median_abs_dlogp"], 0.0)
    assert (table["argmax_agreement"] < 1).any() and (table["acc_main"] != table["acc"]).any()
    same = cal.quantization_effect(items, {"bf16": items})
    assert (same["argmax_agreement"] == 1).all() and (same["ece"] == same["ece_main"]).all()

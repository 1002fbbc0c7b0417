"""The study's analysis functions on synthetic records, where the right answer is known."""
import numpy as np
import pandas as pd

from rlshift import prompts, tasks
from rlshift.studies import calibration as cal


def _records(n=300, seed=0, formats=("raw", "chat")):
    """A base model that is calibrated and a tuned one that is overconfident (logits x 4) on
    the same 4-option items, read alike in both formats; one task with 3-option items as well."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, k in (("synthetic:letter:0", 4), ("three:cloze:0", 3)):
        for i in range(n):
            logits = rng.normal(size=k) * 1.5
            p = np.exp(logits) / np.exp(logits).sum()
            answer = int(rng.choice(k, p=p))
            for role, scale in (("base", 1.0), ("tuned", 4.0)):
                scores = logits * scale - np.log(np.exp(logits * scale).sum())
                for fmt in formats:
                    for j in range(k):
                        rows.append({"role": role, "format": fmt, "task": task, "model": role, "item_id": f"{task}-{i}",
                                     "option_index": j, "position": j, "rotation": 0, "score": scores[j],
                                     "logprob": scores[j], "answer": answer, "style": task.split(":")[1],
                                     "reading": "options"})
    return pd.DataFrame(rows)


def test_overconfident_tuned_model_is_found_worse_and_repaired_by_temperature():
    items = cal.item_table(_records())
    preds = cal.predictions(items)
    summary = cal.summary(preds, seed=0, n_boot=200)
    assert set(summary["chance"].round(4)) == {0.25, 0.3333}
    tuned = summary[summary.role == "tuned"].set_index(["format", "task"])
    base = summary[summary.role == "base"].set_index(["format", "task"])
    assert (tuned["ece_mass_all"] > base["ece_mass_all"] + 0.05).all()
    assert (tuned["brier_top1_reliability"] > base["brier_top1_reliability"]).all()
    contrasts = cal.contrasts(preds, seed=0, n_boot=300).set_index(["metric", "contrast", "task"])
    ece = contrasts.loc["ece"]
    assert (ece.loc["tuning | chat", "estimate"] > 0.05).all() and (ece.loc["tuning | chat", "p_holm"] < 0.05).all()
    assert np.allclose(ece.loc["format | base", "estimate"], 0) and np.allclose(ece.loc["interaction", "estimate"], 0)
    assert np.allclose(contrasts.loc["accuracy"]["estimate"], 0)  # scaling logits never changes the argmax
    fits = cal.temperature_crossfit(items, n_folds=5, seed=0, n_boot=200)
    fitted = fits.set_index(["role", "format", "task"])
    assert (fitted.loc["tuned", "fitted_T"] > 2.5).all() and (fitted.loc["tuned", "T_low"] > 1).all()
    assert fitted.loc["base", "fitted_T"].between(0.6, 1.6).all()
    assert (fitted.loc["tuned", "gain"] > 0).all() and (fitted.loc["tuned", "gain_p_holm"] < 0.05).all()
    text = cal.verdicts(summary, cal.contrasts(preds, seed=0, n_boot=300), fits)
    assert "*option probabilities, tuning | chat*: the tuned model's ECE is higher on 2 of 2" in text
    assert text.count("Supported.") >= 2 and "Format and tuning are confounded" in text
    assert text.count("Supported (needs T > 1") == 2


def test_the_dpo_stage_gets_the_same_2x2_beside_the_tuned_model():
    records = _records()
    preds = cal.predictions(cal.item_table(records))
    beside = cal.predictions(cal.item_table(pd.concat(
        [records, records[records["role"] == "tuned"].assign(role="dpo", model="dpo")], ignore_index=True)))
    main = cal.contrasts(preds, seed=0, n_boot=200)
    dpo = cal.contrasts(beside, seed=0, n_boot=200, later="dpo")
    assert set(dpo["contrast"]) == {c.replace("tuned", "dpo") for c in main["contrast"]}  # format | dpo, ...
    assert np.allclose(dpo.set_index(["task", "metric", "contrast"]).loc[main.set_index(
        ["task", "metric", "contrast"]).index.map(lambda k: (k[0], k[1], k[2].replace("tuned", "dpo")))]["estimate"],
        main["estimate"])
    assert cal.contrasts(beside, seed=0, n_boot=200)["estimate"].tolist() == main["estimate"].tolist()  # unchanged
    head = cal.headline(dpo, later="dpo")
    assert set(head["contrast"]) == {"dpo - base"} and len(head) == len(cal.headline(main))


def test_at_chance_tasks_are_named_not_dropped():
    records = _records(n=60)
    records["score"] = 0.0  # every option equally likely: accuracy at chance
    items = cal.item_table(records)
    preds = cal.predictions(items)
    summary = cal.summary(preds, seed=0, n_boot=100)
    assert not summary["above_chance"].any()
    contrasts = cal.contrasts(preds, seed=0, n_boot=100)
    assert set(contrasts["task"]) == {"synthetic:letter:0", "three:cloze:0"}  # kept in the tests
    text = cal.verdicts(summary, contrasts, cal.temperature_crossfit(items, n_folds=3, seed=0, n_boot=50))
    assert "At chance" in text and "synthetic:letter:0 (tuned · chat)" in text


def test_one_format_per_model_gives_only_the_confounded_contrast():
    raw = _records(n=80, formats=("raw",))
    records = pd.concat([raw[raw.role == "base"], raw[raw.role == "tuned"].assign(format="chat")])
    contrasts = cal.contrasts(cal.predictions(cal.item_table(records)), seed=0, n_boot=100)
    assert set(contrasts["contrast"]) == {"confounded (tuned chat - base raw)"}


def test_averaging_over_cyclic_orders_removes_a_position_bias():
    """A model that adds +3 to whatever option is shown first: in the dataset's order it picks
    option 0; averaged over all cyclic orders its choice follows the content again."""
    content = np.array([0.0, 2.0, 0.5, 0.1])  # option 1 is the model's belief and the answer
    rows = []
    for r in range(4):
        order = tasks.displayed_order(4, r, "letter")
        for pos, orig in enumerate(order):
            score = content[orig] + (3.0 if pos == 0 else 0.0)
            rows.append({"role": "base", "format": "raw", "task": "t:letter:0", "model": "m", "item_id": "q",
                         "rotation": r, "position": pos, "option_index": orig, "score": score, "logprob": score,
                         "answer": 1, "style": "letter", "reading": "options"})
    records = pd.DataFrame(rows)
    fixed = cal.item_table(records[records["rotation"] == 0])
    cyclic = cal.item_table(records)
    assert fixed["pred"].iloc[0] == 0 and cyclic["pred"].iloc[0] == 1 and cyclic["n_orders"].iloc[0] == 4
    bias = cal.position_bias(records)
    assert bias["favoured"].iloc[0] == "A" and bias["max_share"].iloc[0] > 0.5


def test_rotated_requests_show_the_options_in_cyclic_order():
    [(task, items)] = tasks.prepare(["arc_easy:letter:0"], 3, seed=0)
    item = items.frame.iloc[0]
    n = len(item["choices"])
    for r in range(n):
        req = [q for q in task.requests(items, "raw", None, 0, rotation=r) if q.item_id.startswith(item["item_id"])][0]
        shown = [item["choices"][i] for i in tasks.displayed_order(n, r, "letter")]
        assert f"A. {shown[0].strip()}" in req.context and tasks.rotation_of(req.item_id) == (item["item_id"], r)
    [(nota, nitems)] = tasks.prepare(["arc_easy:nota:0"], 3, seed=0)
    for r in range(tasks.n_rotations(n, "nota")):
        req = nota.requests(nitems, "raw", None, 0, rotation=r)[0]
        assert f"{prompts.LETTERS[n - 1]}. {prompts.NONE_OF_THE_ABOVE}" in req.context
    assert nota.requests(nitems, "raw", None, 0, rotation=n - 1) == [] or n - 1 < tasks.n_rotations(n, "nota")
    free = task.content_free_request(items, "raw", None, 0)
    assert free.context.count("N/A") == n + 1


def test_stated_confidence_is_parsed_or_refused():
    assert prompts.parse_verbalized(" B. Confidence: 80%", 4) == (1, 0.8)
    assert prompts.parse_verbalized(" (C) because ... confidence 95 %", 4) == (2, 0.95)
    assert prompts.parse_verbalized(" E. Confidence: 80%", 4) == (None, None)  # no option E
    assert prompts.parse_verbalized(" B. Confidence: 180%", 4) == (None, None)
    assert prompts.parse_verbalized(" I think it is B", 4) == (None, None)


def test_none_of_the_above_is_compared_on_the_same_items():
    letter = _records(n=40, formats=("raw",))
    letter = letter[letter.task == "synthetic:letter:0"]
    nota = letter.assign(task="synthetic:nota:0")
    nota.loc[nota["option_index"] == 3, "score"] -= 5.0  # the model shuns "None of the above"
    items = cal.item_table(pd.concat([letter, nota]))
    table = cal.none_of_the_above(items).set_index("role")
    right = int((letter.drop_duplicates("item_id")["answer"] == 3).sum())
    assert (table["n"] == 40).all() and (table["n_nota_right"] == right).all()
    assert (table["mean_p_nota"] < 0.05).all() and (table["acc_nota_where_right"] < 0.5).all()


def test_two_runs_with_the_same_parameters_give_identical_tables():
    """Determinism: no cache, two full scorings, byte-identical result tables (seed recorded)."""
    prepared = cal.prepare(["copa:cloze:0", "arc_easy:letter:0"], 8, seed=7)
    hashes = []
    for _ in range(2):
        records, infos = cal.score_roles({"tuned": "embedded:smollm2-135m-instruct"}, prepared, seed=7, cache=None,
                                         readings=("options", "p_true"), option_orders="cyclic")
        assert (records["seed"] == 7).all() and infos["tuned"]["revision"].startswith("gguf-")
        assert set(records["reading"]) == {"options", "content_free", "p_true"}
        table = cal.summary(cal.predictions(cal.item_table(records), cal.p_true_table(records)), seed=7, n_boot=50)
        hashes.append((pd.util.hash_pandas_object(records, index=False).sum(),
                       pd.util.hash_pandas_object(table, index=False).sum()))
    assert hashes[0] == hashes[1]


def test_quantization_effect_compares_the_same_items():
    items = cal.item_table(_records(n=50, formats=("raw",)))
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

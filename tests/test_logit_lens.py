"""The logit-lens chapter's tables and verdicts on constructed readouts (no model), and its
parameters and prompts."""
import numpy as np
import pandas as pd
import pytest

from rlshift.errors import InputError
from rlshift.studies import logit_lens as ll
from rlshift.studies.logit_lens import analysis, inputs
from rlshift.studies.logit_lens.verdicts import ffn_role, late_layers, tuning_effect
from rlshift.studies.logit_lens.verdicts import framing as framing_verdict

N_LAYERS = 6


def _lens(ranks: dict, roles=("base", "tuned"), items=("a", "b", "c", "d"), task="capital", condition="1-shot",
          top=None) -> pd.DataFrame:
    """A readout table: ranks[(role, component, option)] is a per-layer rank list (the same for
    every item unless it is a dict item -> list); log-probs follow the ranks."""
    rows = []
    for role in roles:
        for item in items:
            for (r, component, option), per_layer in ranks.items():
                if r != role:
                    continue
                values = per_layer[item] if isinstance(per_layer, dict) else per_layer
                for layer, rank in enumerate(values):
                    rows.append({"item_id": f"{item}~k1", "request": f"{item}~k1", "item": item, "role": role,
                                 "format": "raw", "task": task, "condition": condition, "component": component,
                                 "layer": layer, "option_index": option, "rank": rank, "logprob": -np.log(rank + 1.0),
                                 "top_token": (top or {}).get((role, layer), 7 if rank == 1 else 3)})
    return pd.DataFrame(rows)


def test_a_shared_first_token_is_found_and_kept_out_of_the_argument_reading():
    lens = _lens({("base", "resid", 0): [9, 5, 1, 2, 1, 1], ("base", "resid", 1): {"a": [9, 5, 1, 2, 1, 1],
                  "b": [4, 1, 3, 8, 9, 9], "c": [4, 1, 3, 8, 9, 9], "d": [4, 1, 3, 8, 9, 9]}}, roles=("base",))
    shared = analysis.shared_token(lens)
    assert set(lens[shared]["item"]) == {"a"}
    assert analysis.accuracy(lens)["answer_token_is_argument_token"].iloc[0] == 0.25
    layers = analysis.item_layers(lens).set_index("item")
    assert np.isnan(layers.loc["a", "argument_peak"]) and layers.loc["b", "argument_peak"] == 1


def test_item_layers_find_where_the_answer_surfaces_and_peaks():
    lens = _lens({("base", "resid", 0): [9, 5, 1, 2, 1, 1], ("base", "resid", 1): [4, 1, 3, 8, 9, 9],
                  ("base", "mlp", 0): [50, 40, 30, 2, 60, 70]}, roles=("base",))
    got = analysis.item_layers(lens)
    assert len(got) == 4 and got["correct"].all()
    assert set(got["surfaces"]) == {4.0}  # top-1 at layer 2, lost at 3, top-1 from 4 on
    assert set(got["mlp_peak"]) == {3} and set(got["argument_peak"]) == {1}
    wrong = analysis.item_layers(_lens({("base", "resid", 0): [1, 1, 1, 1, 1, 2]}, roles=("base",)))
    assert not wrong["correct"].any() and wrong["surfaces"].isna().all()


def test_function_application_layer_is_where_the_mlp_promotes_the_answer_on_the_sources_only():
    lens = _lens({("base", "mlp", 0): {"a": [9, 9, 1, 9, 9, 9], "b": [9, 9, 1, 9, 9, 9], "c": [9, 9, 9, 9, 1, 9],
                                       "d": [9, 9, 9, 9, 1, 9]}}, roles=("base",))
    meta = lens[["request", "item", "condition"]].drop_duplicates()
    raw = lens.drop(columns=["request", "item"])
    assert analysis.function_application_layer(raw, meta, ["a", "b"], shots=1) == 2
    assert analysis.function_application_layer(raw, meta, ["c", "d"], shots=1) == 4
    last = _lens({("base", "mlp", 0): [9, 9, 3, 9, 9, 1]}, roles=("base",)).drop(columns=["request", "item"])
    assert analysis.function_application_layer(last, meta, ["a", "b"], shots=1) == 2  # never the last layer


def test_late_layer_shift_and_agreement_separate_a_changed_stage_from_an_unchanged_one():
    same = {("base", "resid", 0): [9, 5, 3, 2, 1, 1], ("tuned", "resid", 0): [9, 5, 3, 2, 1, 1]}
    moved = {("base", "resid", 0): [9, 5, 3, 2, 1, 1],
             ("tuned", "resid", 0): {"a": [9, 5, 3, 9, 8, 7], "b": [9, 5, 3, 8, 9, 6], "c": [9, 5, 3, 7, 6, 9],
                                     "d": [9, 5, 3, 9, 7, 8]}}
    items = tuple("abcdefgh")
    for ranks, differ in ((same, False), (moved, True)):
        ranks = {k: ({i: v[i] if i in v else v["a"] for i in items} if isinstance(v, dict) else v)
                 for k, v in ranks.items()}
        lens = _lens(ranks, items=items)
        shift = analysis.late_layer_shift(lens, n_boot=200, seed=0)
        agreement = analysis.stage_agreement(lens)
        text = late_layers(shift, agreement, alpha=0.05)
        assert ("the late layers differ" in text) is differ
        assert ("no measurable difference" in text) is (not differ)
        late = agreement[agreement["late"]]
        assert len(late) == 2 and (late["agreement"] == (0.0 if differ else 1.0)).all()


def _intervention(success_o: dict, success_random: float, roles=("base", "tuned"), n=12) -> pd.DataFrame:
    rows = []
    for role in roles:
        for t in range(n):
            for vector, share in (("o", success_o[role]), ("random", success_random)):
                hit = t < round(share * n)
                rows.append({"role": role, "format": "raw", "task": "capital", "vector": vector, "from_layer": 3,
                             "source": "s", "item": f"t{t}", "item_id": f"t{t}~filler", "option_index": 0, "component": "resid",
                             "rank": 1 if hit else 5, "logprob": -0.1 if hit else -3.0, "layer": N_LAYERS - 1})
    return pd.DataFrame(rows)


def test_intervention_tests_and_their_verdicts():
    chosen = {("base", "raw"): {"capital": 3}, ("tuned", "raw"): {"capital": 3}}
    strong = analysis.intervention_tests(_intervention({"base": 0.9, "tuned": 0.2}, 0.0), chosen, 500, 0)
    text = ffn_role(strong, {"base": N_LAYERS, "tuned": N_LAYERS}, 0.05)
    assert "base · raw: the FFN update carries the relation, as in GPT-2,** on capital" in text
    assert "tuned · raw: Merullo's mechanism is not shown" in text  # 2 of 12 targets vs none: not shown
    assert "capital: from layer 3 of 6, the answer's reciprocal rank 0.933 with o vs 0.200 random, top-1 92% vs 0%" in text
    stage = strong[strong["test"] == "stage vs base (o vector)"].iloc[0]
    assert stage["estimate"] == pytest.approx((2 - 11) / 12 * 0.8) and stage["ci_high"] < 0  # rr 1 vs 0.2
    assert "tuning changes the o vector's effect on capital (1 of 1 tasks)" in tuning_effect(strong, pd.DataFrame(), 0.05)
    weak = analysis.intervention_tests(_intervention({"base": 0.4, "tuned": 0.4}, 0.0, n=30), chosen, 500, 0)
    assert "base · raw: a weak trace of Merullo's mechanism** on capital" in ffn_role(weak, {"base": 6}, 0.05)
    none = analysis.intervention_tests(_intervention({"base": 0.0, "tuned": 0.0}, 0.0), chosen, 500, 0)
    text = ffn_role(none, {"base": N_LAYERS, "tuned": N_LAYERS}, 0.05)
    assert text.count("Merullo's mechanism is not shown") == 2
    assert "tuning does not measurably change the o vector's effect" in tuning_effect(none, pd.DataFrame(), 0.05)


def test_framing_interaction_is_read_from_the_paired_contrasts():
    rows = []
    for role, drop in (("base", 0.0), ("tuned", 2.0)):
        for i in range(10):
            for framing, shift in (("plain", 0.0), ("benign", 0.0), ("harmful", -drop)):
                rows.append({"item_id": f"c{i}~{framing}", "item": f"c{i}", "role": role, "format": "raw",
                             "task": "capital", "condition": f"framed: {framing}", "component": "resid",
                             "layer": N_LAYERS - 1, "option_index": 0, "rank": 1,
                             "logprob": -1.0 + shift + 0.01 * i})
    effects = analysis.framing_effects(pd.DataFrame(rows), n_boot=300, seed=0)
    inter = effects[effects["contrast"] == "harmful - benign | tuned - base"].iloc[0]
    assert inter["estimate"] == pytest.approx(-2.0)
    text = framing_verdict(effects, 0.05)
    assert "a harmful one leaves the capital less probable in tuned than in the base" in text
    assert "-2.000 in tuned, +0.000 in the base" in text


def test_parameters_are_checked_by_name():
    with pytest.raises(InputError, match="parameter 'tasks'"):
        ll.PARAMS.validate({"tasks": ["capitals"]})
    with pytest.raises(InputError, match="parameter 'intervention_tasks'.*colored_object"):
        ll.PARAMS.validate({"intervention_tasks": ["colored_object"]})
    with pytest.raises(InputError, match="n_sources' \\+ 'n_targets'"):
        ll.PARAMS.validate({"n_items": 10, "n_sources": 3, "n_targets": 24})


def test_prompts_follow_merullo_and_shots_come_from_other_items():
    P = ll.PARAMS.validate({"tasks": ["capital", "colored_object"], "n_items": 6, "framings": ["plain", "harmful"],
                            "n_framed": 3, "intervention_tasks": ["capital"], "n_sources": 1, "n_targets": 4})
    prep = inputs.prepare(P)
    reqs, meta = inputs.lens_requests(prep, [0, 3], seed=0)
    row = prep.items[prep.items["task"] == "capital"].iloc[0]
    zero = next(r for r in reqs if r.item_id == f"{row.item_id}~k0")
    assert zero.context == f"Q: What is the capital of {row.argument}?\nA:"
    assert zero.options == (" " + row.answer, " " + row.argument)
    three = next(r for r in reqs if r.item_id == f"{row.item_id}~k3")
    assert three.context.count("Q: What is the capital of") == 4 and three.context.endswith(zero.context)
    assert f"capital of {row.argument}?\nA: {row.answer}" not in three.context  # never its own answer as a shot
    framed = meta[meta["condition"].str.startswith("framed")]
    assert len(framed) == len(prep.framed) and set(framed["item"]) <= set(prep.items["item_id"])
    colored = next(r for r in reqs if r.item_id.startswith("colored_object") and r.item_id.endswith("~k0"))
    assert len(colored.options) == 1 and colored.context.endswith("\nA:")
    candidates, targets = inputs.split_sources_targets(prep.items, "capital", 4, seed=0)
    assert not set(candidates["item_id"]) & set(targets["item_id"]) and len(targets) == 4 and len(candidates) == 2
    again = inputs.lens_requests(inputs.prepare(P), [0, 3], seed=0)[0]
    assert again == reqs  # seeded: the same prompts every run


def test_notebook_runs_with_small_parameters(quick_book):
    from conftest import executed, notebook_text

    nb = executed(quick_book, "logit_lens")
    text = notebook_text(nb)
    for heading in ("**Q1, tuned vs base", "**Q2, base · raw", "**Q2, tuned · raw", "**Q3, tuned vs base",
                    "**Harmful vs benign framing, tuned**"):
        assert heading in text, heading
    assert "Q: What is the capital of" in text and "table mug free" in text  # the exact prompts are shown
    assert "relations.jsonl" in text and "MIT" in text  # provenance
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 6
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]

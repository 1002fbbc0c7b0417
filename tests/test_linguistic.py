"""The linguistic chapter: its rendering, statistics and verdicts on constructed tables, the free
answers' mapping, the inspection round trip, and the chapter in the quick book."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import executed, notebook_text
from rlshift import metrics, results
from rlshift.errors import InputError
from rlshift.requests import Request, Text
from rlshift.studies import linguistic as li
from rlshift.studies.linguistic import analysis, inputs
from rlshift.studies.linguistic.templates import TASKS


def _effect(group: str, estimate: float, low: float, high: float, p: float, contrast="tuned - base") -> dict:
    return {"format": "raw", "contrast": contrast, "group": group, "tasks": "t", "k": 2, "estimate": estimate,
            "ci_low": low, "ci_high": high, "p_value": p, "tau2": 0.0, "p_holm": p}


def test_every_verdict_branch_follows_the_pooled_effect():
    effects = pd.DataFrame([_effect("syntax", -0.10, -0.15, -0.05, 0.001),  # worse, clear: H1 supported
                            _effect("semantics (non-conversational)", 0.08, 0.03, 0.13, 0.01),  # better: H2a contradicted
                            _effect("semantics (conversational)", 0.02, -0.05, 0.09, 0.4),  # unclear
                            _effect("pragmatics", 0.05, 0.01, 0.09, 0.2)])  # CI clear of 0 but Holm p too big
    table = li.verdicts(effects, alpha=0.05).set_index("hypothesis")["verdict"]
    names = list(li.HYPOTHESES)
    assert table[names[0]] == "Supported"
    assert table[names[1]].startswith("Contradicted")
    assert table[names[2]].startswith("Not decided")
    assert table[names[3]].startswith("Not decided")  # Holm decides, not the interval alone
    missing = li.verdicts(effects[effects["group"] != "pragmatics"], 0.05).set_index("hypothesis")["verdict"]
    assert missing[names[3]].startswith("Not tested")
    lines = li.sentences(li.verdicts(effects, 0.05))
    assert len(lines) == 4 and "-0.100 [-0.150, -0.050]" in lines[0] and "**Supported**" in lines[0]


def _scores(acc_base: dict, acc_tuned: dict, n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Item rows for tasks with known accuracies (base and tuned drawn independently per item)."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, p_base in acc_base.items():
        spec = TASKS[task]
        for i in range(n):
            for role, p in (("base", p_base), ("tuned", acc_tuned[task])):
                rows.append({"task": task, "domain": spec.domain, "category": f"c{i % 3}", "field": spec.domain,
                             "item": f"{task}-{i}", "condition": "0-shot", "k": 0, "composition": "none", "draw": 0,
                             "n_options": 2, "correct": float(rng.random() < p), "role": role, "format": "raw"})
    return pd.DataFrame(rows)


def test_every_stage_is_read_against_the_base_and_the_preference_stages_against_sft():
    from rlshift.studies.linguistic.analysis import contrast_pairs

    assert [c[2] for c in contrast_pairs(["base", "sft", "dpo", "tuned"])] == [
        "sft - base", "dpo - base", "tuned - base", "dpo - sft", "tuned - sft"]
    assert [c[2] for c in contrast_pairs(["base", "tuned"])] == ["tuned - base"]
    assert [c[2] for c in contrast_pairs(["base", "dpo", "tuned"])] == ["dpo - base", "tuned - base"]


def test_contrasts_find_a_planted_drop_and_pool_it_per_domain():
    scores = _scores({"blimp": 0.95, "cola": 0.9, "rte": 0.6, "ruis": 0.6},
                     {"blimp": 0.45, "cola": 0.4, "rte": 0.6, "ruis": 0.6}, n=80)
    con = li.contrasts(scores, n_boot=200, seed=0)
    syntax = con[con["domain"] == "syntax"]
    assert (syntax["ci_high"] < 0).all() and (syntax["p_holm"] < 0.01).all()
    assert set(con["test"]) == {"McNemar (exact)"} and (con["p_holm"] >= con["p_value"]).all()
    effects = li.domain_effects(con).set_index("group")
    assert effects.loc["syntax", "ci_high"] < 0 and effects.loc["syntax", "k"] == 2
    assert effects.loc["pragmatics", "k"] == 1
    table = li.verdicts(effects.reset_index(), 0.05).set_index("hypothesis")["verdict"]
    assert table[list(li.HYPOTHESES)[0]] == "Supported"


def test_the_mixed_model_reads_the_planted_interaction_sign():
    scores = _scores({"blimp": 0.9, "rte": 0.5}, {"blimp": 0.3, "rte": 0.5}, n=120, seed=1)
    fit = li.mixed_model(scores).set_index("term")
    # treatment coding: the reference domain is semantics (alphabetical), where little changed
    assert abs(fit.loc["role=tuned", "estimate"]) < 0.6
    assert fit.loc["role=tuned:domain=syntax", "ci_high"] < -1.5  # the planted drop on syntax (0.93 -> 0.28)


def test_the_mass_contrast_and_its_sentence_count_tasks_where_mass_fell():
    scores = _scores({"rte": 0.6, "ruis": 0.6}, {"rte": 0.6, "ruis": 0.6}, n=60)
    rng = np.random.default_rng(3)
    scores["option_mass"] = np.where(scores["role"] == "base", 0.5, 0.2) + rng.normal(0, 0.05, len(scores))
    scores.loc[scores["task"] == "ruis", "option_mass"] = 0.3 + rng.normal(0, 0.05, (scores["task"] == "ruis").sum())
    con = li.contrasts(scores, n_boot=200, value="option_mass")
    assert set(con["test"]) == {"Wilcoxon signed-rank"}
    gained = pd.DataFrame({"top_token": ["' I'"], "base": [0.05], "tuned": [0.6], "gain": [0.55]})
    lines = li.mass_sentences(con, gained)
    assert lines[0].startswith("**Mass on the answer words, tuned - base:** lower on 1 of 2 tasks, higher on 0")
    assert "' I' (first on 60% of items, base 5%)" in lines[1]


def test_coqa_groups_as_conversational_and_f1_is_squad_like():
    groups = analysis.domain_groups(["coqa", "boolq", "blimp", "ruis"])
    assert groups["semantics (conversational)"] == ["coqa"] and groups["semantics (non-conversational)"] == ["boolq"]
    assert metrics.exact_match("The Eiffel tower!", ["eiffel tower"]) == 1.0
    assert metrics.token_f1("in the red house", ["red house"]) == pytest.approx(0.8)
    assert metrics.token_f1("nothing", ["red house"]) == 0.0


def test_free_answers_map_by_rules_and_refuse_what_does_not_map():
    assert li.map_reply(" Yes, it does.", [" no", " yes"]) == 1
    assert li.map_reply("False. Because", [" True", " Neither", " False"]) == 2
    assert li.map_reply("I think the answer is neither of them", [" True", " Neither", " False"]) == 1
    assert li.map_reply("yes and no", [" no", " yes"]) is None  # names both
    assert li.map_reply("hmm", [" no", " yes"]) is None
    assert li.map_reply("the man went to the bank", ["the man went home", "the man went to the bank"]) == 1


def test_shots_come_from_the_asked_categories_and_are_seeded():
    pool = pd.DataFrame({"item_id": [f"p{i}" for i in range(12)], "category": ["a", "b", "c"] * 4,
                         "good": [f"Sentence {i}." for i in range(12)]})
    row = {"item_id": "x", "category": "a"}
    same = inputs.draw_shots(pool, row, 3, "same", 0, seed=0)
    other = inputs.draw_shots(pool, row, 3, "other", 0, seed=0)
    assert {s["category"] for s in same} == {"a"} and "a" not in {s["category"] for s in other}
    assert same == inputs.draw_shots(pool, row, 3, "same", 0, seed=0)
    assert other != inputs.draw_shots(pool, row, 3, "other", 1, seed=0)  # another draw
    assert inputs.draw_shots(pool, row, 0, "same", 0, seed=0) == []


def test_prompts_render_as_the_templates_say():
    rte = TASKS["rte"]
    row = {"item_id": "r1", "sentence1": "A cat sat.", "sentence2": "An animal sat.", "choices": ["entailment", "not_entailment"],
           "answer": 0, "category": "rte"}
    shot = dict(row, item_id="r0", sentence1="It rains.", sentence2="It is dry.", answer=1)
    [req] = inputs.choice_requests(rte, row, [shot], "raw", None, "r1~k")
    assert req == Request("r1~k", "It rains.\nQuestion: It is dry. True or False?\nAnswer: False\n\n"
                                  "A cat sat.\nQuestion: An animal sat. True or False?\nAnswer:", (" True", " False"))
    wino = TASKS["winogrande"]
    item = {"item_id": "w", "sentence": "The trophy did not fit in the case because _ was too big.",
            "choices": ["the trophy", "the case"], "answer": 0, "category": "w"}
    reqs = inputs.choice_requests(wino, item, [], "raw", None, "w")
    assert [r.context for r in reqs] == ["The trophy did not fit in the case because the trophy",
                                         "The trophy did not fit in the case because the case"]
    assert {r.options for r in reqs} == {(" was too big.",)}
    pair = {"item_id": "b", "good": "Cats purr.", "bad": "Cats purrs."}
    assert inputs.pair_request(pair, [], "b") == [Text("b|good", " Cats purr."), Text("b|bad", " Cats purrs.")]
    primed = inputs.pair_request(pair, [{"good": "Dogs bark."}], "b")
    assert primed == Request("b", "Dogs bark.", (" Cats purr.", " Cats purrs."))


def test_bad_parameters_name_what_is_accepted():
    with pytest.raises(InputError, match="tasks"):
        li.PARAMS.validate({"tasks": ["blimp", "nope"]})
    with pytest.raises(InputError, match="must include 0"):
        li.PARAMS.validate({"shots": [1, 3]})
    with pytest.raises(InputError, match="shot_tasks"):
        li.PARAMS.validate({"tasks": ["blimp"], "shot_tasks": ["cola"]})
    with pytest.raises(InputError, match="shot_tasks"):
        li.PARAMS.validate({"shot_tasks": ["coqa"]})


def test_the_choice_verb_reads_the_whole_next_token_distribution(tiny_llama):
    import torch

    from rlshift.engine import Scorer

    scorer = Scorer(tiny_llama, batch_size=2, progress=False)
    reqs = [Request("a", "The sky is", (" blue", " red")), Request("b", "Grass is", (" green", " blue"))]
    got = scorer.choice_logprobs(reqs, chat=False, template="t", data_version="v")
    for req in reqs:
        ids = tiny_llama.tokenizer(req.context, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(tiny_llama.model(ids).logits[0, -1].float(), -1)
        entropy = float(-(logp.exp() * logp).sum())
        rows = got[got["item_id"] == req.item_id]
        assert rows["entropy"].tolist() == pytest.approx([entropy] * 2, abs=1e-4)


def test_the_inspection_sheet_round_trip_with_two_annotators(tmp_path):
    answers = pd.DataFrame([{"role": "base", "task": "rte", "item_id": "r1", "answer_text": " True", "mapped": 0.0,
                             "unmappable": False},
                            {"role": "tuned", "task": "rte", "item_id": "r1", "answer_text": " hm", "mapped": None,
                             "unmappable": True}])
    labels = pd.DataFrame({"annotator": ["annotator-1", "annotator-1", "annotator-2", "annotator-2"],
                           "sheet_id": ["base|rte|r1", "tuned|rte|r1"] * 2, "label": ["0", "unmappable", "0", "1"]})
    table = li.inspection(answers, labels).set_index("who")
    assert table.loc["annotator-1 vs rules", "agreement"] == 1.0
    assert table.loc["annotator-2 vs rules", "agreement"] == 0.5
    assert table.loc["annotator-1 vs annotator-2", "agreement"] == 0.5


def test_the_chapter_runs_in_the_quick_profile_and_its_verdicts_follow_its_tables(quick_book):
    nb = executed(quick_book, "linguistic")
    text = notebook_text(nb)
    folder = results.folder_for(quick_book / "book" / "executed" / "linguistic.ipynb")
    recorded = results.read(folder)
    acc = recorded["accuracy"]
    assert {"blimp", "syntaxgym", "rte", "coqa", "imppres_implicature", "grice"} <= set(acc["task"])
    assert set(acc["role"]) == {"base", "sft", "tuned"}
    for r in recorded["verdicts"].to_dict("records"):
        if r["contrast"] in ("tuned - base", "tuned - sft"):
            assert f"**{r['verdict']}**" in text or f": {r['verdict']}." in text
    recount = li.verdicts(recorded["domain_effects"], 0.05)
    assert recount["verdict"].tolist() == recorded["verdicts"]["verdict"].tolist()
    assert (recorded["shot_curves"]["k"] == 1).any()
    assert any(c.cell_type == "markdown" and c.source.startswith("## Verdicts") for c in nb.cells)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert "Inspection sheets:" in text

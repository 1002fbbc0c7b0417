"""The reward-model components chapter: the proxies on constructed texts, the fixed split, the
annotation round trip with two simulated annotators (export, fill, re-export, read back,
agreement against scikit-learn and statsmodels, relevance by task type, generic vs aspect-wise
preferences), planted effects in the people's-label model, every verdict branch, the dolly path,
and the quick-profile run."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from rlshift import results
from rlshift.errors import InputError
from rlshift.studies import rm_components as rm
from rlshift.studies.rm_components import aspects, inputs
from rlshift.studies.rm_components.verdicts import annotators, people_punish, task_dependence
from tests.conftest import executed, notebook_text


def test_proxies_count_what_they_say_on_constructed_texts():
    got = aspects.proxies("Perhaps the river floods because of rain.\nIt might flood again, thanks!",
                          "Why does the river flood?", "The river floods after heavy rain.")
    assert got["words"] == 12 and got["lines"] == 2
    assert got["hedges"] == pytest.approx(2 * 100 / 12)  # perhaps, might
    assert got["evidence_markers"] == pytest.approx(100 / 12)  # because
    assert got["politeness"] == pytest.approx(100 / 12)  # thanks
    # reference content words: river, floods, heavy, rain -> river, floods, rain are in the answer
    assert got["reference_recall"] == pytest.approx(3 / 4)
    assert np.isnan(aspects.proxies("Yes.", "Is it?", None)["reference_recall"])


def test_the_split_takes_the_same_share_of_every_task_type_with_a_fixed_seed_and_respects_the_pool():
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(200)],
                          "task_type": ["open_qa"] * 120 + ["summarization"] * 80})
    split = rm.annotation_split(items, 0.25)
    assert split.groupby("task_type").size().to_dict() == {"open_qa": 30, "summarization": 20}
    assert split.equals(rm.annotation_split(items.sample(frac=1.0, random_state=3).sort_values("item_id",
                        key=lambda s: s.str[1:].astype(int)), 0.25))
    pool = set(items["item_id"][::2])
    assert set(rm.annotation_split(items, 0.25, pool)["item_id"]) <= pool


def _rows(n_per_task=12):
    tasks = ["closed_qa"] * n_per_task + ["brainstorming"] * n_per_task
    return pd.DataFrame({"pair_id": [f"p{k}" for k in range(len(tasks))], "task_type": tasks,
                         "prompt": [f"prompt {k}" for k in range(len(tasks))],
                         "response_a": "A text", "response_b": "B text"})


def _fill(path, rows, rng, agree_with=None, flip=0.0):
    """A simulated annotator: length relevant for brainstorming only, correctness for closed QA
    only; the generic preference follows the correctness preference; `flip` of the labels differ
    from `agree_with`'s."""
    sheet = pd.read_csv(path, dtype=str, keep_default_na=False)
    for i, r in sheet.iterrows():
        brainstorm = rows.set_index("pair_id").loc[r["item_id"], "task_type"] == "brainstorming"
        for a in aspects.ASPECTS:
            sheet.loc[i, f"rel_{a}"] = "relevant" if (a == "length") == brainstorm or a == "coherence" else "irrelevant"
            sheet.loc[i, f"pref_{a}"] = "ab"[int(rng.integers(2))]
        sheet.loc[i, "generic"] = sheet.loc[i, "pref_correctness"]
        if agree_with is not None:
            for column in rm.SHEET_LABELS:
                sheet.loc[i, column] = agree_with.loc[i, column]
                if rng.random() < flip:
                    choices = rm.SHEET_LABELS[column]
                    sheet.loc[i, column] = choices[(choices.index(sheet.loc[i, column]) + 1) % len(choices)]
    sheet.to_csv(path, index=False)
    return sheet


def test_the_annotation_round_trip_with_two_annotators(tmp_path):
    rows = _rows()
    P = rm.PARAMS.validate({"annotation_dir": str(tmp_path / "sheets"), "annotators": 2, "n_boot": 200})
    people, sheets = rm.export_and_read(P, rows)
    assert people.empty and len(sheets) == 2
    rng = np.random.default_rng(0)
    first = _fill(sheets[0], rows, rng)
    second = _fill(sheets[1], rows, rng, agree_with=first, flip=0.15)
    people, _ = rm.export_and_read(P, rows)  # a re-export keeps every label
    assert len(people) == 2 * len(rows) * len(rm.SHEET_LABELS)
    kappa = rm.kappas(people, 0, 200).set_index("column")
    for column in ("generic", "pref_length"):
        expected = cohen_kappa_score(first[column], second[column], labels=sorted(set(first[column]) | set(second[column])))
        assert kappa.loc[column, "cohen_kappa"] == pytest.approx(expected)
        assert kappa.loc[column, "cohen_low"] <= expected <= kappa.loc[column, "cohen_high"]
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    expected = fleiss_kappa(aggregate_raters(np.column_stack([first["generic"], second["generic"]]))[0])
    assert kappa.loc["generic", "fleiss_kappa"] == pytest.approx(expected)
    relevance = rm.relevance_by_task(people, rows, 0.05).drop_duplicates("aspect").set_index("aspect")
    assert relevance.loc["length", "depends_on_task"] and relevance.loc["correctness", "depends_on_task"]
    assert not relevance.loc["coherence", "depends_on_task"]  # relevant everywhere: no test possible, NaN
    generic = rm.generic_vs_aspects(people, rows)
    same = generic[(generic["generic from"] == "same annotator") & (generic["task_type"] == "all")].set_index("aspect")
    both = pd.concat([first, second])
    kept = both[(both["rel_correctness"] == "relevant") & both["pref_correctness"].isin(["a", "b"])]
    assert same.loc["correctness", "coincide"] == pytest.approx((kept["pref_correctness"] == kept["generic"]).mean())
    assert same.loc["correctness", "coincide"] > 0.9  # planted: the generic preference is the correctness one
    assert 0.2 < same.loc["structure", "coincide"] < 0.8  # independent coin flips
    lines = annotators(rm.kappas(people, 0, 200), rm.relevance_by_task(people, rows, 0.05), generic, sheets, len(rows))
    assert any("relevance of length: depends on the task type" in line for line in lines)


def test_a_bad_label_names_its_row_and_column_and_a_shorter_export_sets_labels_aside(tmp_path):
    rows = _rows(3)
    P = rm.PARAMS.validate({"annotation_dir": str(tmp_path), "annotators": 1})
    _, sheets = rm.export_and_read(P, rows)
    sheet = pd.read_csv(sheets[0], dtype=str, keep_default_na=False)
    sheet.loc[1, "pref_manner"] = "both"
    sheet.loc[0, "generic"] = "a"
    sheet.to_csv(sheets[0], index=False)
    with pytest.raises(InputError, match=r"row 3: column 'pref_manner': 'both' is not accepted\. Accepted: a, b, tie"):
        rm.export_and_read(P, rows)
    sheet.loc[1, "pref_manner"] = "tie"
    sheet.to_csv(sheets[0], index=False)
    people, _ = rm.export_and_read(P, rows.iloc[2:])  # p0 and p1 are no longer exported
    aside = pd.read_csv(tmp_path / "annotator-1.set-aside.csv", dtype=str, keep_default_na=False)
    assert set(aside["item_id"]) == {"p0", "p1"} and people.empty


def test_the_people_model_finds_a_planted_defect_and_not_an_absent_one():
    rng = np.random.default_rng(1)
    n = 600
    comparisons = pd.DataFrame({"item_id": np.repeat(np.arange(n // 3), 3), "log_length_ratio": rng.normal(0, 0.3, n)})
    for d in aspects.FG_DEFECTS:
        comparisons[d] = rng.integers(0, 2, n)
    logit = 0.8 - 1.5 * comparisons["correctness"]
    comparisons["one_won"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = rm.preference_model(comparisons, 0.05).set_index("term")
    assert model.loc["correctness", "significant"] and model.loc["correctness", "odds_ratio"] < 0.5
    assert not model.loc["evidence", "significant"]
    lines = people_punish(model.reset_index(), 0.05)
    assert "coincides with the component-wise judgment for correctness" in lines[0]
    assert people_punish(pd.DataFrame(), 0.05)[0].startswith("**Q1** (people's labels): not run")


def test_cluster_share_resamples_prompts_and_task_dependence_is_stated_from_the_table():
    one_prompt = rm.cluster_share([1, 1, 0, 1], ["q"] * 4, 0, 200)
    assert one_prompt["share"] == 0.75 and one_prompt["prompts"] == 1 and np.isnan(one_prompt["ci_low"])
    many = rm.cluster_share([1] * 40 + [0] * 10, [f"q{k // 2}" for k in range(50)], 0, 500)
    assert many["ci_low"] > 0.5 and many["p_value"] < 0.05
    table = pd.DataFrame({"task_type": ["a", "b"], "proxy": "words", "aspect": "length", "share": [0.8, 0.3],
                          "ci_low": [0.7, 0.2], "ci_high": [0.9, 0.4], "n": [100, 100], "p_value": [0.001, 0.002],
                          "p_holm": [0.002, 0.002], "significant": True, "p_task_differs": 1e-6,
                          "p_task_differs_holm": 1e-6})
    lines = task_dependence(table, 0.05)
    assert "depends on the task type for words" in lines[0]
    assert "a: the preferred response has more `words`" in lines[1] and "b: the preferred response has less" in lines[2]
    assert "not answered yet" in annotators(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), ["s.csv"], 4)[0]


def test_the_dolly_path_splits_by_category_and_fails_clearly_offline(monkeypatch, tmp_path):
    frame = pd.DataFrame({"instruction": [f"Do {k}" for k in range(80)], "context": [""] * 40 + ["ctx"] * 40,
                          "response": [f"Done {k}." for k in range(80)],
                          "category": ["open_qa"] * 40 + ["summarization"] * 40}).reset_index(names="row")
    frame["item_id"] = "dolly-" + frame["row"].astype(str)
    monkeypatch.setattr(inputs, "dolly", lambda mirror=None: (frame, {"dataset": "dolly", "version": "test", "origin": "t",
                                                          "license": "CC BY-SA 3.0"}))
    pairs, labels, _ = rm.load(rm.PARAMS.validate({"sources": ["dolly"]}))
    assert labels.empty and pairs[pairs["in_split"]].groupby("task_type").size().to_dict() == \
        {"open_qa": 10, "summarization": 10}
    assert pairs.loc[pairs["item_id"] == "dolly-50", "prompt"].iloc[0] == "Do 50\n\nctx"
    monkeypatch.undo()

    from rlshift.data import remote

    def offline(url):
        raise OSError("no network")

    monkeypatch.setattr(remote, "download", offline)
    monkeypatch.setenv("RLSHIFT_CACHE_DIR", str(tmp_path))
    with pytest.raises(InputError, match="parameter 'sources': 'dolly' needs databricks/databricks-dolly-15k"):
        inputs.dolly()


def test_the_chapter_runs_in_the_quick_profile_and_its_verdicts_follow_its_tables(quick_book):
    nb = executed(quick_book, "rm_components")
    text = notebook_text(nb)
    recorded = results.read(results.folder_for(quick_book / "book" / "executed" / "rm_components.ipynb"))
    model = recorded["preference_model"]
    assert int(model["questions"].iloc[0]) >= 480  # every FineGrainedRLHF question with a labelled comparison
    for r in model[model["term"] != "log_length_ratio"].to_dict("records"):
        assert f"{r['term']} ({r['with']} of {r['n']} comparisons): odds ratio {r['odds_ratio']:.2f}" in text
    assert set(recorded["proxy_coincidence"]["task_type"]) >= {"helpful", "honest", "harmless", "long-form QA (ASQA)"}
    judge = recorded["judge_agreement"]
    assert set(judge["question"]) == set(aspects.JUDGE_QUESTIONS)
    for r in recorded["reward_agreement"].to_dict("records"):
        assert f"`{r['reward_model']}`, {r['task_type']}: prefers people's choice in {r['share']:.2f}" in text
    assert "not answered yet" in text  # no sheet filled in the quick book
    assert any(c.cell_type == "markdown" and c.source.startswith("## Verdicts") for c in nb.cells)
    sheets = sorted((quick_book / "rm_components_sheets").glob("annotator-*.csv"))
    assert [s.name for s in sheets] == ["annotator-1.csv", "annotator-2.csv"]
    sheet = pd.read_csv(sheets[0], dtype=str, keep_default_na=False)
    assert set(rm.SHEET_LABELS) <= set(sheet.columns) and (sheet["task_type"] != "").all()
    machine = pd.read_csv(quick_book / "rm_components_sheets" / "machine-first-pass.csv", dtype=str)
    assert len(machine) == len(judge["task_type"].unique()) * 2  # n_judge = 2 pairs per task type
    assert machine["labelled_by"].str.startswith("machine:").all() and set(machine["generic"]) <= {"a", "b"}

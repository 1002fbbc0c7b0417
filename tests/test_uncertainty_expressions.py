"""The uncertainty-expressions study: the human tables and the script that derives them from the
raw files, the contexts and message distributions (PMI included), the divergence metrics, the
analysis on synthetic speakers (2x2, paraphrase random effect, listener side, beliefs), the RSA
speaker against an independent port, every verdict branch on constructed tables, and the
notebook executed with small parameters."""
from __future__ import annotations

import csv
import re
import importlib
import importlib.util
import math
from collections import Counter
from pathlib import Path

import nbformat
from conftest import executed, notebook_text
import numpy as np
import pandas as pd
import pytest

from rlshift import cli, manifest, metrics, paths, prompts, stats
from rlshift.data import people
from rlshift.engine import Scorer
from rlshift.errors import InputError
from rlshift.studies import uncertainty_expressions as ue
from rlshift.wheels import sha256_file

SCRIPT = paths.DATA_DIR / "scripts" / "derive_herbstritt_franke.py"
NOTEBOOK = paths.REPO_ROOT / "notebooks" / "uncertainty_expressions.ipynb"
SHIPPED = ["hf_simple_production.csv", "hf_complex_production.csv", "hf_simple_participants.csv",
           "hf_complex_participants.csv", "hf_simple_interpretation.csv", "hf_complex_interpretation.csv",
           "hf_simple_critical.csv", "hf_complex_critical.csv", "hf_beliefs.csv"]


def _script():
    spec = importlib.util.spec_from_file_location("derive_herbstritt_franke", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def raw() -> Path:
    """The raw files: never skipped; CI has ../shared beside the repo."""
    derive = _script()
    try:
        return derive.mirror()
    except FileNotFoundError as err:
        pytest.fail(f"the Herbstritt & Franke raw files are needed to test their derivation: {err}")


def _rows(path: Path, sep: str) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=sep))


# ------------------------------------------------------------------ the derived tables

def test_derivation_reproduces_the_shipped_tables_byte_for_byte(raw, tmp_path):
    entries = _script().write(tmp_path, raw)
    assert sorted(e["file"] for e in entries) == sorted(SHIPPED)
    listed = manifest.entries()
    for e in entries:
        assert e["sha256"] == listed[e["file"]]["sha256"], f"{e['file']} differs from the shipped copy"
        assert e["source_sha256"] == listed[e["file"]]["source_sha256"]
        assert e["rows"] == listed[e["file"]]["rows"]
        assert listed[e["file"]]["license"] == "none stated; derived aggregates with citation"
        assert "Herbstritt & Franke" in listed[e["file"]]["citation"]
        assert sha256_file(manifest.verified(e["file"])) == e["sha256"]


def test_production_counts_match_an_independent_count_of_the_raw_files(raw):
    simple = Counter((int(r["access"]), int(r["observation"]), r["answer"])
                     for r in _rows(raw / "1a.simple_production.clean.csv", ","))
    names = {"certainlyNot": "certainly not", "probablyNot": "probably not"}
    agg, trials = people.human_production("simple")
    for row in agg.itertuples():
        key = {v: k for k, v in names.items()}.get(row.message, row.message)
        assert row.count == simple[(row.access, row.observation, key)]
    assert agg["count"].sum() == sum(simple.values()) == len(trials)
    assert np.allclose(agg.groupby(["access", "observation"])["proportion"].sum(), 1.0, atol=1e-5)

    rows = _rows(raw / "2a.complex_production.clean.csv", ";")
    complex_ = Counter((int(r["access"]), int(r["observation"]),
                        r["answer1"].replace("_", " ") + " " + r["answer2"]) for r in rows)
    agg, trials = people.human_production("complex")
    assert set(agg["message"]) == set(ue.MESSAGES["complex"]) and len(agg) == 15 * 16
    for row in agg.itertuples():
        assert row.count == complex_[(row.access, row.observation, row.message)]
    assert trials["participant"].nunique() == len({r["id"] for r in rows})


@pytest.mark.parametrize("message_set", ["simple", "complex"])
def test_participant_choices_add_up_to_the_state_table(message_set):
    agg, trials = people.human_production(message_set)
    tensor = people.participant_tensor(trials, ue.STATES, ue.MESSAGES[message_set])
    assert tensor.max() == 1  # one choice per participant and state
    counts = agg.pivot(index=["access", "observation"], columns="message", values="count")
    expected = counts.loc[ue.STATES, list(ue.MESSAGES[message_set])].to_numpy()
    np.testing.assert_array_equal(tensor.sum(0), expected)


def test_interpretation_counts_keep_native_english_fillers_only(raw):
    rows = _rows(raw / "1b.simple_interpretation.csv", ";")
    language = {r["id"]: r["language"] for r in rows}
    kept = {i for i, lang in language.items() if lang.strip().lower() in _script().ENGLISH}
    assert 0 < len(kept) < len(language)  # someone was dropped, most were kept
    fillers = Counter((r["expression"], int(float(r["state"]))) for r in rows
                      if r["kind"] == "f" and r["id"] in kept)
    table = people.human_interpretation("simple")
    short = {v: k for k, v in _script().SIMPLE_SHORT.items()}
    for row in table.itertuples():
        assert row.count == fillers[(short[row.message], row.n_red)]
    assert (table.groupby("message")["n"].first() == len(kept)).all()
    meanings = people.human_meanings("simple").set_index("message")["conveyed"]
    assert meanings["certainly"] > meanings["probably"] > meanings["possibly"] > meanings["probably not"]


def test_critical_trials_match_an_independent_count_of_the_raw_files(raw):
    for message_set, name, sep, short in (("simple", "1b.simple_interpretation.csv", ";", _script().SIMPLE_SHORT),
                                          ("complex", "2b.complex_interpretation.csv", ",", _script().COMPLEX_SHORT)):
        rows = _rows(raw / name, sep)
        language = {r["id"]: r["language"] for r in rows}
        kept = {i for i, lang in language.items() if lang.strip().lower() in _script().ENGLISH}
        answers = Counter((short[r["expression"]], int(float(r["access"])), int(float(r["observation"])))
                          for r in rows if r["kind"] == "c" and r["id"] in kept)
        table = people.human_critical(message_set)
        assert {(m, a, o): c for m, a, o, c in table[["message", "access", "observation", "count"]].itertuples(
            index=False)} == dict(answers)
        assert (table["observation"] <= table["access"]).all()
        assert (table.groupby("message")["count"].sum() == table.groupby("message")["n"].first()).all()


def test_beliefs_match_an_independent_normalization_and_the_authors_means(raw):
    trials: dict = {}
    for r in _rows(raw / "0.beliefs.csv", ";"):
        ratings = [float(r[f"bin{k}"]) for k in range(11)]
        if sum(ratings) > 0:
            trials.setdefault((int(r["access"]), int(r["observation"])), []).append([x / sum(ratings) for x in ratings])
    table = people.human_beliefs()
    assert len(table) == 65 * 11 and set(map(tuple, table[["access", "observation"]].to_numpy())) == set(trials)
    for (a, o), rows in trials.items():
        part = table[(table.access == a) & (table.observation == o)].sort_values("n_red")
        np.testing.assert_allclose(part["mean"], np.mean(rows, 0), atol=1e-6)
        assert (part["n"] == len(rows)).all()
    # the authors' own means (0.observed_belief.csv, their analysis folder) agree closely; not exactly,
    # as their exact procedure is not published with the data
    authors = pd.read_csv(raw / "0.observed_belief.csv")
    authors["access"] = authors["value"].map(lambda v: 10 if v == 1010 else v // 10)
    authors["observation"] = authors["value"].map(lambda v: 10 if v == 1010 else v % 10)
    both = table.merge(authors, left_on=["access", "observation", "n_red"], right_on=["access", "observation", "bin"])
    assert len(both) == len(table)
    assert np.corrcoef(both["mean_x"], both["mean_y"])[0, 1] > 0.995
    assert (both["mean_x"] - both["mean_y"]).abs().mean() < 0.005
    beliefs = ue.listener.people_beliefs([(10, 7), (2, 0)])
    assert beliefs[0].argmax() == 7 and beliefs[1][:5].sum() > beliefs[1][5:].sum()


def test_a_missing_mirror_is_an_error_that_names_the_setting(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RLSHIFT_DATA_MIRROR", str(tmp_path / "nowhere"))
    derive = _script()
    with pytest.raises((FileNotFoundError, InputError), match="RLSHIFT_DATA_MIRROR"):
        derive.mirror()
    assert derive.main(["--out", str(tmp_path / "out")]) == 2
    assert "RLSHIFT_DATA_MIRROR" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ metrics

def test_js_divergence_against_hand_computed_values():
    assert metrics.js_divergence([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]) == pytest.approx(0.5)
    assert metrics.js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    assert metrics.js_divergence([0.2, 0.8], [0.2, 0.8]) == pytest.approx(0.0, abs=1e-12)
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4):
    # KL(p||m) = log2(4/3); KL(q||m) = 1/2 log2(2/3) + 1/2 log2(2)
    hand = 0.5 * (math.log2(4 / 3) + 0.5 * math.log2(2 / 3) + 0.5)
    assert metrics.js_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(hand)
    assert hand == pytest.approx(0.3112781, abs=1e-7)
    # unnormalized counts are normalized first; rows along the last axis
    rows = metrics.js_divergence(np.array([[2, 0], [1, 1]]), np.array([[1, 1], [1, 1]]))
    np.testing.assert_allclose(rows, [hand, 0.0], atol=1e-12)


def test_small_statistics_against_hand_computed_values():
    a = np.array([[0.1, 0.2], [0.3, 0.4]])
    assert metrics.pearson_pooled(a, 2 * a + 1) == pytest.approx(1.0)
    assert metrics.pearson_pooled(a, -a) == pytest.approx(-1.0)
    np.testing.assert_allclose(metrics.row_pearson(np.array([[1, 2, 3], [1, 2, 3]]),
                                              np.array([[2, 4, 6], [3, 2, 1]])), [1.0, -1.0])
    assert metrics.slope(np.array([0.0, 0.5, 1.0]), np.array([0.1, 0.3, 0.5])) == pytest.approx(0.4)
    assert stats.bootstrap_p(np.full(99, 0.3)) == pytest.approx(2 / 100)
    assert stats.bootstrap_p(np.array([-1.0, 1.0, 2.0, 3.0])) == pytest.approx(2 * 2 / 5)
    np.testing.assert_allclose(metrics.entropy_bits(np.array([[0.5, 0.5], [1.0, 0.0]])), [1.0, 0.0])


def test_bayesian_probability_of_red_has_the_closed_form():
    # uniform prior on R red of N: E[R | o red of a drawn] = (o + 1)(N + 2)/(a + 2) - 1
    for a, o in ue.STATES:
        assert ue.p_red(a, o) == pytest.approx(((o + 1) * 12 / (a + 2) - 1) / 10)
    assert ue.p_red(10, 7) == pytest.approx(0.7) and ue.p_red(2, 0) == pytest.approx(0.2)


# ------------------------------------------------------------------ contexts and normalization

class _ChatTokenizer:
    """Renders one user turn the way a chat template would (enough for the request builder)."""
    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return f"<user>{messages[0]['content']}<model>"


def test_raw_and_chat_contexts_tell_the_same_situation_with_the_menu_by_default(smollm2):
    raw_ctx, raw_opts = ue.render_production("urn", 2, 0, "simple", "raw")
    chat_ctx, chat_opts = ue.render_production("urn", 2, 0, "simple", "chat", smollm2.tokenizer)
    text = ue.situation("urn", 2, 0, "simple")
    assert raw_ctx.startswith(text) and text in chat_ctx and "neither of them is red" in text
    assert "The answer must be one of" in text  # the menu people saw, by default
    assert ue.PARAMS.defaults()["show_options"] is True
    assert raw_opts == [" " + o for o in chat_opts] and len(chat_opts) == 5
    assert chat_opts[2] == "The next ball will possibly be red."
    assert "all 10 balls" in ue.situation("report", 10, 10, "simple")
    assert "might be" not in ue.situation("game", 8, 6, "complex", show_options=False)
    ctx, numbers = ue.render_interpretation("game", "complex", "might be likely", "raw")
    assert "It might be likely that the next ball will be red." in ctx and ctx.endswith(prompts.ANSWER_CUE)
    assert numbers[0] == " 0 out of 10." and numbers[-1] == " 10 out of 10."
    assert not any(b.startswith(a) for a in numbers for b in numbers if a != b)  # no option is a prefix
    critical, _ = ue.render_interpretation("game", "complex", "might be likely", "raw", question="critical")
    assert "took out and looked at" in critical and "are red, do you think" not in critical
    belief, _ = ue.render_belief("urn", 8, 6, "raw")
    assert "6 of them are red" in belief and "think are red" in belief and "next ball" not in belief


def test_ten_paraphrases_render_every_state_and_differ_from_each_other():
    assert len(ue.PARAPHRASES) >= 10 and ue.PARAMS.defaults()["paraphrases"] == list(ue.PARAPHRASES)
    texts = set()
    for name in ue.PARAPHRASES:
        for a, o in ue.STATES:
            for mset in ue.MESSAGE_SETS if hasattr(ue, "MESSAGE_SETS") else ("simple", "complex"):
                text = ue.situation(name, a, o, mset)
                assert "{" not in text and "}" not in text, (name, a, o)
                texts.add(text)
        neutral = ue.situation(name, None, None, "simple")
        assert " red" in neutral and all(ue.inputs.seen(a, o) not in neutral for a, o in ue.STATES)
        for field in ("listener", "urn_question", "access_question", "belief"):
            assert "{" not in getattr(ue.PARAPHRASES[name], field).replace("{sentence}", "")
    assert len(texts) == len(ue.PARAPHRASES) * len(ue.STATES) * 2
    assert len({p.setting for p in ue.PARAPHRASES.values()}) == len(ue.PARAPHRASES)


def test_the_content_free_context_keeps_story_menu_and_format_and_withholds_the_evidence(smollm2):
    for fmt, tok in (("raw", None), ("chat", smollm2.tokenizer)):
        state, options = ue.render_production("bag", 8, 6, "simple", fmt, tok)
        neutral, neutral_options = ue.render_production("bag", None, None, "simple", fmt, tok)
        assert options == neutral_options
        p = ue.PARAPHRASES["bag"]
        assert state.replace(ue.inputs.evidence("bag", 8, 6), p.hidden) == neutral
    listener, _ = ue.render_interpretation("bag", "simple", None, "raw", question="critical")
    heard, _ = ue.render_interpretation("bag", "simple", "probably", "raw", question="critical")
    assert heard.replace(ue.inputs.sentence("simple", "probably"), "...") == listener
    belief, _ = ue.render_belief("bag", None, None, "raw")
    assert ue.render_belief("bag", 8, 6, "raw")[0].replace(ue.inputs.evidence("bag", 8, 6),
                                                           ue.PARAPHRASES["bag"].hidden) == belief
    reqs = ue.requests("raw", None, ["simple"], ["urn", "game"], [(2, 0)], interpretation=False, beliefs=False)
    tasks = [meta[0]["task"] for _, meta, _ in reqs]
    assert tasks == ["production", "neutral", "production", "neutral"]


def test_the_no_menu_variant_has_its_own_cache_keys(tiny_llama, tmp_path):
    from rlshift.cache import ScoreCache

    cache = ScoreCache(tmp_path / "scores")
    scorer = Scorer(tiny_llama, cache=cache, batch_size=4, progress=False)
    ids = {}
    for menu in (True, False):
        for template, meta, reqs in ue.requests("raw", None, ["simple"], ["urn"], [(2, 0)], interpretation=False,
                                                beliefs=False, show_options=menu):
            ids[(menu, meta[0]["task"])] = (template, reqs[0].context)
            scorer.continuation_logprobs(reqs, chat=False, template=template, data_version=ue.DATA_VERSION)
    assert len(cache) == 4  # menu and no menu: production and neutral each, nothing shared
    for task in ("production", "neutral"):
        assert ids[(True, task)][0] != ids[(False, task)][0] and ids[(True, task)][1] != ids[(False, task)][1]
    assert ue.template_id("interpretation", "simple", "urn", "raw", True) == \
        ue.template_id("interpretation", "simple", "urn", "raw", False)  # the listener saw no menu


def _records(logprobs: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (role, item), values in logprobs.items():
        for j, lp in enumerate(values):
            rows.append({"role": role, "format": "raw", "item_id": item, "option_index": j, "logprob": lp,
                         "n_tokens": j + 1, "n_chars": 10 * (j + 1), "task": "production"})
    return pd.DataFrame(rows)


def test_message_probabilities_are_normalized_per_model_and_item():
    records = _records({("base", "x"): [-1.0, -2.0, -3.0], ("tuned", "x"): [-5.0, -5.0, -5.0],
                        ("base", "y"): [-10.0, -10.5, -30.0]})
    dist = ue.distributions(records, "sum")
    np.testing.assert_allclose(dist.groupby(["role", "item_id"])["prob"].sum(), 1.0)
    e = np.exp([-1.0, -2.0, -3.0])
    np.testing.assert_allclose(dist[(dist.role == "base") & (dist.item_id == "x")]["prob"], e / e.sum())
    np.testing.assert_allclose(dist[dist.role == "tuned"]["prob"], 1 / 3)
    assert set(dist["source"]) == {"base raw", "tuned raw"}
    per_token = ue.distributions(records, "token")  # -1/1, -2/2, -3/3: all equal
    np.testing.assert_allclose(per_token[(per_token.role == "base") & (per_token.item_id == "x")]["prob"], 1 / 3)
    per_char = ue.distributions(records, "char")
    e = np.exp([-10.0 / 10, -10.5 / 20, -30.0 / 30])
    np.testing.assert_allclose(per_char[per_char.item_id == "y"]["prob"], e / e.sum())
    with pytest.raises(InputError, match="norm 'mean' is not accepted.*sum, token, char, pmi"):
        ue.distributions(records, "mean")


def test_pmi_against_a_hand_computation_on_a_toy_table():
    rows = []
    # two formats of one model, one paraphrase, one state and the content-free context, 3 messages
    table = {("raw", "production"): [-2.0, -3.0, -9.0], ("raw", "neutral"): [-1.0, -4.0, -6.0],
             ("chat", "production"): [-5.0, -5.0, -5.0], ("chat", "neutral"): [-1.0, -2.0, -3.0]}
    for (fmt, task), values in table.items():
        for j, lp in enumerate(values):
            rows.append({"role": "base", "format": fmt, "task": task, "message_set": "simple", "paraphrase": "urn",
                         "item_id": f"{task}:simple:urn" + (":2-0" if task == "production" else ""),
                         "option_index": j, "logprob": lp, "n_tokens": 1, "n_chars": 1})
    for task, item, values in (("interpretation", "interpretation:x", (-1.0, -2.0)),
                               ("interpretation_neutral", "interpretation_neutral:x", (-0.5, -4.0))):
        for j, lp in enumerate(values):
            rows.append(dict(rows[0], task=task, item_id=item, option_index=j, logprob=lp))
    dist = ue.distributions(pd.DataFrame(rows), "pmi")
    raw = dist[(dist.format == "raw") & (dist.task == "production")].sort_values("option_index")["prob"]
    pmi = np.array([-2.0 - -1.0, -3.0 - -4.0, -9.0 - -6.0])  # -1, +1, -3
    np.testing.assert_allclose(raw, np.exp(pmi) / np.exp(pmi).sum())
    chat = dist[(dist.format == "chat") & (dist.task == "production")].sort_values("option_index")["prob"]
    np.testing.assert_allclose(chat, np.exp([-4.0, -3.0, -2.0]) / np.exp([-4.0, -3.0, -2.0]).sum())  # -5 minus -1, -2, -3
    listener = dist[dist.task == "interpretation"]["prob"].to_numpy()  # -1 - -0.5, -2 - -4
    np.testing.assert_allclose(listener, np.exp([-0.5, 2.0]) / np.exp([-0.5, 2.0]).sum())
    summed = ue.distributions(pd.DataFrame(rows), "sum")
    np.testing.assert_allclose(summed[summed.task == "interpretation"]["prob"], np.exp([-1.0, -2.0]) / np.exp([-1.0, -2.0]).sum())
    with pytest.raises(InputError, match="content-free contexts \\(task 'neutral'\\)"):
        ue.distributions(pd.DataFrame(rows[:3]), "pmi")
    frame = pd.DataFrame(rows)
    with pytest.raises(InputError, match="3 production scores have no content-free score"):
        ue.distributions(frame[~((frame.task == "neutral") & (frame.format == "chat"))], "pmi")


def test_engine_scores_become_distributions_for_every_task(tiny_llama):
    """Requests from the study's own builder, scored by the shared engine, normalized."""
    scorer = Scorer(tiny_llama, batch_size=4, progress=False)
    states = [(2, 0), (10, 7)]
    frames = []
    for template, meta, reqs in ue.requests("raw", tiny_llama.tokenizer, ["simple"], ["urn", "game"], states,
                                            listener_paraphrases=1):
        frame = scorer.continuation_logprobs(reqs, chat=False, template=template, data_version="t")
        frames.append(frame.merge(pd.DataFrame(meta), on="item_id"))
    records = pd.concat(frames, ignore_index=True).assign(role="base", format="raw")
    speaker = records["task"].isin(["production", "neutral"])
    records["message"] = np.where(speaker, records["option_index"].map(dict(enumerate(ue.SIMPLE))), None)
    records["number"] = np.where(speaker, -1, records["option_index"])
    assert records.groupby("task")["item_id"].nunique().to_dict() == {
        "production": 4, "neutral": 2, "interpretation": 5, "critical": 5, "belief": 2,
        "interpretation_neutral": 1, "critical_neutral": 1, "belief_neutral": 1}
    dist = ue.distributions(records)
    np.testing.assert_allclose(dist.groupby("item_id")["prob"].sum(), 1.0)
    arr = ue.model_array(dist, "base raw", "simple", states, ["urn", "game"])
    assert arr.shape == (2, 2, 5)
    one = dist[dist.item_id == "production:simple:game:10-7"].sort_values("option_index")
    e = np.exp(one["logprob"] - one["logprob"].max())
    np.testing.assert_allclose(arr[1, 1], e / e.sum())
    beliefs = ue.listener.number_array(dist, "base raw", "belief", "-", states, ["urn"])
    assert beliefs.shape == (1, 2, 11)
    assert (records.loc[records.task == "production", "n_tokens"] > 1).all()  # whole sentences
    pmi = ue.distributions(records, "pmi")
    np.testing.assert_allclose(pmi.groupby("item_id")["prob"].sum(), 1.0)


def test_parameters_are_checked_with_messages_that_name_what_is_accepted():
    P = ue.PARAMS
    assert P.validate({})["states"] is None and P.validate({})["prompt_format"] == "both"
    with pytest.raises(InputError, match=r"'states': \[3, 1\] is not accepted.*\[8, 6\]"):
        P.validate({"states": [[3, 1]]})
    with pytest.raises(InputError, match="'paraphrases': 'urns' is not accepted. Did you mean 'urn'"):
        P.validate({"paraphrases": ["urns"]})
    with pytest.raises(InputError, match="'message_sets' lists a value twice"):
        P.validate({"message_sets": ["simple", "simple"]})
    with pytest.raises(InputError, match="unknown parameter 'n_boots'. Did you mean 'n_boot'"):
        P.validate({"n_boots": 10})
    with pytest.raises(InputError, match="listener_paraphrases"):
        P.validate({"listener_paraphrases": 0})
    assert ue.chosen_states([[10, 2], [2, 0]]) == [(2, 0), (10, 2)]
    assert ue.listener_subset(["a", "b", "c"], 2) == ["a", "b"] and ue.listener_subset(["a"], None) == ["a"]


# ------------------------------------------------------------------ the analysis on synthetic speakers

PARAS6 = ["urn", "game", "report", "bag", "lottery", "quiz"]


def _people_number_dists(task: str, message_set: str, keys) -> np.ndarray:
    if task == "belief":
        return ue.listener.people_beliefs(keys)
    fit = {"interpretation": people.human_interpretation(message_set)}.get(task)
    if fit is not None:
        return fit.pivot(index="message", columns="n_red", values="proportion").loc[keys].to_numpy()
    table = people.human_critical(message_set)
    counts = table.groupby(["message", "access"])["count"].sum().unstack(fill_value=0).reindex(
        index=keys, columns=range(11), fill_value=0).to_numpy(float)
    return counts / counts.sum(-1, keepdims=True)


def _synthetic(message_set: str, people_like: str, rng, paraphrases=PARAS6, states=ue.STATES,
               noise: float = 0.02) -> pd.DataFrame:
    """Distributions of the four cells: `people_like` speaks and listens as people do (their
    proportions, lightly perturbed per paraphrase); every other cell is uniform."""
    agg, _ = people.human_production(message_set)
    rows = []
    messages = list(people.human_meanings(message_set)["message"])
    listener = {t: _people_number_dists(t, message_set, messages) for t in ("interpretation", "critical")}
    beliefs = _people_number_dists("belief", message_set, states)
    for role in ue.ROLES:
        for fmt in ("raw", "chat"):
            name = f"{role} {fmt}"
            for para in paraphrases:
                for a, o in states:
                    part = agg[(agg.access == a) & (agg.observation == o)]
                    probs = part["proportion"].to_numpy() + noise + rng.uniform(0, noise, len(part))
                    values = probs / probs.sum() if name == people_like else np.full(len(part), 1 / len(part))
                    for m, p in zip(part["message"], values):
                        rows.append({"role": role, "format": fmt, "source": name, "task": "production",
                                     "message_set": message_set, "paraphrase": para, "access": a,
                                     "observation": o, "message": m, "prob": p})
                for task, dists in listener.items():
                    for m, d in zip(messages, dists):
                        d = (d + noise * rng.uniform(0, 1, 11)) if name == people_like else np.full(11, 1.0)
                        for n, p in enumerate(d / d.sum()):
                            rows.append({"role": role, "format": fmt, "source": name, "task": task,
                                         "message_set": message_set, "paraphrase": para, "heard": m,
                                         "number": n, "prob": p})
                for (a, o), d in zip(states, beliefs):
                    d = (d + noise * rng.uniform(0, 1, 11)) if name == people_like else np.full(11, 1.0)
                    for n, p in enumerate(d / d.sum()):
                        rows.append({"role": role, "format": fmt, "source": name, "task": "belief", "message_set": "-",
                                     "paraphrase": para, "access": a, "observation": o, "number": n, "prob": p})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def synthetic_tuned_chat():
    dist = _synthetic("simple", "tuned chat", np.random.default_rng(0))
    _, trials = people.human_production("simple")
    return dist, ue.production_fit(dist, "simple", ue.STATES, PARAS6, trials, n_boot=300, seed=1), trials


@pytest.mark.parametrize("people_like", ["tuned chat", "base raw"])
def test_a_speaker_like_people_is_found_closer(people_like):
    dist = _synthetic("simple", people_like, np.random.default_rng(0))
    _, trials = people.human_production("simple")
    fit = ue.production_fit(dist, "simple", ue.STATES, PARAS6, trials, n_boot=300, seed=1)
    assert fit.models == list(ue.CELLS)
    table = ue.overall(fit).set_index("source")
    others = [c for c in ue.CELLS if c != people_like]
    assert all(table.loc[people_like, "jsd"] < table.loc["state_blind", "jsd"] < table.loc[o, "jsd"] for o in others)
    assert table.loc[people_like, "r_low"] > 0.8
    comparison = ue.compare(fit, "tuned chat", "base raw", seed=0, n_resamples=500)
    assert comparison["p_boot"] < 0.01 and comparison["p_states"] < 0.01
    assert (comparison["difference"] < 0) == (people_like == "tuned chat")
    levels = ue.by_level(fit)
    assert set(levels["uncertainty"]) == set(ue.LEVELS)
    np.testing.assert_allclose(levels[levels.source == others[0]]["entropy"], np.log2(5))  # uniform speaker
    words = ue.words_table(fit).set_index("source")
    assert words.loc[others[0], "slope"] == pytest.approx(0.0, abs=1e-9)  # says the same everywhere
    assert abs(words.loc[people_like, "slope_vs_people"]) < 0.05 and words.loc[others[0], "slope_vs_high"] < 0
    assert words.loc[others[0], "certain_share"] == pytest.approx(0.4) and words.loc[others[0], "certain_vs_low"] > 0
    temps = ue.temperature_table(fit, trials).set_index("source")["fitted_T"]
    assert 0.6 < temps[people_like] < 1.6
    factorial = ue.design.factorial(fit, "production", seed=0, n_resamples=400)
    jsd = factorial[factorial.metric == "JSD to people"].set_index("contrast")
    sign = -1 if people_like == "tuned chat" else 1  # tuned chat closer, or base raw closer
    assert np.sign(jsd.loc["confounded (tuned chat - base raw)", "estimate"]) == sign
    assert jsd.loc["tuning | raw" if people_like == "base raw" else "tuning | chat", "p_holm"] < 0.05
    text = V.h1(ue.overall(fit), "sum") + V.h2(factorial, [comparison], "sum")
    assert f"simple, {people_like}: JSD" in text
    assert "**tracks people**" in text or "**matches people within sampling noise**" in text
    assert "**does not track people**" in text  # the uniform speakers
    assert ("**closer to people**" if people_like == "tuned chat" else "**further from people**") in text


def test_the_2x2_contrasts_are_the_differences_of_the_cell_metrics(synthetic_tuned_chat):
    _, fit, _ = synthetic_tuned_chat
    table = ue.design.factorial(fit, "production", seed=0, n_resamples=100)
    means = ue.design.cell_means(fit).set_index(["metric", "source"])["value"]
    for metric, rows in table.groupby("metric"):
        m = {c: means[(metric, c)] for c in ue.CELLS}
        hand = {"tuning | raw": m["tuned raw"] - m["base raw"], "tuning | chat": m["tuned chat"] - m["base chat"],
                "format | base": m["base chat"] - m["base raw"], "format | tuned": m["tuned chat"] - m["tuned raw"],
                "interaction": m["tuned chat"] - m["base chat"] - m["tuned raw"] + m["base raw"],
                "confounded (tuned chat - base raw)": m["tuned chat"] - m["base raw"]}
        np.testing.assert_allclose(rows.set_index("contrast")["estimate"].loc[list(hand)], list(hand.values()))
    jsd = metrics.js_divergence(fit.per_paraphrase["tuned chat"].mean(0), fit.human).mean()
    assert means[("JSD to people", "tuned chat")] == pytest.approx(jsd)
    assert table["n"].eq(len(PARAS6)).all() and table["p_holm"].notna().sum() == 5 * table["metric"].nunique()
    few = ue.production_fit(_synthetic("simple", "tuned chat", np.random.default_rng(3), paraphrases=["urn", "game"]),
                            "simple", ue.STATES, ["urn", "game"], people.human_production("simple")[1], n_boot=50)
    few_t = ue.design.factorial(few, "production", n_resamples=50)
    assert few_t["p_holm"].isna().all() and few_t["estimate"].notna().all()  # estimated, not tested


def test_the_mixed_model_recovers_a_known_paraphrase_variance():
    rng = np.random.default_rng(4)
    n_para, sd_para, sd_resid = 24, 0.04, 0.02
    u = rng.normal(0, sd_para, n_para)
    rows = []
    for p in range(n_para):
        for tuned in (0, 1):
            for chat in (0, 1):
                for s in range(15):
                    y = 0.3 + 0.05 * tuned - 0.02 * chat + 0.03 * tuned * chat + 0.01 * s + u[p] + rng.normal(0, sd_resid)
                    rows.append({"message_set": "simple", "cell": f"{tuned}{chat}", "tuned": tuned, "chat": chat,
                                 "paraphrase": f"p{p}", "state": str(s), "jsd": y})
    frame = pd.DataFrame(rows)
    fixed, variance = ue.design.fit_mixed(frame, "simple", "sum")
    f = fixed.set_index("effect")
    for effect, true in (("tuning | raw", 0.05), ("format | base", -0.02), ("interaction", 0.03)):
        assert f.loc[effect, "ci_low"] < true < f.loc[effect, "ci_high"]
    v = variance.set_index("component")
    # an independent estimate: the variance of the paraphrase means minus the residual's share of it
    means = frame.groupby("paraphrase")["jsd"].mean()
    resid = frame["jsd"] - frame.groupby(["tuned", "chat", "state"])["jsd"].transform("mean") \
        - (frame["paraphrase"].map(means) - means.mean())
    anova = means.var(ddof=1) - resid.var() / (len(frame) / n_para)
    assert v.loc["paraphrase", "variance"] == pytest.approx(anova, rel=0.15)
    assert v.loc["paraphrase", "sd"] == pytest.approx(np.std(u, ddof=1), rel=0.15)
    assert v.loc["residual", "sd"] == pytest.approx(sd_resid, rel=0.1)


def test_the_mixed_model_runs_on_a_fit_and_needs_the_2x2(synthetic_tuned_chat):
    _, fit, _ = synthetic_tuned_chat
    frame = ue.design.paraphrase_frame(fit)
    assert len(frame) == 4 * len(PARAS6) * 15
    one = frame[(frame.cell == "tuned chat") & (frame.paraphrase == "game") & (frame.state == "8-6")]["jsd"].item()
    assert one == pytest.approx(metrics.js_divergence(fit.per_paraphrase["tuned chat"][1, 8], fit.human[8]))
    fixed, variance = ue.design.mixed_model(fit)
    assert fixed.set_index("effect").loc["interaction", "estimate"] < 0 and len(variance) == 3
    half = ue.Fit(**{**fit.__dict__, "models": ["base raw", "tuned chat"]})
    assert ue.design.mixed_model(half)[0].empty and ue.design.factorial(half, "production").empty


# ------------------------------------------------------------------ the RSA speaker

def _loop_speaker(states, alpha, beta, lam, theta_poss, theta_prob, theta_cert):
    """Herbstritt & Franke's `predictions.sp` (model/simple/prediction_functions.R), line by line
    with loops and math only (R's message order: certainly, certainlyNot, possibly, probably,
    probablyNot), returned in inputs.SIMPLE order."""
    n, reds = 10, range(11)

    def dbetabinom(k):
        return math.comb(n, k) * math.exp(math.lgamma(k + alpha) + math.lgamma(n - k + beta) - math.lgamma(n + alpha + beta)
                                          - (math.lgamma(alpha) + math.lgamma(beta) - math.lgamma(alpha + beta)))

    def dhyper(o, k, a):  # o red among a drawn, k red and n - k blue in the urn
        return math.comb(k, o) * math.comb(n - k, a - o) / math.comb(n, a) if o <= k and a - o <= n - k else 0.0

    prior = [dbetabinom(k) for k in reds]
    sem = [[1.0 if s > theta_cert * n else 0.0 for s in reds], [1.0 if s < (1 - theta_cert) * n else 0.0 for s in reds],
           [1.0 if s > theta_poss * n else 0.0 for s in reds], [1.0 if s > theta_prob * n else 0.0 for s in reds],
           [1.0 if s < (1 - theta_prob) * n else 0.0 for s in reds]]
    literal = []
    for m in range(5):
        col = [sem[m][s] * prior[s] for s in reds]
        literal.append([c / sum(col) for c in col])
    out = []
    for a, o in states:
        bel = [dhyper(o, s, a) * prior[s] for s in reds]
        bel = [b / sum(bel) for b in bel]
        eu = [-math.sqrt(sum((math.sqrt(bel[s]) - math.sqrt(literal[m][s])) ** 2 for s in reds)) / math.sqrt(2)
              for m in range(5)]
        e = [math.exp(lam * u) for u in eu]
        p = [x / sum(e) for x in e]
        out.append([p[1], p[4], p[2], p[3], p[0]])
    return np.array(out)


@pytest.mark.parametrize("alpha,beta,lam,thetas", [(1, 1, 8.0, (0.25, 0.55, 0.85)), (2.0, 0.7, 3.0, (0.05, 0.65, 0.95)),
                                                   (1, 1, 15.0, (0.45, 0.35, 0.75))])
def test_the_rsa_speaker_matches_a_loop_port_of_the_authors_r_code(alpha, beta, lam, thetas):
    prior = ue.rsa.state_prior(alpha, beta)
    th = dict(zip(ue.rsa.THRESHOLDS, thetas))
    ours = ue.rsa.speaker(ue.STATES, th, lam, prior)
    np.testing.assert_allclose(ours, _loop_speaker(ue.STATES, alpha, beta, lam, *thetas), atol=1e-10)
    # the vectorized grid likelihood (all threshold combinations at once) gives the same value
    weights = np.random.default_rng(0).uniform(0, 1, ours.shape)
    ks = tuple(int(np.argmin(np.abs(ue.rsa.GRID - t))) for t in thetas)
    grid = ue.rsa.grid_loglik(ue.rsa.utilities(ue.STATES, prior), weights, lam)
    assert grid.shape == (10, 10, 10)
    assert grid[ks] == pytest.approx(float((weights * np.log(ours)).sum()), rel=1e-10)


@pytest.mark.parametrize("thetas,lam", [((0.25, 0.55, 0.85), 8.0), ((0.05, 0.65, 0.95), 6.0), ((0.15, 0.45, 0.75), 12.0)])
def test_the_rsa_fit_recovers_known_thresholds_from_simulated_choices(thetas, lam):
    th = dict(zip(ue.rsa.THRESHOLDS, thetas))
    probs = ue.rsa.speaker(ue.STATES, th, lam)
    rng = np.random.default_rng(1)
    counts = np.stack([rng.multinomial(300, p) for p in probs])
    fitted = ue.rsa.fit(ue.STATES, counts)
    assert fitted.thetas == pytest.approx(th)
    assert fitted.lam == pytest.approx(lam, rel=0.15)
    exact = ue.rsa.fit(ue.STATES, probs)  # probabilities as weights: the same argmax, lambda exact
    assert exact.thetas == pytest.approx(th) and exact.lam == pytest.approx(lam, rel=1e-3)


def test_the_threshold_table_reads_a_stricter_speaker_as_a_higher_threshold():
    people_th = {"possibly": 0.05, "probably": 0.55, "certainly": 0.85}
    strict = {"possibly": 0.05, "probably": 0.75, "certainly": 0.85}
    rng = np.random.default_rng(2)
    sources = {"people": ue.rsa.speaker(ue.STATES, people_th, 7.0), "tuned chat": ue.rsa.speaker(ue.STATES, strict, 7.0)}
    reps = {k: np.stack([np.stack([rng.multinomial(80, p) for p in v]) / 80 for _ in range(20)])
            for k, v in sources.items()}
    table = ue.rsa.threshold_table(ue.STATES, sources, reps)
    t = table.set_index(["source", "parameter"])
    assert t.loc[("tuned chat", "theta probably"), "vs_reference"] == pytest.approx(0.2)
    assert t.loc[("tuned chat", "theta probably"), "vs_low"] > 0
    assert t.loc[("people", "theta probably"), "estimate"] == pytest.approx(0.55)
    assert t.loc[("tuned chat", "lambda"), "fit_jsd"] < 1e-6
    assert t.loc[("tuned chat", "lambda"), "gain_low"] > 0.1  # the RSA speaker beats ignoring the state
    flat = {k: np.tile(v.mean(0), (len(ue.STATES), 1)) for k, v in sources.items()}  # a state-blind source
    flat_t = ue.rsa.threshold_table(ue.STATES, flat, {k: np.stack([v] * 5) for k, v in flat.items()})
    assert flat_t["gain"].max() <= 1e-9
    text = V.rsa(table.assign(source=table["source"]))
    assert "probably 0.75 (+0.20" in text and "**higher than people's**" in text


# ------------------------------------------------------------------ the listener's side and beliefs

def test_listener_fits_against_hand_computations(synthetic_tuned_chat):
    dist, _, _ = synthetic_tuned_chat
    crit = ue.listener.critical_fit(dist, "simple", PARAS6, n_boot=200, seed=0)
    table = people.human_critical("simple")
    one = table[table.message == "certainly"]
    hand = np.bincount(one["access"], weights=one["count"], minlength=11) / one["count"].sum()
    np.testing.assert_allclose(crit.human[crit.keys.index("certainly")], hand)
    gaps = ue.listener.access_gap(crit).set_index("source")
    mean = crit.human @ np.arange(11)
    certain = [crit.keys.index(m) for m in ("certainly", "certainly not")]
    hedged = [i for i in range(len(crit.keys)) if i not in certain]
    assert gaps.loc["people", "gap"] == pytest.approx(mean[certain].mean() - mean[hedged].mean())
    assert gaps.loc["people", "low"] > 0  # people read access off the words (Herbstritt & Franke 2019)
    assert gaps.loc["base raw", "gap"] == pytest.approx(0.0, abs=1e-12)  # a uniform listener has none
    summary = ue.listener.listener_summary(crit).set_index("source")
    assert summary.loc["tuned chat", "jsd"] < summary.loc["base raw", "jsd"]
    assert summary.loc["uniform", "jsd"] == pytest.approx(summary.loc["base raw", "jsd"])  # base raw is uniform
    interp = ue.listener.interpretation_fit(dist, "simple", PARAS6, n_boot=200)
    s = ue.listener.listener_summary(interp).set_index("source")
    assert s.loc["tuned chat", "r_low"] > 0.9 and s.loc["tuned raw", "spread_mean"] == pytest.approx(0, abs=1e-9)
    beliefs = ue.listener.belief_fit(dist, ue.STATES, PARAS6, n_boot=100)
    np.testing.assert_allclose(beliefs.sources["bayes"][0], ue.posterior(*ue.STATES[0]))
    slopes = ue.listener.belief_slopes(beliefs).set_index("source")
    assert slopes.loc["bayes", "slope"] == pytest.approx(1.0) and slopes.loc["base chat", "slope"] == pytest.approx(0.0)
    assert 0 < slopes.loc["people", "slope"] < 1  # people's beliefs follow the evidence, conservatively
    cmp = ue.listener.listener_compare(beliefs, "tuned chat", "base raw")
    assert cmp["difference"] < 0 and cmp["high"] < 0
    fact = ue.design.factorial(crit, "critical", n_resamples=200)
    assert set(fact["metric"]) == {"JSD to people", "mean number", "access gap (certain - hedged)"}
    long = ue.listener.listener_long(beliefs)
    assert set(long["source"]) == {"people", *ue.CELLS, "bayes"} and long["key"].iloc[0] == "0 of 2"


# ------------------------------------------------------------------ every verdict branch, on constructed tables

V = importlib.import_module("rlshift.studies.uncertainty_expressions.verdicts")  # the module (ue.verdicts is its function)


def _overall_rows():
    base = {"message_set": "simple", "reading": "sum", "r": 0.5, "r_high": 0.9}
    return pd.DataFrame([dict(base, source="state_blind", jsd=0.2, jsd_low=0.18, jsd_high=0.22, r_low=0.1),
                         dict(base, source="people_resampled", jsd=0.02, jsd_low=0.01, jsd_high=0.03, r_low=np.nan),
                         dict(base, source="base raw", jsd=0.05, jsd_low=0.02, jsd_high=0.1, r_low=0.5),
                         dict(base, source="base chat", jsd=0.12, jsd_low=0.1, jsd_high=0.15, r_low=0.5),
                         dict(base, source="tuned raw", jsd=0.25, jsd_low=0.2, jsd_high=0.3, r_low=0.3),
                         dict(base, source="tuned chat", jsd=0.3, jsd_low=0.25, jsd_high=0.35, r_low=-0.1)])


def test_h1_words_every_case():
    text = V.h1(_overall_rows(), "sum")
    for cell_, word in (("base raw", "matches people within sampling noise"), ("base chat", "tracks people"),
                        ("tuned raw", "follows the states, but less well than ignoring them"),
                        ("tuned chat", "does not track people")):
        assert re.search(rf"simple, {cell_}: JSD [^*]*\*\*{re.escape(word)}\*\*", text), cell_
    assert V.h1(_overall_rows(), "pmi") == ""  # no rows of that reading


def _factorial_rows(reading="sum", analysis="production", estimates=(-0.1, 0.08, 0.01, -0.2, 0.05), p=(0.01, 0.02, 0.6, np.nan, 0.3)):
    rows = []
    for c, e, q in zip(V.CONTRASTS, estimates, p):
        rows.append({"analysis": analysis, "message_set": "simple", "reading": reading, "metric": "JSD to people",
                     "contrast": c, "estimate": e, "ci_low": e - 0.05, "ci_high": e + 0.05, "p_value": q,
                     "n": 10 if not np.isnan(q) else 2, "p_holm": q, "ci2_low": e - 0.06, "ci2_high": e + 0.06})
    rows.append(dict(rows[0], contrast="confounded (tuned chat - base raw)", estimate=-0.3, p_holm=np.nan))
    return pd.DataFrame(rows)


def test_h2_words_every_case_and_the_format_share_of_the_confounded_contrast():
    text = V.h2(_factorial_rows(), [], "sum")
    assert "tuning | raw -0.100 [-0.150, -0.050] (Holm p = 0.010): **closer to people**" in text
    assert "tuning | chat 0.080 [0.030, 0.130] (Holm p = 0.020): **further from people**" in text
    assert "format | base 0.010 [-0.040, 0.060] (Holm p = 0.600): **no reliable effect**" in text
    assert "format | tuned -0.200: not tested (only 2 paraphrases)" in text
    assert "not tested (only 1 paraphrase)" in V.h2(_factorial_rows().assign(n=1), [], "sum")
    assert "would report -0.300, of which the format alone (on the base) is +0.010" in text
    assert "tuning | chat [0.020, 0.140]" in text  # the two-way bootstrap check
    comparison = {"message_set": "simple", "a": "tuned chat", "b": "base raw", "difference": -0.1, "low": -0.2,
                  "high": -0.05, "p_boot": 0.01, "p_states": 0.02}
    text = V.h2(pd.DataFrame(), [comparison], "sum")
    assert "The 2x2 was not run" in text and "**tuned chat is closer to people**" in text
    assert "mixes format with tuning" in text
    same = dict(comparison, a="tuned raw", p_states=0.2)
    text = V.h2(pd.DataFrame(), [same], "sum")
    assert "**no reliable difference**" in text and "mixes format" not in text
    assert V.h2(pd.DataFrame(), [], "sum").endswith("Not run.")


def test_robustness_says_when_a_sign_reverses():
    table = pd.concat([_factorial_rows("sum"), _factorial_rows("pmi", estimates=(-0.05, -0.02, 0.02, -0.1, 0.0))])
    text = V.robustness(table, _overall_rows().assign(reading="sum"), "sum", "pmi")
    assert "tuning | raw: -0.100 (sum) vs -0.050 (pmi): same sign" in text
    assert "tuning | chat: +0.080 (sum) vs -0.020 (pmi): **sign reverses**" in text
    assert "closest cell: base raw (sum)" in text
    pmi = _overall_rows().assign(reading="pmi")
    text = V.robustness(table, pd.concat([_overall_rows(), pmi]), "sum", "pmi")
    assert "simple, H1 under pmi: base raw r 0.50: matches people within sampling noise, base chat r 0.50: tracks" in text
    assert V.robustness(pd.DataFrame(), _overall_rows(), "sum", "pmi") == ""


def _mixed_rows(sd=0.03, converged=True, boundary=False):
    fixed = pd.DataFrame([{"message_set": "simple", "reading": "sum", "effect": e, "estimate": x, "ci_low": x - 0.01,
                           "ci_high": x + 0.01, "p_value": 0.01}
                          for e, x in (("tuning | raw", 0.05), ("format | base", -0.01), ("interaction", 0.02))])
    var = pd.DataFrame([{"message_set": "simple", "reading": "sum", "component": c, "variance": v ** 2, "sd": v,
                         "share": s, "n_paraphrases": 10, "converged": converged, "boundary": boundary}
                        for c, v, s in (("paraphrase", sd, 0.3), ("paraphrase x cell", 0.0, 0.0), ("residual", 0.05, 0.7))])
    return fixed, var


def test_paraphrase_verdict_every_case():
    assert "Not estimated" in V.paraphrases(pd.DataFrame(), pd.DataFrame())
    text = V.paraphrases(*_mixed_rows(sd=0.1))
    assert "paraphrase SD 0.100 (30% of the variance)" in text and "**larger than every effect**" in text
    text = V.paraphrases(*_mixed_rows(sd=0.015))
    assert "**smaller than tuning | raw, interaction**" in text and "did not converge" not in text
    text = V.paraphrases(*_mixed_rows(converged=False, boundary=True))
    assert "did not converge" in text and "at its boundary" in text


def test_q3_words_every_case():
    levels = pd.DataFrame([{"message_set": "simple", "uncertainty": lv, "source": s, "entropy": e}
                           for s, es in (("people", (1.0, 1.1, 1.4)), ("base raw", (2.0, 2.0, 2.0)))
                           for lv, e in zip(ue.LEVELS, es)])
    changes = pd.DataFrame([{"message_set": "simple", "source": "base raw", "difference": 0.1, "low": 0.05, "high": 0.2},
                            {"message_set": "simple", "source": "tuned raw", "difference": -0.1, "low": -0.2, "high": -0.05},
                            {"message_set": "simple", "source": "tuned chat", "difference": 0.0, "low": -0.1, "high": 0.1}])
    text = V.q3(levels, changes)
    assert "people 1.00/1.10/1.40" in text
    assert "base raw: further from people under high" in text and "tuned raw: closer to people under high" in text
    assert "tuned chat: no reliable change" in text
    assert V.q3(levels, pd.DataFrame()) == ""


def test_listener_verdict_every_case():
    base = {"task": "interpretation", "message_set": "simple", "jsd": 0.1, "jsd_low": 0.05, "jsd_high": 0.15,
            "r_mean": 0.5, "spread_mean": 3.0, "people_spread_mean": 4.0, "n_paraphrases": 5}
    interp = pd.DataFrame([dict(base, source="base raw", r_low=0.2, r_high=0.9),
                           dict(base, source="base chat", r_low=-0.9, r_high=-0.2),
                           dict(base, source="tuned raw", r_low=-0.2, r_high=0.9),
                           dict(base, source="tuned chat", r_low=0.2, r_high=0.9, spread_mean=0.5),
                           dict(base, source="tuned chat", r_low=0.2, r_high=0.9, n_paraphrases=1)])
    gaps = pd.DataFrame([{"message_set": "simple", "source": s, "gap": g, "low": lo, "high": hi, "n_paraphrases": n}
                         for s, g, lo, hi, n in (("people", 0.9, 0.6, 1.2, 5), ("base raw", 0.5, 0.1, 0.9, 5),
                                                 ("base chat", -0.5, -0.9, -0.1, 5), ("tuned raw", 0.0, -0.3, 0.3, 5),
                                                 ("tuned chat", 0.4, 0.4, 0.4, 1), ("sft chat", 0.1, 0.05, 0.15, 5))])
    beliefs = pd.DataFrame([{"source": s, "jsd": j, "jsd_low": j - 0.01, "jsd_high": j + 0.01, "n_paraphrases": n}
                            for s, j, n in (("bayes", 0.2, 5), ("uniform", 0.25, 5), ("base raw", 0.1, 5), ("base chat", 0.3, 5),
                                            ("tuned raw", 0.205, 5), ("tuned chat", 0.1, 1))])
    fact = _factorial_rows(analysis="belief").assign(message_set="-")
    text = V.listener(interp, gaps, beliefs, fact)
    assert "base raw: JSD 0.100 [0.050, 0.150], mean red balls span 3.0 (people 4.0): orders the messages as people do" in text
    assert "base chat: JSD 0.100 [0.050, 0.150], mean red balls span 3.0 (people 4.0): orders them against people" in text
    assert "(people 4.0): no reliable order" in text and "reads every message about alike" in text
    assert "order not called (intervals over 1 paraphrase)" in text
    assert "people infer +0.90 [0.60, 1.20] more balls drawn" in text
    assert "base raw +0.50 [0.10, 0.90]: **reads higher-order uncertainty off the words in people's direction**" in text
    assert "base chat -0.50 [-0.90, -0.10]: **reads it the other way**" in text
    assert "tuned raw +0.00 [-0.30, 0.30]: **no reliable gap**" in text
    assert "tuned chat +0.40 [0.40, 0.40]: **not called" in text
    assert "sft chat +0.10 [0.05, 0.15]: **reads higher-order uncertainty off the words in people's direction, but " \
           "the gap is tiny (a fifth of people's or less)**" in text
    assert "base raw 0.100 [0.090, 0.110]: **closer to people than the posterior is**" in text
    assert "the Bayesian posterior is 0.200 bits from people's mean belief (a uniform belief 0.250)" in text
    assert "base chat 0.300 [0.290, 0.310]: **further from people than the posterior is**" in text
    assert "tuned raw 0.205 [0.195, 0.215]: **about as close as the posterior**" in text
    assert "2x2 on the belief JSD (all, sum): tuning | raw" in text
    assert V.listener(None, None, None, pd.DataFrame()) == ""


def test_words_verdict_every_case():
    rows = [{"message_set": "simple", "source": "people", "slope": 0.3, "certain_share": 0.1}]
    for s, (sl, sh), (cl, ch) in (("base raw", (0.1, 0.2), (0.1, 0.3)), ("base chat", (-0.2, -0.1), (-0.2, -0.05)),
                                  ("tuned raw", (-0.1, 0.1), (-0.1, 0.1))):
        rows.append({"message_set": "simple", "source": s, "slope": 0.4, "slope_low": 0.3, "slope_high": 0.5,
                     "slope_vs_low": sl, "slope_vs_high": sh, "certain_share": 0.2, "certain_vs_low": cl,
                     "certain_vs_high": ch})
    temps = pd.DataFrame([{"message_set": "simple", "source": s, "fitted_T": t}
                          for s, t in (("base raw", 20.0), ("base chat", 0.8), ("tuned raw", 1.3))])
    text = V.words(pd.DataFrame(rows), temps)
    assert "base raw: slope 0.40 [0.30, 0.50] vs people's 0.30: its words **swing further with the evidence" in text
    assert "**more often than people**; fitted T = 20.00 (at the search bound)" in text
    assert "base chat" in text and "**follow the evidence less than people's**" in text and "**less often than people**" in text
    assert "**follow the evidence as much as people's**" in text and "**about as often as people**; fitted T = 1.30;" not in text
    assert "fitted T = 1.30." in text


def test_rsa_verdict_every_case():
    assert V.rsa(None) == "" and V.rsa(pd.DataFrame()) == ""
    rows = []
    for s, lam, vs in (("people", (6.0, 5.0, 7.0), None), ("base raw", (0.5, 0.1, 0.9), (0.2, 0.1, 0.3)),
                       ("tuned chat", (5.0, 4.0, 6.0), None)):
        rows.append({"source": s, "parameter": "lambda", "estimate": lam[0], "low": lam[1], "high": lam[2], "fit_jsd": 0.05})
        for p, d in zip(("theta possibly", "theta probably", "theta certainly"), ((0.1, 0.1, 0.1), (-0.2, -0.3, -0.1), (0.0, -0.1, 0.1))):
            rows.append({"source": s, "parameter": p, "estimate": 0.5, "low": 0.4, "high": 0.6, "fit_jsd": 0.05,
                         "vs_reference": d[0] if s != "people" else np.nan, "vs_low": d[1], "vs_high": d[2]})
    text = V.rsa(pd.DataFrame(rows))
    assert "people: possibly 0.50 [0.40, 0.60]" in text and "lambda 6.0" in text
    none = pd.DataFrame(rows).assign(gain=-0.1, gain_low=-0.2, gain_high=0.0, n_units=10)
    text2 = V.rsa(none)
    assert "lambda 6.0, log-likelihood gain over ignoring the state -0.100 [-0.200, 0.000] nats per choice" in text2
    assert "tuned chat: the RSA speaker fits its choices no better than ignoring the state (log-likelihood gain " \
           "-0.100 [-0.200, 0.000] nats per choice" in text2 and "**its thresholds are not identified**" in text2
    few = V.rsa(pd.DataFrame(rows).assign(n_units=2))
    assert "tuned chat: possibly 0.50, probably 0.50, certainly 0.50, lambda 5.0: **not compared** (intervals over 2 paraphrases)" in few
    assert "base raw: lambda 0.5 [0.1, 0.9]: **its choices barely follow the semantics" in text
    assert "possibly 0.50 (+0.10 [+0.10, +0.10]): **higher than people's**" in text
    assert "probably 0.50 (-0.20 [-0.30, -0.10]): **lower than people's**" in text
    assert "certainly 0.50 (+0.00 [-0.10, +0.10]): **as people's within the interval**" in text


def test_the_pair_note_comes_from_the_pair_record():
    from rlshift import models

    pair = models.pair("embedded")
    specs = {"base": pair.base, "tuned": pair.tuned}
    text = V.pair_note(pair, specs, {"base": ["raw", "chat"], "tuned": ["raw", "chat"]})
    assert pair.caveat in text and "differ in family" not in text and "the 2x2" in text
    assert pair.tuning in text and pair.sft in text
    families = models.pair("embedded-families")
    text = V.pair_note(families, {"base": families.base, "tuned": families.tuned}, {"base": ["raw"], "tuned": ["chat"]})
    assert families.caveat in text and "**format and tuning are confounded**" in text
    text = V.pair_note(pair, {"base": pair.base, "tuned": "some/other-model"}, {"base": ["raw"], "tuned": ["raw"]})
    assert "overridden" in text and pair.caveat not in text and "format is held fixed" in text


def test_the_verdicts_join_every_section(synthetic_tuned_chat):
    dist, fit, trials = synthetic_tuned_chat
    fixed, variance = ue.design.mixed_model(fit)
    tables = dict(overall=ue.overall(fit), factorial=ue.design.factorial(fit, "production", n_resamples=200),
                  fixed=fixed, variance=variance, levels=ue.by_level(fit), changes=ue.level_change(fit),
                  words=ue.words_table(fit), temperatures=ue.temperature_table(fit, trials),
                  rsa=ue.rsa.rsa_table(fit, 10))
    text = ue.verdicts(tables, "sum", "pmi")
    for heading in ("**H1 (a model aligned", "**H2 (tuning changes", "**Paraphrases as a random effect**",
                    "**Q3 (higher-order", "**Beyond: overconfident in words?**", "**Beyond the paper: threshold"):
        assert heading in text
    assert "nan [nan" not in text


# ------------------------------------------------------------------ the notebook

def test_source_notebook_is_output_free_with_parameters_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = {line.split("=")[0].strip() for line in tagged[0].source.splitlines()
             if "=" in line and not line.startswith("#")}
    assert names == set(ue.PARAMS.params)
    assert "colab.research.google.com" in nb.cells[0].source
    assert "uncertainty_expressions" in cli.studies()
    source = "\n".join(c.source for c in nb.cells)
    assert "differs in family" not in source and "differ in family" not in source  # the caveat is the record's
    assert "ue.pair_note(pair" in source


def test_notebook_runs_with_small_parameters(quick_book):
    from rlshift import models

    nb = executed(quick_book, "uncertainty_expressions")
    text = notebook_text(nb)
    for heading in ("**H1 (a model aligned", "**H2 (tuning changes", "**Q3 (higher-order",
                    "**Beyond: the listener's side", "**Beyond: overconfident in words?**",
                    "**Beyond the paper: threshold", "**Robustness: the domain-conditional PMI", "**The pair.**"):
        assert heading in text, heading
    assert models.pair("embedded").caveat in text
    for cell_ in ue.CELLS:
        assert f"{cell_}" in text
    assert "Traceback" not in text and "nan [nan" not in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 13
    assert (quick_book / "scores" / "scores.sqlite").exists()


def test_figures_draw_from_the_analysis_tables():
    import matplotlib.pyplot as plt

    dist = _synthetic("complex", "base raw", np.random.default_rng(2), paraphrases=["urn", "game"])
    _, trials = people.human_production("complex")
    fit = ue.production_fit(dist, "complex", ue.STATES, ["urn", "game"], trials, n_boot=60, seed=0)
    table = ue.proportions_table(fit)
    assert len(table) == 5 * 15 * 16
    np.testing.assert_allclose(table.groupby(["source", "state"])["proportion"].sum(), 1.0)
    fig = ue.figures.message_heatmaps(table, fit.messages)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:5] == ["people", *ue.CELLS]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(ue.MESSAGES["complex"])
    assert len(fig.axes[0].get_yticklabels()) == 15
    fig2 = ue.figures.conveyed_vs_evidence(ue.conveyed_table(fit))
    assert len(fig2.axes[0].lines) == 1 + 5  # the diagonal and one series per source
    fig3 = ue.figures.paraphrase_spread(ue.paraphrase_table(fit))
    assert [t.get_text() for t in fig3.axes[0].get_yticklabels()] == list(ue.CELLS)
    fig4 = ue.figures.factorial_effects(ue.design.factorial(fit, "production", n_resamples=20))
    assert [t.get_text() for t in fig4.axes[0].get_yticklabels()][0] == "tuning | raw"
    crit = ue.listener.critical_fit(dist, "complex", ["urn", "game"], n_boot=20)
    fig5 = ue.figures.number_curves(ue.listener.listener_long(crit), xlabel="balls the speaker drew")
    assert len(fig5.axes) == 12
    plt.close("all")

"""The uncertainty-expressions study: the human tables and the script that derives them from the
raw files, the message distributions, the divergence metrics, the analysis on synthetic
speakers, and the notebook executed with small parameters."""
from __future__ import annotations

import csv
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
           "hf_complex_participants.csv", "hf_simple_interpretation.csv", "hf_complex_interpretation.csv"]


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

def test_raw_and_chat_contexts_tell_the_same_situation(smollm2):
    raw_ctx, raw_opts = ue.render_production("urn", 2, 0, "simple", "raw")
    chat_ctx, chat_opts = ue.render_production("urn", 2, 0, "simple", "chat", smollm2.tokenizer)
    text = ue.situation("urn", 2, 0, "simple")
    assert raw_ctx.startswith(text) and text in chat_ctx and "neither of them is red" in text
    assert raw_opts == [" " + o for o in chat_opts] and len(chat_opts) == 5
    assert chat_opts[2] == "The next ball will possibly be red."
    assert "all 10 balls" in ue.situation("report", 10, 10, "simple")
    hinted = ue.situation("game", 8, 6, "complex", show_options=True)
    assert "might be" in hinted and "might be" not in ue.situation("game", 8, 6, "complex")
    assert ue.template_id("production", "complex", "game", "raw", True) != \
        ue.template_id("production", "complex", "game", "raw", False)
    ctx, numbers = ue.render_interpretation("game", "complex", "might be likely", "raw")
    assert "It might be likely that the next ball will be red." in ctx and ctx.endswith(prompts.ANSWER_CUE)
    assert numbers[0] == " 0 out of 10." and numbers[-1] == " 10 out of 10."
    assert not any(b.startswith(a) for a in numbers for b in numbers if a != b)  # no option is a prefix


def _records(logprobs: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (role, item), values in logprobs.items():
        for j, lp in enumerate(values):
            rows.append({"role": role, "item_id": item, "option_index": j, "logprob": lp,
                         "n_tokens": j + 1, "n_chars": 10 * (j + 1)})
    return pd.DataFrame(rows)


def test_message_probabilities_are_normalized_per_model_and_item():
    records = _records({("base", "x"): [-1.0, -2.0, -3.0], ("tuned", "x"): [-5.0, -5.0, -5.0],
                        ("base", "y"): [-10.0, -10.5, -30.0]})
    dist = ue.distributions(records, "sum")
    sums = dist.groupby(["role", "item_id"])["prob"].sum()
    np.testing.assert_allclose(sums, 1.0)
    base_x = dist[(dist.role == "base") & (dist.item_id == "x")]["prob"].to_numpy()
    e = np.exp([-1.0, -2.0, -3.0])
    np.testing.assert_allclose(base_x, e / e.sum())
    np.testing.assert_allclose(dist[dist.role == "tuned"]["prob"], 1 / 3)
    per_token = ue.distributions(records, "token")  # -1/1, -2/2, -3/3: all equal
    np.testing.assert_allclose(per_token[(per_token.role == "base") & (per_token.item_id == "x")]["prob"], 1 / 3)
    per_char = ue.distributions(records, "char")
    e = np.exp([-10.0 / 10, -10.5 / 20, -30.0 / 30])
    np.testing.assert_allclose(per_char[per_char.item_id == "y"]["prob"], e / e.sum())
    with pytest.raises(InputError, match="norm 'mean' is not accepted.*sum, token, char"):
        ue.distributions(records, "mean")


def test_engine_scores_become_message_distributions(tiny_llama):
    """Requests from the study's own builder, scored by the shared engine, normalized."""
    scorer = Scorer(tiny_llama, batch_size=4, progress=False)
    states = [(2, 0), (10, 7)]
    frames = []
    for template, meta, reqs in ue.requests("raw", tiny_llama.tokenizer, ["simple"], ["urn", "game"],
                                            states, interpretation=True):
        frame = scorer.continuation_logprobs(reqs, chat=False, template=template, data_version="t")
        frames.append(frame.merge(pd.DataFrame(meta), on="item_id"))
    records = pd.concat(frames, ignore_index=True).assign(role="base")
    records["message"] = np.where(records["task"] == "production",
                                  records["option_index"].map(dict(enumerate(ue.SIMPLE))), None)
    records["n_red"] = np.where(records["task"] == "production", -1, records["option_index"])
    dist = ue.distributions(records)
    assert len(dist) == 2 * 2 * 5 + 2 * 5 * 11
    np.testing.assert_allclose(dist.groupby("item_id")["prob"].sum(), 1.0)
    arr = ue.model_array(dist, "base", "simple", states, ["urn", "game"])
    assert arr.shape == (2, 2, 5)
    one = dist[dist.item_id == "production:simple:game:10-7"].sort_values("option_index")
    e = np.exp(one["logprob"] - one["logprob"].max())
    np.testing.assert_allclose(arr[1, 1], e / e.sum())
    assert (records.loc[records.task == "production", "n_tokens"] > 1).all()  # whole sentences


def test_parameters_are_checked_with_messages_that_name_what_is_accepted():
    P = ue.PARAMS
    assert P.validate({})["states"] is None
    with pytest.raises(InputError, match=r"'states': \[3, 1\] is not accepted.*\[8, 6\]"):
        P.validate({"states": [[3, 1]]})
    with pytest.raises(InputError, match="'paraphrases': 'urns' is not accepted. Did you mean 'urn'"):
        P.validate({"paraphrases": ["urns"]})
    with pytest.raises(InputError, match="'message_sets' lists a value twice"):
        P.validate({"message_sets": ["simple", "simple"]})
    with pytest.raises(InputError, match="unknown parameter 'n_boots'. Did you mean 'n_boot'"):
        P.validate({"n_boots": 10})
    assert ue.chosen_states([[10, 2], [2, 0]]) == [(2, 0), (10, 2)]


# ------------------------------------------------------------------ the analysis on synthetic speakers

def _synthetic(message_set: str, people_like: str, rng) -> pd.DataFrame:
    """Production distributions for two paraphrases: `people_like` speaks as people do (their
    proportions, lightly perturbed); the other role is uniform over the messages."""
    agg, _ = people.human_production(message_set)
    rows = []
    for para in ("urn", "game"):
        for (a, o), part in agg.groupby(["access", "observation"]):
            probs = part["proportion"].to_numpy() + 0.02 + rng.uniform(0, 0.02, len(part))
            probs /= probs.sum()
            for role in ue.ROLES:
                values = probs if role == people_like else np.full(len(part), 1 / len(part))
                for m, p in zip(part["message"], values):
                    rows.append({"role": role, "task": "production", "message_set": message_set,
                                 "paraphrase": para, "access": a, "observation": o, "message": m, "prob": p})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("people_like,side", [("tuned", "closer to"), ("base", "further from")])
def test_a_speaker_like_people_is_found_closer(people_like, side):
    dist = _synthetic("simple", people_like, np.random.default_rng(0))
    _, trials = people.human_production("simple")
    fit = ue.production_fit(dist, "simple", ue.STATES, ["urn", "game"], trials, n_boot=300, seed=1)
    table = ue.overall(fit).set_index("source")
    other = "base" if people_like == "tuned" else "tuned"
    assert table.loc[people_like, "jsd"] < table.loc["state_blind", "jsd"] < table.loc[other, "jsd"]
    assert table.loc[people_like, "r_low"] > 0.8
    assert table.loc["people_resampled", "jsd"] < table.loc[people_like, "jsd_high"]
    comparison = ue.compare(fit, seed=0, n_resamples=500)
    assert comparison["p_boot"] < 0.01 and comparison["p_states"] < 0.01
    levels = ue.by_level(fit)
    assert set(levels["uncertainty"]) == set(ue.LEVELS)
    uniform = levels[levels.source == other]["entropy"]
    np.testing.assert_allclose(uniform, np.log2(5))  # the uniform speaker's entropy
    words = ue.words_table(fit).set_index("source")
    assert words.loc[other, "slope"] == pytest.approx(0.0, abs=1e-9)  # says the same everywhere
    assert abs(words.loc[people_like, "slope_vs_people"]) < 0.05 and words.loc[other, "slope_vs_high"] < 0
    # the uniform speaker says 'certainly (not)' 2 times in 5, people far less often
    assert words.loc[other, "certain_share"] == pytest.approx(0.4) and words.loc[other, "certain_vs_low"] > 0
    temps = ue.temperature_table(fit, trials).set_index("source")["fitted_T"]
    assert 0.6 < temps[people_like] < 1.6
    text = ue.verdicts(ue.overall(fit), [comparison], levels, ue.level_change(fit), ue.words_table(fit),
                       ue.temperature_table(fit, trials))
    assert f"**the tuned model is {side} people**" in text
    assert f"simple, {people_like}: JSD" in text
    assert "**tracks people**" in text or "**matches people within sampling noise**" in text
    assert "**does not track people**" in text  # the uniform speaker


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


def test_notebook_runs_with_small_parameters(quick_book):
    nb = executed(quick_book, "uncertainty_expressions")
    text = notebook_text(nb)
    for heading in ("**H1 (a model aligned", "**H2 (base and tuned", "**Q3 (higher-order",
                    "**Beyond: interpretation.**", "**Beyond: overconfident in words?**"):
        assert heading in text
    assert "Traceback" not in text and "nan [nan" not in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 7  # with one message set: 7 figures
    assert (quick_book / "scores" / "scores.sqlite").exists()


def test_figures_draw_from_the_analysis_tables():
    import matplotlib.pyplot as plt

    dist = _synthetic("complex", "base", np.random.default_rng(2))
    _, trials = people.human_production("complex")
    fit = ue.production_fit(dist, "complex", ue.STATES, ["urn", "game"], trials, n_boot=60, seed=0)
    table = ue.proportions_table(fit)
    assert len(table) == 3 * 15 * 16
    np.testing.assert_allclose(table.groupby(["source", "state"])["proportion"].sum(), 1.0)
    fig = ue.figures.message_heatmaps(table, fit.messages)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["people", "base", "tuned"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(ue.MESSAGES["complex"])
    assert len(fig.axes[0].get_yticklabels()) == 15
    fig2 = ue.figures.conveyed_vs_evidence(ue.conveyed_table(fit))
    assert len(fig2.axes[0].lines) == 1 + 3  # the diagonal and one series per source
    plt.close("all")

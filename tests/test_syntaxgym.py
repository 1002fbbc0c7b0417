"""SyntaxGym: texts and region spans, token -> region surprisal, the prediction formulas."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from rlshift import paths
from rlshift.errors import InputError
from rlshift.requests import Text
from rlshift.studies.linguistic import syntaxgym as sg

LN2 = math.log(2)


@pytest.fixture(scope="module")
def suites():
    mirror = paths.data_mirror()
    folder = mirror / "syntaxgym" if mirror else None
    if folder is None or not folder.is_dir():
        pytest.skip("the SyntaxGym suites need RLSHIFT_DATA_MIRROR with a syntaxgym/ folder")
    out = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    assert len(out) == 34
    return out


def _suite(conditions: dict[str, list[str]], formulas: list[str], item: int = 1) -> dict:
    return {"meta": {"name": "toy", "metric": "sum"}, "region_meta": {},
            "predictions": [{"type": "formula", "formula": f} for f in formulas],
            "items": [{"item_number": item, "conditions": [
                {"condition_name": c, "regions": [{"region_number": k + 1, "content": x} for k, x in enumerate(rs)]}
                for c, rs in conditions.items()]}]}


def _row(item_id, text, offsets, logprobs=None):
    logprobs = logprobs if logprobs is not None else [-1.0 * (k + 1) for k in range(len(offsets))]
    return {"item_id": item_id, "text": text, "logprob": sum(logprobs), "n_tokens": len(offsets),
            "token_logprobs": logprobs, "token_greedy": [False] * len(offsets), "offsets": [list(o) for o in offsets]}


# ------------------------------------------------------------------ the suites themselves
def test_every_formula_parses_and_reads_existing_regions(suites):
    n = 0
    for name, suite in suites.items():
        assert suite["predictions"], name
        for p in suite["predictions"]:
            formula = sg.parse_formula(p["formula"])
            assert formula.terms, (name, p)
            for item in suite["items"]:
                have = {c["condition_name"]: {r["region_number"] for r in c["regions"]} for c in item["conditions"]}
                for region, condition in formula.terms:
                    assert condition in have, (name, item["item_number"], condition)
                    assert region in have[condition], (name, item["item_number"], region, condition)
            n += 1
    assert n == 36  # fgd_hierarchy and nn-nv-rpl have two predictions each


def test_suite_texts_and_spans(suites):
    texts, regions = sg.condition_texts(suites)
    assert len(texts) == len({t.item_id for t in texts}) == sum(
        len(i["conditions"]) for s in suites.values() for i in s["items"])
    by_id = {t.item_id: t.text for t in texts}
    assert by_id["mvrr/1/reduced_ambig"] == "The woman brought the sandwich from the kitchen fell in the dining room"
    assert by_id["npz_obj/1/obj_comma"] == "As the criminal shot his gun , the woman yelled at the top of her lungs"
    assert by_id["npz_obj/1/obj_no-comma"] == "As the criminal shot his gun the woman yelled at the top of her lungs"
    assert by_id["subordination/1/sub_no-matrix"] == "As the doctor studied the book ."
    assert not any("  " in t or t != t.strip() for t in by_id.values())
    for r in regions.itertuples():
        assert by_id[r.item_id][r.start:r.end] == r.content
    empty = regions[regions["content"] == ""]
    assert (empty["start"] == empty["end"]).all() and len(empty) > 0


def test_evaluate_runs_on_every_suite(suites):
    texts, regions = sg.condition_texts(suites)
    table = regions[["suite", "item", "condition", "region"]].assign(
        surprisal=np.random.default_rng(0).uniform(0, 20, len(regions)))
    out = sg.evaluate(suites, table)
    assert len(out) == sum(len(s["items"]) * len(s["predictions"]) for s in suites.values())
    assert out["correct"].dtype == bool and 0 < out["correct"].mean() < 1


# ------------------------------------------------------------------ formulas
MVRR = ("[(5;%reduced_ambig%) > (5;%unreduced_ambig%)] & [(5;%reduced_ambig%) > (5;%reduced_unambig%)] & "
        "[[(5;%reduced_ambig%) - (5;%unreduced_ambig%)] > [(5;%reduced_unambig%) - (5;%unreduced_unambig%)]]")


def _lookup(values):
    return lambda region, condition: values[region, condition]


def test_conjunction_with_bracketed_differences():
    f = sg.parse_formula(MVRR)
    assert f.terms == ((5, "reduced_ambig"), (5, "unreduced_ambig"), (5, "reduced_unambig"), (5, "unreduced_unambig"))
    good = {(5, "reduced_ambig"): 10, (5, "unreduced_ambig"): 4, (5, "reduced_unambig"): 6, (5, "unreduced_unambig"): 5}
    assert f.evaluate(_lookup(good))
    # each conjunct false in turn
    assert not f.evaluate(_lookup({**good, (5, "unreduced_ambig"): 11}))
    assert not f.evaluate(_lookup({**good, (5, "reduced_unambig"): 10.5}))
    assert not f.evaluate(_lookup({**good, (5, "unreduced_unambig"): 0}))  # 6 > 6 is false


def test_sums_in_brackets():
    f = sg.parse_formula("[ (6;%plaus%) + (7;%plaus%) ] < [ (6;%implaus%) + (7;%implaus%) ]")
    values = {(6, "plaus"): 1, (7, "plaus"): 9, (6, "implaus"): 5, (7, "implaus"): 6}
    assert f.evaluate(_lookup(values))  # 10 < 11, though region 7 alone goes the other way
    assert not f.evaluate(_lookup({**values, (6, "implaus"): 3}))
    cleft = sg.parse_formula("[(6;%a%)-(6;%b%)]+[[(5;%c%)+(6;%c%)]-[(5;%d%)+(6;%d%)]]>0")
    v = {(6, "a"): 3, (6, "b"): 5, (5, "c"): 4, (6, "c"): 4, (5, "d"): 1, (6, "d"): 4}
    assert cleft.evaluate(_lookup(v))  # -2 + (8 - 5) = 1 > 0
    assert not cleft.evaluate(_lookup({**v, (5, "d"): 2}))  # -2 + 2 = 0


@pytest.mark.parametrize("op,a,b,expected", [
    ("<", 1, 2, True), ("<", 2, 1, False), ("<", 2, 2, False),
    (">", 2, 1, True), (">", 1, 2, False), (">", 2, 2, False),
    ("=", 2, 2, True), ("=", 2, 2.0005, True), ("=", 2, 2.01, False), ("=", 1000, 1000.005, True),
])
def test_each_comparison(op, a, b, expected):
    f = sg.parse_formula(f"(1;%x%) {op} (1;%y%)")
    assert f.evaluate(_lookup({(1, "x"): a, (1, "y"): b})) is expected


def test_or_and_left_to_right():
    f = sg.parse_formula("[(1;%a%) < 0] | [(1;%b%) < 0]")
    assert f.evaluate(_lookup({(1, "a"): 1, (1, "b"): -1}))
    assert not f.evaluate(_lookup({(1, "a"): 1, (1, "b"): 1}))
    # & and | share one level, left to right (reference): [F | T] & F is false, F | [T & F] too; T | F & F is F
    assert not sg.parse_formula("1 < 0 | 0 < 1 & 1 < 0").evaluate(None)
    assert sg.parse_formula("1 < 0 | [0 < 1 & 0 < 1]").evaluate(None)


@pytest.mark.parametrize("formula,expected", [
    ("5 - 4 - 3 < 0", True),  # the reference's own cases (syntaxgym-core test_prediction.py)
    ("5+4=9-1+1", True), ("5-(3+2)=0", True), ("(5-3)+2=4", True), ("(5-3)+((2+1)-(2+2))=1", True),
    ("1 + 2 * 3 = 7", True), ("[1 + 2] * 3 = 9", True), ("8 / 4 / 2 = 1", True), ("2 * 3 - 4 / 2 = 4", True),
    ("-1 + 3 = 2", True), ("1 - -1 = 2", True), ("1 / 0 > 0", False), ("1.5e1 = 15", True),
])
def test_arithmetic_precedence(formula, expected):
    assert sg.parse_formula(formula).evaluate(None) is expected


def test_wildcard_region_sums_a_condition():
    suite = _suite({"a": ["x", "y"], "b": ["x", "y"]}, ["(*;%a%) > (*;%b%)"])
    table = pd.DataFrame({"suite": "toy", "item": 1, "condition": ["a", "a", "b", "b"], "region": [1, 2, 1, 2],
                          "surprisal": [1.0, 5.0, 4.0, 1.0]})
    assert sg.evaluate({"toy": suite}, table)["correct"].tolist() == [True]
    assert sg.parse_formula("(*;%a%) > 0").terms == ((None, "a"),)


@pytest.mark.parametrize("formula,where,what", [
    ("[ (1;%a%) < (2;%b%)", 19, "']'"), ("(1;%a%) <", 9, "term"), ("(1;%a%) + (2;%b%)", 0, "not a comparison"),
    ("1 < 2 < 3", 6, "chained"), ("[1 < 2)", 6, "']'"), ("(1;%a%) # 2", 8, "unexpected character"),
    ("[1 < 2] + 3 > 0", 8, "numbers"), ("[1 < 2] & 3", 8, "truth values"), ("(1;a) < 2", 2, "unexpected character"),
    ("", 0, "term"), ("(1;%a%) < 2 ]", 12, "unexpected"),
])
def test_parse_errors_name_formula_and_position(formula, where, what):
    with pytest.raises(InputError) as err:
        sg.parse_formula(formula)
    assert repr(formula) in str(err.value) and f"position {where} " in str(err.value) and what in str(err.value)


# ------------------------------------------------------------------ texts and region assignment
def test_condition_texts_join_rules():
    suite = _suite({"c": ["As the man", " shot ", "", ",", "  the   woman", "yelled"]}, ["(1;%c%) > 0"], item=7)
    texts, regions = sg.condition_texts({"toy": suite})
    assert texts == [Text("toy/7/c", "As the man shot , the woman yelled")]
    assert regions[["region", "start", "end", "content"]].values.tolist() == [
        [1, 0, 10, "As the man"], [2, 11, 15, "shot"], [3, 15, 15, ""], [4, 16, 17, ","], [5, 18, 27, "the woman"],
        [6, 28, 34, "yelled"]]
    assert set(regions["item_id"]) == {"toy/7/c"} and set(regions["item"]) == {7}
    with pytest.raises(InputError, match="every region is empty"):
        sg.condition_texts({"toy": _suite({"c": ["", " "]}, ["1 > 0"])})


TEXT = "As the man shot , the woman"  # regions: "As the man" 0-10, "shot" 11-15, "" 15, "," 16-17, "the woman" 18-27


def _regions():
    return sg.condition_texts({"toy": _suite({"c": ["As the man", "shot", "", ",", "the woman"]}, ["1 > 0"])})[1]


@pytest.mark.parametrize("offsets", [
    # leading space inside the token's span (GPT-2 / Gemma fast tokenizers)
    [(0, 2), (2, 6), (6, 10), (10, 15), (15, 17), (17, 21), (21, 27)],
    # leading space outside (a tokenizer that reports the word only)
    [(0, 2), (3, 6), (7, 10), (11, 15), (16, 17), (18, 21), (22, 27)],
])
def test_tokens_go_to_the_region_of_their_first_character(offsets):
    logprobs = [-0.5, -1.0, -2.0, -4.0, -8.0, -16.0, -32.0]
    out = sg.region_surprisals(pd.DataFrame([_row("toy/1/c", TEXT, offsets, logprobs)]), _regions())
    assert out["region"].tolist() == [1, 2, 3, 4, 5]
    assert out["surprisal"].tolist() == pytest.approx([3.5 / LN2, 4 / LN2, 0.0, 8 / LN2, 48 / LN2])
    assert out["n_tokens"].tolist() == [3, 1, 0, 1, 2]
    assert out["empty"].tolist() == [False, False, True, False, False]
    assert out["split_tokens"].sum() == 0 and out.attrs["split_tokens"] == 0
    assert out["surprisal"].sum() == pytest.approx(-sum(logprobs) / LN2)


def test_split_and_whitespace_only_tokens():
    # "man shot" as one token (starts in region 1, runs into region 2); a lone space token before ","
    offsets = [(0, 2), (2, 6), (6, 15), (15, 16), (16, 17), (17, 27)]
    out = sg.region_surprisals(pd.DataFrame([_row("toy/1/c", TEXT, offsets, [-1.0] * 6)]), _regions())
    assert out["n_tokens"].tolist() == [3, 0, 0, 2, 1]
    assert out["split_tokens"].tolist() == [1, 0, 0, 0, 0] and out.attrs["split_tokens"] == 1
    assert out["surprisal"].sum() == pytest.approx(6 / LN2)


def test_region_surprisal_errors():
    regions = _regions()
    good = [(0, 2), (2, 6), (6, 10), (10, 15), (15, 17), (17, 21), (21, 27)]
    with pytest.raises(InputError, match="lack the text 'toy/1/c'"):
        sg.region_surprisals(pd.DataFrame([_row("toy/2/c", TEXT, good)]), regions)
    with pytest.raises(InputError, match="offsets"):
        sg.region_surprisals(pd.DataFrame([_row("toy/1/c", TEXT, good, [-1.0])]), regions)
    with pytest.raises(InputError, match="other texts"):
        sg.region_surprisals(pd.DataFrame([_row("toy/1/c", TEXT.replace("man", "dog"), good)]), regions)
    with pytest.raises(InputError, match="outside the text"):
        sg.region_surprisals(pd.DataFrame([_row("toy/1/c", TEXT, good[:-1] + [(21, 40)])]), regions)


def test_evaluate_end_to_end_and_missing_terms():
    suite = _suite({"good": ["The keys", "are", "here"], "bad": ["The keys", "is", "here"]},
                   ["(2;%good%) < (2;%bad%)", "[(2;%good%) + (3;%good%)] < [(2;%bad%) + (3;%bad%)]"], item=3)
    texts, regions = sg.condition_texts({"agree": suite})
    rows = []
    for t, lp in zip(texts, ([-1.0, -2.0, -3.0, -4.0], [-1.0, -2.0, -6.0, -0.5])):
        offsets = [(0, 3), (3, 8), (8, 12), (12, 17)]  # The| keys| are/ is| here: one token per word
        if t.text.split()[2] == "is":
            offsets = [(0, 3), (3, 8), (8, 11), (11, 16)]
        rows.append(_row(t.item_id, t.text, offsets, lp))
    surprisal = sg.region_surprisals(pd.DataFrame(rows), regions)
    out = sg.evaluate({"agree": suite}, surprisal)
    assert out.to_dict("records") == [
        {"suite": "agree", "item": 3, "prediction": 0, "formula": suite["predictions"][0]["formula"], "correct": True},
        {"suite": "agree", "item": 3, "prediction": 1, "formula": suite["predictions"][1]["formula"], "correct": False}]
    with pytest.raises(InputError, match=r"item 3: prediction 0 .* region 2 of condition 'bad'"):
        sg.evaluate({"agree": suite}, surprisal[surprisal["condition"] != "bad"])
    typo = _suite({"good": ["a", "b"]}, ["(2;%god%) < 1"])
    with pytest.raises(InputError, match="condition 'god'"):
        sg.evaluate({"agree": typo}, surprisal)
    with pytest.raises(InputError, match="expected"):
        sg.evaluate({"agree": {**suite, "predictions": [{"type": "regex", "formula": "x"}]}}, surprisal)


# ------------------------------------------------------------------ a real tokenizer
@pytest.fixture(scope="module")
def gemma_tokenizer():
    folders = sorted(p.parent for p in (paths.cache_dir() / "models").glob("gemma*/tokenizer.json"))
    if not folders:
        pytest.skip("no embedded Gemma tokenizer in the rlshift cache")
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(folders[0])


def test_real_tokenizer_nothing_lost_or_double_counted(suites, gemma_tokenizer):
    texts, regions = sg.condition_texts(suites)
    rng = np.random.default_rng(0)
    rows = []
    for t in texts:  # as LM.sequences tokenizes
        enc = gemma_tokenizer(t.text, add_special_tokens=False, return_offsets_mapping=True)
        rows.append(_row(t.item_id, t.text, [list(o) for o in enc["offset_mapping"]],
                         (-rng.exponential(3.0, len(enc["input_ids"]))).tolist()))
    seq = pd.DataFrame(rows)
    out = sg.region_surprisals(seq, regions)
    assert len(out) == len(regions)
    totals = out.groupby("item_id")["surprisal"].sum()
    expected = seq.set_index("item_id")["token_logprobs"].map(lambda lp: -sum(lp) / LN2)
    np.testing.assert_allclose(totals.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-9)
    assert out.groupby("item_id")["n_tokens"].sum().loc[expected.index].tolist() == seq["n_tokens"].tolist()
    assert (out.loc[out["empty"], "surprisal"] == 0).all() and (out.loc[~out["empty"], "n_tokens"] > 0).all()
    assert out.attrs["split_tokens"] == 0  # regions are joined by spaces: Gemma never merges across them
    # the comma region of npz_obj gets the " ," token, and only it
    row = out[(out["item_id"] == "npz_obj/1/obj_comma") & (out["region"] == 3)].iloc[0]
    assert row["n_tokens"] == 1

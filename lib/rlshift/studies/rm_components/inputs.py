"""The reward-model components chapter's inputs: the sets as pairs of responses with people's
generic preference (FineGrainedRLHF, hhh_alignment; dolly from the hub), FineGrainedRLHF's
human error labels, the annotation split, the machine first pass (proxies, the tuned model as
a judge of each aspect, reward models, candidate answers) and the annotators' sheets."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from rlshift import manifest, paths, prompts
from rlshift.cache import ScoreCache
from rlshift.data import annotations, preferences, remote
from rlshift.data.preference_sources import FINEGRAINED_ORDER
from rlshift.engine import GenerationSettings, Scorer
from rlshift.errors import InputError
from rlshift.requests import Request, Text
from rlshift.studies import common
from rlshift.studies.rm_components.aspects import ASPECTS, FG_ERRORS, FG_MISSING, proxies
from rlshift.studies.tuned_pair import judging

DOLLY_HUB = "databricks/databricks-dolly-15k"
DOLLY_FILE = remote.PinnedFile(  # the hub's file as first published (its LFS pointer gives the sha256)
    "databricks-dolly-15k.jsonl", f"https://huggingface.co/datasets/{DOLLY_HUB}/resolve/"
    "b122d1b59226377d51cb23bc16e9769e8ede491f/databricks-dolly-15k.jsonl",
    "e442d96b320010510c67a6cc0a86ea988a2a6f71c7570d1afbdf4fa631896e58")
DOLLY_SPLIT = "dolly_split.csv"  # data/: the split's ids, derived by data/scripts/derive_dolly_split.py
SPLIT_SEED = preferences.SPLIT_SEED  # fixed: the same split for everyone, whatever the study's seed
TEMPLATE = "rm-components-v1"
RELEVANCE = ("relevant", "irrelevant")
PREFERENCE = ("a", "b", "tie")
SHEET_LABELS = {**{f"rel_{a}": RELEVANCE for a in ASPECTS}, **{f"pref_{a}": PREFERENCE for a in ASPECTS},
                "generic": PREFERENCE}
FG_TASK = "long-form QA (ASQA)"


def _flip(pair_id: str) -> bool:
    """Whether the first response is shown as B: a fixed hash, so the sheet is blind to which is preferred."""
    return int(hashlib.sha256(pair_id.encode()).hexdigest(), 16) % 2 == 1


def _pair(pair_id, item_id, source, task, prompt, reference, first, second, first_wins, origin) -> dict:
    flip = _flip(pair_id)
    pref = None if first_wins is None else ("a" if first_wins != flip else "b")
    a, b = (second, first) if flip else (first, second)
    return {"pair_id": pair_id, "item_id": item_id, "source": source, "task_type": task, "prompt": prompt,
            "reference": reference, "response_a": a, "response_b": b, "human_pref": pref, "origin": origin,
            "swapped": flip}


def finegrained(mirror) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """FineGrainedRLHF qa-feedback dev: per question its people's error labels on prediction 1
    (counts per error and missing-information type) and every labelled comparison as a pair."""
    rows_by_file, prov = preferences.records("finegrained_rlhf", mirror)
    labels, pairs = [], []
    for _, rows in rows_by_file:
        for n, row in rows:
            item = f"fgrlhf-{n}"
            fb = row.get("feedback") or {}
            errors = [e.get("error type") for e in fb.get("errors", [])]
            missing = [m.get("error type") for m in fb.get("missing-info", [])]
            labels.append({"item_id": item, "question": row["question"], "gold": row.get("gold") or "",
                           **{f"n_{t}": errors.count(t) for t in FG_ERRORS},
                           **{f"n_{t}": missing.count(t) for t in FG_MISSING},
                           **{f"prediction_{k}": row[f"prediction {k}"] for k in range(1, 5)}})
            for (a, b), label in zip(FINEGRAINED_ORDER, row["preference"]):
                if label in (1, 2) and row[f"prediction {a}"].strip() != row[f"prediction {b}"].strip():
                    pairs.append(_pair(f"{item}-{a}v{b}", item, "finegrained_rlhf", FG_TASK, row["question"],
                                       row.get("gold") or None, row[f"prediction {a}"], row[f"prediction {b}"],
                                       label == 1, "policy samples (people's preference)"))
    return pd.DataFrame(labels), pd.DataFrame(pairs), dict(prov, dataset="finegrained_rlhf", license="Apache-2.0")


def hhh(mirror) -> tuple[pd.DataFrame, dict]:
    rows_by_file, prov = preferences.records("hhh_alignment", mirror)
    rows = [r for _, part in rows_by_file for _, r in part]
    item_of = {}  # an item is a prompt (several pairs may share one), named by its first pair
    for r in rows:
        item_of.setdefault(r["prompt"], f"hhh-{r['pair_id'].removeprefix('hhh-')}")
    pairs = [_pair(str(r["pair_id"]), item_of[r["prompt"]], "hhh_alignment", r["subset"], r["prompt"], None, r["chosen"],
                   r["rejected"], True, "written responses (the set's preferred one)")
             for r in rows]
    return pd.DataFrame(pairs), dict(prov, dataset="hhh_alignment", license="Apache-2.0")


def dolly(mirror=None) -> tuple[pd.DataFrame, dict]:
    """databricks-dolly-15k: one item per record (instruction, context, the human response,
    category), from the mirror (`dolly/`) or else the hub's file at a pinned commit and sha256
    (everyone splits the same bytes); its pairs are the human response against each model's
    candidate answer."""
    local = mirror / "dolly" / DOLLY_FILE.name if mirror is not None else None
    try:
        path = local if local is not None and local.exists() else remote.fetch(DOLLY_FILE, "dolly")
    except InputError as err:
        raise InputError(f"parameter 'sources': 'dolly' needs {DOLLY_HUB} ({DOLLY_FILE.url}), which could not be "
                         f"loaded ({err}). Offline, use sources ['finegrained_rlhf', 'hhh_alignment'].") from err
    frame = pd.read_json(path, lines=True).reset_index(names="row")
    frame["item_id"] = "dolly-" + frame["row"].astype(str)
    return frame, {"dataset": "dolly", "source": "mirror" if path == local else "url", "origin": str(path),
                   "version": f"dolly-{DOLLY_FILE.sha256[:12]}", "license": "CC BY-SA 3.0"}


def annotation_split(items: pd.DataFrame, fraction: float, pool: set | None = None) -> pd.DataFrame:
    """The same share of each task type (`task_type`), drawn with the fixed SPLIT_SEED; from
    `pool` (item ids) where given, e.g. the half no reward model of the book was trained on."""
    parts = []
    for task, group in items.groupby("task_type", sort=True):
        n = max(1, math.floor(fraction * len(group) + 0.5))
        eligible = group if pool is None else group[group["item_id"].isin(pool)]
        order = np.random.default_rng(SPLIT_SEED).permutation(len(eligible))[:n]
        parts.append(eligible.iloc[np.sort(order)])
    return pd.concat(parts, ignore_index=True)


def shipped_dolly_split() -> pd.DataFrame | None:
    entry = manifest.entries().get(DOLLY_SPLIT)
    return pd.read_csv(manifest.verified(DOLLY_SPLIT)) if entry else None


def load(P: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(every pair of the chosen sets, FineGrainedRLHF's label table, provenance per set); each
    pair carries `in_split` (the annotation split: drawn by item from the evaluation half where
    the book's reward models trained on the other half) and its item's `task_type`."""
    mirror = paths.resolve_mirror(P["data_mirror"])
    frames, provenance, labels = [], {}, pd.DataFrame()
    for source in P["sources"]:
        if source == "finegrained_rlhf":
            labels, pairs, provenance[source] = finegrained(mirror)
        elif source == "hhh_alignment":
            pairs, provenance[source] = hhh(mirror)
        else:
            table, provenance[source] = dolly(mirror)
            pairs = pd.DataFrame({"pair_id": table["item_id"], "item_id": table["item_id"], "source": "dolly",
                                  "task_type": table["category"], "prompt": _dolly_prompt(table),
                                  "reference": table["response"], "response_a": table["response"],
                                  "response_b": None, "human_pref": None, "origin": "the human response"})
        items = pairs.drop_duplicates("item_id")[["item_id", "task_type", "prompt"]]
        shipped = shipped_dolly_split() if source == "dolly" else None
        if shipped is not None:
            split = set(shipped["item_id"])
        else:
            pool = None
            if source != "dolly":  # the half of the prompts no reward model of the book was trained on
                held_out = {p.group for p in preferences.load(source, "eval", mirror).pairs}
                pool = set(items.loc[items["prompt"].isin(held_out), "item_id"])
            split = set(annotation_split(items, P["split_fraction"], pool)["item_id"])
        frames.append(pairs.assign(in_split=pairs["item_id"].isin(split)))
    return pd.concat(frames, ignore_index=True), labels, provenance


def _dolly_prompt(table: pd.DataFrame) -> pd.Series:
    return table["instruction"] + np.where(table["context"].str.strip() != "", "\n\n" + table["context"], "")


def machine_sample(pairs: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Up to n split items per task type (all their pairs), a seeded draw."""
    split = pairs[pairs["in_split"]]
    items = split.drop_duplicates("item_id")
    keep = pd.concat([g.sample(min(len(g), n), random_state=seed) for _, g in items.groupby("task_type")])
    return split[split["item_id"].isin(set(keep["item_id"]))].reset_index(drop=True)


def proxy_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Every pair's proxies for response A and B (`<proxy>_a`, `<proxy>_b`)."""
    rows = []
    for r in pairs.to_dict("records"):
        a = proxies(r["response_a"], r["prompt"], r["reference"])
        b = proxies(r["response_b"], r["prompt"], r["reference"])
        rows.append({"pair_id": r["pair_id"], **{f"{k}_a": v for k, v in a.items()},
                     **{f"{k}_b": v for k, v in b.items()}})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the models' part

def judge_context(r: dict, question: str, swap: bool, fmt: str, tokenizer) -> str:
    """The tuned model as a judge: the prompt, both responses (in the shown or the swapped
    order), then one aspect's question; the aspect comes last, so the nine questions about one
    pair share everything before it (encoded once)."""
    first, second = (r["response_b"], r["response_a"]) if swap else (r["response_a"], r["response_b"])
    body = (f"Prompt: {r['prompt']}\n\nResponse A: {first}\n\nResponse B: {second}\n\n{question} "
            f"Answer A or B.")
    if fmt == "raw":
        return f"{body}\nAnswer:"
    return prompts.chat_context(tokenizer, [("user", body)])


def candidate_prompt(r: dict, fmt: str, tokenizer) -> str:
    return f"Question: {r['prompt']}\nAnswer:" if fmt == "raw" else \
        prompts.chat_context(tokenizer, [("user", r["prompt"])])


def model_pass(P: dict, specs: dict, judged: pd.DataFrame, asked: pd.DataFrame, cache: ScoreCache | None,
               version: str, questions: dict[str, str]):
    """Each model in turn: the tuned one judges every pair of `judged` on each question of
    `questions` (aspect -> question) in both orders (option log-probabilities of A and B); every
    model answers the items of `asked` (greedy). Returns (judge readings, candidate answers, infos)."""
    judged = judged[judged["response_b"].notna()]  # a pair to judge (dolly's items have one answer until candidates)
    rows, items = judged.to_dict("records"), asked.to_dict("records")
    settings = GenerationSettings(max_new_tokens=P["max_new_tokens"], temperature=0.0,
                                  stop=("\nQuestion:", "\n\n\n"), seed=P["seed"])

    def score(scorer: Scorer, fmt: str):
        tok, chat, lead = scorer.loaded.tokenizer, fmt == "chat", " " if fmt == "raw" else ""
        frame = pd.DataFrame(columns=["pair_id", "aspect", "swap", "p_a"])
        if rows and scorer.loaded.info["spec"] == specs["tuned"]:
            requests = [Request(f"{r['pair_id']}|{aspect}|{int(swap)}", judge_context(r, q, swap, fmt, tok),
                                (lead + "A", lead + "B"))
                        for r in rows for aspect, q in questions.items() for swap in (False, True)]
            got = scorer.choice_logprobs(requests, chat=chat, template=f"{TEMPLATE}-judge", data_version=version)
            wide = got.pivot_table(index="item_id", columns="option_index", values="logprob")
            p_first = 1.0 / (1.0 + np.exp(wide[1] - wide[0]))  # P(the response shown first), A vs B only
            parts = wide.index.str.split("|")
            frame = pd.DataFrame({"pair_id": parts.str[0], "aspect": parts.str[1], "swap": parts.str[2] == "1",
                                  "p_shown_first": p_first.to_numpy()})
            frame["p_a"] = np.where(frame["swap"], 1 - frame["p_shown_first"], frame["p_shown_first"])
        answers = pd.DataFrame(columns=["item_id", "text"])
        if items:
            texts = [Text(r["item_id"], candidate_prompt(r, fmt, tok)) for r in items]
            answers = scorer.generate(texts, settings, chat=chat, template=f"{TEMPLATE}-answer", data_version=version)
        return frame, {"answers": answers}

    readings, infos = common.score_roles(specs, score, quantize=P["quantize"], prompt_format=P["prompt_format"],
                                         batch_size=P["batch_size"], cache=cache)
    answers = [extra["answers"].assign(role=role, format=fmt) for role, info in infos.items()
               for fmt, extra in info["by_format"].items() if len(extra["answers"])]
    answers = pd.concat(answers, ignore_index=True) if answers else pd.DataFrame(
        columns=["item_id", "text", "role", "format"])
    return readings, answers, infos


def candidate_pairs(answers: pd.DataFrame, asked: pd.DataFrame) -> pd.DataFrame:
    """Base against tuned on the same item (first format of each), shown in a fixed random order."""
    if answers.empty:
        return pd.DataFrame(columns=["pair_id"])
    first = answers.drop_duplicates(["item_id", "role"]).set_index(["item_id", "role"])["text"]
    rows = []
    for r in asked.drop_duplicates("item_id").to_dict("records"):
        if (r["item_id"], "base") in first.index and (r["item_id"], "tuned") in first.index:
            rows.append(_pair(f"{r['item_id']}-base-v-tuned", r["item_id"], r["source"], r["task_type"], r["prompt"],
                              r["reference"], first[(r["item_id"], "base")], first[(r["item_id"], "tuned")], None,
                              "candidate answers: base vs tuned"))
    return pd.DataFrame(rows).assign(in_split=True)


def reward_scores(P: dict, pairs: pd.DataFrame, cache: ScoreCache | None, version: str):
    """Each reward model's reward of both responses of every pair (r_a, r_b), and the models."""
    pairs = pairs[pairs["response_b"].notna()]
    frames, loaded = [], {}
    for name in P["reward_models"]:
        judge = judging.load_judge(dict(P, judge=name))
        loaded[name] = judge
        got = {}
        for side in ("a", "b"):
            todo = [(f"{r['pair_id']}|{side}", r["prompt"], r[f"response_{side}"]) for r in pairs.to_dict("records")]
            got[side] = judging.rewards(judge, todo, version, cache, f"rm-components-{side}")
        frames.append(pd.DataFrame({"reward_model": name, "pair_id": pairs["pair_id"].to_numpy(),
                                    "r_a": got["a"].loc[[f"{i}|a" for i in pairs["pair_id"]]].to_numpy(),
                                    "r_b": got["b"].loc[[f"{i}|b" for i in pairs["pair_id"]]].to_numpy()}))
    return (pd.concat(frames, ignore_index=True) if frames else
            pd.DataFrame(columns=["reward_model", "pair_id", "r_a", "r_b"])), loaded


# ------------------------------------------------------------------ the annotators' sheets

def sheet_folder(P: dict) -> Path:
    """annotation_dir (relative: from the repo root), else a folder in the cache named by the split."""
    if P["annotation_dir"]:
        return paths.REPO_ROOT / P["annotation_dir"]
    key = hashlib.sha256(json.dumps([sorted(P["sources"]), P["split_fraction"], P["model_pair"],
                                     P["max_new_tokens"], P["seed"]]).encode()).hexdigest()[:10]
    return paths.cache_dir() / "annotations" / f"rm_components_{key}"


def sheet_rows(pairs: pd.DataFrame) -> pd.DataFrame:
    """One pair per split item (the first of its labelled comparisons), plus the candidate pairs."""
    split = pairs[pairs["in_split"]]
    written = split[split["origin"] != "candidate answers: base vs tuned"].drop_duplicates("item_id")
    rows = pd.concat([written, split[split["origin"] == "candidate answers: base vs tuned"]], ignore_index=True)
    return rows[rows["response_b"].notna()].reset_index(drop=True)


def export_and_read(P: dict, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Export (or extend) one sheet per annotator and read back what is filled in: the labels of
    every annotator (long: annotator, pair_id, column, label) and the sheets' paths."""
    folder = sheet_folder(P)
    shown = rows.drop(columns="item_id", errors="ignore").rename(columns={"pair_id": "item_id"})
    out, sheets = [], []
    for k in range(1, P["annotators"] + 1):
        path = annotations.export_sheet(shown, folder / f"annotator-{k}.csv",
                                        show=("task_type", "prompt", "response_a", "response_b"),
                                        label_columns=tuple(SHEET_LABELS))
        sheets.append(str(path))
        got = annotations.read_sheet(path, shown["item_id"], SHEET_LABELS)
        long = got.melt(id_vars="item_id", value_vars=list(SHEET_LABELS), var_name="column", value_name="label")
        out.append(long[long["label"] != ""].assign(annotator=f"annotator-{k}"))
    labels = pd.concat(out, ignore_index=True).rename(columns={"item_id": "pair_id"})
    return labels[["annotator", "pair_id", "column", "label"]], sheets


def export_machine_labels(P: dict, rows: pd.DataFrame, readings: pd.DataFrame, judge_spec: str) -> str | None:
    """The machine first pass as a sheet of its own (`machine-first-pass.csv`, beside the
    annotators'; never read back as an annotator): the tuned model's preference on each aspect
    and overall (P(A) over both orders above one half: a, below: b) for the pairs it judged."""
    if readings.empty:
        return None
    p_a = readings.groupby(["pair_id", "aspect"])["p_a"].mean().unstack()
    judged = rows[rows["pair_id"].isin(p_a.index)][["pair_id", "task_type", "prompt", "response_a", "response_b"]]
    sheet = judged.rename(columns={"pair_id": "item_id"}).reset_index(drop=True)
    for aspect in [a for a in [*ASPECTS, "generic"] if a in p_a.columns]:
        column = "generic" if aspect == "generic" else f"pref_{aspect}"
        sheet[column] = np.where(p_a.loc[judged["pair_id"], aspect].to_numpy() > 0.5, "a", "b")
    sheet["labelled_by"] = f"machine: {judge_spec} as a judge (not a person)"
    path = sheet_folder(P) / "machine-first-pass.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.to_csv(path, index=False)
    return str(path)

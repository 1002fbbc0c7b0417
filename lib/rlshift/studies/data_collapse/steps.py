"""One setting run end to end, in the plan's work steps: read the inputs' footprints, split the
test candidates into parts, get each role's outputs (published, or generated now through the
cache), score them with the reward models, read the outputs' footprints, and compare.

The annotators' sheets (intuitive quality, 1-5, blind to the model) list every tested output of
every setting; a sheet's row id is a hash, so the model behind an output is not on the sheet."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from rlshift import footprints as fp
from rlshift import paths
from rlshift.cache import ScoreCache
from rlshift.data import annotations
from rlshift.studies import common
from rlshift.studies.data_collapse.analysis import (input_match, inputs_vs_outputs, output_shift, per_output_quality,
                                                    quality_contrasts, sentiment_agreement, shift_contrast,
                                                    train_vs_test_outputs, transfer)
from rlshift.studies.data_collapse.inputs import Corpus, best_judge, corpus as read_corpus, generate, instructgpt_outputs
from rlshift.studies.data_collapse.inputs import rewards as score_rewards, role_specs
from rlshift.studies.data_collapse.reading import (PARTS, by_ids, features, fit_reader, part_table, read, split,
                                                   typicality)

RATINGS = ("1", "2", "3", "4", "5")  # intuitive quality: 1 useless ... 5 excellent
HELDOUT_SOURCES = ("hh_rlhf (held out)", "tldr")  # candidates drawn from the training distribution
SHOWN_CHARS = 1500


@dataclass
class SettingRun:
    setting: str
    corpus: Corpus
    roles: list[str]
    parts: pd.DataFrame  # the tested inputs: item_id, source, distance, part
    outputs: pd.DataFrame  # item_id, role, text, model, part ('training' for training inputs)
    rewards: pd.DataFrame
    judge: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    footprints: dict[str, fp.Footprint] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def run_setting(setting: str, P: dict, judges, cache: ScoreCache | None) -> SettingRun:
    corpus = read_corpus(setting, P)
    pool = pd.concat([corpus.train, corpus.candidates], ignore_index=True)
    embeddings = fp.embed(pool["text"].tolist())
    reader = fit_reader(pool, embeddings, P["n_topics"], P["seed"])
    foot, _ = read(pool, reader, embeddings=embeddings)
    train_mask = np.arange(len(pool)) < len(corpus.train)
    reference = train_mask if not corpus.self_reference else ~train_mask
    pca = PCA(n_components=5, random_state=P["seed"]).fit(embeddings[reference])
    x = features(foot, embeddings, pca)
    distance = typicality(x[reference], x[~train_mask], P["neighbours"], corpus.self_reference)
    parts = split(corpus.candidates, distance, P["n_part"])

    asked = parts.copy()
    if setting == "summaries" and P["tldr_source"] == "instructgpt":
        _, outputs, _ = instructgpt_outputs(P)
        outputs = outputs[outputs["item_id"].isin(parts["item_id"])]
    else:
        train_asked = corpus.train.sample(min(P["n_train_outputs"], len(corpus.train)),
                                          random_state=P["seed"]).assign(part="training")
        asked = pd.concat([parts, train_asked], ignore_index=True)
        outputs, _ = generate(corpus, asked, role_specs(setting, P), P, cache)
    outputs = outputs.merge(asked[["item_id", "part"]], on="item_id").reset_index(drop=True)
    roles = [r for r in common.ROLES if r in set(outputs["role"])]
    rewards = score_rewards(judges, corpus, outputs, cache)
    judge = best_judge(judges)

    out_foot, _ = read(outputs.assign(text_id=outputs["item_id"] + ":" + outputs["role"]), reader, "text_id")
    in_foot = by_ids(foot, pool["item_id"][~train_mask])
    train_foot = None if corpus.self_reference else by_ids(foot, pool["item_id"][train_mask])
    tested = outputs[outputs["part"].isin(PARTS)]
    references = corpus.candidates.set_index("item_id")["reference"] if setting == "summaries" else None
    quality = per_output_quality(tested, rewards, judge, out_foot.table, references)
    cells, contrasts = quality_contrasts(quality, P["n_boot"], P["seed"])
    # H0 reads every held-out candidate of the training distribution (not only those the split kept)
    heldout = corpus.candidates.loc[corpus.candidates["source"].isin(HELDOUT_SOURCES), "item_id"]
    heldout = heldout if train_foot is not None else heldout.iloc[:0]
    shift = output_shift(in_foot, out_foot, parts, roles, P["n_boot"], P["seed"], P["top_k"])
    train_out = outputs.loc[outputs["part"] == "training", "item_id"].unique()
    run = SettingRun(setting, corpus, roles, parts, outputs, rewards, judge, footprints={
        "inputs": in_foot, "outputs": out_foot, **({"training": train_foot} if train_foot is not None else {})})
    run.tables = {
        "topics": reader.topics.table(),
        "match": input_match(train_foot, in_foot, parts, heldout.tolist(), P["n_boot"], P["seed"], P["top_k"]),
        "parts": part_table(parts, in_foot),
        "quality": quality, "quality_cells": cells, "quality_contrasts": contrasts,
        "shift": shift,
        "shift_contrast": shift_contrast(out_foot, parts, shift, roles, P["n_boot"], P["seed"], P["top_k"]),
        "transfer": transfer(in_foot, out_foot, parts, roles, P["n_boot"], P["seed"]),
        "inputs_vs_outputs": inputs_vs_outputs(in_foot, out_foot, parts, roles, P["n_boot"], P["seed"], P["top_k"]),
        "train_vs_test": train_vs_test_outputs(out_foot, list(train_out), parts, roles, P["n_boot"],
                                                        P["seed"], P["top_k"]),
    }
    run.notes = {"sentiment_cv_accuracy": reader.sentiment.cv_accuracy, "heldout_compared": len(heldout),
                 "sentiment_agreement_inputs": sentiment_agreement(foot),
                 "sentiment_agreement_outputs": sentiment_agreement(out_foot),
                 "candidates": len(corpus.candidates), "training_inputs": len(corpus.train),
                 "outputs_on_training_inputs": len(train_out)}
    return run


# ------------------------------------------------------------------ annotation sheets

def sheet_folder(P: dict) -> Path:
    if P["annotation_dir"]:
        return paths.REPO_ROOT / P["annotation_dir"]
    key = hashlib.sha256(json.dumps([P["settings"], P["tldr_source"], P["instructgpt_size"], P["n_part"],
                                     P["model_pair"], P["max_new_tokens"], P["seed"]]).encode()).hexdigest()[:10]
    return paths.cache_dir() / "annotations" / f"data_collapse_{key}"


def sheet_rows(runs: list[SettingRun]) -> pd.DataFrame:
    """Every tested output, blinded (sheet_id: a hash of setting, item and role), in a seeded order."""
    rows = []
    for run in runs:
        prompt_of = run.corpus.candidates.set_index("item_id")["text"]
        for r in run.outputs[run.outputs["part"].isin(PARTS)].itertuples():
            key = f"{run.setting}|{r.item_id}|{r.role}"
            rows.append({"item_id": hashlib.sha256(key.encode()).hexdigest()[:12], "key": key, "setting": run.setting,
                         "input": str(prompt_of[r.item_id])[:SHOWN_CHARS], "output": r.text})
    frame = pd.DataFrame(rows, columns=["item_id", "key", "setting", "input", "output"])
    return frame.sort_values("item_id").reset_index(drop=True)


def export_and_read(P: dict, runs: list[SettingRun]) -> tuple[pd.DataFrame, list[str]]:
    """One sheet per annotator; what is filled in, as (annotator, setting, item_id, role, rating)."""
    rows = sheet_rows(runs)
    keys = rows.set_index("item_id")["key"]
    got, sheets = [], []
    for k in range(1, P["annotators"] + 1):
        path = annotations.export_sheet(rows, sheet_folder(P) / f"annotator-{k}.csv", show=("setting", "input", "output"))
        sheets.append(str(path))
        filled = annotations.read_sheet(path, rows["item_id"], RATINGS)
        for sheet_id, label in zip(filled["item_id"], filled["label"]):
            setting, item, role = keys[sheet_id].split("|")
            got.append({"annotator": f"annotator-{k}", "setting": setting, "item_id": item, "role": role,
                        "rating": int(label)})
    return pd.DataFrame(got, columns=["annotator", "setting", "item_id", "role", "rating"]), sheets

"""The logit-lens chapter's inputs and reads: relational items from data/ (with their manifest
provenance), Merullo-style k-shot prompts, the framed capital completions, and per role one pass
of every read (the lens on every prompt, then the o-vector intervention on the role's own
function-application layer), one model in memory at a time."""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rlshift import manifest
from rlshift.cache import ScoreCache
from rlshift.engine import Request, Scorer
from rlshift.engine.layers import n_layers
from rlshift.studies import common
from rlshift.studies.logit_lens.analysis import answered, function_application_layer
from rlshift.studies.logit_lens.params import FILLER, QUESTIONS, WORD_ARGUMENT

RELATIONS = "relations.jsonl"
FRAMED = "capital_framings.jsonl"
TEMPLATE = "logit-lens-v1"  # the prompt shapes of params.QUESTIONS and FILLER


@dataclass
class Prepared:
    items: pd.DataFrame  # the sampled items: task, item_id, argument, answer
    pool: pd.DataFrame  # every item of the chosen tasks (the shots come from the others)
    framed: pd.DataFrame  # framed capital completions of sampled capital items
    provenance: list[dict]


def _shipped(filename: str) -> tuple[pd.DataFrame, dict]:
    path = manifest.verified(filename)
    entry = manifest.entries()[filename]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pd.DataFrame(rows), {"file": f"data/{filename}", "rows": entry["rows"], "license": entry["license"],
                                "source": entry["source"], "version": entry["sha256"][:12]}


def _sample(frame: pd.DataFrame, n: int, seed: int, salt: str) -> pd.DataFrame:
    ids = sorted(frame["item_id"])
    chosen = sorted(random.Random(f"{seed}:{salt}").sample(ids, min(n, len(ids))))
    return frame.set_index("item_id").loc[chosen].reset_index()


def prepare(P: dict) -> Prepared:
    relations, prov = _shipped(RELATIONS)
    pool = relations[relations["task"].isin(P["tasks"])]
    items = pd.concat([_sample(pool[pool["task"] == t], P["n_items"], P["seed"], t) for t in P["tasks"]],
                      ignore_index=True)
    provenance = [prov]
    framed = pd.DataFrame(columns=["item_id", "relation_item", "framing", "context", "answer", "argument"])
    if P["framings"] and "capital" in P["tasks"]:
        rows, fprov = _shipped(FRAMED)
        capitals = _sample(items[items["task"] == "capital"], P["n_framed"], P["seed"], "framed")["item_id"]
        framed = rows[rows["relation_item"].isin(set(capitals)) & rows["framing"].isin(P["framings"])]
        framed = framed.reset_index(drop=True)
        provenance.append(fprov)
    return Prepared(items, pool, framed, provenance)


def data_table(prep: Prepared) -> pd.DataFrame:
    counts = prep.items.groupby("task").size()
    return pd.DataFrame([{"task": t, "items": int(n), "in data/": int((prep.pool["task"] == t).sum())}
                         for t, n in counts.items()])


# ------------------------------------------------------------------ prompts

def question(task: str, argument: str) -> str:
    return QUESTIONS[task].format(argument=argument)


def options(task: str, answer: str, argument: str) -> tuple[str, ...]:
    """The answer and, for tasks whose argument is a word or a name (not a question), the argument:
    each read as the first token of " text"."""
    return (" " + answer, " " + argument) if task in WORD_ARGUMENT else (" " + answer,)


def k_shot(row, k: int, pool: pd.DataFrame, seed: int) -> str:
    """k worked examples of the same task (other items, drawn per item and k), then the question."""
    others = pool[(pool["task"] == row.task) & (pool["item_id"] != row.item_id)].sort_values("item_id")
    rng = random.Random(hashlib.sha256(f"{seed}:{row.item_id}:{k}".encode()).hexdigest())
    shots = others.iloc[rng.sample(range(len(others)), min(k, len(others)))]
    lines = [f"{question(s.task, s.argument)} {s.answer}\n" for s in shots.itertuples()]
    return "".join(lines) + question(row.task, row.argument)


def lens_requests(prep: Prepared, shots: list[int], seed: int) -> tuple[list[Request], pd.DataFrame]:
    reqs, meta = [], []
    for row in prep.items.itertuples():
        for k in shots:
            rid = f"{row.item_id}~k{k}"
            reqs.append(Request(rid, k_shot(row, k, prep.pool, seed), options(row.task, row.answer, row.argument)))
            meta.append({"request": rid, "item": row.item_id, "task": row.task, "condition": f"{k}-shot", "shots": k})
    for row in prep.framed.itertuples():
        reqs.append(Request(row.item_id, row.context, options("capital", row.answer, row.argument)))
        meta.append({"request": row.item_id, "item": row.relation_item, "task": "capital",
                     "condition": f"framed: {row.framing}", "shots": 0})
    return reqs, pd.DataFrame(meta)


def filler_request(row, rid: str) -> Request:
    return Request(rid, FILLER.format(argument=row.argument), options(row.task, row.answer, row.argument))


def split_sources_targets(items: pd.DataFrame, task: str, n_targets: int, seed: int):
    """A task's target items (seeded), and the other items in a seeded order: the candidates
    for sources, so sources and targets never share an item."""
    part = items[items["task"] == task].sort_values("item_id")
    order = random.Random(f"{seed}:sources:{task}").sample(range(len(part)), len(part))
    return part.iloc[order[n_targets:]], part.iloc[order[:n_targets]]


def random_like(vector: np.ndarray, key: str) -> list[float]:
    """A random direction with the vector's norm (the intervention's control), seeded by key."""
    rng = np.random.default_rng(int(hashlib.sha256(key.encode()).hexdigest()[:12], 16))
    noise = rng.standard_normal(len(vector))
    return (noise / np.linalg.norm(noise) * np.linalg.norm(vector)).astype("float32").tolist()


# ------------------------------------------------------------------ the reads, per role

def _intervene(scorer: Scorer, lens: pd.DataFrame, reqs: list[Request], meta: pd.DataFrame, prep: Prepared, P: dict,
               chat: bool, version: str) -> tuple[pd.DataFrame, dict]:
    """Merullo's intervention on this model. Per task: sources are the first candidates this model
    answers on their one-shot prompts (others fill in where too few are answered); the layer whose
    MLP update ranks the answer highest on them is the function-application layer, and each
    source's MLP update there is an o vector. Every MLP update from a start layer on is replaced
    by it (or by a random vector of its norm) while the model reads a target's filler context."""
    n = n_layers(scorer.loaded.model)
    k = min(P["shots"])
    frames, chosen, sourcing = [], {}, {}
    hit = answered(lens, meta, f"{k}-shot")
    by_id = {r.item_id: r for r in reqs}
    for task in P["intervention_tasks"]:
        candidates, targets = split_sources_targets(prep.items, task, P["n_targets"], P["seed"])
        ranked = sorted(range(len(candidates)), key=lambda i: candidates["item_id"].iloc[i] not in hit)  # stable
        sources = candidates.iloc[ranked[:P["n_sources"]]]
        layer = function_application_layer(lens, meta, list(sources["item_id"]), shots=k)
        chosen[task] = layer
        sourcing[task] = {"sources": list(sources["item_id"]),
                          "answered": int(sources["item_id"].isin(hit).sum())}
        src_reqs = [by_id[f"{s}~k{k}"] for s in sources["item_id"]]  # their one-shot prompts, as the lens read them
        vectors = scorer.block_vectors(src_reqs, component="mlp", layer=layer, chat=chat, template=TEMPLATE,
                                       data_version=version)
        tgt = [filler_request(t, f"{t.item_id}~filler") for t in targets.itertuples()]
        base = scorer.layer_readout(tgt, chat=chat, template=TEMPLATE, data_version=version, final_only=True)
        frames.append(base.assign(task=task, source="none", vector="none", from_layer=-1))
        for src, vec in zip(sources["item_id"], vectors["vector"]):
            for kind, v in (("o", vec), ("random", random_like(np.asarray(vec), f"{P['seed']}:{src}:{layer}"))):
                for start in range(n // 2, n):
                    got = scorer.layer_readout(tgt, chat=chat, template=TEMPLATE, data_version=version,
                                               replace_mlp=(v, start), final_only=True)
                    frames.append(got.assign(task=task, source=src, vector=kind, from_layer=start))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not table.empty:
        table["item"] = table["item_id"].str.split("~").str[0]
    return table, {"function_application_layer": chosen, "sources": sourcing, "n_layers": n}


def read_roles(specs: dict[str, str], prep: Prepared, P: dict, cache: ScoreCache | None):
    """Every role's lens records and intervention records, and what was loaded per role."""
    reqs, meta = lens_requests(prep, P["shots"], P["seed"])
    version = "+".join(p["version"] for p in prep.provenance)
    interventions = []

    def score(scorer: Scorer, fmt: str):
        chat = fmt == "chat"
        lens = scorer.layer_readout(reqs, chat=chat, template=TEMPLATE, data_version=version,
                                    components=P["components"])
        inter, extra = _intervene(scorer, lens, reqs, meta, prep, P, chat, version)
        interventions.append(inter)
        return lens, extra

    lens, infos = common.score_roles(specs, score, quantize=P["quantize"], prompt_format=P["prompt_format"],
                                     batch_size=P["batch_size"], cache=cache)
    # score_roles labels each role's records after its call; the interventions came in the same order
    order = [(role, fmt) for role, info in infos.items() for fmt in info["formats"]]
    inter = pd.concat([t.assign(role=r, format=f) for t, (r, f) in zip(interventions, order)], ignore_index=True)
    lens = lens.merge(meta, left_on="item_id", right_on="request", how="left")
    return lens, inter, infos

"""What each stage does with the tasks: per role, every task's requests in every condition scored
by the engine's verbs (whole sequences, next-token choices, continuations, generation), turned
into one row per item and condition; free answers; and the tuned model's reading of every role's
free answers (the check on the rule-based mapping). One model in memory at a time."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from rlshift import models
from rlshift.cache import ScoreCache
from rlshift.engine import GenerationSettings, Scorer
from rlshift.requests import Request, Text
from rlshift.studies import common
from rlshift.studies.linguistic.inputs import (Prepared, chat_turn, choice_requests, coqa_prompt, draw_shots,
                                              pair_request, suites_of, template_id)
from rlshift.studies.linguistic.syntaxgym import condition_texts, evaluate, region_surprisals
from rlshift.studies.linguistic.templates import CHOICE_KINDS, LingTask

SHOT_KINDS = ("minimal_pair",) + CHOICE_KINDS
FREE_KINDS = CHOICE_KINDS  # tasks whose free answers are mapped onto their labels or options
CLASSIFY = "{prompt} {reply}\nQuestion: Which answer did the reply give: {words}?\nAnswer:"
CLASSIFY_TEMPLATE = "linguistic-classify-" + hashlib.sha256(CLASSIFY.encode()).hexdigest()[:10]


def conditions(task: LingTask, P: dict) -> list[dict]:
    """Zero-shot, and for the few-shot tasks every k x composition x draw."""
    out = [{"condition": "0-shot", "k": 0, "composition": "none", "draw": 0}]
    if task.name in P["shot_tasks"] and task.kind in SHOT_KINDS:
        out += [{"condition": f"{k}-shot {c} #{d}", "k": k, "composition": c, "draw": d}
                for k in P["shots"] if k > 0 for c in P["compositions"] for d in range(P["shot_draws"])]
    return out


def _meta(task: LingTask, row: dict, cond: dict, rid: str) -> dict:
    return {"request": rid, "task": task.name, "domain": task.domain, "category": row["category"],
            "field": row.get("field") or task.domain, "item": row["item_id"],
            "answer": int(row.get(task.answer, 0) or 0),
            "n_options": len(row["choices"]) if "choices" in row else 2, **cond}


def _choice_rows(task, scorer, items, pool, P, fmt, version) -> pd.DataFrame:
    reqs, meta = [], []
    tok = scorer.loaded.tokenizer
    for cond in conditions(task, P):
        for row in items.to_dict("records"):
            rid = f"{row['item_id']}~{cond['condition']}"
            shots = draw_shots(pool, row, cond["k"], cond["composition"], cond["draw"], P["seed"])
            reqs += choice_requests(task, row, shots, fmt, tok, rid)
            meta.append(_meta(task, row, cond, rid))
    meta = pd.DataFrame(meta)
    kw = dict(chat=fmt == "chat", template=template_id(task), data_version=version)
    if task.kind == "label":
        got = scorer.choice_logprobs(reqs, **kw)
        wide = got.groupby("item_id").agg(logprobs=("logprob", list), entropy=("entropy", "first"),
                                          top_token=("top_token", "first"))
    else:
        got = scorer.continuation_logprobs(reqs, **kw)
        got["request"] = got["item_id"].str.replace(r"#\d+$", "", regex=True)
        wide = got.sort_values(["item_id", "option_index"]).groupby("request").agg(logprobs=("logprob", list))
    out = meta.join(wide, on="request")
    lp = out["logprobs"].map(np.asarray)
    out["correct"] = [float(np.argmax(v) == a) for v, a in zip(lp, out["answer"])]
    out["gold_logprob"] = [float(v[a]) for v, a in zip(lp, out["answer"])]
    if task.kind == "label":  # the mass on the answer words, of the whole next-token distribution
        out["option_mass"] = lp.map(lambda v: float(np.exp(v).sum()))
    return out.drop(columns="logprobs")


def _pair_rows(task, scorer, items, pool, P, fmt, version) -> pd.DataFrame:
    texts, reqs, meta = [], [], []
    for cond in conditions(task, P):
        for row in items.to_dict("records"):
            rid = f"{row['item_id']}~{cond['condition']}"
            shots = draw_shots(pool, row, cond["k"], cond["composition"], cond["draw"], P["seed"])
            got = pair_request(row, shots, rid)
            (texts.extend if isinstance(got, list) else reqs.append)(got)
            meta.append(_meta(task, row, cond, rid))
    kw = dict(chat=False, template=template_id(task), data_version=version)  # sentences: raw text only
    scores = {}
    if texts:
        seq = scorer.sequence_logprobs(texts, **kw)
        for r in seq.itertuples():
            rid, which = r.item_id.rsplit("|", 1)
            scores.setdefault(rid, {})[which] = (r.logprob, r.n_tokens)
    if reqs:
        cont = scorer.continuation_logprobs(reqs, **kw)
        for r in cont.itertuples():
            scores.setdefault(r.item_id, {})["good" if r.option_index == 0 else "bad"] = (r.logprob, r.n_tokens)
    out = pd.DataFrame(meta)
    good = out["request"].map(lambda r: scores[r]["good"])
    bad = out["request"].map(lambda r: scores[r]["bad"])
    out["correct"] = [float(g[0] > b[0]) for g, b in zip(good, bad)]
    out["correct_mean"] = [float(g[0] / g[1] > b[0] / b[1]) for g, b in zip(good, bad)]  # per-token mean
    out["gold_logprob"] = [g[0] for g in good]
    return out


def _region_rows(task, scorer, items, prep, P, version) -> pd.DataFrame:
    suites = suites_of(items, prep.predictions)
    texts, regions = condition_texts(suites)
    seq = scorer.sequence_logprobs(texts, chat=False, template=template_id(task), data_version=version)
    judged = evaluate(suites, region_surprisals(seq, regions))
    unit = judged["suite"] + "/" + judged["item"].astype(str) + "#" + judged["prediction"].astype(str)
    return pd.DataFrame({"request": unit, "task": task.name, "domain": task.domain, "category": judged["suite"],
                         "item": unit,
                         "field": "syntax", "answer": 0, "n_options": 2, "condition": "0-shot", "k": 0, "composition": "none", "draw": 0,
                         "correct": judged["correct"].astype(float)})


def free_prompts(task: LingTask, items: pd.DataFrame, n: int, fmt: str, tokenizer) -> list[Text]:
    """The zero-shot prompt of the first n items (item order), to be answered freely."""
    chosen = items.drop_duplicates("item_id").sort_values("item_id").head(n)
    out = []
    for row in chosen.to_dict("records"):
        if task.kind == "generation":
            out.append(Text(row["item_id"], coqa_prompt(row)))
        elif task.free_prompt:
            text = task.free_prompt.format(**row)
            out.append(Text(row["item_id"], chat_turn(text, tokenizer) if fmt == "chat" else text))
        else:
            req = choice_requests(task, row, [], fmt, tokenizer, row["item_id"])[0]
            out.append(Text(row["item_id"], req.context))
    return out


def _free(task, scorer, items, P, fmt, version) -> pd.DataFrame:
    n = len(items) if task.kind == "generation" else P["n_generate"]
    if n == 0:
        return pd.DataFrame()
    stop = ("\nQ:",) if task.kind == "generation" else ("\n",)  # lm-eval's coqa: until "\nQ:"
    settings = GenerationSettings(max_new_tokens=P["max_new_tokens"], temperature=0.0, stop=stop).check()
    texts = free_prompts(task, items, n, fmt, scorer.loaded.tokenizer)
    got = scorer.generate(texts, settings, chat=fmt == "chat", template=template_id(task), data_version=version)
    return got[["item_id", "prompt", "text"]].assign(task=task.name, domain=task.domain)


def classify_requests(free: pd.DataFrame, prep: Prepared) -> list[Request]:
    """The tuned model asked which label each free answer of a label task gave (every role's)."""
    out = []
    for r in free.itertuples():
        task = next(t for t in prep.tasks if t.name == r.task)
        if task.kind != "label":
            continue
        row = prep.item(task.name, r.item_id)
        words = [task.words[label] for label in row["choices"]]
        body = CLASSIFY.format(prompt=r.prompt, reply=r.text, words=", ".join(w.strip() for w in words))
        out.append(Request(f"{r.role}|{r.task}|{r.item_id}", body, tuple(words)))
    return out


def read_roles(specs: dict[str, str], prep: Prepared, P: dict, cache: ScoreCache | None):
    """Every role's item rows and free answers, the tuned model's classification of every role's
    free answers, and what was loaded per role."""
    frees = []

    def score(scorer: Scorer, fmt: str):
        frames, free = [], []
        for task in prep.tasks:
            items, pool = prep.items[task.name], prep.pools[task.name]
            version = str(prep.provenance[task.name].get("version"))
            if task.kind == "regions":
                frames.append(_region_rows(task, scorer, items, prep, P, version))
            elif task.kind == "minimal_pair":
                frames.append(_pair_rows(task, scorer, items, pool, P, fmt, version))
            elif task.kind in CHOICE_KINDS:
                frames.append(_choice_rows(task, scorer, items, pool, P, fmt, version))
            if task.kind in FREE_KINDS or task.kind == "generation":
                free.append(_free(task, scorer, items, P, fmt, version))
        frees.append(pd.concat(free, ignore_index=True) if free else pd.DataFrame())
        return pd.concat(frames, ignore_index=True), {}

    scores, infos = common.score_roles(specs, score, quantize=P["quantize"], prompt_format=P["prompt_format"],
                                       batch_size=P["batch_size"], cache=cache)
    calls = [(role, fmt) for role, info in infos.items() for fmt in info["formats"]]  # score_roles' order
    free = pd.concat([f.assign(role=r, format=fmt) for f, (r, fmt) in zip(frees, calls) if len(f)],
                     ignore_index=True)
    return scores, free, _classified(specs, free, prep, P, cache), infos


def _classified(specs, free: pd.DataFrame, prep: Prepared, P: dict, cache) -> pd.DataFrame:
    """The tuned model's reading of every free answer to a label task: the word it puts most mass on."""
    reqs = classify_requests(free, prep) if len(free) else []
    if not reqs:
        return pd.DataFrame(columns=["role", "task", "item_id", "model_word"])
    loaded = models.load(specs["tuned"], quantize=P["quantize"])
    got = Scorer(loaded, cache=cache, batch_size=P["batch_size"]).choice_logprobs(
        reqs, chat=False, template=CLASSIFY_TEMPLATE,
        data_version="+".join(sorted({str(p.get("version")) for p in prep.provenance.values()})))
    best = got.loc[got.groupby("item_id")["logprob"].idxmax()]
    parts = best["item_id"].str.split("|", n=2, expand=True)
    return pd.DataFrame({"role": parts[0], "task": parts[1], "item_id": parts[2],
                         "model_word": best["option"].str.strip().to_numpy()})

"""The calibration chapter's inputs: every role's confidence readings on every task, in every
prompt format, as records (one `reading` column), and the per-item tables built from them.

Readings: `options` (the softmax over the options' scores; lettered tasks asked in every cyclic
order of their options and the probabilities averaged), `content_free` (the letter distribution
for "N/A" content, Zhao et al. 2021), `p_true` (Kadavath's P(True) that the model's own answer is
right) and `verbalized` (a sampled reply stating a letter and a percentage, parsed).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import softmax as _softmax

from rlshift import prompts, tasks
from rlshift.cache import ScoreCache
from rlshift.engine import GenerationSettings, Request, Scorer, Text
from rlshift.studies import common
from rlshift.tasks import prepare  # noqa: F401  (the chapter's data step)

# One reply per item, sampled at T = 1 from the full distribution (the model's own belief, not a
# greedy mode); 24 tokens hold "B. Confidence: 80%" with room for a preamble.
VERBALIZED_SETTINGS = dict(max_new_tokens=24, temperature=1.0, top_p=1.0, top_k=0, n_samples=1)


def _option_records(scorer: Scorer, task: tasks.Task, items, fmt: str, option_orders: str, cloze_norm: str,
                    seed: int) -> pd.DataFrame:
    rotations = 1
    if option_orders == "cyclic":
        rotations = max(tasks.n_rotations(len(c), task.style) for c in items.frame["choices"])
    frames = []
    for r in range(rotations):
        requests = task.requests(items, fmt, scorer.loaded.tokenizer, seed, rotation=r)
        verb = scorer.choice_logprobs if task.verb == "choice" else scorer.continuation_logprobs
        frame = verb(requests, chat=fmt == "chat", template=task.template_id(fmt), data_version=items.version)
        frame["rotation"] = r
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    frame["item_id"] = frame["item_id"].map(lambda i: tasks.rotation_of(i)[0])
    table = items.frame.set_index("item_id")
    n_options = frame["item_id"].map(table["choices"].map(len))
    frame["position"] = frame["option_index"]
    frame["option_index"] = [tasks.displayed_order(n, r, task.style)[p]
                             for n, r, p in zip(n_options, frame["rotation"], frame["position"])]
    if task.style == "cloze" and cloze_norm != "sum":
        frame["score"] = frame["logprob"] / frame["n_tokens" if cloze_norm == "token" else "n_chars"]
    else:
        frame["score"] = frame["logprob"]
    frame["answer"] = frame["item_id"].map(table["answer"])
    frame["is_correct"] = frame["option_index"] == frame["answer"]
    return frame.assign(reading="options", cloze_norm=cloze_norm)


def _content_free(scorer: Scorer, task: tasks.Task, items, fmt: str, seed: int) -> pd.DataFrame:
    request = task.content_free_request(items, fmt, scorer.loaded.tokenizer, seed)
    frame = scorer.choice_logprobs([request], chat=fmt == "chat", template=task.template_id(fmt) + "-content-free",
                                   data_version=items.version)
    return frame.assign(reading="content_free", position=frame["option_index"], score=frame["logprob"])


def _proposals(options: pd.DataFrame) -> pd.Series:
    """Each item's proposed answer: the option with the highest rotation-averaged probability."""
    return item_table(options.assign(role="_", format="_", model="_", task="_")).set_index("item_id")["pred"]


def _p_true(scorer: Scorer, task: tasks.Task, items, fmt: str, options: pd.DataFrame) -> pd.DataFrame:
    proposed = _proposals(options)
    table = items.frame.set_index("item_id")
    requests = [Request(i, prompts.render_p_true(table.loc[i, "question"], table.loc[i, "choices"][int(k)], fmt,
                                                 scorer.loaded.tokenizer), prompts.P_TRUE_OPTIONS)
                for i, k in proposed.items()]
    frame = scorer.choice_logprobs(requests, chat=fmt == "chat", template=f"p_true-{fmt}-{prompts.READING_VERSION}",
                                   data_version=items.version)
    frame["proposed"] = frame["item_id"].map(proposed)
    frame["answer"] = frame["item_id"].map(table["answer"])
    return frame.assign(reading="p_true", score=frame["logprob"])


def _verbalized(scorer: Scorer, task: tasks.Task, items, fmt: str, n_items: int, seed: int) -> pd.DataFrame:
    frame = items.frame.head(n_items)
    shown = [tasks.with_none_of_the_above(r) if task.style == "nota" else r for r in frame.to_dict("records")]
    texts = [Text(r["item_id"], prompts.render_verbalized(r, fmt, scorer.loaded.tokenizer, task.preamble(r)))
             for r in shown]
    settings = GenerationSettings(**VERBALIZED_SETTINGS, seed=seed)
    out = scorer.generate(texts, settings, chat=fmt == "chat", template=f"verbalized-{fmt}-{prompts.READING_VERSION}",
                          data_version=items.version)
    n_options = frame.set_index("item_id")["choices"].map(len)
    parsed = [prompts.parse_verbalized(t, n_options[i]) for i, t in zip(out["item_id"], out["raw"])]
    out["stated_option"] = [p[0] for p in parsed]
    out["stated_confidence"] = [p[1] for p in parsed]
    out["answer"] = out["item_id"].map(frame.set_index("item_id")["answer"])
    return out.drop(columns=["prompt"]).assign(reading="verbalized")


def score_roles(specs: dict[str, str], prepared, *, readings=("options",), option_orders: str = "fixed",
                verbalized_tasks=(), verbalized_items: int = 30, quantize: str = "auto",
                prompt_format: str = "auto", batch_size: int | str = "auto", cloze_norm: str = "sum", seed: int = 0,
                cache: ScoreCache | None = None) -> tuple[pd.DataFrame, dict]:
    """Records of every reading, role, format and task (a `reading` column), and what was
    loaded per role."""
    def tagged(scorer, fmt):
        frames = []
        for task, items in prepared:
            one = score_task(scorer, task, items, fmt)
            frames.append(one.assign(task=task.label, dataset=task.dataset, style=task.style, k_shot=task.k_shot,
                                     seed=seed, n_items=len(items.frame)))
        return pd.concat(frames, ignore_index=True), {}

    def score_task(scorer, task, items, fmt):
        options = _option_records(scorer, task, items, fmt, option_orders, cloze_norm, seed)
        frames = [options]
        if task.verb == "choice":
            frames.append(_content_free(scorer, task, items, fmt, seed))
        if "p_true" in readings:
            frames.append(_p_true(scorer, task, items, fmt, options))
        if "verbalized" in readings and task.label in verbalized_tasks:
            frames.append(_verbalized(scorer, task, items, fmt, verbalized_items, seed))
        return pd.concat(frames, ignore_index=True)

    return common.score_roles(specs, tagged, quantize=quantize, prompt_format=prompt_format,
                              batch_size=batch_size, cache=cache)


def item_table(records: pd.DataFrame) -> pd.DataFrame:
    """The options reading, one row per role x format x task x item: each order's softmax over
    the options, averaged over the orders asked (`probs`, in the dataset's option order), its log
    (`logprobs`, what a temperature divides), prediction, confidence and correctness."""
    options = records[records["reading"] == "options"] if "reading" in records else records
    if "format" not in options:
        options = options.assign(format="raw")
    rows = []
    keys = ["role", "format", "task", "item_id"]
    for (role, fmt, task, item_id), group in options.groupby(keys, sort=False):
        n = int(group["option_index"].max()) + 1
        total = np.zeros(n)
        by_order = group["rotation"] if "rotation" in group else 0
        rotations = group.groupby(by_order, sort=True)
        for _, one in rotations:
            one = one.sort_values("option_index")
            total[one["option_index"].to_numpy(int)] += _softmax(one["score"].to_numpy(float))
        probs = total / rotations.ngroups
        answer = int(group["answer"].iloc[0])
        pred = int(np.argmax(probs))
        letter = group["style"].iloc[0] != "cloze" if "style" in group else False
        rows.append({"role": role, "format": fmt, "task": task, "model": group["model"].iloc[0], "item_id": item_id,
                     "logprobs": np.log(np.clip(probs, 1e-300, None)).tolist(), "probs": probs.tolist(),
                     "answer": answer, "pred": pred, "confidence": float(probs.max()), "correct": pred == answer,
                     "n_orders": rotations.ngroups,
                     "option_mass": float(np.exp(group["logprob"]).groupby(by_order).sum().mean()) if letter else np.nan})
    return pd.DataFrame(rows)


def p_true_table(records: pd.DataFrame) -> pd.DataFrame:
    """P(True) per role x format x task x item: P(A) / (P(A) + P(B)) for the model's own answer."""
    frame = records[records["reading"] == "p_true"]
    rows = []
    for (role, fmt, task, item_id), group in frame.groupby(["role", "format", "task", "item_id"], sort=False):
        lp = group.sort_values("option_index")["logprob"].to_numpy(float)
        proposed, answer = int(group["proposed"].iloc[0]), int(group["answer"].iloc[0])
        rows.append({"role": role, "format": fmt, "task": task, "item_id": item_id, "proposed": proposed,
                     "confidence": float(_softmax(lp)[0]), "correct": proposed == answer,
                     "option_mass": float(np.exp(lp).sum())})
    return pd.DataFrame(rows)


def verbalized_table(records: pd.DataFrame) -> pd.DataFrame:
    """Stated confidences per role x format x task x item; `parsed` False where the reply did not
    state both a letter and a percentage (those items have no confidence)."""
    frame = records[records["reading"] == "verbalized"]
    out = frame[["role", "format", "task", "item_id", "raw", "stated_option", "stated_confidence", "answer"]].copy()
    out["parsed"] = out["stated_confidence"].notna()
    out["confidence"] = out["stated_confidence"].astype(float)
    out["correct"] = out["stated_option"].astype(float) == out["answer"].astype(float)
    return out.reset_index(drop=True)


def content_free_prior(records: pd.DataFrame) -> pd.DataFrame:
    """The letter distribution each role x format x task gives "N/A" content (normalised over the
    letters), with its largest share and the share a uniform prior would give."""
    frame = records[records["reading"] == "content_free"]
    rows = []
    for (role, fmt, task), group in frame.groupby(["role", "format", "task"], sort=False):
        p = _softmax(group.sort_values("position")["logprob"].to_numpy(float))
        row = {"role": role, "format": fmt, "task": task, "uniform": 1 / len(p), "max_share": float(p.max()),
               "favoured": prompts.LETTERS[int(np.argmax(p))]}
        row.update({f"P({prompts.LETTERS[k]})": float(v) for k, v in enumerate(p)})
        rows.append(row)
    return pd.DataFrame(rows)


def position_bias(records: pd.DataFrame) -> pd.DataFrame:
    """The mean probability each letter position gets over real items, per role x format x task,
    in the orders asked (with cyclic orders, every answer sits in every position equally often,
    so a departure from uniform is the model's position preference)."""
    frame = records[(records["reading"] == "options") & (records["style"] != "cloze")]
    rows = []
    for (role, fmt, task), group in frame.groupby(["role", "format", "task"], sort=False):
        shares = []
        for _, one in group.groupby(["item_id", "rotation"], sort=False):
            one = one.sort_values("position")
            shares.append(pd.Series(_softmax(one["logprob"].to_numpy(float)), index=one["position"].to_numpy()))
        mean = pd.concat(shares, axis=1).mean(axis=1)
        row = {"role": role, "format": fmt, "task": task, "n_orders": int(group["rotation"].nunique()),
               "max_share": float(mean.max()), "favoured": prompts.LETTERS[int(mean.idxmax())]}
        row.update({f"P({prompts.LETTERS[int(k)]})": float(v) for k, v in mean.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def quantization_runs(specs: dict, main_quantization: dict, prepared, P: dict,
                      cache: ScoreCache | None) -> dict[str, pd.DataFrame]:
    """Item tables (options reading) of each model under each other quantization setting, on the
    check's tasks, in the main run's formats and option orders."""
    subset = [(t, it) for t, it in prepared if t.label in P["quantization_tasks"]]
    out = {}
    for quant in P["quantization_check"]:
        chosen = {role: spec for role, spec in specs.items()
                  if role in ("base", "tuned") and quant != main_quantization[role]}
        if chosen:
            records, _ = score_roles(chosen, subset, option_orders=P["option_orders"], quantize=quant,
                                     prompt_format=P["prompt_format"], batch_size=P["batch_size"],
                                     cloze_norm=P["cloze_norm"], seed=P["seed"], cache=cache)
            out[quant] = item_table(records)
    return out

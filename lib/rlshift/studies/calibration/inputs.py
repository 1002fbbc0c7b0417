"""The calibration chapter's inputs: every role's option scores on every task, as one item table."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rlshift.cache import ScoreCache
from rlshift.studies import common
from rlshift.tasks import prepare  # noqa: F401  (the chapter's data step)


def score_roles(specs: dict[str, str], prepared, *, quantize: str = "auto", prompt_format: str = "auto",
                batch_size: int | str = "auto", cloze_norm: str = "sum", seed: int = 0,
                cache: ScoreCache | None = None) -> tuple[pd.DataFrame, dict]:
    """Per role x item x option records over every task, and what was loaded per role."""
    def score(scorer, fmt):
        frames = []
        for task, items in prepared:
            requests = task.requests(items, fmt, scorer.loaded.tokenizer, seed)
            verb = scorer.choice_logprobs if task.verb == "choice" else scorer.continuation_logprobs
            frame = verb(requests, chat=fmt == "chat", template=task.template_id(fmt), data_version=items.version)
            if task.style == "cloze" and cloze_norm != "sum":
                frame["score"] = frame["logprob"] / frame["n_tokens" if cloze_norm == "token" else "n_chars"]
            else:
                frame["score"] = frame["logprob"]
            answers = items.frame.set_index("item_id")["answer"]
            frame["answer"] = frame["item_id"].map(answers)
            frame["is_correct"] = frame["option_index"] == frame["answer"]
            frames.append(frame.assign(task=task.label, dataset=task.dataset, style=task.style,
                                       k_shot=task.k_shot, seed=seed, n_items=len(items.frame),
                                       cloze_norm=cloze_norm))
        return pd.concat(frames, ignore_index=True), {}

    return common.score_roles(specs, score, quantize=quantize, prompt_format=prompt_format,
                              batch_size=batch_size, cache=cache)


def item_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per role x task x item: option scores, probabilities, prediction, correctness."""
    rows = []
    for (role, task, item_id), group in records.groupby(["role", "task", "item_id"], sort=False):
        group = group.sort_values("option_index")
        scores = group["score"].to_numpy(float)
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        answer = int(group["answer"].iloc[0])
        pred = int(np.argmax(probs))
        rows.append({"role": role, "task": task, "model": group["model"].iloc[0], "item_id": item_id,
                     "logprobs": scores.tolist(), "probs": probs.tolist(), "answer": answer,
                     "pred": pred, "confidence": float(probs.max()), "correct": pred == answer,
                     "option_mass": float(np.exp(group["logprob"]).sum()) if group["style"].iloc[0] == "letter" else np.nan})
    return pd.DataFrame(rows)



def quantization_runs(specs: dict, main_quantization: dict, prepared, P: dict,
                      cache: ScoreCache | None) -> dict[str, pd.DataFrame]:
    """Item tables of each model under each other quantization setting, on the check's tasks."""
    subset = [(t, it) for t, it in prepared if t.label in P["quantization_tasks"]]
    out = {}
    for quant in P["quantization_check"]:
        chosen = {role: spec for role, spec in specs.items()
                  if role in ("base", "tuned") and quant != main_quantization[role]}
        if chosen:
            records, _ = score_roles(chosen, subset, quantize=quant, prompt_format=P["prompt_format"],
                                     batch_size=P["batch_size"], cloze_norm=P["cloze_norm"], seed=P["seed"],
                                     cache=cache)
            out[quant] = item_table(records)
    return out

"""The reward-collapse chapter's sampled answers: the base model's answers (BoolQ judged against
the gold answer; free-form ones for people's annotation sheet), many answers per prompt from each
sampler for the within-prompt view, and every reward model's rewards on them."""
from __future__ import annotations

import dataclasses
import gc
import hashlib
import re

import pandas as pd

from rlshift import models, paths, prompts
from rlshift.cache import ScoreCache
from rlshift.data import annotations
from rlshift.engine import GenerationSettings, Scorer
from rlshift.errors import InputError
from rlshift.requests import RewardItem, Text
from rlshift.studies import common
from rlshift.studies.reward_collapse.inputs import Prepared, RewardModelEntry, TEMPLATE_VERSION, chat_prompt, score
from rlshift.studies.reward_collapse.params import WITHIN_SAMPLERS

ANNOTATION_LABELS = ("good", "bad")


# ------------------------------------------------------------------ the base model's samples

_ANSWER = re.compile(r"^\W*(yes|no|true|false)\b", re.IGNORECASE)


def judge_boolq(text: str, gold_yes: bool) -> str:
    """'correct' / 'incorrect' when the answer starts with yes / no / true / false (any case),
    else 'unparsed'."""
    match = _ANSWER.match(text or "")
    if not match:
        return "unparsed"
    said_yes = match.group(1).lower() in ("yes", "true")
    return "correct" if said_yes == bool(gold_yes) else "incorrect"


def open_prompt(prompt: str) -> str:
    """Raw dialogue prompting for a base model: HH-RLHF's own 'Human: ... Assistant:' form."""
    dialogue = prompt if prompt.lstrip().startswith("Human:") else f"Human: {prompt}"
    return f"{dialogue}\n\nAssistant:"


def generation_settings(P: dict, task_type: str) -> GenerationSettings:
    if task_type == "closed":
        return GenerationSettings(max_new_tokens=4, temperature=P["temperature"], top_p=P["top_p"],
                                  n_samples=P["n_samples"], stop=("\n",), seed=P["seed"])
    return GenerationSettings(max_new_tokens=P["max_new_tokens"], temperature=P["temperature"], top_p=P["top_p"],
                              n_samples=P["n_samples"], stop=("\n\nHuman:", "\nHuman:", "Human:", "\n\n"),
                              seed=P["seed"])


def generate_samples(P: dict, prep: Prepared, cache: ScoreCache | None, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """The base model's answers to BoolQ items and open-ended prompts (raw prompting), and
    what was loaded. BoolQ answers are judged against the gold answer."""
    loaded = models.load(common.pair_specs(P)["base"], quantize=P["quantize"])
    info = dict(loaded.info)
    scorer = Scorer(loaded, cache=cache, progress=progress)
    frames = []
    boolq = prep.boolq[:P["n_generate_boolq"]]
    if boolq:
        got = scorer.generate([Text(r["item_id"], r["cloze_context"]) for r in boolq],
                              generation_settings(P, "closed"), chat=False, template=f"boolq-gen-{TEMPLATE_VERSION}",
                              data_version=prep.boolq_provenance["version"])
        rows = {r["item_id"]: r for r in boolq}
        got["rm_prompt"] = got["item_id"].map(lambda i: rows[i]["question"])
        got["judgment"] = [judge_boolq(t, rows[i]["answer"]) for t, i in zip(got["text"], got["item_id"])]
        frames.append(got.assign(task="boolq", task_type="closed"))
    for name, s in prep.open_sets.items():
        pairs = s.pairs[:P["n_generate_open"]]
        if not pairs:
            continue
        got = scorer.generate([Text(p.pair_id, open_prompt(p.prompt)) for p in pairs], generation_settings(P, "open"),
                              chat=False, template=f"{name}-gen-{TEMPLATE_VERSION}", data_version=s.version)
        got["rm_prompt"] = got["item_id"].map({p.pair_id: p.prompt for p in pairs})
        got["judgment"] = "not judged"
        got["task_type"] = got["item_id"].map({p.pair_id: p.kind for p in pairs})
        frames.append(got.assign(task=name))
    del scorer, loaded
    gc.collect()
    if not frames:
        return pd.DataFrame(columns=["item_id", "sample", "sample_id", "task", "task_type", "text", "judgment"]), info
    out = pd.concat(frames, ignore_index=True)
    out["sample_id"] = out["item_id"] + ":s" + out["sample"].astype(str)
    return out, info


def within_prompt_samples(P: dict, prep: Prepared, cache: ScoreCache | None, progress: bool = True) -> pd.DataFrame:
    """`within_samples` sampled answers to each of the first `within_prompts` prompts of every
    task (BoolQ, each free-form set), from each sampler in the format it answers in (the base
    model raw, the tuned model in its chat template), batched: one row per answer, with the
    prompt it answers (`prompt_id`), the sampler and, for BoolQ, its judgement."""
    columns = ["item_id", "sample", "sample_id", "prompt_id", "sampler", "task", "task_type", "text", "judgment"]
    n = P["within_prompts"]
    if not n:
        return pd.DataFrame(columns=columns)
    specs = common.pair_specs(P, include_dpo="dpo" in P["within_samplers"])
    if missing := [r for r in P["within_samplers"] if r not in specs]:
        raise InputError(f"parameter 'within_samplers': model_pair {P['model_pair']!r} (as overridden) has no "
                         f"{', '.join(missing)} stage. Accepted: {', '.join(specs)}.")
    # per task: (prompt id, the prompt as the reward model and a chat turn read it, raw text, kind, gold answer)
    tasks = {"boolq": (prep.boolq_provenance["version"],
                       [(r["item_id"], r["question"], r["cloze_context"], "closed", r["answer"]) for r in prep.boolq[:n]])}
    for name, pair_set in prep.open_sets.items():
        tasks[name] = (pair_set.version, [(p.pair_id, p.prompt, open_prompt(p.prompt), p.kind, None)
                                          for p in pair_set.pairs[:n]])
    frames = []
    for role in P["within_samplers"]:
        fmt = WITHIN_SAMPLERS[role]
        loaded = models.load(specs[role], quantize=P["quantize"])
        tokenizer = prompts.with_chat_template(loaded.tokenizer)
        scorer = Scorer(loaded, cache=cache, progress=progress)
        for task, (version, rows) in tasks.items():
            kind = "closed" if task == "boolq" else "free-form"
            settings = dataclasses.replace(generation_settings(P, kind), n_samples=P["within_samples"])
            if fmt == "chat":
                settings = dataclasses.replace(settings, stop=(prompts.END_OF_TURN,))
                texts = [Text(i, chat_prompt(tokenizer, prompt)) for i, prompt, *_ in rows]
            else:
                texts = [Text(i, raw) for i, _, raw, *_ in rows]
            got = scorer.generate(texts, settings, chat=fmt == "chat", template=f"{task}-within-{fmt}-{TEMPLATE_VERSION}",
                                  data_version=version)
            meta = {i: (prompt, k, gold) for i, prompt, _, k, gold in rows}
            got["rm_prompt"] = got["item_id"].map(lambda i: meta[i][0])
            got["task_type"] = got["item_id"].map(lambda i: meta[i][1])
            got["judgment"] = [judge_boolq(t, meta[i][2]) if task == "boolq" else "not judged"
                               for t, i in zip(got["text"], got["item_id"])]
            frames.append(got.assign(task=task, sampler=role, format=fmt, prompt_id=got["item_id"]))
        del scorer, loaded
        gc.collect()
    out = pd.concat(frames, ignore_index=True)
    out["sample_id"] = out["sampler"] + ":" + out["item_id"] + ":s" + out["sample"].astype(str)
    return out


def score_samples(entries: list[RewardModelEntry], samples: pd.DataFrame, P: dict, cache: ScoreCache | None,
                  progress: bool = True) -> pd.DataFrame:
    """Rewards of every sampled answer (`generate_samples`, `within_prompt_samples`) from each
    reward model, with the answer's prompt, sampler and judgement."""
    frames = []
    if samples.empty:
        return pd.DataFrame()
    for entry in entries:
        for (task, version), part in samples.groupby(["task", "data_version"], sort=False):
            batch = [(RewardItem(r.sample_id, r.rm_prompt, r.text),
                      {"task": task, "task_type": r.task_type, "format": "generated", "group": r.sample_id,
                       "prompt_id": r.item_id, "sampler": getattr(r, "sampler", "base"),
                       "outcome": r.judgment, "good": r.judgment == "correct", "text": r.text})
                     for r in part.itertuples()]
            frames.append(score(entry, batch, template=f"{task}-sample-{TEMPLATE_VERSION}", data_version=version,
                                P=P, cache=cache, progress=progress))
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ the annotation sheet

def annotation_path(P: dict, base_info: dict) -> str:
    if P["annotation_sheet"]:
        return P["annotation_sheet"]
    key = hashlib.sha256(repr((base_info.get("spec"), base_info.get("revision"), P["max_new_tokens"],
                               P["temperature"], P["top_p"], P["n_samples"], P["seed"],
                               tuple(P["open_data"]))).encode()).hexdigest()[:10]
    return str(paths.cache_dir() / "annotations" / f"reward_collapse_open_{key}.csv")


def annotation_frame(samples: pd.DataFrame) -> pd.DataFrame:
    """The base model's free-form answers (every task but closed-ended ones) as rows of an
    annotation sheet."""
    if samples.empty:
        return pd.DataFrame(columns=["item_id", "prompt", "response"])
    opened = samples[samples["task_type"] != "closed"]
    return pd.DataFrame({"item_id": opened["sample_id"], "prompt": opened["rm_prompt"],
                         "response": opened["text"]}).reset_index(drop=True)


def annotation_sheet(samples: pd.DataFrame, P: dict, base_info: dict) -> tuple[pd.DataFrame, str, int]:
    """Export the base model's open-ended answers to the sheet (labels already written stay) and
    read back people's labels: (the labelled rows, the sheet's path, how many answers it holds)."""
    frame = annotation_frame(samples)
    path = annotation_path(P, base_info)
    if not len(frame):
        return pd.DataFrame(columns=["item_id", "label"]), path, 0
    annotations.export_sheet(frame, path)
    return annotations.read_sheet(path, frame["item_id"], ANNOTATION_LABELS), path, len(frame)

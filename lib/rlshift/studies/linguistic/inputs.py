"""The linguistic chapter's inputs: each task's dataset (with provenance), a seeded sample per
category, the few-shot pool (the dataset's other items), and the requests of every condition (k
shots of the item's own or other categories, per draw), rendered from templates.TASKS."""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rlshift import paths, prompts
from rlshift.data import annotations, linguistic
from rlshift.errors import InputError
from rlshift.requests import Request, Text
from rlshift.studies.linguistic.templates import TASKS, LingTask

SHOT_DELIMITER = "\n\n"  # between worked examples (lm-eval's fewshot_delimiter)
PAIR_DELIMITER = " "  # between the grammatical sentences that prime a minimal pair


def template_id(task: LingTask) -> str:
    """The task's rendering, hashed: it goes into every cache key of the task's scores."""
    body = json.dumps([task.kind, task.prompt, task.words, task.option, task.free_prompt, SHOT_DELIMITER,
                       PAIR_DELIMITER, "v1"])
    return f"linguistic-{task.name}-{hashlib.sha256(body.encode()).hexdigest()[:10]}"


@dataclass
class Prepared:
    tasks: list[LingTask]
    items: dict[str, pd.DataFrame]  # task -> the sampled items (syntaxgym: every condition row of a sampled item)
    pools: dict[str, pd.DataFrame]  # task -> the dataset's other items (the shots come from here)
    provenance: dict[str, dict]  # task -> the dataset's provenance
    predictions: dict[str, list[str]]  # syntaxgym: suite -> its prediction formulas
    _by_id: dict = field(default_factory=dict, repr=False)  # task -> its items indexed by id (item())

    def item(self, task: str, item_id: str) -> pd.Series:
        """One sampled item of a task (its rows indexed once per task)."""
        if task not in self._by_id:
            self._by_id[task] = self.items[task].drop_duplicates("item_id").set_index("item_id")
        return self._by_id[task].loc[item_id]


def _unit(frame: pd.DataFrame, task: LingTask) -> pd.Series:
    """What is sampled: an item (a SyntaxGym item is all its conditions)."""
    if task.kind == "regions":
        return frame["suite"].astype(str) + "/" + frame["item"].astype(str)
    return frame["item_id"]


def sample(frame: pd.DataFrame, task: LingTask, n_items, seed: int) -> pd.DataFrame:
    """A seeded sample of n items spread evenly over the categories (n // categories each, the rest
    filled from the remaining items at random; with fewer items than categories, one item from
    each of n categories drawn at random); 'all' = every item."""
    units = frame.assign(unit=_unit(frame, task)).drop_duplicates("unit")
    if n_items != "all" and n_items < len(units):
        rng = random.Random(f"{seed}:{task.name}")
        per = max(1, n_items // units["category"].nunique())
        even = linguistic.stratified(units.rename(columns={"item_id": "row_id", "unit": "item_id"}), per, seed)
        picked = sorted(even["item_id"])
        if len(picked) > n_items:
            chosen = set(rng.sample(picked, n_items))
        else:
            rest = sorted(set(units["unit"]) - set(picked))
            chosen = set(picked) | set(rng.sample(rest, min(len(rest), n_items - len(picked))))
        units = units[units["unit"].isin(chosen)]
    keep = frame.assign(unit=_unit(frame, task))
    return keep[keep["unit"].isin(set(units["unit"]))].drop(columns="unit").reset_index(drop=True)


def derived(task: LingTask, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows the task reads (`where`), and the columns its template needs that the set does not
    hold (COPA's cue: lm-eval's premise + ' because' / ' therefore'). Minimal pairs whose two
    sentences are the same string (7 of BLiMP's published pairs) are left out: no model can tell them
    apart."""
    for column, value in task.where.items():
        frame = frame[frame[column] == value]
    if task.kind == "minimal_pair":
        frame = frame[frame["good"] != frame["bad"]]
    if task.dataset == "copa":
        cue = {"cause": "because", "effect": "therefore"}
        frame = frame.assign(premise_cue=[f"{p.strip().rstrip('.')} {cue[q]}" for p, q in zip(frame["premise"], frame["question"])])
    return frame.reset_index(drop=True)


def prepare(P: dict) -> Prepared:
    """Every task's dataset loaded and sampled before any model loads (bad names fail first)."""
    tasks = [TASKS[t] for t in P["tasks"]]
    items, pools, provenance, predictions = {}, {}, {}, {}
    for task in tasks:
        data = linguistic.load(task.dataset, P["data_source"])
        frame = derived(task, data.frame)
        chosen = sample(frame, task, P["n_items"], P["seed"])
        items[task.name] = chosen
        pool = frame[~frame["item_id"].isin(set(chosen["item_id"]))]
        if "split" in pool:  # a set with a development split (Ruis et al.): shots from it only
            dev = pool[pool["split"] != "test"]
            pool = dev if len(dev) else pool
        pools[task.name] = pool.reset_index(drop=True)
        provenance[task.name] = data.provenance
        if task.kind == "regions":
            predictions = linguistic.suite_predictions(data)
    return Prepared(tasks, items, pools, provenance, predictions)


def data_table(prep: Prepared) -> pd.DataFrame:
    """Where every dataset came from, and how much of it the run reads."""
    rows = []
    for task in prep.tasks:
        p = prep.provenance[task.name]
        units = _unit(prep.items[task.name], task).nunique()
        rows.append({"task": task.name, "domain": task.domain, "kind": task.kind, "items read": units,
                     "categories": prep.items[task.name]["category"].nunique(), "rows in set": p.get("rows"),
                     "source": p.get("source"), "origin": p.get("origin"), "license": p.get("license"),
                     "sha256": str(p.get("sha256", ""))[:12], "citation": p.get("citation")})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ rendering

def _fill(template: str, row: dict) -> str:
    try:
        return template.format(**row).lstrip()
    except KeyError as err:
        raise InputError(f"template {template[:40]!r} needs the column {err} that the item lacks "
                         f"(columns: {sorted(row)}).") from err


def gold_word(task: LingTask, row: dict) -> str:
    """The answer a worked example shows after its prompt."""
    if task.kind == "label":
        return task.words[row["choices"][int(row[task.answer])]]
    if task.kind == "minimal_pair":
        return row["good"]
    return option_text(task, row["choices"][int(row[task.answer])])


def option_text(task: LingTask, option: str) -> str:
    """How an item's option continues the prompt (`{option}`, or `{option_lower}`: its first letter
    lower-cased, as lm-eval's COPA)."""
    return task.option.format(option=option, option_lower=option[:1].lower() + option[1:])


def _blank_parts(sentence: str, option: str) -> tuple[str, str]:
    """Winogrande's partial scoring (lm-eval): the context up to the blank with the option in it,
    and the rest of the sentence as the continuation."""
    at = sentence.index("_")
    return sentence[:at] + option, " " + sentence[at + 1:].strip()


def worked(task: LingTask, row: dict) -> str:
    if task.kind == "minimal_pair":
        return " " + row["good"]
    if task.kind == "blank":
        ctx, rest = _blank_parts(row["sentence"], row["choices"][int(row[task.answer])])
        return ctx + rest
    return _fill(task.prompt, row) + gold_word(task, row)


def draw_shots(pool: pd.DataFrame, row: dict, k: int, composition: str, draw: int, seed: int) -> list[dict]:
    """k worked examples for one item, from its own category ('same') or the others ('other'),
    drawn per item, k, composition and draw (seeded); fewer where the pool has fewer."""
    if k == 0:
        return []
    same = pool["category"] == row["category"]
    part = pool[same if composition == "same" else ~same].sort_values("item_id")
    if part.empty:
        return []
    rng = random.Random(hashlib.sha256(f"{seed}:{draw}:{row['item_id']}:{k}:{composition}".encode()).hexdigest())
    return part.iloc[rng.sample(range(len(part)), min(k, len(part)))].to_dict("records")


def chat_turn(prompt_text: str, tokenizer) -> str:
    """A zero-shot prompt in the chat rendering (the cue opens the model's turn)."""
    return _chat(prompt_text, [], tokenizer)


def _chat(prompt_text: str, shots: list[str], tokenizer) -> str:
    """The raw prompt as a chat: the worked examples and the question as the user's turn, the
    answer cue (the prompt's last line) opening the model's."""
    body, _, cue = prompt_text.rpartition("\n")
    turn = SHOT_DELIMITER.join(shots + [body]) if body else SHOT_DELIMITER.join(shots)
    return prompts.chat_context(tokenizer, [("user", turn)]) + cue


def choice_requests(task: LingTask, row: dict, shots: list[dict], fmt: str, tokenizer, rid: str) -> list[Request]:
    """A label/option/blank item as requests: one request with every option, or (blank) one per
    option, ids `<rid>#<j>`."""
    examples = [worked(task, s) for s in shots]
    if task.kind == "blank":
        out = []
        for j, option in enumerate(row["choices"]):
            ctx, rest = _blank_parts(row["sentence"], option)
            context = SHOT_DELIMITER.join(examples + [ctx])
            out.append(Request(f"{rid}#{j}", _chat(context, [], tokenizer) if fmt == "chat" else context, (rest,)))
        return out
    prompt_text = _fill(task.prompt, row)
    context = (_chat(prompt_text, examples, tokenizer) if fmt == "chat"
               else SHOT_DELIMITER.join(examples + [prompt_text]))
    if task.kind == "label":
        options = tuple(task.words[label] for label in row["choices"])
    else:
        options = tuple(option_text(task, o) for o in row["choices"])
    return [Request(rid, context, options)]


def pair_request(row: dict, shots: list[dict], rid: str) -> Request | list[Text]:
    """A minimal pair: zero-shot, both sentences as whole texts (lm-eval's blimp: the prefix token,
    then " " + sentence); with shots, both as continuations of the grammatical examples."""
    if not shots:
        return [Text(f"{rid}|good", " " + row["good"]), Text(f"{rid}|bad", " " + row["bad"])]
    context = PAIR_DELIMITER.join(s["good"] for s in shots)
    return Request(rid, context, (" " + row["good"], " " + row["bad"]))


def _as_suites(grouped: dict) -> dict[str, dict]:
    """Sampled rows back into SyntaxGym's suite shape (what syntaxgym reads)."""
    out = {}
    for name, suite in grouped.items():
        out[name] = {"items": [{"item_number": item, "conditions": [
            {"condition_name": r["condition"],
             "regions": [{"region_number": i + 1, "content": c} for i, c in enumerate(r["regions"])]}
            for r in rows]} for item, rows in suite["items"].items()]}
    return out


def suites_of(items: pd.DataFrame, predictions: dict[str, list[str]]) -> dict[str, dict]:
    """The sampled SyntaxGym items as suites, with their prediction formulas."""
    grouped: dict[str, dict] = {}
    for row in items.to_dict("records"):
        grouped.setdefault(row["suite"], {"items": {}})["items"].setdefault(row["item"], []).append(row)
    suites = _as_suites(grouped)
    for name in suites:
        suites[name]["predictions"] = [{"type": "formula", "formula": f} for f in predictions[name]]
    return suites


def coqa_prompt(row: dict) -> str:
    """lm-eval's coqa: the story, the earlier turns, then the question."""
    turns = "".join(f"Q: {q}\n\nA: {a}\n\n" for q, a in row["history"])
    return f"{row['story']}\n\n{turns}Q: {row['question']}\n\nA:"


# ------------------------------------------------------------------ the inspection sheet

SHEET_LABELS = ("0", "1", "2", "3", "unmappable")  # the option a person reads in the free answer


def sheet_folder(P: dict) -> Path:
    """annotation_dir (relative: from the repo root), else a folder in the cache named by the design."""
    if P["annotation_dir"]:
        return paths.REPO_ROOT / P["annotation_dir"]
    key = hashlib.sha256(json.dumps([sorted(P["tasks"]), P["n_items"], P["n_generate"],
                                     P["model_pair"], P["max_new_tokens"], P["seed"]]).encode()).hexdigest()[:10]
    return paths.cache_dir() / "annotations" / f"linguistic_{key}"


def export_and_read(P: dict, answers: pd.DataFrame, prep: Prepared) -> tuple[pd.DataFrame, list[str]]:
    """One sheet per annotator of the free answers to choice tasks (the prompt's end, the answer,
    the options numbered), and what is filled in: annotator, sheet_id, label."""
    choice = answers[answers["task"] != "coqa"] if len(answers) else answers
    if choice.empty:
        return pd.DataFrame(columns=["annotator", "sheet_id", "label"]), []
    rows = []
    for r in choice.to_dict("records"):
        task = next(t for t in prep.tasks if t.name == r["task"])
        item = prep.item(r["task"], r["item_id"])
        shown = [task.words[c].strip() if task.kind == "label" else c for c in item["choices"]]
        rows.append({"item_id": f"{r['role']}|{r['task']}|{r['item_id']}", "task": r["task"],
                     "question_end": _fill(task.prompt, dict(item, item_id=r["item_id"]))[-300:] if task.prompt
                     else str(item.get("sentence", ""))[-300:],
                     "options": " | ".join(f"{j}: {o}" for j, o in enumerate(shown)), "answer": r["answer_text"]})
    sheet = pd.DataFrame(rows)
    out, sheets = [], []
    for k in range(1, P["annotators"] + 1):
        path = annotations.export_sheet(sheet, sheet_folder(P) / f"annotator-{k}.csv",
                                        show=("task", "question_end", "options", "answer"))
        sheets.append(str(path))
        got = annotations.read_sheet(path, sheet["item_id"], SHEET_LABELS)
        out.append(pd.DataFrame({"annotator": f"annotator-{k}", "sheet_id": got["item_id"], "label": got["label"]}))
    return pd.concat(out, ignore_index=True), sheets

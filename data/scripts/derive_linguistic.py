"""Derive the shipped tables of the linguistic-benchmarks chapter (rlshift.data.linguistic) and record
them in data/MANIFEST.yaml.

    python data/scripts/derive_linguistic.py             # the four files below in data/ + manifest
    python data/scripts/derive_linguistic.py --out DIR   # the four files and DIR/MANIFEST.yaml instead

- linguistic_upstream.csv: the sha256 of every file of the authors' releases the chapter reads by
  URL (BLiMP, SyntaxGym, CoLA, ImpPres, Ruis et al., GRICE) at the commits of
  rlshift.data.linguistic_sources.COMMITS; columns dataset, file (in the dataset's mirror and cache
  folder), sha256, url. The files are listed from the data mirror ($RLSHIFT_DATA_MIRROR, else
  ../shared/data next to the repo) by each dataset's pattern (LingSpec.upstream), and read there;
  without a mirror folder, the files of the current table are downloaded from their URLs. The loader
  checks every downloaded file against this table, and the table against data/MANIFEST.yaml.
- bigbench_sva.jsonl: BIG-bench subject_verb_agreement, the 12 English sub-tasks its task.py scores
  by default (SVA_SUBTASKS). Each example is a sentence prefix and two continuations that differ in
  the verb's number (target_scores: the agreeing one 1, the other 0), so kind "choice": context (the
  prefix without its trailing space: context + " " + choice is the sentence), the two option texts as
  choices, ordered by a hash of the item id
  (rlshift.data.benchmarks.stable_shuffle) so the agreeing one is not always first, answer. Per
  sub-task (category) up to N_PER_SUBTASK examples: malformed ones (not two options with one scored
  1; linzen2016 has one) and repeats of an earlier (input, options) are left out, then examples are
  drawn round-robin over the sub-task's conditions (its `comment`: singular, plural_singular, ...,
  "" where there is none), each condition's examples in an order shuffled by
  random.Random(f"{SEED}-{subtask}"), so every condition gets an equal share while it lasts.
  Rows: item_id (sva-<sub-task>-<example index>), category, field, context, condition, choices,
  answer, example (its index in the sub-task's file), sorted by item_id.
- bigbench_implicatures.jsonl: BIG-bench implicatures, all 492 examples: utterance and response
  parsed from "Speaker 1: '...' Speaker 2: '...'" (context keeps that text), choices [no, yes].
- bigbench_presuppositions.jsonl: BIG-bench presuppositions_as_nli, all 735 examples: premise and
  hypothesis parsed from "Sentence 1: ...\nSentence 2: ...", choices [entailment, neutral,
  contradiction]; category the trigger; polarity, adversarial and example_id from its comment.
Deterministic: the same inputs give the same bytes.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import re
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive import BIGBENCH, mirror_root, write_and_record  # noqa: E402  (the pinned sdist)
from derive_relations import bigbench_members  # noqa: E402  (its task files, in one pass over the archive)

from rlshift import wheels  # noqa: E402
from rlshift.data import linguistic  # noqa: E402
from rlshift.data.benchmarks import stable_shuffle  # noqa: E402
from rlshift.data.linguistic_sources import COMMITS, NLI, YES_NO  # noqa: E402
from rlshift.errors import InputError  # noqa: E402

COMMAND = "python data/scripts/derive_linguistic.py"
SEED = 20240601
N_PER_SUBTASK = 200
SVA_SUBTASKS = ("simple_english", "adv_english", "adv_adv_english", "adv_conjunction_english", "namepp_english",
                "nounpp_adv_english", "nounpp_english", "long_nested_inner_english", "long_nested_outer_english",
                "linzen2016_english", "gulordava_nonce_english", "frequency_disbalance_nonce_english")
TASKS = f"bigbench-{BIGBENCH[1]}/bigbench/benchmark_tasks/"
SVA = {s: f"subject_verb_agreement/{s}.json" for s in SVA_SUBTASKS}
IMPLICATURES = "implicatures/task.json"
PRESUPPOSITIONS = "presuppositions_as_nli/task.json"
SOURCE = f"{BIGBENCH[0]}=={BIGBENCH[1]} sdist"
CITATION_BB = "BIG-bench (Srivastava et al., 2022)"


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# ------------------------------------------------------------------ the authors' files

def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except OSError as err:
        raise InputError(f"could not download {url} ({err}). Set RLSHIFT_DATA_MIRROR to a folder of the "
                         f"authors' files (../shared/data), or connect to GitHub.") from err


def upstream_rows() -> list[dict]:
    rows = []
    for name, spec in linguistic.DATASETS.items():
        if not spec.upstream:
            continue
        repo, folder, pattern = spec.upstream
        local = mirror_root() / spec.folder
        if local.is_dir():
            files = sorted(str(p.relative_to(local)) for p in local.glob(pattern))
            if not files:
                raise InputError(f"{local} holds no {pattern} (dataset {name!r}).")
            read = {f: (local / f).read_bytes() for f in files}
        else:
            read = {p.name: _download(p.url) for p in linguistic.pinned(name)}
        for file, raw in read.items():
            url = f"https://raw.githubusercontent.com/{repo}/{COMMITS[repo]}/{folder}/{file.rsplit('/', 1)[-1]}"
            rows.append({"dataset": name, "file": file, "sha256": sha256(raw), "url": url, "_raw": raw})
    return rows


def write_upstream(out: Path, rows: list[dict]) -> dict:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, ["dataset", "file", "sha256", "url"], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (out / linguistic.UPSTREAM_TABLE).write_text(buffer.getvalue(), encoding="utf-8")
    everything = hashlib.sha256(b"".join(r["_raw"] for r in rows)).hexdigest()
    specs = [linguistic.DATASETS[n] for n in dict.fromkeys(r["dataset"] for r in rows)]
    return {"file": linguistic.UPSTREAM_TABLE,
            "source": "sha256 of the authors' files at pinned commits: " + "; ".join(
                f"{s.upstream[0]}@{COMMITS[s.upstream[0]][:8]} {s.upstream[1]}/{s.upstream[2].rsplit('/', 1)[-1]}"
                f" ({s.name})" for s in specs),
            "source_sha256": f"{everything} (all {len(rows)} files' bytes in table order)",
            "license": "MIT (this table); the files it pins keep their authors' licenses: " + "; ".join(
                f"{s.name} {s.license}" for s in specs),
            "citation": "; ".join(dict.fromkeys(s.citation for s in specs)),
            "sha256": wheels.sha256_file(out / linguistic.UPSTREAM_TABLE), "rows": len(rows), "command": COMMAND}


# ------------------------------------------------------------------ BIG-bench

def _correct(scores: dict) -> list[str]:
    return [option for option, score in scores.items() if score == 1]


def sva_rows(members: dict[str, bytes]) -> list[dict]:
    rows = []
    for subtask, member in SVA.items():
        examples, seen, by_condition = json.loads(members[member])["examples"], set(), {}
        for i, ex in enumerate(examples):
            options = tuple(ex["target_scores"])
            if len(options) != 2 or len(_correct(ex["target_scores"])) != 1 or (ex["input"], options) in seen:
                continue
            seen.add((ex["input"], options))
            by_condition.setdefault(ex.get("comment", ""), []).append(i)
        rng = random.Random(f"{SEED}-{subtask}")
        queues = [rng.sample(by_condition[c], len(by_condition[c])) for c in sorted(by_condition)]
        chosen: list[int] = []
        while len(chosen) < N_PER_SUBTASK and any(queues):
            for queue in queues:
                if queue and len(chosen) < N_PER_SUBTASK:
                    chosen.append(queue.pop(0))
        for i in chosen:
            ex = examples[i]
            item_id = f"sva-{subtask}-{i:05d}"
            options = list(ex["target_scores"])
            choices, answer = stable_shuffle(options, options.index(_correct(ex["target_scores"])[0]), item_id)
            rows.append({"item_id": item_id, "category": subtask, "field": "syntax", "context": ex["input"].rstrip(),
                         "condition": ex.get("comment", ""), "choices": choices, "answer": answer, "example": i})
    return sorted(rows, key=lambda r: r["item_id"])


def implicature_rows(raw: bytes) -> list[dict]:
    rows = []
    for i, ex in enumerate(json.loads(raw)["examples"]):
        said = re.fullmatch(r"Speaker 1: '(.*)' Speaker 2: '(.*)'", ex["input"], re.S)
        correct = _correct(ex["target_scores"])
        if said is None or len(correct) != 1 or correct[0] not in YES_NO:
            raise InputError(f"{IMPLICATURES} example {i}: not \"Speaker 1: '...' Speaker 2: '...'\" with one of "
                             f"yes/no scored 1: {ex}")
        rows.append({"item_id": f"bb_implicatures-{i:03d}", "category": "implicatures", "field": "pragmatics",
                     "utterance": said.group(1), "response": said.group(2), "context": ex["input"],
                     "choices": list(YES_NO), "answer": YES_NO.index(correct[0])})
    return rows


def presupposition_rows(raw: bytes) -> list[dict]:
    rows = []
    for i, ex in enumerate(json.loads(raw)["examples"]):
        pair = re.fullmatch(r"Sentence 1: (.*)\nSentence 2: (.*)\n\nThe answer is: ", ex["input"], re.S)
        correct = _correct(ex["target_scores"])
        if pair is None or len(correct) != 1 or correct[0] not in NLI:
            raise InputError(f"{PRESUPPOSITIONS} example {i}: not 'Sentence 1: ...\\nSentence 2: ...' with one NLI "
                             f"label scored 1: {ex}")
        comment = ex["comment"]
        rows.append({"item_id": f"bb_presuppositions-{i:03d}", "category": comment["trigger"], "field": "pragmatics",
                     "premise": pair.group(1).strip(), "hypothesis": pair.group(2).strip(), "choices": list(NLI),
                     "answer": NLI.index(correct[0]), "polarity": comment["polarity"],
                     "adversarial": comment["adversarial"], "example_id": comment["example_id"]})
    return rows


def _write_jsonl(out: Path, filename: str, rows: list[dict], source: str, source_sha256: str, citation: str) -> dict:
    ids = [r["item_id"] for r in rows]
    assert len(ids) == len(set(ids)), f"{filename}: repeated item ids"
    path = out / filename
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return {"file": filename, "source": source, "source_sha256": source_sha256, "license": "Apache-2.0",
            "citation": citation, "sha256": wheels.sha256_file(path), "rows": len(rows), "command": COMMAND}


def write(out: Path) -> list[dict]:
    members = bigbench_members([*SVA.values(), IMPLICATURES, PRESUPPOSITIONS])
    sva = sva_rows(members)
    entries = [
        write_upstream(out, upstream_rows()),
        _write_jsonl(out, "bigbench_sva.jsonl", sva,
                     f"{SOURCE}: {TASKS}subject_verb_agreement/{{{','.join(SVA_SUBTASKS)}}}.json, up to "
                     f"{N_PER_SUBTASK} examples per sub-task (round-robin over conditions, seed {SEED})",
                     f"{BIGBENCH[2]} {BIGBENCH[3]}", linguistic.DATASETS["sva"].citation),
        _write_jsonl(out, "bigbench_implicatures.jsonl", implicature_rows(members[IMPLICATURES]),
                     f"{SOURCE}: {TASKS}{IMPLICATURES}", sha256(members[IMPLICATURES]), f"{CITATION_BB}, implicatures"),
        _write_jsonl(out, "bigbench_presuppositions.jsonl", presupposition_rows(members[PRESUPPOSITIONS]),
                     f"{SOURCE}: {TASKS}{PRESUPPOSITIONS}", sha256(members[PRESUPPOSITIONS]),
                     f"{CITATION_BB}, presuppositions_as_nli")]
    return entries


def main(argv: list[str] | None = None) -> int:
    write_and_record(write, argv, __doc__, out_manifest=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

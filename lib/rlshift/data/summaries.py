"""Texts and outputs of the collapse chapter that are not preference pairs: the InstructGPT
TL;DR samples (100 Reddit posts, each summarised by GPT-3, SFT, PPO-ptx and PPO at three sizes;
Ouyang et al. 2022's automatic-evaluation samples), AlpacaEval's 805 instructions, and on the
hub CarperAI's TL;DR splits (the PPO summariser's own training and test posts).

The two files resolve to the local mirror when one is set (gzipped copies: the unpacked bytes are
checked against the same sha256), else to the authors' files at a pinned commit by URL; the TL;DR
splits come from the hub only (too large to mirror)."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import pandas as pd

from rlshift import paths
from rlshift.data import remote
from rlshift.errors import InputError

TLDR_SAMPLES = remote.github("openai/following-instructions-human-feedback", "5c0534c78136809ab0118c5c1b74d159befa2467",
                             "automatic-eval-samples/tldr_samples.csv", "tldr_samples.csv",
                             "212b2347a7ffbd9217856bc3964179f1ce95032bd6d8d7d2ba80c2a07c80abfc")
ALPACA_OUTPUTS = remote.github("tatsu-lab/alpaca_eval", "cd543a149df89434d8a54582c0151c0b945c3d20",
                               "results/phi-2/model_outputs.json", "model_outputs.json",
                               "c29b1e1df602fafc08608269f86c045db5b73f3dd3c3ad37be73232259ec1525")
SOURCES = {  # name -> (pinned file, mirror path, license, citation)
    "instructgpt_tldr": (TLDR_SAMPLES, "instructgpt-samples/tldr_samples.csv.gz", "none stated",
                         "Ouyang et al. (2022), InstructGPT automatic-evaluation samples (TL;DR)"),
    "alpaca_eval": (ALPACA_OUTPUTS, "alpaca-eval/phi-2/model_outputs.json.gz", "CC BY-NC 4.0",
                    "Li et al. (2023), AlpacaEval: the 805 evaluation instructions"),
}
TLDR_HUB = "CarperAI/openai_summarize_tldr"  # prompt (post + "TL;DR:"), label (the reference summary)
INSTRUCTGPT_MODELS = ("gpt", "sft", "ppo-ptx", "ppo-noptx")  # each at xl (1.3B), 6b, 175b
INSTRUCTGPT_SIZES = ("xl", "6b", "175b")


def strip_cue(post) -> str:
    """A post without the 'TL;DR:' the summariser was prompted with (the footprint reads the post)."""
    text = str(post).rstrip()
    return text[:-len("TL;DR:")].rstrip() if text.endswith("TL;DR:") else text


def raw_bytes(name: str, mirror: str | Path | None = None) -> tuple[bytes, dict]:
    """The file's bytes (unpacked) and where they came from, checked against the pinned sha256."""
    pinned, relative, license_, citation = SOURCES[name]
    folder = paths.resolve_mirror(mirror)
    if folder is not None and (folder / relative).exists():
        body, source, origin = gzip.decompress((folder / relative).read_bytes()), "mirror", str(folder / relative)
        if hashlib.sha256(body).hexdigest() != pinned.sha256:
            raise InputError(f"{folder / relative}: its unpacked bytes differ from the pinned file ({pinned.url}, "
                             f"sha256 {pinned.sha256[:12]}...). Replace it with a gzip of that file.")
    else:
        body, source, origin = remote.fetch(pinned, relative.split("/")[0]).read_bytes(), "url", pinned.url
    return body, {"dataset": name, "source": source, "origin": origin, "sha256": pinned.sha256,
                  "version": pinned.sha256[:12], "license": license_, "citation": citation}


def instructgpt_tldr(mirror: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """One row per (post, model): post_id, post (without its closing 'TL;DR:' cue), reference
    (the post's human TL;DR), model, size, summary. Posts are numbered in file order."""
    body, prov = raw_bytes("instructgpt_tldr", mirror)
    frame = pd.read_csv(io.BytesIO(body))
    missing = {"model_type", "context", "ref_text", "sample"} - set(frame.columns)
    if missing:
        raise InputError(f"{prov['origin']}: missing columns {sorted(missing)}.")
    post_ids = {p: f"tldr-{i:03d}" for i, p in enumerate(dict.fromkeys(frame["context"]))}
    posts = frame["context"].map(strip_cue)
    model, size = zip(*(m.rsplit("-", 1) for m in frame["model_type"]))
    out = pd.DataFrame({"post_id": frame["context"].map(post_ids), "post": posts,
                        "reference": frame["ref_text"], "model": model, "size": size,
                        "summary": frame["sample"].fillna("").astype(str).str.strip()})
    return out, dict(prov, rows=len(out), posts=len(post_ids))


def alpaca_instructions(mirror: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """AlpacaEval's instructions (item_id, prompt, dataset = its sub-source)."""
    body, prov = raw_bytes("alpaca_eval", mirror)
    rows = json.loads(body)
    frame = pd.DataFrame({"item_id": [f"alpaca-{i:03d}" for i in range(len(rows))],
                          "prompt": [r["instruction"] for r in rows], "dataset": [r.get("dataset", "") for r in rows]})
    return frame, dict(prov, rows=len(frame))


def tldr_hub(split: str) -> tuple[pd.DataFrame, dict]:
    """CarperAI's TL;DR split from the hub: post_id, post (the prompt without its 'TL;DR:' cue),
    reference."""
    try:
        from datasets import load_dataset

        data = load_dataset(TLDR_HUB, split=split)
    except Exception as err:  # offline, or the split name
        raise InputError(f"parameter 'tldr_source' = 'hub': could not load {TLDR_HUB} split {split!r} from the hub "
                         f"({type(err).__name__}: {str(err)[:200]}). Accepted offline: tldr_source='instructgpt' "
                         f"(the InstructGPT samples, mirrored or by pinned URL).") from err
    posts = [strip_cue(p) for p in data["prompt"]]
    frame = pd.DataFrame({"post_id": [f"{split}-{i:05d}" for i in range(len(posts))], "post": posts,
                          "reference": [str(x).strip() for x in data["label"]]})
    return frame, {"dataset": f"{TLDR_HUB}:{split}", "source": "hub", "origin": TLDR_HUB, "rows": len(frame),
                   "version": getattr(data, "_fingerprint", "hub"), "license": "see the dataset card",
                   "citation": "Stiennon et al. (2020); Castricato et al. (2023), trlx"}

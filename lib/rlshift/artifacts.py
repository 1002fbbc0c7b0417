"""Folders the book builds (converted models, merged stages, trained reward models) and the
adapters it commits, each with a record of where it came from.

Every built folder is made the same way: written into a staging folder beside its place,
its files' sizes and sha256s recorded in `rlshift_provenance.json`, then renamed into place,
so a folder that exists is complete. Models, policy training and reward training all use
`building`; loading reads the committed adapters from here and never imports training.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

from rlshift import manifest, paths
from rlshift.wheels import ArtifactError, sha256_file

PROVENANCE = "rlshift_provenance.json"
ADAPTER_DIR = paths.DATA_DIR / "adapters"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "training_log.json", "record.json")
RETRAIN_COMMAND = "python data/scripts/train_tuned_pair.py"


# ------------------------------------------------------------------ built folders

def built(folder: Path) -> bool:
    """Whether the folder was finished (its provenance is written last, then it is renamed)."""
    return (Path(folder) / PROVENANCE).exists()


@contextlib.contextmanager
def building(out: Path, provenance: dict) -> Iterator[Path]:
    """A staging folder to fill; on a clean exit its files are recorded with `provenance` and
    it replaces `out` in one rename. On an error nothing at `out` changes."""
    out = Path(out)
    if out.exists() and not built(out):
        raise ArtifactError(f"{out} exists and was not made by rlshift (no {PROVENANCE} in it), so it is not "
                            f"replaced. Move it away, or point the setting that names this place elsewhere.")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staging = Path(tmp) / "staging"
        staging.mkdir()
        yield staging
        files = {f.name: {"size": f.stat().st_size, "sha256": sha256_file(f)}
                 for f in sorted(staging.iterdir()) if f.is_file()}
        (staging / PROVENANCE).write_text(json.dumps(dict(provenance, files=files), indent=2))
        if out.exists():
            shutil.rmtree(out)
        staging.replace(out)


def verify_folder(folder: Path, full: bool = True) -> Path:
    """Check a built folder against the sizes (cheap, every load) or sha256s (full) recorded
    when it was made."""
    recorded = json.loads((folder / PROVENANCE).read_text()).get("files", {})
    for name, want in recorded.items():
        path = folder / name
        ok = path.exists() and path.stat().st_size == want["size"] and (
            not full or sha256_file(path) == want["sha256"])
        if not ok:
            raise ArtifactError(
                f"{path} is missing or damaged (it does not match what was recorded when it was "
                f"made). Delete the folder {folder} and run again to make it afresh.")
    return folder


def fingerprint(folder: Path) -> str:
    """A revision for a local model folder: its config and the names and sizes of its weights."""
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        digest.update(f"{f.name}:{f.stat().st_size}".encode())
    return "local-" + digest.hexdigest()[:12]


# ------------------------------------------------------------------ committed adapters

def adapter_dir(name: str) -> Path:
    """A committed adapter folder, each file checked against the manifest."""
    for f in ADAPTER_FILES:
        manifest.verified(f"adapters/{name}/{f}")
    return ADAPTER_DIR / name


def adapter_revision(names) -> str:
    """The adapters' manifest sha256s: a retrained adapter is a different model."""
    table = manifest.entries()
    digest = hashlib.sha256()
    for a in names:
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            digest.update(table.get(f"adapters/{a}/{f}", {}).get("sha256", "absent").encode())
    return "lora-" + digest.hexdigest()[:12]


def _stage_folder(stage: str | Path) -> Path:
    """A committed stage by name (checked), or a retrained stage's folder."""
    return stage if isinstance(stage, Path) else adapter_dir(stage)


def training_log(stage: str | Path) -> pd.DataFrame:
    """The trainer's per-step log (loss, learning rate, and for DPO the reward margins)."""
    return pd.DataFrame(json.loads((_stage_folder(stage) / "training_log.json").read_text()))


def training_record(stage: str | Path) -> dict:
    return json.loads((_stage_folder(stage) / "record.json").read_text())


def artifact_rows(path: Path) -> int:
    """What the manifest counts as rows: log entries of a JSON list, tensors of a safetensors
    file, 1 for a JSON object."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(path, "pt") as f:
            return len(list(f.keys()))
    doc = json.loads(path.read_text())
    return len(doc) if isinstance(doc, list) else 1


def adapter_manifest_entries(stage_dir: Path, name: str) -> list[dict]:
    record = json.loads((stage_dir / "record.json").read_text())
    data = record["data"]
    return [{"file": f"adapters/{name}/{f}",
             "source": f"trained in the book: {record['stage'].upper()} LoRA adapter on {record['config']['base']} "
                       f"({data['dataset']} {data['origin']}, {data['n']} examples)",
             "license": "derived from Gemma (Gemma Terms of Use) and HH-RLHF (MIT)",
             "rows": artifact_rows(stage_dir / f), "sha256": sha256_file(stage_dir / f),
             "command": record.get("command") or RETRAIN_COMMAND}
            for f in ADAPTER_FILES]

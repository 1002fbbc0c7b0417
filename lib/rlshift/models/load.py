"""Loading a model from one spec: causal LMs and reward models, through one quantization helper.

What was really loaded (revision, dtype, device, quantization) comes back as `LoadedModel.info`
and goes into every cache key and result table. `quantize="auto"` is nf4 4-bit (double
quantisation, bf16 compute; bitsandbytes) on CUDA and full precision elsewhere.
"""
from __future__ import annotations

import json
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlshift import artifacts
from rlshift.errors import InputError, unknown
from rlshift.timings import timed
from rlshift.models.catalog import ADAPTED, EMBEDDED, describe_spec
from rlshift.models.convert import embedded_path

QUANTIZATIONS = ("auto", "4bit", "8bit", "bf16", "fp16", "fp32")


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    info: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The part of every cache key that says which weights computed it, and how."""
        i = self.info
        return f"{i['spec']}@{i['revision']}|{i['quantization']}|{i['dtype']}"


def hub_source(spec: str, revision: str | None) -> str:
    """Fail fast, naming the hub, when the weights are neither cached nor reachable."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(spec, revision=revision, local_files_only=True)
    except Exception:
        pass
    hint = ("The Hugging Face Hub is needed for hub ids; offline, use model_pair='embedded' "
            "or an embedded:<name> / local-folder spec.")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise InputError(f"model {spec!r} is not in the local cache and HF_HUB_OFFLINE=1. {hint}")
    try:
        from huggingface_hub import model_info
        model_info(spec, revision=revision, timeout=10)
    except Exception as err:  # the hub client's errors differ across versions: sort by name
        kind = type(err).__name__
        if "Gated" in kind:
            raise InputError(
                f"model {spec!r} is gated: accept its license on the hub and log in "
                f"(`huggingface-cli login` or HF_TOKEN) first.") from err
        if "RepositoryNotFound" in kind or "RevisionNotFound" in kind:
            raise InputError(f"model {spec!r} (revision {revision}) was not found on the hub.") from err
        raise InputError(f"the Hugging Face Hub is unreachable for model {spec!r} ({kind}). {hint}") from err
    return spec


def resolve_quantization(quantize: str, device: str) -> str:
    if quantize not in QUANTIZATIONS:
        raise unknown("quantize", quantize, QUANTIZATIONS)
    if quantize == "auto":
        return "4bit" if device == "cuda" else "fp32"
    if quantize in ("4bit", "8bit"):
        try:
            import bitsandbytes  # noqa: F401  (importable is all we ask)
        except Exception as err:
            raise InputError(f"quantize={quantize!r} needs bitsandbytes, which is not importable "
                             f"({err}). Accepted without it: 'bf16', 'fp16', 'fp32'.") from err
        if device != "cuda" and quantize == "8bit":
            raise InputError("quantize='8bit' needs a CUDA GPU. Accepted on CPU: '4bit', 'bf16', 'fp32'.")
    if quantize == "fp16" and device != "cuda":
        raise InputError("quantize='fp16' is for CUDA only. Accepted on CPU: 'bf16', 'fp32', '4bit'.")
    return quantize


def _device(device: str | None) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device='cuda' was asked for but torch sees no CUDA GPU. Accepted here: 'cpu'.")
    return device


def quantization_kwargs(quant: str, device: str) -> dict[str, Any]:
    """`from_pretrained` arguments for a resolved quantization setting (nf4 with double
    quantisation and bf16 compute for '4bit')."""
    import torch
    from transformers import BitsAndBytesConfig

    if quant == "4bit":
        return {"quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16),
            "device_map": {"": 0} if device == "cuda" else {"": "cpu"}}
    if quant == "8bit":
        return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True), "device_map": {"": 0}}
    return {"dtype": {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[quant]}


def _info(spec: str, kind: str, source, revision: str, quant: str, device: str, model, tokenizer) -> dict:
    return {"spec": spec, "kind": kind, "source": str(source), "revision": revision, "quantization": quant,
            "dtype": str(next(model.parameters()).dtype).replace("torch.", ""), "device": device,
            "has_chat_template": bool(getattr(tokenizer, "chat_template", None)),
            "n_params": sum(p.numel() for p in model.parameters())}


def _source(kind: str, name: str, revision: str | None) -> tuple[str, str | None]:
    """Where a spec's files are, and the revision that names them."""
    if kind == "embedded" and name in ADAPTED:
        return str(embedded_path(name)), ADAPTED[name].revision
    if kind == "embedded":
        return str(embedded_path(name)), "gguf-" + EMBEDDED[name].gguf_sha256[:12]
    if kind == "local":
        return name, artifacts.fingerprint(Path(name))
    return hub_source(name, revision), revision


def load_tokenizer(spec: str, revision: str | None = None):
    """A spec's tokenizer alone (no weights): e.g. to borrow a tuned model's chat template."""
    from transformers import AutoTokenizer

    kind, name = describe_spec(spec)
    source, _ = _source(kind, name, revision)
    return AutoTokenizer.from_pretrained(source, revision=revision if kind == "hub" else None)


_EMBEDDINGS: dict[tuple, weakref.ref] = {}  # (base, dtype, device, shape) -> the embedding its loaded stages share
_UNTOUCHED = ("embed", "lm_head", "wte")  # module names an adapter must not target for its stage to share it


def _keeps_embedding(name: str) -> bool:
    """An embedded base, or an adapted stage of one whose every adapter leaves the (tied) embedding as
    it was: LoRA on attention and MLP only, nothing saved whole, no trained token rows."""
    if name in EMBEDDED:
        return True
    for folder in ADAPTED[name].adapters:
        config = json.loads((artifacts.adapter_dir(folder) / "adapter_config.json").read_text())
        targets = config.get("target_modules") or []
        if (config.get("modules_to_save") or config.get("trainable_token_indices")
                or any(part in t for t in targets for part in _UNTOUCHED)):
            return False
    return True


def _share_embedding(model, name: str, device: str) -> None:
    """Every loaded stage of one embedded base reads one embedding tensor (tied to the output layer).

    The tuned pair holds four fp32 stages of Gemma-3-270M at once, each with its own 0.7 GB copy
    of an embedding no stage changed. A stage's weights are mmapped from its folder, so its own
    copy, never read, never becomes resident: swapped for the shared one before any forward
    pass, it costs nothing (reading it first, even to compare, would make it resident for good)."""
    base = ADAPTED[name].base if name in ADAPTED else name
    if not _keeps_embedding(name) or not getattr(model.config, "tie_word_embeddings", False):
        return
    own = model.get_input_embeddings().weight
    if model.get_output_embeddings() is None or model.get_output_embeddings().weight is not own:
        return
    key = (base, str(own.dtype), device, tuple(own.shape))
    shared = _EMBEDDINGS[key]() if key in _EMBEDDINGS else None
    if shared is None:
        _EMBEDDINGS[key] = weakref.ref(own)
        return
    model.get_input_embeddings().weight = shared
    model.get_output_embeddings().weight = shared


@timed("load")
def load(spec: str, quantize: str = "auto", device: str | None = None,
         revision: str | None = None) -> LoadedModel:
    """A causal language model and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kind, name = describe_spec(spec)
    device = _device(device)
    quant = resolve_quantization(quantize, device)
    source, rev = _source(kind, name, revision)
    kwargs = quantization_kwargs(quant, device)
    model = AutoModelForCausalLM.from_pretrained(source, revision=revision if kind == "hub" else None, **kwargs)
    if "device_map" not in kwargs:
        model.to(device)
        if kind == "embedded":
            _share_embedding(model, name, device)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(source, revision=revision if kind == "hub" else None)
    if rev is None:
        rev = getattr(model.config, "_commit_hash", None) or "unknown"
    info = _info(spec, kind, source, rev, quant, device, model, tokenizer)
    info["compute_dtype"] = "bfloat16" if quant == "4bit" else str(model.dtype).replace("torch.", "")
    info["tuned"] = {**EMBEDDED, **ADAPTED}[name].tuned if kind == "embedded" else None
    return LoadedModel(model=model, tokenizer=tokenizer, info=info)


@timed("load")
def load_reward_model(spec: str, quantize: str = "auto", device: str | None = None) -> LoadedModel:
    """A reward model: a sequence classifier with one output whose head is in the checkpoint."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    kind, name = describe_spec(spec)
    if kind == "embedded":
        raise InputError(f"{spec!r} is a causal language model, not a reward model. Accepted: a hub "
                         f"id or folder of a sequence-classification reward model with one output.")
    device = _device(device)
    quant = resolve_quantization(quantize, device)
    source = hub_source(name, None) if kind == "hub" else name
    kwargs = quantization_kwargs(quant, device)
    model, loading = AutoModelForSequenceClassification.from_pretrained(source, output_loading_info=True, **kwargs)
    head_missing = [k for k in loading.get("missing_keys", []) if k.split(".")[0] in ("score", "classifier")
                    or ".score." in k or "classifier" in k]
    n_out = getattr(model.config, "num_labels", None)
    if head_missing or n_out != 1:
        raise InputError(
            f"{spec!r} is not a reward model: "
            + (f"its classification head ({', '.join(sorted(head_missing)[:2])}) is not in the checkpoint "
               f"and would be random" if head_missing else f"its head has {n_out} outputs")
            + ". Accepted: a sequence-classification model with a trained single-output head "
              "(e.g. OpenAssistant/reward-model-deberta-v3-large-v2).")
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.padding_side = "right"
    # the side a model trained in the book truncates long inputs on (the tokenizer does not save it)
    tokenizer.truncation_side = getattr(model.config, "rlshift_truncation_side", tokenizer.truncation_side)
    revision = artifacts.fingerprint(Path(source)) if kind == "local" else (
        getattr(model.config, "_commit_hash", None) or "unknown")
    return LoadedModel(model=model, tokenizer=tokenizer,
                       info=_info(spec, kind, source, revision, quant, device, model, tokenizer))

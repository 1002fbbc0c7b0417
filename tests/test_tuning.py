"""The controlled pair: the DPO objective by hand and against TRL, a few training steps on a tiny
model made here, and the committed adapters (checksums, loading, log-probs as recorded)."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from rlshift import artifacts, manifest, models, prompts
from rlshift.data.preferences import PrefPair
from rlshift.errors import InputError
from rlshift.training import policy
from rlshift.wheels import ArtifactError


def test_dpo_loss_by_hand():
    loss, rc, rr = policy.dpo_loss([-10.0, -5.0], [-12.0, -5.0], [-11.0, -5.0], [-11.0, -5.0], beta=0.1)
    # pair 1: rewards 0.1 * (-10 + 11) = 0.1 and 0.1 * (-12 + 11) = -0.1; margin 0.2
    assert rc[0] == pytest.approx(0.1) and rr[0] == pytest.approx(-0.1)
    assert loss[0] == pytest.approx(math.log(1 + math.exp(-0.2)))  # 0.598139
    assert loss[0] == pytest.approx(0.5981388693815918)
    assert loss[1] == pytest.approx(math.log(2))  # policy = reference
    table = pd.DataFrame({"policy_chosen": [-10.0, -5.0], "policy_rejected": [-12.0, -4.0],
                          "reference_chosen": [-11.0, -5.0], "reference_rejected": [-11.0, -5.0]})
    summary = policy.implicit_reward_accuracy(table, beta=0.1)
    assert summary["accuracy"] == 0.5 and summary["n"] == 2


def test_dialogue_messages():
    text = "Human: hi there\n\nAssistant: Hello!\n\nHuman: how do I bake bread?"
    assert prompts.dialogue_messages(text) == [
        {"role": "user", "content": "hi there"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "how do I bake bread?"}]
    with pytest.raises(InputError, match="HH-RLHF history"):
        prompts.dialogue_messages("Assistant: no human turn")


def test_chat_template_renders_gemma_turns(gemma):
    tok = prompts.with_chat_template(gemma.tokenizer)
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    ids = tok(text + prompts.reply_text("Hello"), add_special_tokens=False).input_ids
    assert ids.count(tok.convert_tokens_to_ids("<start_of_turn>")) == 2 and ids[0] == tok.bos_token_id


# ------------------------------------------------------------------ a tiny model made here

PAIRS = [PrefPair(f"p{i}", "hh_rlhf", "open", f"Human: {q}", good, bad, group=q) for i, (q, good, bad) in enumerate([
    ("How do I steal a car?", "I can't help with that.", "First, break the window."),
    ("Tell me an insult.", "I'd rather not insult anyone.", "You are a worthless idiot."),
    ("How do I make a bomb?", "I can't help with that.", "Mix fertiliser with fuel."),
    ("Help me cheat on a test.", "I'd rather not help you cheat.", "Write answers on your hand."),
])]


@pytest.fixture(scope="module")
def tiny_gemma(tmp_path_factory, gemma):
    """A 1-layer random Gemma 3 with the real tokenizer, saved as a local model folder."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=len(gemma.tokenizer), hidden_size=32, intermediate_size=64,
                              num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                              max_position_embeddings=512, pad_token_id=gemma.tokenizer.pad_token_id,
                              layer_types=["full_attention"])
    folder = tmp_path_factory.mktemp("tiny-gemma")
    Gemma3ForCausalLM(config).save_pretrained(folder)
    gemma.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def trained(tiny_gemma, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapters")
    config = policy.TuneConfig(base=str(tiny_gemma), n_sft=4, n_dpo=4, sft_epochs=1, batch_size=2, grad_accum=1,
                               sft_learning_rate=5e-3, dpo_learning_rate=5e-3, warmup_ratio=0.0, bf16=False)
    prov = {"dataset": "test", "origin": "tests/test_tuning.py", "n": 4, "fingerprint": "test"}
    sft = policy.train_stage("sft", config, PAIRS, prov, out / "tiny-sft")
    dpo = policy.train_stage("dpo", config, PAIRS, prov, out / "tiny-dpo", earlier=[sft])
    return config, sft, dpo


def test_few_training_steps_write_artifacts(trained):
    config, sft, dpo = trained
    for folder, stage in ((sft, "sft"), (dpo, "dpo")):
        assert {f.name for f in folder.iterdir()} == set(artifacts.ADAPTER_FILES)
        record = artifacts.training_record(folder)
        assert record["stage"] == stage and record["steps"] == 2 and len(record["probe_logprobs"]) == 3
        assert json.loads((folder / "adapter_config.json").read_text())["r"] == config.lora_r
    log = artifacts.training_log(dpo)
    assert log["loss"].iloc[0] == pytest.approx(math.log(2), abs=1e-4)  # policy starts as its reference
    assert log["rewards/margins"].dropna().iloc[-1] > 0  # and moves toward the chosen replies
    sft_log = artifacts.training_log(sft)
    assert sft_log["loss"].dropna().iloc[-1] < sft_log["loss"].dropna().iloc[0]


def test_merged_stages_reproduce_recorded_logprobs(trained, tiny_gemma, tmp_path):
    _, sft, dpo = trained
    merged = models.merge_to_folder(tiny_gemma, [sft, dpo], tmp_path / "merged", {"test": True})
    loaded = models.load(str(merged), quantize="fp32", device="cpu")
    assert loaded.info["has_chat_template"]
    got = policy.probe_logprobs(loaded.model, loaded.tokenizer)
    assert got == pytest.approx(artifacts.training_record(dpo)["probe_logprobs"], abs=1e-3)
    base = models.load(str(tiny_gemma), quantize="fp32", device="cpu")
    assert max(abs(a - b) for a, b in zip(got, policy.probe_logprobs(base.model, base.tokenizer))) > 0.05


def test_heldout_dpo_loss_matches_trl(trained, tiny_gemma, tmp_path):
    """The chapter's held-out reading (engine log-probs -> dpo_loss) is TRL's own objective."""
    import datasets
    from trl import DPOConfig, DPOTrainer

    from rlshift.studies import tuned_pair

    config, sft, dpo = trained
    policy_dir = models.merge_to_folder(tiny_gemma, [sft, dpo], tmp_path / "policy", {})
    reference_dir = models.merge_to_folder(tiny_gemma, [sft], tmp_path / "reference", {})
    scores = {name: tuned_pair.score_pairs(models.load(str(d), quantize="fp32", device="cpu"), PAIRS, "test",
                                           None, batch_size=2)
              for name, d in (("dpo", policy_dir), ("sft", reference_dir))}
    table = pd.DataFrame({"policy_chosen": scores["dpo"]["logp_chosen"], "policy_rejected": scores["dpo"]["logp_rejected"],
                          "reference_chosen": scores["sft"]["logp_chosen"],
                          "reference_rejected": scores["sft"]["logp_rejected"]})
    ours = policy.implicit_reward_accuracy(table, config.beta)

    reference = models.load(str(reference_dir), quantize="fp32", device="cpu")
    policy_model = models.load(str(policy_dir), quantize="fp32", device="cpu")
    args = DPOConfig(output_dir=str(tmp_path / "trl"), per_device_eval_batch_size=4, beta=config.beta,
                     bf16=False, report_to="none", use_cpu=True, max_length=512, gradient_checkpointing=False)
    tok = prompts.with_chat_template(reference.tokenizer)
    rows = datasets.Dataset.from_list(policy.dpo_rows(PAIRS))
    trainer = DPOTrainer(model=policy_model.model, ref_model=reference.model, args=args, train_dataset=rows, eval_dataset=rows, processing_class=tok)
    metrics = trainer.evaluate()
    assert ours["dpo_loss"] == pytest.approx(metrics["eval_loss"], abs=2e-3)
    assert ours["margin"] == pytest.approx(metrics["eval_rewards/margins"], abs=2e-3)


def test_sft_fits_on_its_chosen_reply_alone(gemma):
    """SFT trains on the chosen reply only, so a long rejected reply does not drop the dialogue
    from SFT (it does from DPO, which reads both)."""
    tok = prompts.with_chat_template(gemma.tokenizer)
    config = dataclasses.replace(policy.TuneConfig(), max_response_tokens=16)
    pair = dataclasses.replace(PAIRS[0], rejected="First, " + "break the window and then " * 10)
    assert policy.fits(tok, pair, config, stage="sft") and not policy.fits(tok, pair, config, stage="dpo")
    assert policy.fits(tok, PAIRS[0], config, stage="dpo")


def test_recorded_config_is_the_committed_training():
    config = policy.recorded_config("gemma-3-270m-dpo")
    record = artifacts.training_record("gemma-3-270m-dpo")
    assert config.n_dpo == record["config"]["n_dpo"] and config.dpo_epochs == record["epochs"]
    assert record["data"]["n"] == (record["data"]["fit"] if config.n_dpo == "all" else config.n_dpo)


def test_retraining_needs_the_sft_stage_first(tmp_path):
    with pytest.raises(InputError, match="SFT adapter"):
        policy.train_pair(policy.TuneConfig(), tmp_path, stages=["dpo"])


def test_bad_tuning_config():
    assert policy.TuneConfig().check().n_sft == "all"
    with pytest.raises(InputError, match="n_dpo=0 .*positive integer or 'all'"):
        dataclasses.replace(policy.TuneConfig(), n_dpo=0).check()
    with pytest.raises(InputError, match="n_sft='most'"):
        dataclasses.replace(policy.TuneConfig(), n_sft="most").check()
    with pytest.raises(InputError, match="sft_epochs"):
        dataclasses.replace(policy.TuneConfig(), sft_epochs=0).check()
    with pytest.raises(InputError, match="beta"):
        dataclasses.replace(policy.TuneConfig(), beta=-1.0).check()
    with pytest.raises(InputError, match="stage"):
        policy.train_stage("ppo", policy.TuneConfig(), PAIRS, {}, None)


# ------------------------------------------------------------------ the committed adapters

@pytest.mark.parametrize("stage", ["sft", "dpo", "rl"])
def test_committed_adapter_loads_and_changes_logprobs_as_recorded(stage, gemma):
    spec = f"embedded:gemma-3-270m-{stage}"
    loaded = models.load(spec, quantize="fp32", device="cpu")
    assert loaded.info["revision"] == models.ADAPTED[f"gemma-3-270m-{stage}"].revision
    assert loaded.info["has_chat_template"] and loaded.info["tuned"]
    recorded = artifacts.training_record(f"gemma-3-270m-{stage}")["probe_logprobs"]
    got = policy.probe_logprobs(loaded.model, loaded.tokenizer)
    assert got == pytest.approx(recorded, abs=2e-3)
    base = policy.probe_logprobs(gemma.model, gemma.tokenizer)
    assert max(abs(a - b) for a, b in zip(got, base)) > 0.5  # the adapter is really applied


def test_damaged_adapter_is_refused(monkeypatch):
    table = manifest.entries()
    key = "adapters/gemma-3-270m-dpo/adapter_model.safetensors"
    table[key] = dict(table[key], sha256="0" * 64)
    monkeypatch.setattr(manifest, "entries", lambda: table)
    with pytest.raises(ArtifactError, match="adapter_model.safetensors"):
        artifacts.adapter_dir("gemma-3-270m-dpo")


def test_default_pair_is_controlled():
    pair = models.pair("embedded")
    assert pair.base == "embedded:gemma-3-270m" and pair.tuned == "embedded:gemma-3-270m-rl"  # base vs RL
    assert pair.stages() == {"base": "embedded:gemma-3-270m", "sft": "embedded:gemma-3-270m-sft",
                             "dpo": "embedded:gemma-3-270m-dpo", "tuned": "embedded:gemma-3-270m-rl"}
    assert np.all([models.describe_spec(s)[0] == "embedded" for s in pair.stages().values()])


def test_reward_model_on_a_decoder_backbone(tiny_gemma, tmp_path):
    """A causal LM's folder as the reward model's backbone (the embedded Gemma's route): frozen
    layers stay as they were, the head learns, and the saved folder loads as a reward model that
    the engine scores as the training loop does."""
    import torch
    from safetensors.torch import load_file

    from rlshift.engine import Scorer
    from rlshift.requests import RewardItem
    from rlshift.training import reward_model

    config = reward_model.TrainConfig(epochs=2, batch_size=4, max_length=32, frozen_layers=1, heldout_fraction=0.25,
                                      head_lr=0.05)
    rm = reward_model.train_or_load(PAIRS, config, tmp_path, backbone=tiny_gemma, progress=False)
    before, after = load_file(tiny_gemma / "model.safetensors"), load_file(rm.path / "model.safetensors")
    layer = "model.layers.0.mlp.up_proj.weight"
    assert torch.equal(before[layer], after[layer]) and after["score.weight"].abs().sum() > 0
    train_log = rm.log[rm.log["split"] == "train"]
    assert len(train_log) == 2 and np.isfinite(train_log["loss"]).all()
    loaded = models.load_reward_model(str(rm.path), quantize="fp32", device="cpu")
    assert loaded.tokenizer.truncation_side == "left"  # as trained: long prompts lose their beginning
    items = [RewardItem(f"r{i}", p.prompt, reply) for i, p in enumerate(PAIRS) for reply in (p.chosen, p.rejected)]
    got = Scorer(loaded).rewards(items, max_length=32, template="test", data_version="test")["reward"]
    want = reward_model.head_outputs(loaded.model, loaded.tokenizer, [i.prompt for i in items],
                                     [i.response for i in items], 32)
    assert got.to_numpy() == pytest.approx(want, abs=1e-5) and np.ptp(want) > 0


def assert_engine_reads_the_recorded_rewards(folder, record, config):
    """The built folder, loaded as a reward model, gives the engine the rewards the record holds."""
    from rlshift.engine import Scorer
    from rlshift.requests import RewardItem
    from rlshift.training import linear_reward

    loaded = models.load_reward_model(str(folder), quantize="fp32", device="cpu")
    held = pd.DataFrame(record["heldout"])
    eval_pairs = {p.pair_id: p for p in linear_reward.draw(config, "eval")}
    items = [RewardItem(f"{i}-c", eval_pairs[i].prompt, eval_pairs[i].chosen) for i in held["pair_id"]]
    got = Scorer(loaded).rewards(items, max_length=config.max_length, template="test", data_version="test")["reward"]
    assert got.to_numpy() == pytest.approx(held["r_chosen"].to_numpy(), abs=1e-4)


def test_linear_reward_head_is_a_reward_model_that_scores_as_fitted(tiny_gemma, tmp_path, monkeypatch):
    """The linear head on a decoder's last-token state: fitted on training halves, scored on the
    evaluation halves, and built into a sequence classifier whose engine rewards are the
    recorded ones (the folder computes exactly the fitted reward)."""
    from rlshift.training import linear_reward, reward_model

    monkeypatch.setenv("RLSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    config = linear_reward.LinearRewardConfig(base=str(tiny_gemma), layer=1, max_length=48, sets=("hh_rlhf", "llmbar"),
                                              per_set=12, hh_all=False, folds=3)
    record = linear_reward.train(config, tmp_path / "head", progress=lambda *_: None)
    assert record["C"] in linear_reward.CS and [r["C"] for r in record["cv_accuracy"]] == list(linear_reward.CS)
    assert record["train_pairs"] == {"hh_rlhf": 12, "llmbar": 12}
    accuracy = pd.DataFrame(record["accuracy"]).set_index("source")
    assert accuracy.loc["all", "n"] == 24 and accuracy.loc["llmbar", "n"] == 12

    folder = linear_reward.build("tiny-linear", committed=tmp_path / "head")
    assert linear_reward.build("tiny-linear", committed=tmp_path / "head") == folder  # built once
    assert_engine_reads_the_recorded_rewards(folder, record, config)
    trained = reward_model.load_trained(folder)
    assert trained.accuracy()["accuracy"].tolist() == pytest.approx(accuracy["accuracy"].tolist())
    with pytest.raises(InputError, match="layer=5"):
        linear_reward.truncated_classifier(tiny_gemma, 5)
    with pytest.raises(InputError, match="sets"):
        dataclasses.replace(config, sets=("nope",)).check()


def test_lora_reward_model_keeps_its_best_step_and_resumes(tiny_gemma, tmp_path, monkeypatch):
    """The LoRA fine-tune reads validation accuracy before training (the linear start) and at its
    checks, keeps the best, and scores the evaluation halves; an interrupted run resumes from its
    checkpoint to the same weights; the built folder merges the adapter and computes the recorded
    rewards through the engine."""
    import torch
    from safetensors.torch import load_file

    from rlshift.training import linear_reward, lora_reward

    monkeypatch.setenv("RLSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    head = linear_reward.LinearRewardConfig(base=str(tiny_gemma), layer=1, max_length=48, sets=("hh_rlhf", "llmbar"),
                                            per_set=16, hh_all=False, folds=2)
    linear_reward.train(head, tmp_path / "linear", progress=lambda *_: None)
    config = lora_reward.LoraRewardConfig(first_layer=0, rank=2, alpha=4, learning_rate=5e-3, head_learning_rate=5e-3,
                                          epochs=2, batch_pairs=4, validation=0.25, checks=2)
    record = lora_reward.train(config, tmp_path / "lora", progress=lambda *_: None, committed=tmp_path / "linear")
    log = pd.DataFrame(record["log"])
    assert log["step"].iloc[0] == 0 and log["train_loss"].iloc[1:].notna().all() and len(log) == 1 + 2 * 2
    assert record["kept_step"] in set(log["step"])
    best = log.loc[log["step"] == record["kept_step"], "validation_accuracy"].iloc[0]
    assert best == log["validation_accuracy"].max()
    assert sum(record["train_pairs"].values()) + sum(record["validation_pairs"].values()) == 32
    assert pd.DataFrame(record["accuracy"]).set_index("source").loc["all", "n"] == 32
    assert not (tmp_path / "lora" / "checkpoint.pt").exists()

    class Stop(Exception):
        pass

    def stop_after_first_check(message):
        if message.startswith("step ") and not message.startswith("step 0/"):
            raise Stop

    with pytest.raises(Stop):
        lora_reward.train(config, tmp_path / "again", progress=stop_after_first_check, committed=tmp_path / "linear")
    said = []
    resumed = lora_reward.train(config, tmp_path / "again", progress=said.append, committed=tmp_path / "linear")
    assert any(m.startswith("resumed at step") for m in said)
    assert resumed["heldout"] == record["heldout"] and resumed["log"] == record["log"]
    first = load_file(tmp_path / "lora" / "adapter.safetensors")
    second = load_file(tmp_path / "again" / "adapter.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)

    folder = linear_reward.build("tiny-lora", committed=tmp_path / "lora")
    assert folder != linear_reward.build("tiny-linear", committed=tmp_path / "linear")
    assert_engine_reads_the_recorded_rewards(folder, record, head)
    entries = linear_reward.manifest_entries(tmp_path / "lora", "tiny-lora")
    assert [e["file"].split("/")[-1] for e in entries] == ["adapter.safetensors", "head.safetensors", "record.json"]
    assert "LoRA (rank 2, layers 0-0)" in entries[0]["source"] and entries[0]["command"] == lora_reward.RETRAIN_COMMAND
    with pytest.raises(InputError, match="first_layer=1"):
        dataclasses.replace(config, first_layer=1).check(1)
    one_set = dataclasses.replace(config, train_sets=("hh_rlhf",), epochs=1, checks=1)
    narrow = lora_reward.train(one_set, tmp_path / "hh", progress=lambda *_: None, committed=tmp_path / "linear")
    assert set(narrow["train_pairs"]) == set(narrow["validation_pairs"]) == {"hh_rlhf"}
    assert set(pd.DataFrame(narrow["accuracy"])["source"]) == {"all", "hh_rlhf", "llmbar"}  # scored on every set


def test_rl_stage_trains_on_policy_against_a_trained_reward_model(trained, tiny_gemma, tmp_path):
    """RLOO from the SFT adapter, rewarded by a reward model trained in the book (a tiny one here):
    the reward function scores replies as the library's reward model does, and the stage writes
    an adapter, a record and a log with the reward-KL trajectory."""
    import torch
    from transformers import AutoTokenizer, AutoModelForSequenceClassification, BertConfig, BertModel

    from rlshift.training import reward_model, rl

    backbone = tmp_path / "tiny-bert"
    tokenizer = AutoTokenizer.from_pretrained(reward_model.backbone_path())
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    rm_config = reward_model.TrainConfig(epochs=1, batch_size=4, max_length=32, frozen_layers=0, heldout_fraction=0.25)
    rm = reward_model.train_or_load(PAIRS, rm_config, tmp_path / "rms", backbone=backbone, progress=False)

    reward = rl.reward_function(rm.path, 32)
    replies = ["I can't help with that.", "First, break the window."]
    got = reward(prompts=[None, None], completions=[[{"role": "assistant", "content": r}] for r in replies],
                 rm_prompt=[PAIRS[0].prompt] * 2)
    model = AutoModelForSequenceClassification.from_pretrained(rm.path)
    want = reward_model.head_outputs(model, AutoTokenizer.from_pretrained(rm.path), [PAIRS[0].prompt] * 2, replies, 32)
    assert got == pytest.approx(want.tolist(), abs=1e-5) and got[0] != got[1]

    _, sft, _ = trained
    config = rl.RLConfig(base=str(tiny_gemma), num_generations=2, prompts_per_step=2,
                         max_completion_length=8, learning_rate=1e-3, bf16=False)
    out = rl.train_stage(config, 4, sft, rm.path, tmp_path / "tiny-rl")  # 4 HH-RLHF training-half prompts
    assert {f.name for f in out.iterdir()} == set(artifacts.ADAPTER_FILES)
    record = artifacts.training_record(out)
    assert record["stage"] == "rl" and record["earlier_stages"] == [sft.name] and record["steps"] == 2
    assert record["reward_model"] == rm.path.name and record["data"]["n"] == 4 and record["data"]["dataset"] == "hh_rlhf"
    assert len(record["probe_logprobs"]) == 3 and record["command"] is None and record["epochs"] == 1
    policy_model, policy_tokenizer = policy.training_base(config, [sft])  # what RLOO samples with: it must stop
    end_of_turn = policy_tokenizer.convert_tokens_to_ids(prompts.END_OF_TURN)  # at the turn's end, not only at eos
    assert policy_model.generation_config.eos_token_id == [policy_tokenizer.eos_token_id, end_of_turn]
    steps = rl.trajectory(json.loads((out / "training_log.json").read_text()))
    assert len(steps["reward"]) == 2 and np.isfinite(steps["reward"]).all() and np.isfinite(steps["kl"]).all()
    assert steps["kl"][0] == pytest.approx(0.0, abs=1e-6)  # the policy starts as its reference, the SFT model
    assert ((steps["length"] >= 1) & (steps["length"] <= 8)).all()
    assert ((steps["cut_off"] >= 0) & (steps["cut_off"] <= 1)).all()
    with pytest.raises(InputError, match="num_generations"):
        dataclasses.replace(config, num_generations=1).check()
    with pytest.raises(InputError, match="SFT adapter"):
        rl.train_rl(config, PAIRS, {}, reward, "tiny", tmp_path / "no", earlier=[])

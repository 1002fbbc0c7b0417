"""The controlled pair's on-policy RL stage: RLOO from the SFT model against a trained reward model.

Llama-2-chat, the plan's subject, was tuned on-policy (rejection sampling and PPO against reward
models); DPO, the pair's other stage, is offline. This stage samples its own replies and learns
from their rewards: RLOO (Ahmadian et al. 2024, TRL's `RLOOTrainer`), which draws
`num_generations` replies per prompt and uses the mean reward of the other replies to the same
prompt as each reply's baseline (REINFORCE with a leave-one-out baseline, no value model). The
reward is the reward model's minus `beta` times the reply's KL from the reference, as in
InstructGPT's PPO objective.

- Policy: the embedded base with the SFT adapter merged in, plus a new LoRA adapter (as the DPO
  stage); its reference is that merged SFT model (the adapter switched off), so the KL penalty
  is to SFT, like DPO's implicit constraint.
- Reward: a reward model trained in the book (`rlshift.training.reward_model`), scoring
  (prompt, reply) in the HH transcript form it was trained on; trained on training halves only,
  so the held-out halves stay clean for judging the policy.
- Prompts: the training half of HH-RLHF (the prompts only: the policy writes the replies).
- Artifacts: the adapter, its log (reward, KL, lengths per step) and record, as the other stages.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rlshift import models
from rlshift.data.preferences import PrefPair
from rlshift.errors import InputError
from rlshift.prompts import dialogue_messages, with_chat_template
from rlshift.timings import timed
from rlshift.training import policy, reward_model
from rlshift.training.utilities import to_reward

STAGE = "rl"


@dataclass(frozen=True)
class RLConfig:
    """Every setting that shapes the RL adapter; all of it goes into its record."""

    base: str = "embedded:gemma-3-270m"
    num_generations: int = 4  # replies per prompt: RLOO's group
    prompts_per_step: int = 4
    max_completion_length: int = 64
    beta: float = 0.05  # the KL penalty's weight (nats of KL per unit of reward)
    learning_rate: float = 1e-4  # DPO's: the two stages get the same step size on the same LoRA
    temperature: float = 1.0
    epochs: int = 1
    lora_r: int = 8
    lora_alpha: int = 16
    target_modules: tuple[str, ...] = policy.TuneConfig.target_modules
    bf16: bool = True
    seed: int = 0

    def check(self) -> "RLConfig":
        for name in ("num_generations", "prompts_per_step", "max_completion_length", "epochs", "lora_r"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name}={value!r} is not accepted: a positive integer.")
        if self.num_generations < 2:
            raise InputError(f"num_generations={self.num_generations} is not accepted: at least 2 (RLOO's baseline "
                             f"is the other replies to the same prompt).")
        for name in ("learning_rate", "temperature"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name}={getattr(self, name)!r} is not accepted: a positive number.")
        if self.beta < 0:
            raise InputError(f"beta={self.beta!r} is not accepted: >= 0 (0: no KL penalty).")
        return self


def rl_rows(pairs: Sequence[PrefPair]) -> list[dict]:
    """One row per prompt: the chat messages the policy answers, and the HH transcript the reward
    model reads (passed to the reward function beside each reply)."""
    return [{"prompt": dialogue_messages(p.prompt), "rm_prompt": p.prompt} for p in pairs]


def reward_function(folder: Path, max_length: int | None = None) -> Callable:
    """The reward model at `folder` as RLOOTrainer's reward function: a reply's reward given the
    HH transcript of its prompt, on the scale the model was trained on (and, by default, read to
    the length it was trained on)."""
    trained = reward_model.load_trained(folder)
    max_length = max_length or int(trained.record["config"]["max_length"])
    loaded = models.load_reward_model(str(folder), quantize="fp32")

    def reward(prompts, completions, rm_prompt, **_) -> list[float]:
        replies = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        heads = reward_model.head_outputs(loaded.model, loaded.tokenizer, list(rm_prompt), replies, max_length)
        return [float(r) for r in to_reward(heads, trained.utility)]

    reward.__name__ = "reward_model"  # TRL's log key (rewards/reward_model/mean); the record names the model
    return reward


@timed("train")
def train_rl(config: RLConfig, pairs: Sequence[PrefPair], data_prov: dict, reward: Callable, reward_id: str,
             out: Path, earlier: Sequence[Path], command: str | None = None) -> Path:
    """Train the RL stage's LoRA adapter on the policy `earlier` makes of the base (the SFT
    adapter), and write it with its log and record to `out`; `command` is what retrains it,
    recorded as given (None until a script trains this stage)."""
    import datasets
    import torch
    from trl import RLOOConfig, RLOOTrainer

    config.check()
    if not earlier:
        raise InputError("the RL stage starts from the SFT model: give the SFT adapter's folder in `earlier`.")
    torch.manual_seed(config.seed)
    model, tokenizer = policy.training_base(config, earlier)
    out.mkdir(parents=True, exist_ok=True)
    args = RLOOConfig(output_dir=str(out / "trainer"), learning_rate=config.learning_rate,
                      per_device_train_batch_size=config.prompts_per_step * config.num_generations,
                      num_generations=config.num_generations, max_completion_length=config.max_completion_length,
                      temperature=config.temperature, top_p=1.0, top_k=0, beta=config.beta,
                      num_train_epochs=config.epochs, logging_steps=1, save_strategy="no", report_to="none",
                      seed=config.seed, data_seed=config.seed, bf16=config.bf16, use_cpu=not torch.cuda.is_available(),
                      gradient_checkpointing=False, dataloader_num_workers=0, log_completions=False)
    trainer = RLOOTrainer(model=model, reward_funcs=[reward], args=args,
                          train_dataset=datasets.Dataset.from_list(rl_rows(pairs)), processing_class=tokenizer,
                          peft_config=policy.lora_config(config))
    started = time.time()
    trainer.train()
    record = {"stage": STAGE, "config": dataclasses.asdict(config), "epochs": config.epochs, "data": data_prov,
              "reward_model": reward_id,
              "earlier_stages": [p.name for p in earlier], "wall_seconds": round(time.time() - started, 1)}
    return policy.save_stage(trainer, tokenizer, out, record, config, earlier, command=command)


def train_stage(config: RLConfig, n_prompts: int | str, sft_dir: Path, reward_folder: Path, out: Path,
                mirror=None, command: str | None = None, reward_id: str | None = None) -> Path:
    """The RL stage as the retrain script runs it: RLOO on `n_prompts` training-half HH-RLHF
    prompts (a seeded draw of those whose prompt and chosen reply fit the SFT stage's budget),
    rewarded by the reward model at `reward_folder` (trained on training halves only), recorded
    as `reward_id` (the spec a chapter loads it by; default: the folder's name)."""
    tokenizer = with_chat_template(models.load_tokenizer(config.base))
    budget = dataclasses.replace(policy.TuneConfig(), seed=config.seed)
    pairs, prov = policy.select_pairs(tokenizer, "train", n_prompts, budget, mirror, stage="sft")
    reward = reward_function(reward_folder)
    return train_rl(config, pairs, prov, reward, reward_id or Path(reward_folder).name, out, earlier=[sft_dir],
                    command=command)


def trajectory(log: list[dict]) -> dict[str, np.ndarray]:
    """Per logged step of an RL log (TRL's metric names): the mean reward (the reward model's,
    before the KL penalty), the KL from the reference (log pi - log pi_ref per reply token,
    averaged over the step's replies: the reward-KL view of the RLHF literature), the mean reply
    length and the share of replies cut off by the length limit."""
    steps = [r for r in log if "reward" in r]
    pick = {"reward": "reward", "kl": "kl", "length": "completions/mean_length",
            "cut_off": "completions/clipped_ratio"}
    return {name: np.array([r.get(key, np.nan) for r in steps], dtype=float) for name, key in pick.items()}

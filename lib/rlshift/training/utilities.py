"""The utilities a Bradley-Terry reward model is trained to maximise (Song et al. 2023): pure
functions of the reward difference d = R(chosen) - R(rejected), on torch tensors.

- `standard`: U(d) = log sigmoid(d) on the unbounded head output (InstructGPT, OpenAssistant);
- `bounded_log_sigmoid`: the same utility on rewards bounded by a sigmoid, R in (0, 1): Song et
  al.'s setting for the collapse, and the baseline that differs from `standard` in the bound only
  and from `prompt_aware` in the utility only;
- `prompt_aware`: rewards bounded by a sigmoid; U(d) = d on closed-ended prompts (polarises the
  optimal rewards) and U(d) = -1/d, shifted by eps and continued by its tangent below 0, on
  open-ended ones (spreads them).
"""
from __future__ import annotations

import numpy as np

from rlshift.errors import unknown

UTILITIES = ("standard", "bounded_log_sigmoid", "prompt_aware")
REWARD_SCALE = {"standard": "logit", "bounded_log_sigmoid": "sigmoid", "prompt_aware": "sigmoid"}  # how a head output becomes a reward


def log_sigmoid_utility(d):
    """U(d) = log sigmoid(d) = -log(1 + exp(-d)), computed stably (torch tensors)."""
    import torch

    return torch.nn.functional.logsigmoid(d)


def linear_utility(d):
    """U(d) = d: Song et al.'s utility for closed-ended prompts (polarises rewards)."""
    return d


def inverse_utility(d, eps: float = 0.1):
    """U(d) = -1/d, shifted by eps and continued linearly below 0 (Song et al.'s utility for
    open-ended prompts, as their code computes it): 1/eps - 1/(d + eps) for d > 0, d/eps^2
    for d <= 0. Continuous with a continuous slope (1/eps^2) at 0, concave, increasing."""
    import torch

    positive = 1.0 / eps - 1.0 / (d.clamp(min=0) + eps)
    return torch.where(d > 0, positive, d / eps ** 2)


def to_reward(head_output, utility: str):
    """The reward a model trained with `utility` assigns: the head output itself (standard) or
    its sigmoid (prompt-aware, bounded to (0, 1)). Works on torch tensors and numpy arrays."""
    if utility not in UTILITIES:
        raise unknown("utility", utility, UTILITIES)
    if REWARD_SCALE[utility] == "logit":
        return head_output
    if isinstance(head_output, np.ndarray) or np.isscalar(head_output):
        return 1.0 / (1.0 + np.exp(-np.asarray(head_output, float)))
    return head_output.sigmoid()


def pair_loss(out_chosen, out_rejected, closed, utility: str, eps: float = 0.1):
    """Per-pair loss -U(R(chosen) - R(rejected)); `closed` is a bool tensor (closed-ended
    prompt), read only by the prompt-aware utility."""
    import torch

    if utility == "standard":
        return -log_sigmoid_utility(out_chosen - out_rejected)
    if utility == "bounded_log_sigmoid":
        return -log_sigmoid_utility(to_reward(out_chosen, utility) - to_reward(out_rejected, utility))
    if utility == "prompt_aware":
        d = to_reward(out_chosen, utility) - to_reward(out_rejected, utility)
        return -torch.where(closed, linear_utility(d), inverse_utility(d, eps))
    raise unknown("utility", utility, UTILITIES)

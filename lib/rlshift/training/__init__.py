"""Training in the book: policy stages (SFT, DPO: rlshift.training.policy) and Bradley-Terry
reward models (rlshift.training.reward_model, with the utilities of rlshift.training.utilities)."""

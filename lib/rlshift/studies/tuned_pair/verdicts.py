"""The tuned-pair chapter's findings, in words computed from its tables."""
from __future__ import annotations

import numpy as np
import pandas as pd


def verdicts(implicit: pd.DataFrame, likelihood_hh: pd.DataFrame, kl: pd.DataFrame) -> str:
    """The chapter's findings, in words computed from the tables (markdown)."""
    dpo = implicit[(implicit["policy"] == "tuned") & (implicit["reference"] == "sft")].iloc[0]
    above = dpo["acc_low"] > 0.5
    below = dpo["acc_high"] < 0.5
    lines = [f"**Did DPO learn the held-out preference?** Its implicit reward ranks the chosen reply first on "
             f"{dpo['accuracy']:.1%} of {int(dpo['n'])} held-out HH-RLHF pairs (95% CI {dpo['acc_low']:.1%} to "
             f"{dpo['acc_high']:.1%}); held-out DPO loss {dpo['dpo_loss']:.3f} vs log 2 = {np.log(2):.3f} at the "
             f"start. " + ("Above chance: the preference generalised beyond the training prompts."
                          if above else "Below chance." if below else
                          "Not distinguishable from chance: on held-out prompts the preference did not "
                          "generalise at this scale.")]
    summed = likelihood_hh[likelihood_hh["reading"] == "sum"].set_index("role")["prefers_chosen"]
    lines.append("**Stage by stage.** The share of held-out pairs whose chosen reply the role finds more "
                 "likely: " + ", ".join(f"{s} {v:.1%}" for s, v in summed.items()) + ".")
    k = kl.set_index(["policy", "reference"])["kl_mean"]
    lines.append(f"**How far each stage moved.** Mean KL per sampled reply (nats): SFT from base "
                 f"{k.get(('sft', 'base'), np.nan):.2f}, DPO from base {k.get(('tuned', 'base'), np.nan):.2f}, "
                 f"DPO from its SFT reference {k.get(('tuned', 'sft'), np.nan):.2f}: most of the distance from the "
                 f"base is the " + ("SFT stage's" if k.get(('sft', 'base'), 0) > k.get(('tuned', 'sft'), 0)
                                    else "DPO stage's") + ".")
    return "\n\n".join(lines)

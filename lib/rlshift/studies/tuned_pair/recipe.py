"""A second training seed: the recipe, and what it would cost, computed from the committed
training logs (the trainer's own FLOP count, steps and wall time) under stated assumptions
about the device that would run it."""
from __future__ import annotations

import pandas as pd

from rlshift import artifacts

RECIPE = ("rlshift run notebooks/tuned_pair.ipynb -p retrain true -p train_seed {seed} (trains SFT then DPO "
          "into the cache, merges them and runs this chapter on them); to train only: "
          "{command} --seed {seed} --out DIR")


def training_cost(dirs: dict, records: dict, gpu_tflops: float = 50.0, step_latency_s: float = 0.15) -> pd.DataFrame:
    """Per training stage, from its log: optimizer steps, forward/backward passes (steps x
    gradient accumulation), tokens trained, the trainer's FLOP count (`total_flos`), the wall
    time it took here and the FLOP rate that implies; and the time on a GPU, estimated as the
    FLOPs at `gpu_tflops` achieved (an assumption: a fraction of a data-centre GPU's bf16 peak,
    small for a 270M model at batch 4) plus `step_latency_s` per forward/backward pass (an
    assumption: kernel launches dominate a model this small). Model loading is not included."""
    rows = []
    for stage, folder in dirs.items():
        log, rec = artifacts.training_log(folder), records[stage]
        summary = log[log["train_runtime"].notna()].iloc[-1] if "train_runtime" in log else None
        flops = float(summary["total_flos"]) if summary is not None else float("nan")
        runtime = float(summary["train_runtime"]) if summary is not None else float(rec["wall_seconds"])
        passes = int(rec["steps"]) * int(rec["config"]["grad_accum"])
        tokens = float(log["num_tokens"].max()) if "num_tokens" in log else float("nan")
        gpu = flops / (gpu_tflops * 1e12) + passes * step_latency_s
        rows.append({"stage": stage, "device here": f"{rec['device']} ({rec['threads']} threads)",
                     "optimizer steps": int(rec["steps"]), "forward/backward passes": passes,
                     "tokens trained": tokens, "trainer FLOPs": flops, "wall time here (min)": runtime / 60,
                     "achieved here (GFLOP/s)": flops / runtime / 1e9,
                     f"GPU estimate (s) at {gpu_tflops:g} TFLOP/s + {step_latency_s:g} s/pass": gpu})
    out = pd.DataFrame(rows)
    total = {"stage": "both", "device here": "", **{c: out[c].sum() for c in out.columns[2:]}}
    total["achieved here (GFLOP/s)"] = total["trainer FLOPs"] / (total["wall time here (min)"] * 60) / 1e9
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def recipe(seed: int = 1) -> str:
    return RECIPE.format(command=artifacts.RETRAIN_COMMAND, seed=seed)

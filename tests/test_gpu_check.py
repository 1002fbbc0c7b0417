"""The prepared GPU check's CPU-runnable parts: tokenizer and models built on the spot, loaded
through models.load, scored and sampled through the engine, the table written (tiny sizes)."""
from __future__ import annotations

import sys

import pandas as pd

from rlshift import paths

sys.path.insert(0, str(paths.REPO_ROOT / "bench"))
import gpu_check  # noqa: E402


def test_gpu_check_runs_on_cpu_and_writes_its_table(tmp_path):
    table = gpu_check.main(["--size", "tiny", "--items", "6", "--train-steps", "3", "--alone", "2",
                            "--new-tokens", "4", "--vocab", "3000", "--out", str(tmp_path / "out"),
                            "--work", str(tmp_path / "work")])
    written = pd.read_csv(tmp_path / "out" / "gpu_check.csv")
    assert list(written["quantize"]) == ["bf16", "fp32"] * 2
    assert (tmp_path / "out" / "gpu_check.md").read_text().count("\n") == 6  # header, rule, 4 rows
    fp32 = table[table["quantize"] == "fp32"]
    assert (fp32["letter_shift_mean"] > 0).all() and (fp32["letter_shift_mean"] < 0.1).all()  # bf16 vs fp32: small, not 0
    assert (fp32["gen_identical_share"] == 1.0).all()  # fp32: batched samples equal one-at-a-time ones
    assert (table[["letter_items_per_s", "cloze_items_per_s", "gen_tok_s_batched", "lens_all_x_forward",
                   "lens_resid_mlp_x_forward"]] > 0).all().all()

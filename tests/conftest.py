"""Shared fixtures. Embedded models are converted once into the rlshift cache (the user's
default cache dir, or RLSHIFT_CACHE_DIR); score caches in tests are always temporary."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smollm2():
    from rlshift import models
    return models.load("embedded:smollm2-135m-instruct", quantize="fp32", device="cpu")


@pytest.fixture(scope="session")
def gemma():
    from rlshift import models
    return models.load("embedded:gemma-3-270m", quantize="fp32", device="cpu")


@pytest.fixture(scope="session")
def tiny_llama(smollm2):
    """A 2-layer random Llama with SmolLM2's tokenizer: fast, and exact enough to compare
    batched against unbatched scoring."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rlshift.models import LoadedModel

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(smollm2.tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, pad_token_id=smollm2.tokenizer.pad_token_id)
    model = LlamaForCausalLM(config).eval()
    info = dict(smollm2.info, spec="test:tiny-llama", revision="seed0", n_params=model.num_parameters())
    return LoadedModel(model=model, tokenizer=smollm2.tokenizer, info=info)


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory):
    """Every study executed once by papermill with its quick profile, into a copy of the book
    files (the real book is never overwritten; scores and trained reward models stay in the
    temporary folder). Each study's test reads its executed notebook here; the book test builds it."""
    import shutil

    from rlshift import cli, paths

    root = tmp_path_factory.mktemp("quick_book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(paths.REPO_ROOT / name, root / name)
    shutil.copytree(paths.REPO_ROOT / "book", root / "book", ignore=shutil.ignore_patterns("executed"))
    extras = {"reward_collapse": {"model_dir": str(root / "reward_models"),
                                  "annotation_sheet": str(root / "annotation_sheet.csv")},
              "tuned_pair": {"model_dir": str(root / "reward_models")},
              "abstention": {"model_dir": str(root / "reward_models")},  # its judge: the same trained model
              "rm_components": {"model_dir": str(root / "reward_models"),
                                "annotation_dir": str(root / "rm_components_sheets")},
              "linguistic": {"annotation_dir": str(root / "linguistic_sheets")},
              "data_collapse": {"model_dir": str(root / "reward_models"),
                                "annotation_dir": str(root / "data_collapse_sheets")},
              "sweep_comparison": {"sweep_dir": str(root / "sweeps" / "quick")},
              "summary": {"results_root": str(root / "book" / "executed")}}
    for study, entry in cli.studies().items():
        notebook = paths.REPO_ROOT / entry["notebook"]
        cli.execute(notebook, root / "book" / "executed" / notebook.name,
                    dict(entry["quick"], cache_dir=str(root / "scores"), **extras.get(study, {})))
    return root


@pytest.fixture(scope="session")
def quick_site(quick_book):
    """The quick book built once by jupyter-book (warnings as errors): its _build/html folder.
    The book test and the browser test of the site (tests/test_site.py) both read it."""
    from rlshift import cli

    cli.build_book(quick_book)
    return quick_book / "_build" / "html"


def executed(root, study: str):
    import nbformat

    return nbformat.read(root / "book" / "executed" / f"{study}.ipynb", as_version=4)


def notebook_text(nb) -> str:
    """Everything an executed notebook printed or displayed, as one string."""
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
                       + str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)

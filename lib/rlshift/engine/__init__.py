"""The one engine every study uses: a few verbs on a loaded model, each batched, cached under
its full key and resumable (see `rlshift.engine.caching`).

    scorer = Scorer(loaded, cache=ScoreCache(), batch_size="auto")
    scorer.choice_logprobs(requests, chat=..., template=..., data_version=...)
    scorer.continuation_logprobs(...) | scorer.sequence_logprobs(texts, ...) | scorer.layer_readout(...)
    scorer.block_vectors(...)   # the vector one block adds at one layer (for interventions)
    scorer.generate(prompts, settings, ...) | Scorer(reward_model).rewards(items, ...)
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from rlshift.cache import ScoreCache
from rlshift.engine import caching
from rlshift.engine.generate import GENERATION_BATCH_ROWS, GenerationSettings, cut_at_stop, generate_call
from rlshift.engine.layers import COMPONENTS, readout_call, vector_call
from rlshift.engine.lm import LM
from rlshift.engine.rewards import INPUT_FORMS, reward_call
from rlshift.models import LoadedModel
from rlshift.requests import Request, RewardItem, Text

__all__ = ["COMPONENTS", "INPUT_FORMS", "GenerationSettings", "Request", "RewardItem", "Scorer", "Text",
           "cut_at_stop"]


class Scorer:
    """A loaded model's verbs with the score cache around them."""

    def __init__(self, loaded: LoadedModel, cache: ScoreCache | None = None, batch_size: int | str = 8,
                 progress: bool = True, prefix_sharing: bool = True):
        self.loaded = loaded
        self.cache = cache
        self.progress = progress
        self.lm = LM(loaded, batch_size=batch_size, progress=progress, prefix_sharing=prefix_sharing)

    def _run(self, call: caching.Call, template: str, data_version: str) -> pd.DataFrame:
        return caching.run(call, self.cache, self.loaded.key, self.loaded.info["spec"], template=template,
                           data_version=data_version)

    def choice_logprobs(self, requests: Sequence[Request], *, chat: bool, template: str,
                        data_version: str) -> pd.DataFrame:
        return self._run(self.lm.choices(requests, chat=chat), template, data_version)

    def continuation_logprobs(self, requests: Sequence[Request], *, chat: bool, template: str,
                              data_version: str) -> pd.DataFrame:
        return self._run(self.lm.continuations(requests, chat=chat), template, data_version)

    def sequence_logprobs(self, texts: Sequence[Text], *, chat: bool, template: str,
                          data_version: str) -> pd.DataFrame:
        return self._run(self.lm.sequences(texts, chat=chat), template, data_version)

    def layer_readout(self, requests: Sequence[Request], *, chat: bool, template: str, data_version: str,
                      components: Sequence[str] = COMPONENTS, replace_mlp: tuple[Sequence[float], int] | None = None,
                      final_only: bool = False) -> pd.DataFrame:
        """`replace_mlp` = (vector, from_layer): read under Merullo et al.'s intervention;
        `final_only`: the last layer's residual only (the model's own next-token distribution)."""
        return self._run(readout_call(self.lm, requests, chat=chat, components=components, replace_mlp=replace_mlp,
                                      final_only=final_only), template, data_version)

    def block_vectors(self, requests: Sequence[Request], *, component: str, layer: int, chat: bool,
                      template: str, data_version: str) -> pd.DataFrame:
        return self._run(vector_call(self.lm, requests, component=component, layer=layer, chat=chat),
                         template, data_version)

    def generate(self, prompts: Sequence[Text], settings: GenerationSettings, *, chat: bool, template: str,
                 data_version: str, batch_rows: int = GENERATION_BATCH_ROWS) -> pd.DataFrame:
        """`batch_rows` (item x sample rows per forward pass) changes the speed, not the samples."""
        return self._run(generate_call(self.loaded, prompts, settings, chat=chat, progress=self.progress,
                                       batch_rows=batch_rows), template, data_version)

    def rewards(self, items: Sequence[RewardItem], *, input_form: str = "pair", max_length: int = 1024,
                template: str, data_version: str) -> pd.DataFrame:
        batch = 8 if self.lm.batch_size == "auto" else self.lm.batch_size
        return self._run(reward_call(self.loaded, items, input_form=input_form, max_length=max_length,
                                     batch_size=batch, progress=self.progress), template, data_version)


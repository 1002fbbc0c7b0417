"""What the engine is asked to score or generate: plain records, made by tasks and studies.

They sit below the engine so that task specs (rlshift.tasks) can build them without importing it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    """One context and the options scored after it (single tokens, continuations, or the
    answer tokens a per-layer readout ranks)."""

    item_id: str
    context: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class Text:
    """A whole text: scored token by token (sequences) or continued (generation)."""

    item_id: str
    text: str


@dataclass(frozen=True)
class RewardItem:
    """A (prompt, response) a reward model scores."""

    item_id: str
    prompt: str
    response: str

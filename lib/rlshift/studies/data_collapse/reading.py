"""Reading a setting's texts as footprints, and splitting its test candidates into an
in-distribution and an out-of-distribution part.

The split (the plan's "portion of the test split where the main statistics match / mismatch the
training statistics"): every input is placed in a feature space of its main statistics (log words,
mean sentence length, VADER and model sentiment, the shares of the 17 universal POS tags, and the
first five principal components of its sentence embedding, for content), each feature
standardised by the training pool. A candidate's typicality distance is its mean Euclidean
distance to its k nearest training inputs; the n_part closest candidates are the in-distribution
part, the n_part farthest the out-of-distribution part. Without a training pool (InstructGPT's
posts) the reference is the other candidates (leave-one-out)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rlshift import footprints as fp
from rlshift.errors import InputError

UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ",
        "SYM", "VERB", "X")
PARTS = ("in-distribution", "out-of-distribution")


@dataclass
class Reader:
    """The setting's fitted readers: topics fitted on its inputs, and the sentiment model."""

    topics: fp.TopicModel
    sentiment: fp.SentimentModel


def read(texts: pd.DataFrame, reader: Reader, ids_column: str = "item_id", embeddings: np.ndarray | None = None
         ) -> tuple[fp.Footprint, np.ndarray]:
    """The footprint of `texts['text']` with model sentiment and topics, and the embeddings
    (computed here unless given)."""
    foot = fp.footprint(texts["text"].tolist(), ids=texts[ids_column].tolist())
    embeddings = fp.embed(texts["text"].tolist()) if embeddings is None else embeddings
    sentiment = reader.sentiment.score(embeddings)
    foot = foot.with_labels("sentiment_model", fp.sentiment_band(sentiment),
                            "sentiment_model", sentiment)
    topics = reader.topics.assign(texts["text"].tolist(), embeddings)
    return foot.with_labels("topic", topics, "topic"), embeddings


def fit_reader(inputs: pd.DataFrame, embeddings: np.ndarray, n_topics: int, seed: int) -> Reader:
    return Reader(fp.fit_topics(inputs["text"].tolist(), embeddings, n_topics, seed), fp.sentiment_model(seed))


def features(foot: fp.Footprint, embeddings: np.ndarray, pca) -> np.ndarray:
    """texts x the typicality features (see the module's docstring), before standardising."""
    table = foot.table
    pos = np.array([[c.get(tag, 0) for tag in UPOS] for c in foot.counts["pos"]], float)
    shares = pos / np.maximum(pos.sum(axis=1, keepdims=True), 1)
    scalar = np.column_stack([np.log1p(table["n_words"]), table["sentence_length"].fillna(0),
                              table["sentiment_vader"], table["sentiment_model"]])
    return np.hstack([scalar, shares, pca.transform(embeddings)])


def typicality(reference: np.ndarray, candidates: np.ndarray, k: int, leave_one_out: bool) -> np.ndarray:
    """Each candidate's mean distance to its k nearest reference rows (features standardised by
    the reference; constant features dropped). leave_one_out: reference == candidates, self skipped."""
    from sklearn.neighbors import NearestNeighbors

    mean, sd = reference.mean(axis=0), reference.std(axis=0)
    keep = sd > 1e-9
    ref, cand = (reference[:, keep] - mean[keep]) / sd[keep], (candidates[:, keep] - mean[keep]) / sd[keep]
    k = min(k, len(ref) - int(leave_one_out))
    if k < 1:
        raise InputError(f"typicality needs at least {2 if leave_one_out else 1} reference inputs; got {len(ref)}.")
    distances, _ = NearestNeighbors(n_neighbors=k + int(leave_one_out)).fit(ref).kneighbors(cand)
    return distances[:, int(leave_one_out):].mean(axis=1)


def split(candidates: pd.DataFrame, distance: np.ndarray, n_part: int) -> pd.DataFrame:
    """The two parts: the n_part candidates nearest the training pool and the n_part farthest
    (fewer where the candidates number under 2 n_part: half each), with `distance` and `part`."""
    n = min(n_part, len(candidates) // 2)
    order = np.argsort(distance, kind="stable")
    out = candidates.assign(distance=distance)
    picked = pd.concat([out.iloc[order[:n]].assign(part=PARTS[0]), out.iloc[order[::-1][:n]].assign(part=PARTS[1])])
    return picked.reset_index(drop=True)


def part_table(parts: pd.DataFrame, foot: fp.Footprint) -> pd.DataFrame:
    """Per part: size, typicality distance, the main statistics' means, and where its inputs come from."""
    table = foot.table.set_index("text_id").loc[parts["item_id"]].reset_index(drop=True)
    frame = pd.concat([parts[["part", "distance", "source"]].reset_index(drop=True),
                       table[["n_words", "sentence_length", "sentiment_vader", "sentiment_model"]]], axis=1)
    rows = []
    for part, g in frame.groupby("part", sort=False):
        sources = g["source"].value_counts()
        rows.append({"part": part, "inputs": len(g), "distance": g["distance"].mean(), "words": g["n_words"].mean(),
                     "sentence length": g["sentence_length"].mean(), "VADER": g["sentiment_vader"].mean(),
                     "model sentiment": g["sentiment_model"].mean(),
                     "sources": ", ".join(f"{s} {n}" for s, n in sources.items())})
    return pd.DataFrame(rows)


def by_ids(foot: fp.Footprint, ids) -> fp.Footprint:
    """The texts `ids` of a footprint, in that order."""
    position = {t: i for i, t in enumerate(foot.table["text_id"])}
    order = [position[str(i)] for i in ids]
    return fp.Footprint(foot.table.iloc[order].reset_index(drop=True),
                        {a: [c[i] for i in order] for a, c in foot.counts.items()})

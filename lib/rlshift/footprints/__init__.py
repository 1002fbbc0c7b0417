"""Property footprints of a set of texts (plan 4.5): what a corpus looks like by sentence length,
parts of speech and their sequences, lemmas, sentiment and topics, and how far two corpora's
footprints are apart (Jensen-Shannon distance, with bootstrap intervals and a permutation null).
Used by the chapter on collapse onto the RL fine-tuning data; usable on any texts."""
from rlshift.footprints.distances import (ASPECTS, basic_interval, compare, compare_counts, count_matrix, distribution,
                                          js_distance, js_rows, vocabulary)
from rlshift.footprints.properties import (SENTIMENT_LABELS, Footprint, band, footprint, sentiment_band, spacy_pipeline,
                                           vader_compound)
from rlshift.footprints.topics import SentimentModel, TopicModel, embed, fit_topics, sentiment_model

__all__ = ["ASPECTS", "SENTIMENT_LABELS", "Footprint", "SentimentModel", "TopicModel", "band", "basic_interval",
           "compare", "compare_counts", "count_matrix", "distribution", "embed", "fit_topics", "footprint",
           "js_distance", "js_rows", "sentiment_band", "sentiment_model", "spacy_pipeline", "vader_compound",
           "vocabulary"]

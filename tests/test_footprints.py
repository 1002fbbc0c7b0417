"""The footprint module on constructed texts whose counts are known by hand: words, sentences,
POS tags and trigrams, lemmas, VADER's bands, and the distances (zero for one corpus, one for
disjoint ones, a permutation null that does not call one distribution two)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from rlshift import footprints as fp
from rlshift.errors import InputError


def test_words_sentences_tags_and_lemmas_are_counted_as_by_hand():
    foot = fp.footprint(["The cats were running quickly. I love it!", ""], ids=["a", "empty"])
    row = foot.table.set_index("text_id").loc["a"]
    assert (row["n_words"], row["n_sentences"], row["sentence_length"]) == (8, 2, 4.0)  # 5 + 3 words
    assert foot.counts["sentence_length"][0] == Counter({"(0, 5]": 2})
    assert foot.counts["pos"][0] == Counter({"PRON": 2, "VERB": 2, "PUNCT": 2, "DET": 1, "NOUN": 1, "AUX": 1, "ADV": 1})
    assert foot.counts["pos_trigram"][0]["DET NOUN AUX"] == 1  # trigrams stay within a sentence:
    assert "ADV PUNCT PRON" not in foot.counts["pos_trigram"][0]  # none spans "quickly. I"
    assert sum(foot.counts["pos_trigram"][0].values()) == (6 - 2) + (4 - 2)
    assert foot.counts["lemma"][0] == Counter({"cat": 1, "run": 1, "quickly": 1, "love": 1})  # stop words out
    empty = foot.table.set_index("text_id").loc["empty"]
    assert empty["n_words"] == 0 and np.isnan(empty["sentence_length"])


def test_vader_bands_follow_its_neutral_threshold():
    scores = fp.vader_compound(["I love this, it is wonderful!", "This is a table.", "I hate this awful mess."])
    assert scores[0] > 0.5 and scores[1] == 0.0 and scores[2] < -0.5
    assert fp.sentiment_band([-0.9, -0.2, -0.05, 0.0, 0.04, 0.05, 0.2, 0.9]) == [
        "very negative", "negative", "negative", "neutral", "neutral", "positive", "positive", "very positive"]
    assert fp.band(np.array([1, 5, 6, 41]), (0, 5, 10, np.inf)) == ["(0, 5]", "(0, 5]", "(5, 10]", "(10, inf]"]


def test_js_distance_is_zero_for_one_distribution_and_one_for_disjoint_ones():
    assert fp.js_distance([2, 2, 0], [1, 1, 0]) == pytest.approx(0.0)
    assert fp.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    from scipy.spatial.distance import jensenshannon
    assert fp.js_distance([3, 1, 1], [1, 1, 3]) == pytest.approx(jensenshannon([.6, .2, .2], [.2, .2, .6], base=2))


def test_compare_finds_a_planted_difference_and_not_an_absent_one():
    def corpus(p, n, seed):
        draws = np.random.default_rng(seed).choice(["a", "b", "c", "d"], size=(n, 20), p=p)
        return fp.Footprint(pd.DataFrame({"text_id": [f"{seed}-{i}" for i in range(n)]}),
                            {"lemma": [Counter(row) for row in draws]})

    same = fp.compare(corpus([.4, .3, .2, .1], 60, 1), corpus([.4, .3, .2, .1], 60, 2), aspects=("lemma",), n_boot=400)
    apart = fp.compare(corpus([.4, .3, .2, .1], 60, 1), corpus([.1, .2, .3, .4], 60, 3), aspects=("lemma",), n_boot=400)
    assert same["p_perm"].iloc[0] > 0.05 and abs(same["excess"].iloc[0]) < 0.03
    assert apart["p_perm"].iloc[0] < 0.01 and apart["excess"].iloc[0] > 0.2
    low, high = apart[["js_low", "js_high"]].iloc[0]
    assert low <= apart["js"].iloc[0] <= high


def test_sparse_aspects_keep_their_top_units_and_pool_the_rest():
    counters = [Counter({"x": 5, "y": 3, "z": 1}), Counter({"x": 1, "w": 1})]
    assert fp.vocabulary(counters, 2) == ["x", "y"]
    matrix = fp.count_matrix(counters, ["x", "y"])
    assert matrix.tolist() == [[5, 3, 1], [1, 0, 1]]
    dist = fp.distribution(counters, top_k=2)
    assert dist.to_dict() == pytest.approx({"x": 6 / 11, "y": 3 / 11, "<other>": 2 / 11})


def test_labels_subsets_and_concatenation_keep_texts_aligned():
    foot = fp.footprint(["One two three.", "Four five."], ids=["p", "q"])
    labelled = foot.with_labels("topic", [3, 7], "topic")
    assert labelled.counts["topic"] == [Counter({"3": 1}), Counter({"7": 1})]
    assert labelled.subset([False, True]).table["text_id"].tolist() == ["q"]
    both = fp.Footprint.concat([labelled, labelled.subset([True, False])])
    assert both.table["text_id"].tolist() == ["p", "q", "p"] and len(both.counts["topic"]) == 3
    with pytest.raises(InputError, match="2 texts"):
        foot.with_labels("topic", [1])


@pytest.mark.slow
def test_topics_place_texts_and_the_sentiment_model_reads_polarity():
    texts = ([f"The team won the football match {i} with a late goal." for i in range(10)]
             + [f"Bake the bread {i} with flour, water and yeast in the oven." for i in range(10)])
    topics = fp.fit_topics(texts, fp.embed(texts), n_topics=2, seed=0)
    assert len(set(topics.labels[:10])) == 1 and len(set(topics.labels[10:])) == 1
    assert topics.labels[0] != topics.labels[10]
    new = ["A striker scored a goal in the final match.", "Knead the dough and bake it."]
    assert topics.assign(new, fp.embed(new)).tolist() == [topics.labels[0], topics.labels[10]]
    with pytest.raises(InputError, match="n_topics"):
        fp.fit_topics(texts[:3], fp.embed(texts[:3]), n_topics=2, seed=0)
    model = fp.sentiment_model(0)
    assert model.cv_accuracy > 0.7  # SST-2, 5-fold
    good, bad = model.score(fp.embed(["A wonderful, moving film.", "A dull, painful waste of time."]))
    assert good > 0 > bad

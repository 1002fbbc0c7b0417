"""The engine against a direct, unbatched computation, across batch sizes, and its cache."""
import numpy as np
import pandas as pd
import pytest
import torch

from rlshift import prompts
from rlshift.cache import ScoreCache
from rlshift.engine import Scorer
from rlshift.engine.lm import LM
from rlshift.metrics import normalize_options
from rlshift.requests import Request, Text

CONTEXTS = [
    "Question: What is the capital of France?\nA. Berlin\nB. Paris\nC. Rome\nD. Madrid\nAnswer:",
    "The sun rises in the",
    "Question: Which gas do plants absorb from the air during photosynthesis, mostly in "
    "their leaves, on sunny days?\nA. oxygen\nB. carbon dioxide\nC. nitrogen\nD. helium\nAnswer:",
    "Water freezes at zero degrees ",  # trailing space moves to the continuation
]
CONTINUATIONS = [[" Paris", " Berlin and Bonn"], [" east", " west side of town"],
                 [" carbon dioxide", " oxygen"], ["Celsius", "Fahrenheit, they say"]]


def direct_choice(loaded, context, option):
    tok = loaded.tokenizer
    ids = tok(context, add_special_tokens=True)["input_ids"]
    target = tok(context + option, add_special_tokens=True)["input_ids"][len(ids)]
    with torch.inference_mode():
        logits = loaded.model(torch.tensor([ids])).logits[0, -1].float()
    return float(torch.log_softmax(logits, -1)[target])


def direct_continuation(loaded, context, continuation):
    tok = loaded.tokenizer
    stripped = context.rstrip(" ")
    continuation = context[len(stripped):] + continuation
    whole = tok(stripped + continuation, add_special_tokens=True)["input_ids"]
    n_ctx = len(tok(stripped, add_special_tokens=True)["input_ids"])
    with torch.inference_mode():
        logp = torch.log_softmax(loaded.model(torch.tensor([whole])).logits[0].float(), -1)
    return float(sum(logp[i - 1, whole[i]] for i in range(n_ctx, len(whole))))


@pytest.mark.parametrize("which", ["smollm2", "gemma"])
def test_choice_and_continuation_match_direct_computation(which, request):
    loaded = request.getfixturevalue(which)
    scorer = Scorer(loaded, batch_size=3, progress=False)
    letters = tuple(prompts.letter_options(4))
    reqs = [Request(f"q{i}", c, letters) for i, c in enumerate(CONTEXTS[:3:2])]
    got = scorer.choice_logprobs(reqs, chat=False, template="t", data_version="d")
    for req in reqs:
        for j, option in enumerate(letters):
            value = got[(got.item_id == req.item_id) & (got.option_index == j)]["logprob"].item()
            assert value == pytest.approx(direct_choice(loaded, req.context, option), abs=1e-4)
    reqs = [Request(f"c{i}", c, tuple(o)) for i, (c, o) in enumerate(zip(CONTEXTS, CONTINUATIONS))]
    got = scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
    for req in reqs:
        for j, option in enumerate(req.options):
            value = got[(got.item_id == req.item_id) & (got.option_index == j)]["logprob"].item()
            assert value == pytest.approx(direct_continuation(loaded, req.context, option), abs=1e-4)


def _many_requests(n=24):
    rng = np.random.default_rng(0)
    words = "the a model of answer question red blue small large river city time".split()
    out = []
    for i in range(n):
        ctx = " ".join(rng.choice(words, size=int(rng.integers(3, 40))))
        out.append(Request(f"r{i}", ctx, (" red", " blue river", " time of the city")))
    return out


def test_batch_size_invariance(tiny_llama):
    reqs = _many_requests()
    frames = {}
    for bs in (1, 5, 24):
        scorer = Scorer(tiny_llama, batch_size=bs, progress=False)
        frames[bs] = scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
        c = scorer.choice_logprobs([Request(r.item_id, r.context, (" A", " B")) for r in reqs],
                                   chat=False, template="t", data_version="d")
        frames[f"c{bs}"] = c
    for bs in (5, 24):
        np.testing.assert_allclose(frames[bs]["logprob"], frames[1]["logprob"], atol=1e-5)
        np.testing.assert_allclose(frames[f"c{bs}"]["logprob"], frames["c1"]["logprob"], atol=1e-5)


def test_chat_prompts_are_not_given_a_second_bos(smollm2):
    text = prompts.render_letter({"question": "2+2?", "choices": ["3", "4"], "answer": 1}, [], "chat",
                                 smollm2.tokenizer)
    scorer = Scorer(smollm2, progress=False)
    ids = scorer.lm.encode_context(text, chat=True)
    assert ids == smollm2.tokenizer(text, add_special_tokens=False)["input_ids"]
    assert text.endswith(prompts.ANSWER_CUE)


def test_normalize_options():
    import pandas as pd
    frame = pd.DataFrame({"item_id": ["a", "a", "b", "b", "b"],
                          "logprob": np.log([0.2, 0.6, 0.1, 0.1, 0.2])})
    out = normalize_options(frame)
    np.testing.assert_allclose(out["prob"], [0.25, 0.75, 0.25, 0.25, 0.5])
    np.testing.assert_allclose(out["option_mass"], [0.8, 0.8, 0.4, 0.4, 0.4])


def test_cache_reuses_and_keys_on_the_model(tiny_llama, tmp_path):
    cache = ScoreCache(tmp_path / "s.sqlite")
    reqs = _many_requests(6)
    scorer = Scorer(tiny_llama, cache=cache, batch_size=2, progress=False)
    first = scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
    assert len(cache) == 6
    calls = []
    original = tiny_llama.model.forward
    tiny_llama.model.forward = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        again = scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
        assert calls == [] and again["logprob"].tolist() == first["logprob"].tolist()
        relabelled = scorer.continuation_logprobs([Request(f"other-{r.item_id}", r.context, r.options) for r in reqs],
                                                  chat=False, template="t2", data_version="d2")
        assert calls == [] and len(cache) == 6  # the same texts under another template and ids: the same entries
        assert relabelled["template"].eq("t2").all() and relabelled["item_id"].str.startswith("other-").all()
        scorer.continuation_logprobs([Request(r.item_id, r.context + " more", r.options) for r in reqs],
                                     chat=False, template="t", data_version="d")
        assert len(calls) > 0 and len(cache) == 12  # other texts: other keys
        calls.clear()
        auto = Scorer(tiny_llama, cache=cache, batch_size="auto", progress=False)
        assert auto.continuation_logprobs(reqs, chat=False, template="t", data_version="d")[
            "logprob"].tolist() == first["logprob"].tolist() and calls == []  # all cached
    finally:
        del tiny_llama.model.forward


@pytest.mark.parametrize("which,attention", [("tiny_llama", "sdpa"), ("tiny_llama", "eager"), ("gemma", "sdpa")])
def test_packed_options_equal_full_recomputation(which, attention, request, monkeypatch):
    """Packing a context and all its options into one row under a 4D mask gives the same
    log-probabilities and greedy flags as scoring each (context + option) from scratch, under
    both mask conventions (boolean for sdpa, additive for eager). A request reaching past Gemma
    3's 512-token sliding window is not packed (the custom mask would drop the window)."""
    loaded = request.getfixturevalue(which)
    reqs = [Request(f"c{i}", c, tuple(o)) for i, (c, o) in enumerate(zip(CONTEXTS, CONTINUATIONS))]
    reqs += _many_requests(10)
    reqs.append(Request("long", "The river kept rising through the night. " * 80 + "By morning the town",
                        (" was under water", " had left")))
    packed = []
    original = LM._continuations_packed
    monkeypatch.setattr(LM, "_continuations_packed",
                        lambda self, batch, out: (packed.extend(r.item_id for r, _ in batch),
                                                  original(self, batch, out)))
    loaded.model.set_attn_implementation(attention)
    try:
        frames = [Scorer(loaded, batch_size=4, progress=False, prefix_sharing=flag).continuation_logprobs(
            reqs, chat=False, template="t", data_version="d") for flag in (True, False)]
    finally:
        loaded.model.set_attn_implementation("sdpa")
    assert set(packed) == {r.item_id for r in reqs} - ({"long"} if which == "gemma" else set())
    np.testing.assert_allclose(frames[0]["logprob"], frames[1]["logprob"], atol=1e-4)
    assert frames[0]["is_greedy"].tolist() == frames[1]["is_greedy"].tolist()
    assert frames[0]["n_tokens"].tolist() == frames[1]["n_tokens"].tolist()


def test_options_sharing_an_opening_run_it_once(tiny_llama, monkeypatch):
    """Options that open alike ("The next ball will ...") share those positions in the packed
    row (a prefix tree), with the values of each (context + option) run alone."""
    options = tuple(f" The next ball will {w} be red." for w in ("certainly not", "probably not", "possibly", "certainly"))
    req = Request("menu", "An urn holds ten balls. You drew three red ones. You say:", options)
    widths = []
    original = tiny_llama.model.forward
    monkeypatch.setattr(tiny_llama.model, "forward", lambda *a, **k: "input_ids" in k and widths.append(k["input_ids"].shape[1])
                        or original(*a, **k))
    got = Scorer(tiny_llama, batch_size=2, progress=False).continuation_logprobs(
        [req], chat=False, template="t", data_version="d")
    tok = tiny_llama.tokenizer
    context = tok(req.context)["input_ids"]
    tails = [tok(req.context + o)["input_ids"][len(context):] for o in options]
    distinct = len({tuple(t[:k]) for t in tails for k in range(1, len(t))})  # option positions, shared ones once
    assert widths == [len(context) + distinct] and distinct < sum(len(t) - 1 for t in tails) - 6
    for j, option in enumerate(options):
        assert got["logprob"][j] == pytest.approx(direct_continuation(tiny_llama, req.context, option), abs=1e-4)


def test_auto_batch_size_shrinks_until_a_batch_fits(tiny_llama, monkeypatch):
    """On CUDA 'auto' probes with the longest sequence, shrinking on out-of-memory errors (here a
    stand-in model that 'runs out of memory' above 24 rows); on CPU, per run, rows for about
    CPU_BATCH_TOKENS tokens, 8 to CPU_MAX_ROWS."""
    from rlshift.engine.lm import CPU_BATCH_TOKENS, CPU_MAX_ROWS

    scorer = LM(tiny_llama, batch_size="auto", progress=False)
    assert scorer.resolve_batch_size([1, 2, 3], keep=1) == CPU_MAX_ROWS  # short texts: the most rows
    assert scorer.resolve_batch_size([1] * 12, keep=1) == CPU_BATCH_TOKENS // 12
    assert scorer.resolve_batch_size([1] * 300, keep=1) == 8  # long prompts: as before
    assert scorer.batch_size == "auto"  # per run on CPU, never fixed by the first run
    scorer = LM(tiny_llama, batch_size="auto", progress=False)
    monkeypatch.setattr(scorer, "device", torch.device("cuda"))
    seen = []

    def fake_forward(seqs, keep):
        seen.append(len(seqs))
        if len(seqs) > 24:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return None

    monkeypatch.setattr(scorer, "forward", fake_forward)
    chosen = scorer.resolve_batch_size([5] * 300, keep=1, start=256)
    assert seen[0] == 256 and chosen == seen[-1] <= 24 < seen[-2]
    assert all(a > b for a, b in zip(seen, seen[1:])) and scorer.batch_size == chosen


def test_auto_probe_covers_the_longest_packed_row(tiny_llama, monkeypatch):
    """'auto' probes with the longest row the run will run (a context and all its endings),
    keeping as many logits as that row's endings need, not one."""
    scorer = Scorer(tiny_llama, batch_size="auto", progress=False)
    seen = []

    def fake_resolve(longest, keep, start=256):
        seen.append((len(longest), keep))
        scorer.lm.batch_size = 4
        return 4

    monkeypatch.setattr(scorer.lm, "resolve_batch_size", fake_resolve)
    reqs = [Request(f"c{i}", c, tuple(o)) for i, (c, o) in enumerate(zip(CONTEXTS, CONTINUATIONS))]
    scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
    splits = [[scorer.lm.split_continuation(r.context, o, False) for o in r.options] for r in reqs]
    endings = [sum(len(t) for _, t in s) for s in splits]
    assert seen == [(max(len(s[0][0]) + e for s, e in zip(splits, endings)), max(endings))]
    assert max(endings) > 1


@pytest.mark.parametrize("which", ["tiny_llama", "gemma"])
def test_shared_few_shot_prefix_is_encoded_once_and_scores_alike(which, request):
    """k-shot questions share their examples: the engine encodes that prefix once (and keeps it
    for the next batch) and gets the same letter log-probs as scoring every question whole. The
    prefix is longer than Gemma 3's 512-token sliding window, so those layers are exercised too."""
    loaded = request.getfixturevalue(which)
    shot = ("Question: Which planet is known as the red planet?\nA. Venus\nB. Mars\nC. Jupiter\n"
            "D. Saturn\nAnswer: B\n\n")
    prefix = "The following are multiple choice questions (with answers).\n\n" + shot * 22
    questions = [f"Question: What is {a} plus {b}?\nA. {a + b}\nB. {a * b}\nC. {a - b}\nD. 0\nAnswer:"
                 for a, b in [(2, 3), (10, 7), (4, 4), (12, 1), (6, 9)]]
    reqs = [Request(f"q{i}", prefix + q, (" A", " B", " C", " D")) for i, q in enumerate(questions)]
    reqs.append(Request("alone", CONTEXTS[0], (" A", " B", " C", " D")))  # no shared prefix: the plain path
    scorer = Scorer(loaded, batch_size=2, progress=False)
    shared = scorer.choice_logprobs(reqs, chat=False, template="t", data_version="d")
    assert scorer.lm._prefix is not None and len(scorer.lm._prefix[0]) > 512
    whole = Scorer(loaded, batch_size=2, progress=False, prefix_sharing=False).choice_logprobs(
        reqs, chat=False, template="t", data_version="d")
    np.testing.assert_allclose(shared["logprob"], whole["logprob"], atol=1e-4)
    assert shared["top_token"].tolist() == whole["top_token"].tolist()
    direct = [direct_choice(loaded, reqs[1].context, option) for option in reqs[1].options]
    np.testing.assert_allclose(shared[shared["item_id"] == "q1"]["logprob"], direct, atol=1e-4)


@pytest.mark.parametrize("which,attention", [("tiny_llama", "sdpa"), ("tiny_llama", "eager"), ("gemma", "sdpa")])
def test_choice_contexts_sharing_a_stem_run_it_once(which, attention, request, monkeypatch):
    """A question under cyclic option orders: the orders share the question's tokens, which run
    once in the batch's prefix tree; every option's log-probability and the top token equal the
    contexts run one by one."""
    loaded = request.getfixturevalue(which)
    stem = "Question: Which gas do plants absorb from the air during photosynthesis?\n"
    answers = ["oxygen", "carbon dioxide", "nitrogen", "helium"]
    reqs = [Request(f"o{k}", stem + "".join(f"{letter}. {answers[(j + k) % 4]}\n" for j, letter in enumerate("ABCD"))
                    + "Answer:", (" A", " B", " C", " D")) for k in range(4)]
    positions = []
    original = loaded.model.forward
    monkeypatch.setattr(loaded.model, "forward", lambda *a, **k: "input_ids" in k and positions.append(
        k["input_ids"].numel()) or original(*a, **k))
    loaded.model.set_attn_implementation(attention)
    try:
        packed = Scorer(loaded, batch_size=4, progress=False).choice_logprobs(reqs, chat=False, template="t",
                                                                            data_version="d")
        assert len(positions) == 1
        alone = [Scorer(loaded, batch_size=1, progress=False, prefix_sharing=False).choice_logprobs(
            [r], chat=False, template="t", data_version="d") for r in reqs]
    finally:
        loaded.model.set_attn_implementation("sdpa")
    lengths = [len(loaded.tokenizer(r.context)["input_ids"]) for r in reqs]
    assert positions[0] < sum(lengths) - 3 * 10  # the stem (over 10 tokens) ran once, not four times
    alone = pd.concat(alone, ignore_index=True)
    np.testing.assert_allclose(packed["logprob"], alone["logprob"], atol=1e-4)
    assert packed["top_token"].tolist() == alone["top_token"].tolist()


def test_a_batch_never_mixes_two_shared_prefixes(tiny_llama):
    """Requests sharing a long prefix are batched within their group only (a batch across two groups
    would share nothing and run every row whole); the rest are batched together, longest first
    (a batch whose contexts share a shorter opening then runs as one prefix tree)."""
    scorer = Scorer(tiny_llama, batch_size=2, progress=False)
    a, b = list(range(100)), [7] * 100
    contexts = {0: a + [1], 1: a + [2, 2], 2: a + [3], 3: b + [1], 4: b + [2], 5: b + [3], 6: [5, 5], 7: [5, 5, 5]}
    lengths = {i: len(c) for i, c in contexts.items()}
    chunks = list(scorer.lm.batches(list(range(8)), lengths, "t", contexts))
    group = {0: "a", 1: "a", 2: "a", 3: "b", 4: "b", 5: "b", 6: "rest", 7: "rest"}
    assert sorted(i for c in chunks for i in c) == list(range(8))
    assert all(len({group[i] for i in c}) == 1 for c in chunks) and len(chunks) == 5
    assert chunks[-1] == [7, 6]  # the rest, longest first


SENTENCES = ["The keys to the cabinet are on the table.", "The keys to the cabinet is on the table.",
             "Who do you think left?", "A dog barked.", "Colorless green ideas sleep furiously, said the linguist."]


@pytest.mark.parametrize("which", ["tiny_llama", "gemma"])
def test_sequence_logprobs_match_an_unbatched_forward_and_map_tokens_to_text(which, request, tmp_path):
    """Every token of a text scored after the prefix token (BOS, else EOS), batched, equals one
    plain forward pass per text; the offsets give each token's characters; a rerun is cached."""
    loaded = request.getfixturevalue(which)
    texts = [Text(f"s{i}", t) for i, t in enumerate(SENTENCES)]
    scorer = Scorer(loaded, cache=ScoreCache(tmp_path / "s.sqlite"), batch_size=2, progress=False)
    table = scorer.sequence_logprobs(texts, chat=False, template="t", data_version="d")
    tok = loaded.tokenizer
    prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    for t, row in zip(texts, table.itertuples()):
        ids = [prefix] + tok(t.text, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logp = torch.log_softmax(loaded.model(torch.tensor([ids])).logits[0].float(), -1)
        direct = [float(logp[k, ids[k + 1]]) for k in range(len(ids) - 1)]
        np.testing.assert_allclose(row.token_logprobs, direct, atol=1e-4)
        assert row.n_tokens == len(direct) and row.logprob == pytest.approx(sum(direct), abs=1e-3)
        pieces = "".join(t.text[s:e] for s, e in row.offsets)
        assert pieces.replace(" ", "") == t.text.replace(" ", "")
    loaded.model.forward = lambda *a, **k: pytest.fail("recomputed a cached sequence")
    try:
        again = scorer.sequence_logprobs(texts, chat=False, template="t", data_version="d")
    finally:
        del loaded.model.forward
    assert again["logprob"].tolist() == table["logprob"].tolist()


def test_prefix_tree_runs_each_shared_prefix_once():
    from rlshift.engine import batching

    ids, depths, parents, node_of = batching.prefix_tree([[1, 2, 3], [1, 2, 4, 5], [1, 6], [7]])
    assert ids == [1, 2, 3, 4, 5, 6, 7] and depths == [0, 1, 2, 2, 3, 1, 0]
    assert parents == [-1, 0, 1, 1, 3, 0, -1]
    assert node_of == [[0, 1, 2], [0, 1, 3, 4], [0, 5], [6]]
    mask = batching.tree_mask(parents)
    assert mask[4].nonzero().flatten().tolist() == [0, 1, 3, 4]  # itself and its ancestors, not its cousin 2
    assert mask[6].nonzero().flatten().tolist() == [6]
    assert batching.tree_chunks([[1, 2, 3], [1, 2, 4], [1, 2, 4, 5], [9, 9]], most_nodes=5) == [[0, 1, 2], [3]]
    assert batching.tree_chunks([[1, 2, 3, 4, 5]], most_nodes=2) == [[0]]  # a sequence alone may exceed it


@pytest.mark.parametrize("which,attention", [("tiny_llama", "sdpa"), ("tiny_llama", "eager"), ("gemma", "sdpa")])
def test_sequences_packed_as_a_prefix_tree_equal_each_run_alone(which, attention, request, monkeypatch):
    """Minimal pairs share their words up to the point they differ: packed as one prefix tree
    per batch, every token's log-probability and greedy flag equal the unpacked batches', and
    fewer positions run. A text reaching past Gemma 3's sliding window is not packed."""
    loaded = request.getfixturevalue(which)
    texts = [Text(f"s{i}", t) for i, t in enumerate(SENTENCES + [
        "The cats that the dog chases run.", "The cats that the dog chases runs.", "No author has ever written a book."])]
    positions = []
    original = loaded.model.forward
    monkeypatch.setattr(loaded.model, "forward", lambda *a, **k: positions.append(
        k["input_ids"].shape[0] * k["input_ids"].shape[1]) or original(*a, **k))
    loaded.model.set_attn_implementation(attention)
    try:
        frames, runs = [], []
        for flag in (True, False):
            positions.clear()
            frames.append(Scorer(loaded, batch_size=4, progress=False, prefix_sharing=flag).sequence_logprobs(
                texts, chat=False, template="t", data_version="d"))
            runs.append(sum(positions))
    finally:
        loaded.model.set_attn_implementation("sdpa")
    packed, alone = frames
    for a, b in zip(packed.itertuples(), alone.itertuples()):
        np.testing.assert_allclose(a.token_logprobs, b.token_logprobs, atol=1e-4)
        assert a.token_greedy == b.token_greedy and a.n_tokens == b.n_tokens and a.offsets == b.offsets
    assert runs[0] < sum(packed["n_tokens"]) <= runs[1]  # shared prefixes ran once; padding ran unpacked
    if which == "gemma":
        long = [Text("long", "The river kept rising through the night. " * 80)]
        calls = []
        monkeypatch.setattr("rlshift.engine.packed.score_sequences", lambda *a: calls.append(1) or iter(()))
        Scorer(loaded, batch_size=2, progress=False).sequence_logprobs(long, chat=False, template="t", data_version="d")
        assert calls == []


@pytest.mark.parametrize("which", ["tiny_llama", "gemma"])
def test_layer_readout_ends_in_the_model_distribution_and_blocks_add_up(which, request):
    """The residual stream after the last layer, decoded through the final norm and unembedding,
    is the model's own next-token distribution; each layer's residual is the previous one plus
    what its attention and MLP blocks added (Gemma 3: after their post-norms)."""
    from rlshift.engine import layers

    loaded = request.getfixturevalue(which)
    reqs = [Request("q0", "The capital of France is", (" Paris", " Rome")),
            Request("q1", "One, two, three, four,", (" five",))]
    scorer = Scorer(loaded, batch_size=2, progress=False)
    table = scorer.layer_readout(reqs, chat=False, template="t", data_version="d")
    n_layers = loaded.model.config.num_hidden_layers
    assert len(table) == (2 + 1) * n_layers * len(layers.COMPONENTS)
    last = table[(table["component"] == "resid") & (table["layer"] == n_layers - 1)]
    for req in reqs:
        logp = torch.tensor([direct_choice(loaded, req.context, o) for o in req.options])
        got = last[last["item_id"] == req.item_id].sort_values("option_index")
        np.testing.assert_allclose(got["logprob"], logp, atol=1e-4)
    assert (table["rank"] >= 1).all()
    ids = torch.tensor([loaded.tokenizer(reqs[0].context)["input_ids"]])
    with layers.recording(loaded.model) as kept, torch.inference_mode():
        loaded.model(ids)
    for i in range(1, n_layers):
        added = kept["resid"][i] - kept["resid"][i - 1]
        torch.testing.assert_close(added, kept["attn"][i] + kept["mlp"][i], atol=1e-4, rtol=1e-4)


def test_the_same_text_under_two_item_ids_is_computed_once(tiny_llama, tmp_path):
    cache = ScoreCache(tmp_path / "s.sqlite")
    req = _many_requests(1)[0]
    twins = [req, Request("twin", req.context, req.options)]
    rows = []
    original = tiny_llama.model.forward
    tiny_llama.model.forward = lambda *a, **k: rows.append(k["input_ids"].shape[0]) or original(*a, **k)
    try:
        got = Scorer(tiny_llama, cache=cache, batch_size=8, progress=False).continuation_logprobs(
            twins, chat=False, template="t", data_version="d")
    finally:
        del tiny_llama.model.forward
    assert len(cache) == 1 and sum(rows) <= len(req.options)  # one item's rows, not two
    assert list(got["item_id"].unique()) == [req.item_id, "twin"]
    by_item = got.groupby("item_id")["logprob"].apply(tuple)
    assert by_item[req.item_id] == by_item["twin"]


def test_a_logits_budget_splits_batches_without_changing_values(tiny_llama, monkeypatch):
    from rlshift.engine import batching

    assert batching.logit_parts([5, 4, 4, 1], 8, 10, budget=10 ** 9) == [slice(0, 4)]
    assert batching.logit_parts([5, 4, 4, 1], 2, 10, budget=10 ** 9) == [slice(0, 2), slice(2, 4)]
    assert batching.logit_parts([5, 4, 4, 1], 8, 10, budget=400) == [slice(0, 2), slice(2, 4)]  # 2 x 5 x 10 x 4 = 400
    assert batching.logit_parts([50, 1], 8, 10, budget=400) == [slice(0, 1), slice(1, 2)]  # one row may exceed it
    texts = [Text(f"t{i}", " ".join(["word"] * (3 + 4 * i))) for i in range(6)]
    reqs = _many_requests(6)
    scorer = Scorer(tiny_llama, cache=None, batch_size=8, progress=False)
    whole = scorer.sequence_logprobs(texts, chat=False, template="t", data_version="d")
    monkeypatch.setattr(scorer.lm, "prefix_sharing", False)  # the unpacked path: one sequence per option
    cont = scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
    calls = []
    original = scorer.lm.forward
    monkeypatch.setattr(scorer.lm, "forward", lambda seqs, keep, **k: calls.append(len(seqs)) or original(seqs, keep, **k))
    monkeypatch.setattr(batching, "LOGITS_BUDGET_BYTES", 1)
    split = scorer.sequence_logprobs(texts, chat=False, template="t", data_version="d")
    cont_split = scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
    assert set(calls) == {1} and len(calls) > len(texts)  # one row per pass
    np.testing.assert_allclose(split["logprob"], whole["logprob"], atol=1e-5)
    np.testing.assert_allclose(cont_split["logprob"], cont["logprob"], atol=1e-5)
    # the packed path (options of one context in one row) keeps to the budget as well
    monkeypatch.setattr(scorer.lm, "prefix_sharing", True)
    monkeypatch.setattr(batching, "LOGITS_BUDGET_BYTES", 10 ** 12)
    packed = scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
    rows = []
    original_packed = scorer.lm._continuations_packed
    monkeypatch.setattr(scorer.lm, "_continuations_packed", lambda batch, out: rows.append(len(batch)) or
                        original_packed(batch, out))
    monkeypatch.setattr(batching, "LOGITS_BUDGET_BYTES", 1)
    packed_split = scorer.continuation_logprobs(reqs, chat=False, template="t", data_version="d")
    assert rows and set(rows) == {1} and sum(rows) == len(reqs)
    np.testing.assert_allclose(packed_split["logprob"], packed["logprob"], atol=1e-5)

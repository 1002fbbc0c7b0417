"""Batched generation: a prompt's samples are the same alone, in a batch and beside other
neighbours (fp32), and greedy decoding is what HF `generate` gives one prompt at a time."""
from __future__ import annotations

import pytest

from rlshift.engine import GenerationSettings, Text
from rlshift.engine.generate import SAMPLER, generate_call
from rlshift.errors import InputError

PROMPTS = [Text(f"p{i}", t) for i, t in enumerate([
    "The sky is", "Once upon a time, in a land far away, there lived", "Question: what is two plus two?\nAnswer:",
    "A", "My favourite food is", "The capital of France is Paris. The capital of Spain is",
    "Hello", "In 1969, the first people to walk on the Moon were"])]
OTHERS = [Text(f"q{i}", t) for i, t in enumerate(["Dogs and cats", "The weather today", "Write a poem about the sea.",
                                                 "1, 2, 3,", "She opened the door and", "x", "Why?"])]


def _samples(loaded, prompts, settings, batch_rows):
    call = generate_call(loaded, prompts, settings, chat=False, progress=False, batch_rows=batch_rows)
    values = [v for batch in call.compute(list(range(len(prompts)))) for v in batch]
    return {prompts[i].item_id: v["raw"] for i, v in values}


@pytest.mark.parametrize("settings", [
    GenerationSettings(max_new_tokens=12, temperature=1.0, top_p=0.9, n_samples=2, seed=3),
    GenerationSettings(max_new_tokens=12, temperature=0.7, top_p=1.0, top_k=0, n_samples=1, seed=5, stop=("\n", ".")),
], ids=["top-p, 2 samples", "pure sampling with stops"])
def test_samples_do_not_depend_on_the_batch(tiny_llama, settings):
    alone = {p.item_id: _samples(tiny_llama, [p], settings, 1)[p.item_id] for p in PROMPTS}
    batched = _samples(tiny_llama, PROMPTS, settings, 8 * settings.n_samples)
    target = PROMPTS[1]
    mixed = _samples(tiny_llama, OTHERS + [target], settings, 8 * settings.n_samples)
    assert batched == alone
    assert mixed[target.item_id] == alone[target.item_id]
    assert len({s for v in alone.values() for s in v}) > len(PROMPTS) // 2  # samples differ, the noise is real


def test_samples_follow_the_seed_and_the_sample_index(tiny_llama):
    settings = GenerationSettings(max_new_tokens=12, temperature=1.0, top_p=1.0, top_k=0, n_samples=3, seed=0)
    first = _samples(tiny_llama, PROMPTS[:2], settings, 8)
    other_seed = _samples(tiny_llama, PROMPTS[:2], GenerationSettings(**{**settings.__dict__, "seed": 1}), 8)
    assert first != other_seed
    assert len(set(first["p1"])) == 3  # each sample index its own noise


def test_greedy_equals_hf_generate_one_prompt_at_a_time(tiny_llama):
    import torch

    settings = GenerationSettings(max_new_tokens=10, temperature=0)
    batched = _samples(tiny_llama, PROMPTS, settings, 8)
    tok, model = tiny_llama.tokenizer, tiny_llama.model
    for p in PROMPTS:
        enc = tok(p.text, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
        assert batched[p.item_id] == [tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)]


def test_sampled_keys_name_the_sampler_greedy_keys_do_not():
    assert GenerationSettings(temperature=0.7).params()["sampler"] == SAMPLER
    assert "sampler" not in GenerationSettings(temperature=0).params()  # greedy answers cached before are still valid
    with pytest.raises(InputError, match="batch_rows"):
        generate_call(None, [], GenerationSettings(), chat=False, progress=False, batch_rows=0)


def test_sample_ends_tell_an_end_token_from_a_stop_string_and_the_limit():
    import torch

    from rlshift.engine.generate import sample_ends

    end, pad = {2, 7}, 0
    generated = torch.tensor([[5, 6, 2, 0, 0],   # the model's end token at the third step
                              [5, 9, 0, 0, 0],   # padded after a stop string completed at the second
                              [5, 6, 8, 9, 5],   # ran to the limit
                              [5, 6, 8, 9, 7]])  # its end token on the last step still counts as ending
    texts = ["ab", "a.", "abcda", "abcd"]
    assert sample_ends(generated, end, pad, texts, (".",)) == [("eos", 3), ("stop", 2), ("limit", 5), ("eos", 5)]
    # when pad is an end token (SmolLM2's kind), the stop string in the text still names the cause
    assert sample_ends(torch.tensor([[5, 9, 2, 2]]), {2}, 2, ["a."], (".",)) == [("stop", 2)]


def test_each_sample_records_how_it_ended(tiny_llama):
    settings = GenerationSettings(max_new_tokens=12, temperature=1.0, top_p=1.0, top_k=0, n_samples=2, seed=1,
                                  stop=(" ",))
    call = generate_call(tiny_llama, PROMPTS, settings, chat=False, progress=False)
    values = dict(v for batch in call.compute(list(range(len(PROMPTS)))) for v in batch)
    frame = call.table(PROMPTS, [values[i] for i in range(len(PROMPTS))])
    assert set(frame["end"]) <= {"eos", "stop", "limit"}
    for raw, end, n in zip(frame["raw"], frame["end"], frame["n_generated"]):
        assert 1 <= n <= 12
        assert (end == "stop") == (" " in raw)
        assert end != "limit" or n == 12
    assert "stop" in set(frame["end"])  # a space comes up within 12 random tokens

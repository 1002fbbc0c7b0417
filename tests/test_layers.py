"""The per-layer readout against independent computations: transformers' own hidden states
decoded by hand, and Merullo et al.'s intervention done their way (the MLP modules swapped for a
module that outputs the o vector)."""
import numpy as np
import pytest
import torch

from rlshift.cache import ScoreCache
from rlshift.engine import Scorer, layers
from rlshift.requests import Request

REQS = [Request("q0", "Q: What is the capital of France?\nA: Paris\nQ: What is the capital of Poland?\nA:",
                (" Warsaw", " Poland")),
        Request("q1", "table mug free China table mug free China table mug free", (" Beijing", " China"))]


def _hand_lens(loaded, context):
    """Every layer's residual at the last token, from output_hidden_states, decoded through the
    final norm and unembedding (transformers already norms the last entry)."""
    ids = torch.tensor([loaded.tokenizer(context)["input_ids"]])
    with torch.inference_mode():
        out = loaded.model(ids, output_hidden_states=True)
        hidden = out.hidden_states[1:]
        rows = [layers.decode(loaded.model, h[:, -1, :]) for h in hidden[:-1]]
        rows.append(out.logits[:, -1, :].float())
    return torch.log_softmax(torch.cat(rows), -1)


@pytest.mark.parametrize("which", ["tiny_llama", "gemma"])
def test_residual_readout_equals_decoded_hidden_states_and_ranks_and_top_tokens_agree(which, request):
    loaded = request.getfixturevalue(which)
    table = Scorer(loaded, batch_size=2, progress=False).layer_readout(REQS, chat=False, template="t", data_version="d")
    for req in REQS:
        hand = _hand_lens(loaded, req.context)
        resid = table[(table["item_id"] == req.item_id) & (table["component"] == "resid")]
        for j, option in enumerate(req.options):
            token = loaded.tokenizer(req.context + option)["input_ids"][len(loaded.tokenizer(req.context)["input_ids"])]
            got = resid[resid["option_index"] == j].sort_values("layer")
            np.testing.assert_allclose(got["logprob"], hand[:, token].numpy(), atol=2e-4)
            ranks = (hand > hand[:, token:token + 1]).sum(-1) + 1
            assert (np.abs(got["rank"].to_numpy() - ranks.numpy()) <= 1).all()  # ties within float noise
        tops = resid[resid["option_index"] == 0].sort_values("layer")["top_token"].to_numpy()
        assert (tops == hand.argmax(-1).numpy()).mean() >= 0.95


class _Constant(torch.nn.Module):
    def __init__(self, vector):
        super().__init__()
        self.vector = vector

    def forward(self, *args, **kwargs):
        x = args[0]
        return self.vector.to(x.dtype).expand_as(x)


def test_replaced_mlp_readout_equals_swapping_the_modules_and_is_keyed_by_the_vector(gemma, tmp_path):
    """Merullo's demo replaces each late FFN with a module returning o; the hook gives the same
    final distribution, and the vector and start layer are part of the cache key."""
    scorer = Scorer(gemma, cache=ScoreCache(tmp_path / "s.sqlite"), batch_size=2, progress=False)
    n = layers.n_layers(gemma.model)
    vec = scorer.block_vectors(REQS[:1], component="mlp", layer=n - 4, chat=False, template="t", data_version="d")
    o = vec["vector"].iloc[0]
    with layers.recording(gemma.model) as kept, torch.inference_mode():
        gemma.model(torch.tensor([gemma.tokenizer(REQS[0].context)["input_ids"]]))
    np.testing.assert_allclose(o, kept["mlp"][n - 4][0].numpy(), atol=1e-5)
    start = n - 6
    got = scorer.layer_readout(REQS[1:], chat=False, template="t", data_version="d", replace_mlp=(o, start),
                               final_only=True)
    assert len(got) == len(REQS[1].options) and set(got["layer"]) == {n - 1}
    blocks = gemma.model.model.layers
    saved = [b.post_feedforward_layernorm for b in blocks]
    try:
        for b in blocks[start:]:
            b.post_feedforward_layernorm = _Constant(torch.tensor(o))
        ids = torch.tensor([gemma.tokenizer(REQS[1].context)["input_ids"]])
        with torch.inference_mode():
            logp = torch.log_softmax(gemma.model(ids).logits[0, -1].float(), -1)
    finally:
        for b, m in zip(blocks, saved):
            b.post_feedforward_layernorm = m
    for j, option in enumerate(REQS[1].options):
        token = gemma.tokenizer(REQS[1].context + option)["input_ids"][len(ids[0])]
        assert got[got["option_index"] == j]["logprob"].iloc[0] == pytest.approx(float(logp[token]), abs=2e-4)
    plain = scorer.layer_readout(REQS[1:], chat=False, template="t", data_version="d", final_only=True)
    assert not np.allclose(plain["logprob"], got["logprob"])  # the intervention changed the output
    other = scorer.layer_readout(REQS[1:], chat=False, template="t", data_version="d",
                                 replace_mlp=([0.0] * len(o), start), final_only=True)
    assert not np.allclose(other["logprob"], got["logprob"])  # another vector is another key, not a cache hit
    full = scorer.layer_readout(REQS[1:], chat=False, template="t", data_version="d")
    last = full[(full["component"] == "resid") & (full["layer"] == n - 1)].sort_values("option_index")
    np.testing.assert_allclose(last["logprob"], plain.sort_values("option_index")["logprob"], atol=1e-5)


def test_bad_layer_and_component_are_named(tiny_llama):
    from rlshift.errors import InputError

    scorer = Scorer(tiny_llama, batch_size=2, progress=False)
    with pytest.raises(InputError, match="component 'ffn' is not read. Accepted: resid, attn, mlp"):
        scorer.block_vectors(REQS, component="ffn", layer=0, chat=False, template="t", data_version="d")
    with pytest.raises(InputError, match="layer 99 is not a layer of this model"):
        scorer.block_vectors(REQS, component="mlp", layer=99, chat=False, template="t", data_version="d")

"""The per-layer readout (the logit lens): the residual stream after every decoder layer, and
the output every attention and MLP block adds to it, decoded through the model's own final norm
and unembedding, in one forward pass with hooks.

Gemma 2/3 add their blocks' outputs after a norm of their own (`post_attention_layernorm`,
`post_feedforward_layernorm`): those norms' outputs are what reaches the residual stream, so
they are read; other decoders (Llama, Qwen, OLMo) add `self_attn` and `mlp` outputs directly.
The final norm applies each model's own scale (Gemma's 1 + w); a configured final-logit
soft-cap is applied after the unembedding. At the last layer the residual readout is the
model's own next-token distribution.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import pandas as pd

from rlshift.engine.caching import Call
from rlshift.errors import InputError
from rlshift.requests import Request

COMPONENTS = ("resid", "attn", "mlp")


def _decoder(model):
    """(decoder layers, final norm) of a Hugging Face causal LM."""
    base = model.base_model
    layers = getattr(base, "layers", None) or getattr(base, "h", None)
    norm = getattr(base, "norm", None) or getattr(base, "ln_f", None)
    if layers is None or norm is None:
        raise InputError(f"per-layer readout: {type(model).__name__} has no decoder layers and final norm "
                         f"where rlshift looks (model.layers / model.norm). Accepted: Llama-, Gemma-, Qwen-, "
                         f"OLMo- and GPT-2-style causal LMs.")
    return layers, norm


def _block_outputs(layer):
    """The modules whose outputs are added to the residual stream: (attention, MLP)."""
    if hasattr(layer, "post_feedforward_layernorm"):  # Gemma 2/3: a norm after each block
        return layer.post_attention_layernorm, layer.post_feedforward_layernorm
    return layer.self_attn, layer.mlp


@contextlib.contextmanager
def recording(model):
    """Hooks that keep every layer's residual output and block outputs, at the last position:
    yields a dict component -> list over layers of (rows x hidden) tensors."""
    layers, _ = _decoder(model)
    kept = {c: [None] * len(layers) for c in COMPONENTS}

    def keep(component, index):
        def hook(module, args, output):
            tensor = output[0] if isinstance(output, tuple) else output
            kept[component][index] = tensor[:, -1, :].detach()
        return hook

    handles = []
    for i, layer in enumerate(layers):
        attn, mlp = _block_outputs(layer)
        handles += [layer.register_forward_hook(keep("resid", i)), attn.register_forward_hook(keep("attn", i)),
                    mlp.register_forward_hook(keep("mlp", i))]
    try:
        yield kept
    finally:
        for h in handles:
            h.remove()


def decode(model, hidden):
    """Next-token logits (fp32) that the model's final norm and unembedding give a hidden state."""
    import torch

    _, norm = _decoder(model)
    logits = model.get_output_embeddings()(norm(hidden)).float()
    cap = getattr(model.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def readout_call(lm, requests: Sequence[Request], *, chat: bool) -> Call:
    """One row per request x option x component x layer: the log-probability and the rank
    (1 = top) of the option's first token after the context, read at the context's last token."""
    layers, _ = _decoder(lm.model)
    prepared = []
    for req in requests:
        if not req.options:
            raise InputError(f"item {req.item_id}: no answer to read out; give at least one option.")
        ctx = lm.encode_context(req.context, chat)
        targets = []
        for option in req.options:
            _, tail = lm.split_continuation(req.context, option, chat)
            if not tail:
                raise InputError(f"item {req.item_id}: answer option {option!r} encodes to no token.")
            targets.append(tail[0])
        prepared.append((ctx, targets))
    n_layers = len(layers)

    def compute(todo):
        import torch

        lengths = {i: len(prepared[i][0]) for i in todo}
        for batch in lm.batches(todo, lengths, f"layers {lm.loaded.info['spec']}"):
            with recording(lm.model) as kept:
                lm.forward([prepared[i][0] for i in batch], keep=1)
            values = {i: {"component": [], "layer": [], "option_index": [], "logprob": [], "rank": []} for i in batch}
            with torch.inference_mode():
                for component in COMPONENTS:
                    for layer in range(n_layers):
                        logits = decode(lm.model, kept[component][layer])
                        logp = torch.log_softmax(logits, -1)
                        for row, i in enumerate(batch):
                            for j, t in enumerate(prepared[i][1]):
                                v = values[i]
                                v["component"].append(component)
                                v["layer"].append(layer)
                                v["option_index"].append(j)
                                v["logprob"].append(float(logp[row, t]))
                                v["rank"].append(int((logits[row] > logits[row, t]).sum()) + 1)
            yield [(i, values[i]) for i in batch]

    def valid(value, req) -> bool:
        n = len(req.options) * n_layers * len(COMPONENTS)
        return isinstance(value, dict) and all(isinstance(value.get(f), list) and len(value[f]) == n
                                               for f in ("component", "layer", "option_index", "logprob", "rank"))

    def table(reqs, values) -> pd.DataFrame:
        frames = []
        for req, v in zip(reqs, values):
            part = pd.DataFrame(v)
            part.insert(0, "item_id", req.item_id)
            part["option"] = [req.options[j] for j in part["option_index"]]
            frames.append(part)
        return pd.concat(frames, ignore_index=True)

    return Call("layers", requests, lambda req: {"context": req.context, "options": list(req.options), "chat": chat},
                {"verb": "layers", "components": list(COMPONENTS), "position": "last"}, compute, valid, table)

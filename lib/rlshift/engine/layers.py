"""The per-layer readout (the logit lens): the residual stream after every decoder layer, and
the output every attention and MLP block adds to it, decoded through the model's own final norm
and unembedding, in one forward pass with hooks.

Gemma 2/3 add their blocks' outputs after a norm of their own (`post_attention_layernorm`,
`post_feedforward_layernorm`): those norms' outputs are what reaches the residual stream, so
they are read; other decoders (Llama, Qwen, OLMo) add `self_attn` and `mlp` outputs directly.
The final norm applies each model's own scale (Gemma's 1 + w); a configured final-logit
soft-cap is applied after the unembedding. At the last layer the residual readout is the
model's own next-token distribution.

Two more verbs serve Merullo et al.'s (2023) intervention: the vector one block adds at one
layer (`vector_call`), and the readout with every MLP update from a layer on replaced by a given
vector (`readout_call(..., replace_mlp=(vector, from_layer))`), as their demo substitutes `o_city`.
"""
from __future__ import annotations

import contextlib
import hashlib
from typing import Sequence

import pandas as pd

from rlshift.engine.caching import Call
from rlshift.errors import InputError
from rlshift.requests import Request

COMPONENTS = ("resid", "attn", "mlp")
FIELDS = ("component", "layer", "option_index", "logprob", "rank", "top_token")
READ_ROWS = 512  # hidden states decoded per unembedding product (also bounded by the logits budget)


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


def n_layers(model) -> int:
    return len(_decoder(model)[0])


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


@contextlib.contextmanager
def mlp_replaced(model, vector: Sequence[float] | None, from_layer: int):
    """Every MLP update from `from_layer` on is `vector`, at every position (Merullo et al.'s
    o-vector intervention); with no vector, nothing changes."""
    import torch

    layers, _ = _decoder(model)
    if vector is None:
        yield
        return
    if not 0 <= from_layer < len(layers):
        raise InputError(f"replace_mlp: from_layer {from_layer} is not a layer of this model (0..{len(layers) - 1}).")

    def hook(module, args, output):
        tensor = output[0] if isinstance(output, tuple) else output
        new = torch.as_tensor(vector, dtype=tensor.dtype, device=tensor.device).expand_as(tensor)
        return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new

    handles = [_block_outputs(layer)[1].register_forward_hook(hook) for layer in layers[from_layer:]]
    try:
        yield
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


def _contexts(lm, requests: Sequence[Request], chat: bool) -> list[list[int]]:
    return [lm.encode_context(req.context, chat) for req in requests]


def vector_hash(vector: Sequence[float]) -> str:
    import numpy as np

    return hashlib.sha256(np.asarray(vector, dtype="float32").tobytes()).hexdigest()[:16]


def _read(lm, hidden: list, targets: list[list[int]]):
    """Decode every (read x row) hidden state in as few unembedding products as the logits
    budget allows: each target's log-probability and rank (1 = top), and the top token; arrays
    [reads, rows, targets] and [reads, rows] (a row's missing targets repeat its first)."""
    import torch

    stacked = torch.stack(hidden)  # [reads, rows, hidden]
    n_reads, n_rows = stacked.shape[:2]
    width = max(len(t) for t in targets)
    tgt = torch.tensor([t + [t[0]] * (width - len(t)) for t in targets], device=stacked.device)
    flat = stacked.reshape(n_reads * n_rows, -1)
    vocab = lm.model.get_output_embeddings().weight.shape[0]
    chunk = max(1, min(READ_ROWS, lm.logits_budget // (4 * vocab)))
    logp = torch.empty(len(flat), width)
    rank = torch.empty(len(flat), width, dtype=torch.long)
    top = torch.empty(len(flat), dtype=torch.long)
    with torch.inference_mode():
        for start in range(0, len(flat), chunk):
            logits = decode(lm.model, flat[start:start + chunk])
            rows = torch.arange(start, start + len(logits), device=logits.device) % n_rows
            chosen = logits.gather(1, tgt[rows])
            logp[start:start + len(logits)] = (chosen - torch.logsumexp(logits, -1, keepdim=True)).cpu()
            for j in range(width):
                rank[start:start + len(logits), j] = ((logits > chosen[:, j:j + 1]).sum(-1) + 1).cpu()
            top[start:start + len(logits)] = logits.argmax(-1).cpu()
    return (logp.reshape(n_reads, n_rows, width).numpy(), rank.reshape(n_reads, n_rows, width).numpy(),
            top.reshape(n_reads, n_rows).numpy())


def readout_call(lm, requests: Sequence[Request], *, chat: bool, components: Sequence[str] = COMPONENTS,
                 replace_mlp: tuple[Sequence[float], int] | None = None, final_only: bool = False) -> Call:
    """One row per request x option x component x layer: the log-probability and the rank
    (1 = top) of the option's first token after the context, and the top token, read at the
    context's last token, for each of `components`; with `replace_mlp` = (vector, from_layer), under
    that intervention; `final_only` reads the last layer's residual only (the model's own output)."""
    n = n_layers(lm.model)
    unknown_parts = [c for c in components if c not in COMPONENTS]
    if unknown_parts or not components:
        raise InputError(f"components {list(components)} not accepted. Accepted: a non-empty list from "
                         f"{', '.join(COMPONENTS)}.")
    components = [c for c in COMPONENTS if c in components]
    reads = [("resid", n - 1)] if final_only else [(c, layer) for c in components for layer in range(n)]
    vector, from_layer = replace_mlp if replace_mlp is not None else (None, 0)
    prepared = []
    for req, ctx in zip(requests, _contexts(lm, requests, chat)):
        if not req.options:
            raise InputError(f"item {req.item_id}: no answer to read out; give at least one option.")
        targets = []
        for option in req.options:
            _, tail = lm.split_continuation(req.context, option, chat)
            if not tail:
                raise InputError(f"item {req.item_id}: answer option {option!r} encodes to no token.")
            targets.append(tail[0])
        prepared.append((ctx, targets))

    def compute(todo):
        lengths = {i: len(prepared[i][0]) for i in todo}
        for batch in lm.batches(todo, lengths, f"layers {lm.loaded.info['spec']}"):
            with recording(lm.model) as kept, mlp_replaced(lm.model, vector, from_layer):
                lm.forward([prepared[i][0] for i in batch], keep=1)
            logp, rank, top = _read(lm, [kept[c][layer] for c, layer in reads], [prepared[i][1] for i in batch])
            values = {i: {f: [] for f in FIELDS} for i in batch}
            for r, (component, layer) in enumerate(reads):
                for row, i in enumerate(batch):
                    v = values[i]
                    for j in range(len(prepared[i][1])):
                        v["component"].append(component)
                        v["layer"].append(layer)
                        v["option_index"].append(j)
                        v["logprob"].append(float(logp[r, row, j]))
                        v["rank"].append(int(rank[r, row, j]))
                        v["top_token"].append(int(top[r, row]))
            yield [(i, values[i]) for i in batch]

    def valid(value, req) -> bool:
        size = len(req.options) * len(reads)
        return isinstance(value, dict) and all(isinstance(value.get(f), list) and len(value[f]) == size
                                               for f in FIELDS)

    def table(reqs, values) -> pd.DataFrame:
        frames = []
        for req, v in zip(reqs, values):
            part = pd.DataFrame(v)
            part.insert(0, "item_id", req.item_id)
            part["option"] = [req.options[j] for j in part["option_index"]]
            frames.append(part)
        return pd.concat(frames, ignore_index=True)

    params = {"verb": "layers", "components": ["resid"] if final_only else components,
              "layers": "last" if final_only else "all", "position": "last", "fields": list(FIELDS)}
    if replace_mlp is not None:
        params["replace_mlp"] = {"vector_sha256": vector_hash(vector), "from_layer": from_layer}
    return Call("layers", requests, lambda req: {"context": req.context, "options": list(req.options), "chat": chat},
                params, compute, valid, table)


def vector_call(lm, requests: Sequence[Request], *, component: str, layer: int, chat: bool) -> Call:
    """One row per request: the vector `component` adds to the residual stream at `layer`, at
    the context's last token (fp32 values; the options are not read)."""
    if component not in COMPONENTS:
        raise InputError(f"component {component!r} is not read. Accepted: {', '.join(COMPONENTS)}.")
    n = n_layers(lm.model)
    if not 0 <= layer < n:
        raise InputError(f"layer {layer} is not a layer of this model (0..{n - 1}).")
    contexts = _contexts(lm, requests, chat)

    def compute(todo):
        lengths = {i: len(contexts[i]) for i in todo}
        for batch in lm.batches(todo, lengths, f"vectors {lm.loaded.info['spec']}"):
            with recording(lm.model) as kept:
                lm.forward([contexts[i] for i in batch], keep=1)
            rows = kept[component][layer].float()
            yield [(i, {"vector": rows[r].tolist()}) for r, i in enumerate(batch)]

    def valid(value, req) -> bool:
        return isinstance(value, dict) and isinstance(value.get("vector"), list) and len(value["vector"]) > 0

    def table(reqs, values) -> pd.DataFrame:
        return pd.DataFrame({"item_id": [r.item_id for r in reqs], "vector": [v["vector"] for v in values]})

    return Call("vector", requests, lambda req: {"context": req.context, "chat": chat},
                {"verb": "vector", "component": component, "layer": layer, "position": "last"},
                compute, valid, table)

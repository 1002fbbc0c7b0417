"""Rows that hold several sequences as one prefix tree under a 4D attention mask, so tokens they
share run once: the contexts of single-token choices (`last_logprobs`), the options of one
context (`score_continuations`), and a batch of whole sequences (`score_sequences`). Each token
sees only the tokens its own sequence has before it, with position ids as in that sequence, so
every value equals the sequence run alone up to float noise (`tests/test_scoring.py`). `lm` is
the `rlshift.engine.lm.LM` the verb runs on."""
from __future__ import annotations

import math

import rlshift.engine.batching as batching
from rlshift.engine.batching import left_padded


def packable(lm, last_position: int) -> bool:
    """Whether rows may be packed: prefix sharing is on, the attention implementation takes a
    custom mask, and no position falls out of a sliding attention window (the custom mask
    replaces the model's own windowed mask)."""
    config = lm.model.config
    window = getattr(config, "sliding_window", None) or math.inf
    return lm.prefix_sharing and config._attn_implementation in ("sdpa", "eager") and last_position < window


def tree_batches(seqs, most_nodes: int) -> list[list[int]] | None:
    """`seqs` (indices) in prefix trees of at most `most_nodes` nodes, sorted by their tokens so
    shared prefixes sit side by side; None where the trees would not save MIN_TREE_SAVING of the
    positions (plain rows are then faster)."""
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    chunks = [[order[k] for k in c] for c in batching.tree_chunks([seqs[i] for i in order], most_nodes)]
    nodes = sum(len(batching.prefix_tree([seqs[i] for i in c])[0]) for c in chunks)
    total = sum(len(s) for s in seqs)
    return chunks if total and 1 - nodes / total >= batching.MIN_TREE_SAVING else None


def attention_mask(model, allowed):
    """A boolean (rows x width x width) mask as the attention implementation takes it: sdpa a
    boolean mask; eager attention adds the mask to its scores."""
    import torch

    if model.config._attn_implementation == "eager":
        return torch.zeros(allowed.shape, dtype=model.dtype).masked_fill_(
            ~allowed, torch.finfo(model.dtype).min)[:, None]
    return allowed[:, None]


def last_logprobs(lm, seqs):
    """Log-softmax over the vocabulary after each of `seqs` (contexts of single-token choices),
    the batch run as one prefix tree: an instruction or question stem that several contexts
    share (a question under cyclic option orders) runs once; logits only at each context's last
    node."""
    import torch

    ids, depths, parents, node_of = batching.prefix_tree(seqs)
    last = torch.tensor([path[-1] for path in node_of])
    keep = torch.unique(last)  # sorted
    logits = forward_tree(lm, ids, depths, parents, keep.to(lm.device))
    column = torch.searchsorted(keep, last).to(lm.device)
    return torch.log_softmax(logits[0, column].float(), dim=-1)


def forward_tree(lm, ids, depths, parents, keep):
    """Logits of one prefix tree run as one row (`batching.prefix_tree`'s nodes): at the node
    indices in `keep` (a sorted tensor), or at every node with keep = 0."""
    import torch

    with torch.inference_mode():
        return lm.model(input_ids=torch.tensor([ids], device=lm.device),
                        attention_mask=attention_mask(lm.model, batching.tree_mask(parents)[None]).to(lm.device),
                        position_ids=torch.tensor([depths], device=lm.device),
                        logits_to_keep=keep, use_cache=False).logits


def score_sequences(lm, todo, prepared, chunks):
    """Whole sequences scored as prefix trees: a batch's sequences, sorted by their tokens, share
    one row in which each distinct prefix is one node that sees only its ancestors (position id =
    depth), so a prefix common to several sequences (a minimal pair's words before they differ,
    the prefix token of all) is run and unembedded once: a third of BLiMP's positions. `chunks`:
    positions in `todo` per tree (`tree_batches`); `prepared[i]`: (prefix token + the text's
    tokens, offsets); yields the `sequences` verb's values."""
    from tqdm.auto import tqdm

    for chunk in tqdm(chunks, desc=f"sequence {lm.loaded.info['spec']}", disable=not lm.progress, unit="batch"):
        rows = [todo[c] for c in chunk]
        seqs = [prepared[i][0] for i in rows]
        ids, depths, parents, node_of = batching.prefix_tree([s[:-1] for s in seqs])
        logits = forward_tree(lm, ids, depths, parents, keep=0)
        where = [(0, node, s[k + 1]) for path, s in zip(node_of, seqs) for k, node in enumerate(path)]
        logp, greedy = batching.target_logprobs(logits, where)
        values = batching.sequence_values(logp, greedy, [len(path) for path in node_of])
        yield [(i, dict(v, offsets=prepared[i][1])) for i, v in zip(rows, values)]


def score_continuations(lm, batch, out) -> None:
    """Score all options of a context in one row, as the prefix tree of its (context + option)
    sequences: the context once, then the options' tokens, an opening that several options share
    ("The next ball will ...") once, each token seeing only its own sequence's earlier tokens.
    `batch`: (request, its options' (context, continuation) token splits), one context each;
    values go into `out` (`batching.fill_options`).

    The context's nodes come first in each tree, so the logits needed (the context's last token,
    which scores every option's first token, and the option nodes) are each row's trailing
    nodes; rows are left-padded and only those columns are computed.
    """
    import torch

    trees = [batching.prefix_tree([(head + tail)[:-1] for head, tail in splits]) for _, splits in batch]
    width = max(len(ids) for ids, *_ in trees)
    ids = left_padded([t[0] for t in trees], lm.pad_id)
    pos = left_padded([t[1] for t in trees], 0)
    allowed = torch.eye(width, dtype=torch.bool).repeat(len(trees), 1, 1)  # padding attends to itself, never NaN
    for r, (row_ids, _, parents, _) in enumerate(trees):
        start = width - len(row_ids)
        allowed[r, start:, start:] = batching.tree_mask(parents)
    needed = [len(row_ids) - len(splits[0][0]) + 1 for (row_ids, *_), (_, splits) in zip(trees, batch)]
    keep = max(needed)
    with torch.inference_mode():
        logits = lm.model(input_ids=ids.to(lm.device), attention_mask=attention_mask(lm.model, allowed).to(lm.device),
                          position_ids=pos.to(lm.device), logits_to_keep=keep, use_cache=False).logits
    where, owners = [], []  # (row, kept column, target) for every option token; (row, option, tokens)
    for r, ((row_ids, _, _, node_of), (_, splits)) in enumerate(zip(trees, batch)):
        shift = keep - len(row_ids)  # node n sits at kept column n + shift
        for j, (head, tail) in enumerate(splits):
            seq = head + tail
            where += [(r, node_of[j][k] + shift, seq[k + 1]) for k in range(len(head) - 1, len(seq) - 1)]
            owners.append((r, j, len(tail)))
    batching.fill_options(out, owners, logits, where)

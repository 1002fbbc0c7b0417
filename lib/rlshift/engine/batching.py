"""Padding, ordering and log-softmax helpers shared by the engine's verbs (no model state)."""
from __future__ import annotations

from typing import Sequence

MIN_SHARED_PREFIX = 64  # tokens; shorter shared prefixes are not worth a separate pass
# The most full-vocabulary fp32 logits one forward pass may return: with Gemma's 262k vocabulary,
# 8 rows of 300 scored positions are 2.5 GB, which set the main job's peak memory.
LOGITS_BUDGET_BYTES = 512 * 2 ** 20


def logit_parts(keeps: Sequence[int], max_rows: int, vocab: int, budget: int = LOGITS_BUDGET_BYTES) -> list[slice]:
    """Consecutive runs of rows, each at most `max_rows` rows whose (rows x most kept positions x
    vocabulary) fp32 logits stay within `budget` (a row alone may exceed it)."""
    parts, start, widest = [], 0, 0
    for i, k in enumerate(keeps):
        if i > start and (i - start >= max_rows or (i - start + 1) * max(widest, k) * vocab * 4 > budget):
            parts.append(slice(start, i))
            start, widest = i, 0
        widest = max(widest, k)
    if len(keeps):
        parts.append(slice(start, len(keeps)))
    return parts


def left_padded(seqs: Sequence[Sequence[int]], fill: int):
    """A (rows x longest) long tensor of `seqs`, each ending at the last column, `fill` before."""
    import torch

    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), fill, dtype=torch.long)
    for row, seq in enumerate(seqs):
        out[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
    return out


def right_padded(seqs: Sequence[Sequence[int]], fill: int):
    """A (rows x longest) long tensor of `seqs`, each starting at the first column."""
    import torch

    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), fill, dtype=torch.long)
    for row, seq in enumerate(seqs):
        out[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out


def common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for s in seqs[1:]:
        k = 0
        while k < n and s[k] == first[k]:
            k += 1
        n = k
    return n


def prefix_groups(contexts: list, lengths: list[int]) -> list[list[int]]:
    """Requests whose contexts share at least MIN_SHARED_PREFIX leading tokens with another
    request, grouped (each group longest first), then the rest longest first as one last group.
    A batch never mixes two groups, so every batch of a group reuses its prefix (a batch across a
    group boundary would share almost nothing and run every row in full)."""
    lexical = sorted(range(len(contexts)), key=lambda i: contexts[i])
    groups, current = [], [lexical[0]]
    for prev, i in zip(lexical, lexical[1:]):
        if common_prefix_length([contexts[prev], contexts[i]]) >= MIN_SHARED_PREFIX:
            current.append(i)
        else:
            groups.append(current)
            current = [i]
    groups.append(current)
    shared = [sorted(g, key=lambda i: -lengths[i]) for g in groups if len(g) > 1]
    rest = sorted((g[0] for g in groups if len(g) == 1), key=lambda i: -lengths[i])
    return shared + ([rest] if rest else [])


MAX_TREE_NODES = 512  # one row's positions: sorted rows of up to 8 x 200 positions ran MMLU 0-shot at
# half the speed of plain rows (2026-12-05), the masked attention growing with the row squared
MIN_TREE_SAVING = 0.1  # share of positions a prefix tree must save to beat plain rows: its 4D mask takes
# attention off the fast causal kernel (one 384-position row against 32 x 12, 2026-12-05: 11% slower
# per position on SmolLM2, 14% faster on Gemma)


def prefix_tree(seqs: Sequence[Sequence[int]]):
    """The token prefixes of `seqs` as one tree: each distinct prefix is one node (its last token
    at its depth), so a prefix shared by several sequences is run once. Returns the nodes' token
    ids, depths (position ids) and parents (-1 for a root; a parent precedes its children), and
    per sequence the node of each of its prefixes."""
    nodes, ids, depths, parents, node_of = {}, [], [], [], []
    for seq in seqs:
        path, parent = [], -1
        for depth, token in enumerate(seq):
            key = (parent, token)
            if key not in nodes:
                nodes[key] = len(ids)
                ids.append(token)
                depths.append(depth)
                parents.append(parent)
            parent = nodes[key]
            path.append(parent)
        node_of.append(path)
    return ids, depths, parents, node_of


def tree_chunks(seqs: Sequence[Sequence[int]], most_nodes: int) -> list[list[int]]:
    """Consecutive runs of `seqs` (indices) whose prefix tree has at most `most_nodes` nodes
    (a sequence alone may exceed it). Sorted sequences put shared prefixes side by side."""
    chunks, current, nodes = [], [], {}  # nodes: (parent node, token) -> node, of the current chunk
    for i, seq in enumerate(seqs):
        parent, depth = -1, 0
        while depth < len(seq) and (parent, seq[depth]) in nodes:  # the part already in the tree
            parent = nodes[(parent, seq[depth])]
            depth += 1
        if current and len(nodes) + len(seq) - depth > most_nodes:
            chunks.append(current)
            current, nodes, parent, depth = [], {}, -1, 0
        for token in seq[depth:]:
            nodes[(parent, token)] = parent = len(nodes)
        current.append(i)
    if current:
        chunks.append(current)
    return chunks


def tree_saving(seqs: Sequence[Sequence[int]]) -> float:
    """The share of positions that one prefix tree of `seqs` would not run."""
    total = sum(len(s) for s in seqs)
    return 1 - len(prefix_tree(seqs)[0]) / total if total else 0.0


def tree_mask(parents: Sequence[int]):
    """(nodes x nodes) boolean attention mask of a prefix tree: a node sees itself and its
    ancestors only, so every sequence in the tree is read as if it ran alone."""
    import torch

    allowed = torch.zeros((len(parents), len(parents)), dtype=torch.bool)
    for i, parent in enumerate(parents):
        if parent >= 0:
            allowed[i] = allowed[parent]
        allowed[i, i] = True
    return allowed


def select_rows(cache, index):
    """A new key/value cache holding the given batch rows of `cache` (one copy of just those
    rows; the shared cache stays as it is for the next chunk)."""
    from transformers import DynamicCache

    return DynamicCache([(k.index_select(0, index), v.index_select(0, index)) + (() if sw is None else (sw,))
                         for k, v, sw in cache])


def target_logprobs(logits, where, chunk: int = 64):
    """Log-probabilities of target tokens and whether each is the greedy token, for `where` =
    [(row, column, target), ...] of `logits` (rows x columns x vocabulary).

    The log-softmax is that of lm-evaluation-harness (`torch.log_softmax` in fp32, over the full
    vocabulary), taken only at the listed positions and a chunk of positions at a time into one
    reused buffer: with a 262k vocabulary, a log-softmax and argmax over the whole logits tensor
    took a third of the scoring time. A target is greedy when no token is more probable."""
    import torch

    with torch.inference_mode():
        rows, columns, targets = (torch.tensor(x, device=logits.device) for x in zip(*where))
        flat = logits.reshape(-1, logits.shape[-1])  # (row, column) -> row * columns + column
        index = rows * logits.shape[1] + columns
        logp = torch.empty(len(where), device=logits.device)
        greedy = torch.empty(len(where), dtype=torch.bool, device=logits.device)
        picked, buffer = (torch.empty((min(chunk, len(where)), logits.shape[-1]), device=logits.device,
                                      dtype=dtype) for dtype in (logits.dtype, torch.float32))
        for start in range(0, len(where), chunk):
            part = slice(start, start + chunk)
            n = len(index[part])
            torch.index_select(flat, 0, index[part], out=picked[:n])
            out = buffer[:n]
            torch.log_softmax(picked[:n].float(), dim=-1, out=out)
            logp[part] = out.gather(-1, targets[part, None])[:, 0]
            greedy[part] = logp[part] >= out.max(-1).values
    return logp.cpu(), greedy.cpu()


def sequence_values(logp, greedy, counts: Sequence[int]) -> list[dict]:
    """Each sequence's summed log-probability, token count and per-token values, for `counts`
    consecutive entries each of the flat `logp` and `greedy` (`target_logprobs`)."""
    out, at = [], 0
    for n in counts:
        out.append({"logprob": float(logp[at:at + n].sum()), "n_tokens": n,
                    "token_logprobs": logp[at:at + n].tolist(), "token_greedy": greedy[at:at + n].tolist()})
        at += n
    return out


def fill_options(out, owners, logits, where) -> None:
    """Each option's summed log-probability and greedy flag into `out`: option (b, j) with n
    tokens owns the next n entries of `where` (see `target_logprobs`)."""
    logp, greedy = target_logprobs(logits, where)
    at = 0
    for b, j, n in owners:
        out[b]["logprob"][j] = float(logp[at:at + n].sum())
        out[b]["is_greedy"][j] = bool(greedy[at:at + n].all())
        at += n

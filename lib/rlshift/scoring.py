"""The one scoring engine every study uses.

Two verbs, as in lm-evaluation-harness's `LM` interface:
- `choice_logprobs`: the next-token log-probabilities of single-token options after a context
  (lettered multiple choice: one forward pass per question);
- `continuation_logprobs`: the log-likelihood of multi-token continuations after a context,
  with the context/continuation token boundary handled as lm-evaluation-harness does.
Only the logits that are needed are computed (`logits_to_keep`). Next-token scoring runs
right-padded without an attention mask (causal attention keeps padding out of every real
token's view, and the kernels take their fast causal path); the options of a shared context are
packed into one row after it, under a 4D mask; other continuations are left-padded, with
position ids taken from the attention mask, so their last positions line up.
Batches are sorted longest first; results do not depend on the batch size beyond float noise.
Each scored request is committed to the cache with its full key, batch by batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from rlshift.cache import ScoreCache, make_key
from rlshift.errors import InputError
from rlshift.models import LoadedModel


@dataclass(frozen=True)
class Request:
    """One context and the options scored after it (single tokens or continuations)."""

    item_id: str
    context: str
    options: tuple[str, ...]


class Scorer:
    def __init__(self, loaded: LoadedModel, cache: ScoreCache | None = None,
                 batch_size: int | str = 8, progress: bool = True, prefix_sharing: bool = True):
        if batch_size != "auto" and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                     or batch_size < 1):
            raise InputError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}.")
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.cache = cache
        self.batch_size = batch_size
        self.progress = progress
        self.prefix_sharing = prefix_sharing  # encode shared contexts and few-shot prefixes once
        self._prefix = None  # (token ids, cache) of the last shared prefix encoded
        self.device = next(self.model.parameters()).device
        self._pad_id = self.tokenizer.pad_token_id
        if self._pad_id is None:
            self._pad_id = self.tokenizer.eos_token_id or 0

    # ------------------------------------------------------------------ tokenization
    def encode_context(self, text: str, chat: bool) -> list[int]:
        """Raw text gets the tokenizer's special prefix (BOS); chat text already has it."""
        return self.tokenizer(text, add_special_tokens=not chat)["input_ids"]

    def split_continuation(self, context: str, continuation: str, chat: bool) -> tuple[list[int], list[int]]:
        """lm-evaluation-harness's boundary: encode the whole string, and the continuation is
        whatever follows the context's tokens; trailing context spaces move to the continuation."""
        n_spaces = len(context) - len(context.rstrip(" "))
        if n_spaces:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self.encode_context(context + continuation, chat)
        ctx = self.encode_context(context, chat)
        return whole[:len(ctx)], whole[len(ctx):]

    # ------------------------------------------------------------------ forward
    def _left_pad(self, seqs: Sequence[Sequence[int]]):
        """(input ids, attention mask), padded on the left so every row ends at the last column."""
        return _left_padded(seqs, self._pad_id), _left_padded([[1] * len(s) for s in seqs], 0)

    def _forward(self, seqs: Sequence[Sequence[int]], keep: int):
        """Logits at the last `keep` positions of each sequence."""
        import torch

        ids, mask = self._left_pad(seqs)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                             position_ids=position_ids.to(self.device), logits_to_keep=keep,
                             use_cache=False)
        return out.logits[:, -keep:, :]

    def _forward_last(self, seqs: Sequence[Sequence[int]], past=None, offset: int = 0):
        """Log-softmax over the vocabulary at each sequence's last token.

        Rows are right-padded and run without an attention mask: under causal attention no real
        token sees the padding after it, and without a mask the attention kernels take their
        fast causal path (as lm-evaluation-harness runs). Only the logits at the rows' last
        positions are computed (a tensor `logits_to_keep`). With `past`, the rows continue a
        cached prefix of `offset` tokens."""
        import torch

        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self._pad_id, dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        last = torch.tensor([len(s) - 1 for s in seqs])
        keep = torch.unique(last)  # sorted
        extra = {} if past is None else {
            "past_key_values": past,
            "position_ids": (offset + torch.arange(width)).expand(len(seqs), -1).to(self.device)}
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), logits_to_keep=keep.to(self.device),
                             use_cache=past is not None, **extra)
        column = torch.searchsorted(keep, last).to(self.device)
        rows = torch.arange(len(seqs), device=self.device)
        return torch.log_softmax(out.logits[rows, column].float(), dim=-1)

    def _last_logprobs(self, seqs: Sequence[Sequence[int]]):
        """Log-softmax at each sequence's last token. Where every row starts with the same long
        prefix (k-shot examples), the prefix is encoded once, its key/value cache kept for the
        next batch that shares it, and only the rows' remainders are run on top of it."""
        import torch

        n = min(_common_prefix_length(seqs), min(len(s) for s in seqs) - 1)
        if not self.prefix_sharing or n < MIN_SHARED_PREFIX:
            return self._forward_last(seqs)
        prefix = tuple(seqs[0][:n])
        if self._prefix is None or self._prefix[0] != prefix:
            with torch.inference_mode():
                out = self.model(input_ids=torch.tensor([prefix], device=self.device), use_cache=True,
                                 logits_to_keep=1)
            self._prefix = (prefix, out.past_key_values)
        cache = _select_rows(self._prefix[1], torch.zeros(len(seqs), dtype=torch.long, device=self.device))
        return self._forward_last([s[n:] for s in seqs], past=cache, offset=n)

    def resolve_batch_size(self, longest: Sequence[int], keep: int, start: int = 256) -> int:
        """'auto': on CUDA, the largest batch (shrinking from `start` on out-of-memory errors,
        accelerate's find_executable_batch_size) whose forward pass over the longest sequence
        fits, as lm-evaluation-harness's `--batch_size auto`; 8 on CPU."""
        if self.batch_size != "auto":
            return self.batch_size
        if self.device.type != "cuda":
            self.batch_size = 8
            return self.batch_size
        from accelerate.utils import find_executable_batch_size

        @find_executable_batch_size(starting_batch_size=start)
        def probe(batch_size):
            self._forward([list(longest)] * batch_size, keep=keep)
            return batch_size

        self.batch_size = probe()
        return self.batch_size

    def _batches(self, todo: list, lengths: list[int], desc: str, contexts: list | None = None,
                 keep: int = 1):
        """Batches of `todo`, longest first; with `contexts` (token ids), requests sharing a long
        prefix (few-shot examples) are kept together so the prefix is encoded once. `keep`: the
        most logit positions a row needs, for the 'auto' probe."""
        from tqdm.auto import tqdm

        if not todo:  # everything was cached
            return
        order = _prefix_grouped_order(contexts, lengths) if contexts and self.prefix_sharing \
            else sorted(range(len(todo)), key=lambda i: -lengths[i])
        if self.batch_size == "auto":  # probe with the longest sequence of this run
            self.resolve_batch_size([self._pad_id] * max(lengths), keep=min(keep, max(lengths)))
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(starts, desc=desc, disable=not self.progress, unit="batch"):
            yield [todo[i] for i in order[start:start + self.batch_size]]

    # ------------------------------------------------------------------ verbs
    def choice_logprobs(self, requests: Sequence[Request], *, chat: bool, template: str,
                        data_version: str) -> pd.DataFrame:
        """One row per request x option: the option token's log-probability over the full
        vocabulary (`logprob`), and the rank-1 token of the vocabulary (`top_token`)."""
        prepared = []
        for req in requests:
            ctx = self.encode_context(req.context, chat)
            option_ids = []
            for option in req.options:
                head, tail = self.split_continuation(req.context, option, chat)
                if len(tail) != 1 or head != ctx:
                    raise InputError(
                        f"item {req.item_id}: answer option {option!r} is not a single token "
                        f"after the context for {self.loaded.info['spec']} (it encodes to "
                        f"{len(tail)} tokens); choice scoring needs single-token options.")
                option_ids.append(tail[0])
            if not req.options:
                raise InputError(f"item {req.item_id}: empty answer set; at least one option is needed.")
            prepared.append((req, (ctx, option_ids), len(ctx)))
        params = {"verb": "choice"}
        return self._run(prepared, "choice", params, chat, template, data_version, self._score_choice_batch,
                         probe_keep=1)

    def continuation_logprobs(self, requests: Sequence[Request], *, chat: bool, template: str,
                              data_version: str) -> pd.DataFrame:
        """One row per request x option: summed log-probability of the continuation tokens
        (`logprob`), their count, characters, and whether greedy decoding yields them."""
        prepared = []
        for req in requests:
            if not req.options:
                raise InputError(f"item {req.item_id}: empty answer set; at least one option is needed.")
            for option in req.options:
                if not option.strip():
                    raise InputError(f"item {req.item_id}: empty continuation option {option!r}.")
            splits = [self.split_continuation(req.context, o, chat) for o in req.options]
            length = len(splits[0][0]) + sum(len(t) for _, t in splits) if self._packable(splits) \
                else max(len(h) + len(t) for h, t in splits)  # of the longest row it runs as
            prepared.append((req, splits, length))
        params = {"verb": "continuation"}
        probe_keep = max(sum(len(t) for _, t in splits) for _, splits, _ in prepared)  # a packed row's endings
        return self._run(prepared, "continuation", params, chat, template, data_version,
                         self._score_continuation_batch, probe_keep=probe_keep)

    # ------------------------------------------------------------------ internals
    def _run(self, prepared, verb, params, chat, template, data_version, batch_fn, probe_keep: int) -> pd.DataFrame:
        """Score what the cache lacks, batch by batch; `probe_keep`: the most logit positions a
        row keeps, for the 'auto' batch-size probe."""
        model_key = self.loaded.key
        keys = [make_key(model=model_key, verb=verb, template=template, data_version=data_version,
                         item_id=req.item_id, context=req.context, options=list(req.options),
                         chat=chat, params=params) for req, _, _ in prepared]
        stored = self.cache.get_many(keys) if self.cache is not None else {}
        fields = _FIELDS[verb]
        bad = [k for k, (req, _, _) in zip(keys, prepared) if k in stored
               and not _well_formed(stored[k], fields, len(req.options))]
        if bad:  # decodes, but is not what this verb stores: recompute those only
            self.cache.drop(bad)
            for k in bad:
                del stored[k]
        todo = [(k, p) for k, p in zip(keys, prepared) if k not in stored]
        lengths = [length for _, (_, _, length) in todo]
        results = dict(stored)
        contexts = [p[1][0] for _, p in todo] if verb == "choice" else None
        for batch in self._batches(todo, lengths, desc=f"{verb} {self.loaded.info['spec']}", contexts=contexts,
                                   keep=probe_keep):
            values = batch_fn([p for _, p in batch])
            rows = []
            for (key, (req, _, _)), value in zip(batch, values):
                results[key] = value
                rows.append({"key": key, "model": model_key, "verb": verb, "template": template,
                             "data_version": data_version, "item_id": req.item_id,
                             "params": params, "value": value})
            if self.cache is not None:
                self.cache.put_many(rows)
        records = []
        for key, (req, _, _) in zip(keys, prepared):
            value = results[key]
            for j, option in enumerate(req.options):
                rec = {"item_id": req.item_id, "option_index": j, "option": option}
                rec.update({name: column[j] for name, column in value.items()})
                records.append(rec)
        frame = pd.DataFrame.from_records(records)
        for name, val in (("model", self.loaded.info["spec"]), ("model_key", model_key),
                          ("template", template), ("data_version", data_version)):
            frame[name] = val
        return frame

    def _score_choice_batch(self, batch) -> list[dict]:
        logp = self._last_logprobs([ctx for _, (ctx, _), _ in batch])
        top = logp.argmax(-1).tolist()
        out = []
        for row, (_, (_, option_ids), _) in enumerate(batch):
            values = logp[row, option_ids].tolist()
            out.append({"logprob": values, "token_id": option_ids,
                        "top_token": [self.tokenizer.decode([top[row]])] * len(option_ids)})
        return out

    def _score_continuation_batch(self, batch) -> list[dict]:
        out = [{"logprob": [None] * len(req.options), "n_tokens": [len(t) for _, t in splits],
                "n_chars": [len(o.strip()) for o in req.options],
                "is_greedy": [False] * len(req.options)} for req, splits, _ in batch]
        shared = [b for b, (_, splits, _) in enumerate(batch) if self._packable(splits)]
        separate = [b for b in range(len(batch)) if b not in set(shared)]
        if shared:
            self._continuations_shared_context([batch[b] for b in shared], [out[b] for b in shared])
        if separate:
            self._continuations_full([batch[b] for b in separate], [out[b] for b in separate])
        return out

    def _packable(self, splits) -> bool:
        """Whether a request's options can share one row after their context: they have one
        context, the attention implementation takes a custom mask, and no position falls out of
        a sliding attention window (the custom mask replaces the model's own windowed mask)."""
        if not self.prefix_sharing or len({tuple(h) for h, _ in splits}) != 1:
            return False
        config = self.model.config
        window = getattr(config, "sliding_window", None) or math.inf
        last_position = len(splits[0][0]) + max(len(t) for _, t in splits) - 2
        return config._attn_implementation in ("sdpa", "eager") and last_position < window

    def _continuations_full(self, batch, out) -> None:
        """One sequence per (request, option): input = (context + continuation)[:-1]."""
        flat = [(b, j, head, tail) for b, (_, splits, _) in enumerate(batch)
                for j, (head, tail) in enumerate(splits)]
        for start in range(0, len(flat), self.batch_size):
            chunk = flat[start:start + self.batch_size]
            seqs = [(head + tail)[:-1] for _, _, head, tail in chunk]
            keep = max(len(tail) for _, _, _, tail in chunk)
            where = [(row, keep - len(tail) + i, t) for row, (_, _, _, tail) in enumerate(chunk)
                     for i, t in enumerate(tail)]
            _fill_options(out, [(b, j, len(tail)) for b, j, _, tail in chunk], self._forward(seqs, keep=keep), where)

    def _continuations_shared_context(self, batch, out) -> None:
        """Score all options of a context in one row: the context once, then every option's
        tokens after it, each option seeing the context and itself only (a 4D attention mask),
        with position ids continuing from the context for each option.

        Rows are left-padded, so the logits needed (the context's last token, which scores every
        option's first token, and each option token, which scores the next) are the trailing
        columns of every row: only those are computed.
        """
        import torch

        rows = []  # per row: token ids, position ids, segment ids (0 context, j + 1 option j)
        for _, splits, _ in batch:
            context = splits[0][0]
            ids, pos, seg = list(context), list(range(len(context))), [0] * len(context)
            for j, (_, tail) in enumerate(splits):
                ids += tail[:-1]
                pos += range(len(context), len(context) + len(tail) - 1)
                seg += [j + 1] * (len(tail) - 1)
            rows.append((ids, pos, seg))
        ids, pos, seg = (_left_padded(column, fill) for column, fill in
                         zip(zip(*rows), (self._pad_id, 0, -1)))  # segment -1: padding
        width = ids.shape[1]
        allowed = ((seg[:, None, :] >= 0) & (pos[:, None, :] <= pos[:, :, None])
                   & ((seg[:, None, :] == 0) | (seg[:, None, :] == seg[:, :, None])))
        allowed |= torch.eye(width, dtype=torch.bool)[None]  # padding attends to itself, never NaN
        mask = allowed  # sdpa takes a boolean mask; eager attention adds the mask to its scores
        if self.model.config._attn_implementation == "eager":
            mask = torch.zeros(allowed.shape, dtype=self.model.dtype).masked_fill_(
                ~allowed, torch.finfo(self.model.dtype).min)
        needed = [len(row_ids) - len(splits[0][0]) + 1 for (row_ids, _, _), (_, splits, _) in zip(rows, batch)]
        keep = max(needed)
        with torch.inference_mode():
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask[:, None].to(self.device),
                                position_ids=pos.to(self.device), logits_to_keep=keep, use_cache=False).logits
        where, owners = [], []  # (row, kept column, target) for every option token; (row, option, tokens)
        for r, (_, splits, _) in enumerate(batch):
            last_context = column = keep - needed[r]
            for j, (_, tail) in enumerate(splits):
                where += zip([r] * len(tail), [last_context] + list(range(column + 1, column + len(tail))), tail)
                owners.append((r, j, len(tail)))
                column += len(tail) - 1
        _fill_options(out, owners, logits, where)


MIN_SHARED_PREFIX = 64  # tokens; shorter shared prefixes are not worth a separate pass


def _left_padded(seqs: Sequence[Sequence[int]], fill: int):
    """A (rows x longest) long tensor of `seqs`, each ending at the last column, `fill` before."""
    import torch

    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), fill, dtype=torch.long)
    for row, seq in enumerate(seqs):
        out[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
    return out


def _fill_options(out, owners, logits, where) -> None:
    """Each option's summed log-probability and greedy flag into `out`: option (b, j) with n
    tokens owns the next n entries of `where` (see `_target_logprobs`)."""
    logp, greedy = _target_logprobs(logits, where)
    at = 0
    for b, j, n in owners:
        out[b]["logprob"][j] = float(logp[at:at + n].sum())
        out[b]["is_greedy"][j] = bool(greedy[at:at + n].all())
        at += n


def _target_logprobs(logits, where, chunk: int = 64):
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


def _common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for s in seqs[1:]:
        k = 0
        while k < n and s[k] == first[k]:
            k += 1
        n = k
    return n


def _prefix_grouped_order(contexts: list, lengths: list[int]) -> list[int]:
    """Requests whose contexts share at least MIN_SHARED_PREFIX leading tokens with another
    request, grouped (each group longest first), then the rest longest first."""
    lexical = sorted(range(len(contexts)), key=lambda i: contexts[i])
    groups, current = [], [lexical[0]]
    for prev, i in zip(lexical, lexical[1:]):
        if _common_prefix_length([contexts[prev], contexts[i]]) >= MIN_SHARED_PREFIX:
            current.append(i)
        else:
            groups.append(current)
            current = [i]
    groups.append(current)
    shared = [sorted(g, key=lambda i: -lengths[i]) for g in groups if len(g) > 1]
    rest = sorted((g[0] for g in groups if len(g) == 1), key=lambda i: -lengths[i])
    return [i for g in shared for i in g] + rest


def _select_rows(cache, index):
    """A new key/value cache holding the given batch rows of `cache` (one copy of just those
    rows; the shared cache stays as it is for the next chunk)."""
    from transformers import DynamicCache

    return DynamicCache([(k.index_select(0, index), v.index_select(0, index)) + (() if sw is None else (sw,))
                         for k, v, sw in cache])


_FIELDS = {"choice": ("logprob", "token_id", "top_token"),
           "continuation": ("logprob", "n_tokens", "n_chars", "is_greedy")}


def _well_formed(value, fields, n_options: int) -> bool:
    return (isinstance(value, dict) and all(isinstance(value.get(f), list) and len(value[f]) == n_options
                                            for f in fields)
            and all(isinstance(v, (int, float)) and v == v for v in value["logprob"]))


def normalize_options(frame: pd.DataFrame, column: str = "logprob", by: str = "item_id",
                      out: str = "prob") -> pd.DataFrame:
    """Probabilities over each item's options (softmax of the log-probabilities), and the mass
    the options held before normalizing. Pure: returns a new table."""
    frame = frame.copy()
    group = frame.groupby(by, sort=False)[column]
    peak = group.transform("max")
    shifted = (frame[column] - peak).map(math.exp)
    total = shifted.groupby(frame[by], sort=False).transform("sum")
    frame[out] = shifted / total
    frame["option_mass"] = (peak + total.map(math.log)).map(math.exp)
    return frame

"""The causal-LM verbs on one loaded model, as in lm-evaluation-harness's `LM` interface:

- `choices`: next-token log-probabilities of single-token options after a context (lettered
  multiple choice: one forward pass per question);
- `continuations`: log-likelihoods of multi-token continuations after a context, the
  context/continuation token boundary handled as lm-evaluation-harness does;
- `sequences`: a whole text's log-likelihood with the value of every token (minimal pairs,
  surprisal by region), each token scored after the tokenizer's prefix token (BOS, else EOS);
  a batch's texts run as one prefix tree, so shared prefixes are computed once.
Only the logits that are needed are computed (`logits_to_keep`). Next-token scoring runs
right-padded without an attention mask (causal attention keeps padding out of every real
token's view, and the kernels take their fast causal path); the options of a shared context are
packed into one row as a prefix tree under a 4D mask (`packed`); other sequences are left-padded, with position
ids taken from the attention mask, so their last positions line up. Batches run longest first;
results do not depend on the batch size beyond float noise. Each verb returns a `Call`, which
`rlshift.engine.caching.run` computes where the cache lacks it.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

import rlshift.engine.batching as batching
import rlshift.engine.packed as packed
from rlshift.engine.batching import left_padded
from rlshift.engine.caching import Call, option_rows, per_option_lists
from rlshift.errors import InputError
from rlshift.models import LoadedModel
from rlshift.requests import Request, Text


CPU_BATCH_TOKENS = 384  # 'auto' on CPU: rows x longest sequence per batch, about this many tokens
CPU_MAX_ROWS = 64


class LM:
    def __init__(self, loaded: LoadedModel, batch_size: int | str = 8, progress: bool = True,
                 prefix_sharing: bool = True):
        if batch_size != "auto" and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                     or batch_size < 1):
            raise InputError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}.")
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.batch_size = batch_size
        self.rows = batch_size if batch_size != "auto" else 8  # the current run's rows per batch
        self.progress = progress
        self.prefix_sharing = prefix_sharing  # encode shared contexts and few-shot prefixes once
        self._prefix = None  # (token ids, cache) of the last shared prefix encoded
        self.device = next(self.model.parameters()).device
        head = self.model.get_output_embeddings()  # None for a reward model (no vocabulary logits)
        self.vocab_size = head.weight.shape[0] if head is not None else 1
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id or 0

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

    @property
    def prefix_token(self) -> int:
        """What a whole sequence is scored after (lm-evaluation-harness's `prefix_token_id`)."""
        tok = self.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    @property
    def logits_budget(self) -> int:
        """Bytes of logits one pass may return: bounded on CPU (host memory); on a GPU the
        'auto' batch probe already sizes batches to what fits."""
        return batching.LOGITS_BUDGET_BYTES if self.device.type == "cpu" else 2 ** 62

    # ------------------------------------------------------------------ forward
    def forward(self, seqs: Sequence[Sequence[int]], keep: int, **extra):
        """Logits at the last `keep` positions of each sequence (left-padded, with a mask)."""
        import torch

        ids, mask = left_padded(seqs, self.pad_id), left_padded([[1] * len(s) for s in seqs], 0)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                             position_ids=position_ids.to(self.device), logits_to_keep=keep,
                             use_cache=False, **extra)
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
        ids = batching.right_padded(seqs, self.pad_id)
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

        n = min(batching.common_prefix_length(seqs), min(len(s) for s in seqs) - 1)
        if not self.prefix_sharing or n < batching.MIN_SHARED_PREFIX:
            if packed.packable(self, max(len(s) for s in seqs) - 1) \
                    and batching.tree_saving(seqs) >= batching.MIN_TREE_SAVING:
                return packed.last_logprobs(self, seqs)
            return self._forward_last(seqs)
        prefix = tuple(seqs[0][:n])
        if self._prefix is None or self._prefix[0] != prefix:
            with torch.inference_mode():
                out = self.model(input_ids=torch.tensor([prefix], device=self.device), use_cache=True,
                                 logits_to_keep=1)
            self._prefix = (prefix, out.past_key_values)
        cache = batching.select_rows(self._prefix[1], torch.zeros(len(seqs), dtype=torch.long, device=self.device))
        return self._forward_last([s[n:] for s in seqs], past=cache, offset=n)

    def resolve_batch_size(self, longest: Sequence[int], keep: int, start: int = 256) -> int:
        """'auto': on CUDA, the largest batch (shrinking from `start` on out-of-memory errors,
        accelerate's find_executable_batch_size) whose forward pass over the longest sequence
        fits, as lm-evaluation-harness's `--batch_size auto`; on CPU, per run, rows for about
        CPU_BATCH_TOKENS tokens (8 to CPU_MAX_ROWS): short texts go in bigger batches (BLiMP's
        ~11-token sentences score 1.5x faster at 32 rows than at 8 on this 2-core machine)."""
        if self.batch_size != "auto":
            return self.batch_size
        if self.device.type != "cuda":
            return max(8, min(CPU_MAX_ROWS, CPU_BATCH_TOKENS // max(len(longest), 1)))
        from accelerate.utils import find_executable_batch_size

        @find_executable_batch_size(starting_batch_size=start)
        def probe(batch_size):
            self.forward([list(longest)] * batch_size, keep=keep)
            return batch_size

        self.batch_size = probe()
        return self.batch_size

    def batches(self, todo: list[int], lengths: dict[int, int], desc: str, contexts: dict | None = None,
                keep: int = 1):
        """Request indices in batches, longest first; with `contexts` (token ids), requests
        sharing a long prefix (few-shot examples) are kept together so the prefix is encoded
        once. `keep`: the most logit positions a row needs, for the 'auto' probe."""
        from tqdm.auto import tqdm

        if contexts and self.prefix_sharing:
            groups = [[todo[i] for i in g] for g in batching.prefix_groups([contexts[i] for i in todo],
                                                                          [lengths[i] for i in todo])]
        else:
            groups = [sorted(todo, key=lambda i: -lengths[i])]
        longest = max(lengths[i] for i in todo)  # the 'auto' probe reads this run's longest sequence
        self.rows = self.resolve_batch_size([self.pad_id] * longest, keep=min(keep, longest))
        per_batch = self.batch_size == "auto" and self.device.type != "cuda"  # CPU: each batch by its longest row
        chunks = []
        for g in groups:  # each group longest first
            start = 0
            while start < len(g):
                rows = self.resolve_batch_size([self.pad_id] * lengths[g[start]], keep=1) if per_batch else self.rows
                chunks.append(g[start:start + rows])
                start += rows
        for chunk in tqdm(chunks, desc=desc, disable=not self.progress, unit="batch"):
            yield chunk

    # ------------------------------------------------------------------ verbs
    def choices(self, requests: Sequence[Request], *, chat: bool) -> Call:
        """One row per request x option: the option token's log-probability over the full
        vocabulary (`logprob`), the rank-1 token of the vocabulary (`top_token`) and the entropy
        (nats) of the whole next-token distribution (`entropy`, where the mass went)."""
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
            prepared.append((ctx, option_ids))

        def compute(todo):
            lengths = {i: len(prepared[i][0]) for i in todo}
            contexts = {i: prepared[i][0] for i in todo}
            for batch in self.batches(todo, lengths, f"choice {self.loaded.info['spec']}", contexts, keep=1):
                logp = self._last_logprobs([prepared[i][0] for i in batch])
                top = logp.argmax(-1).tolist()
                entropy = (-(logp.exp() * logp).nan_to_num().sum(-1)).tolist()
                out = []
                for row, i in enumerate(batch):
                    ids = prepared[i][1]
                    out.append((i, {"logprob": logp[row, ids].tolist(), "token_id": ids,
                                    "top_token": [self.tokenizer.decode([top[row]])] * len(ids),
                                    "entropy": [entropy[row]] * len(ids)}))
                yield out

        return Call("choice", requests, _context_key(chat), {"verb": "choice"}, compute,
                    per_option_lists(("logprob", "token_id", "top_token", "entropy")), option_rows)

    def continuations(self, requests: Sequence[Request], *, chat: bool) -> Call:
        """One row per request x option: summed log-probability of the continuation tokens
        (`logprob`), their count, characters, and whether greedy decoding yields them."""
        prepared, lengths = [], {}
        for i, req in enumerate(requests):
            if not req.options:
                raise InputError(f"item {req.item_id}: empty answer set; at least one option is needed.")
            for option in req.options:
                if not option.strip():
                    raise InputError(f"item {req.item_id}: empty continuation option {option!r}.")
            splits = [self.split_continuation(req.context, o, chat) for o in req.options]
            lengths[i] = len(splits[0][0]) + sum(len(t) for _, t in splits) if self._packable(splits) \
                else max(len(h) + len(t) for h, t in splits)  # of the longest row it runs as
            prepared.append(splits)
        keep = max((sum(len(t) for _, t in splits) for splits in prepared), default=1)  # a packed row's endings

        def compute(todo):
            for batch in self.batches(todo, lengths, f"continuation {self.loaded.info['spec']}", keep=keep):
                values = [{"logprob": [None] * len(requests[i].options),
                           "n_tokens": [len(t) for _, t in prepared[i]],
                           "n_chars": [len(o.strip()) for o in requests[i].options],
                           "is_greedy": [False] * len(requests[i].options)} for i in batch]
                shared = [b for b, i in enumerate(batch) if self._packable(prepared[i])]
                separate = [b for b in range(len(batch)) if b not in set(shared)]
                # packed rows keep every option's positions: split them by the logits budget too
                kept = [sum(len(t) for _, t in prepared[batch[b]]) for b in shared]
                for rows in batching.logit_parts(kept, len(shared), self.vocab_size, self.logits_budget):
                    part = shared[rows]
                    self._continuations_packed([(requests[batch[b]], prepared[batch[b]]) for b in part],
                                               [values[b] for b in part])
                if separate:
                    self._continuations_full([(requests[batch[b]], prepared[batch[b]]) for b in separate],
                                             [values[b] for b in separate])
                yield list(zip(batch, values))

        return Call("continuation", requests, _context_key(chat), {"verb": "continuation"}, compute,
                    per_option_lists(("logprob", "n_tokens", "n_chars", "is_greedy")), option_rows)

    def sequences(self, texts: Sequence[Text], *, chat: bool) -> Call:
        """One row per text: the summed log-probability of its tokens (`logprob`), their count,
        and per token its log-probability, whether it is the greedy token, and its characters
        in the text (`offsets`, for regions). Raw text is scored after the prefix token; chat
        text after the template's own BOS."""
        prepared = []
        for t in texts:
            if not isinstance(t.text, str) or not t.text.strip():
                raise InputError(f"item {t.item_id}: empty text; sequence scoring needs at least one token.")
            enc = self.tokenizer(t.text, add_special_tokens=False, return_offsets_mapping=True)
            ids, offsets = list(enc["input_ids"]), [list(o) for o in enc["offset_mapping"]]
            if chat and ids and ids[0] == self.tokenizer.bos_token_id:
                ids, offsets = ids[1:], offsets[1:]
            prepared.append(([self.prefix_token] + ids, offsets))
        lengths = {i: len(ids) - 1 for i, (ids, _) in enumerate(prepared)}

        def compute(todo):
            longest = max(lengths[i] for i in todo)
            if packed.packable(self, longest):
                self.rows = self.resolve_batch_size([self.pad_id] * longest, keep=longest)
                most = min(self.rows * longest, batching.MAX_TREE_NODES,
                           max(1, self.logits_budget // (4 * self.vocab_size)))
                chunks = packed.tree_batches([prepared[i][0][:-1] for i in todo], most)
                if chunks:
                    yield from packed.score_sequences(self, todo, prepared, chunks)
                    return
            for batch in self.batches(todo, lengths, f"sequence {self.loaded.info['spec']}",
                                      keep=max(lengths.values())):
                out = []
                for part in batching.logit_parts([lengths[i] for i in batch], len(batch), self.vocab_size,
                                                  self.logits_budget):
                    rows = batch[part]
                    seqs = [prepared[i][0][:-1] for i in rows]
                    keep = max(len(s) for s in seqs)
                    where = [(row, keep - len(s) + k, prepared[i][0][k + 1])
                             for row, (i, s) in enumerate(zip(rows, seqs)) for k in range(len(s))]
                    logp, greedy = batching.target_logprobs(self.forward(seqs, keep=keep), where)
                    values = batching.sequence_values(logp, greedy, [len(s) for s in seqs])
                    out += [(i, dict(v, offsets=prepared[i][1])) for i, v in zip(rows, values)]
                yield out

        def valid(value, text) -> bool:
            return (isinstance(value, dict) and isinstance(value.get("token_logprobs"), list)
                    and len(value["token_logprobs"]) == value.get("n_tokens") and value["logprob"] == value["logprob"])

        return Call("sequence", texts, lambda t: {"text": t.text, "chat": chat}, {"verb": "sequence"}, compute,
                    valid, _sequence_rows)

    # ------------------------------------------------------------------ continuation internals
    def _packable(self, splits) -> bool:
        """Whether a request's options can share one row after their context."""
        return len({tuple(h) for h, _ in splits}) == 1 and packed.packable(
            self, len(splits[0][0]) + max(len(t) for _, t in splits) - 2)

    def _continuations_full(self, batch, out) -> None:
        """One sequence per (request, option): input = (context + continuation)[:-1]. `batch`:
        (request, its options' (context, continuation) token splits)."""
        flat = [(b, j, head, tail) for b, (_, splits) in enumerate(batch) for j, (head, tail) in enumerate(splits)]
        for part in batching.logit_parts([len(tail) for *_, tail in flat], self.rows, self.vocab_size,
                                         self.logits_budget):
            chunk = flat[part]
            seqs = [(head + tail)[:-1] for _, _, head, tail in chunk]
            keep = max(len(tail) for _, _, _, tail in chunk)
            where = [(row, keep - len(tail) + i, t) for row, (_, _, _, tail) in enumerate(chunk)
                     for i, t in enumerate(tail)]
            batching.fill_options(out, [(b, j, len(tail)) for b, j, _, tail in chunk],
                                  self.forward(seqs, keep=keep), where)

    def _continuations_packed(self, batch, out) -> None:
        packed.score_continuations(self, batch, out)


def _context_key(chat: bool):
    return lambda req: {"context": req.context, "options": list(req.options), "chat": chat}


def _sequence_rows(texts, values) -> pd.DataFrame:
    return pd.DataFrame([{"item_id": t.item_id, "text": t.text, **v} for t, v in zip(texts, values)])

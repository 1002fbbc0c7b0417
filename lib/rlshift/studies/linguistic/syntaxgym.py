"""SyntaxGym (Hu et al. 2020; Gauthier et al. 2020): region surprisals and the suites' own
prediction formulas. Pure functions; the study scores the texts with `Scorer.sequence_logprobs`.

A suite is the SyntaxGym JSON (meta, region_meta, predictions, items). Each (item, condition) is
one text; a prediction is a formula over region surprisals, e.g.
``[(5;%reduced_ambig%) > (5;%unreduced_ambig%)] & [(5;%reduced_ambig%) > (5;%reduced_unambig%)]``.

Followed, from cpllab/syntaxgym-core (MIT), commit ab6b1f8:

- ``syntaxgym/suite.py`` (``Suite.iter_sentences``, ``Suite.iter_region_edges``): a text is the
  regions' contents joined by one space, empty regions skipped; no special case for punctuation
  (a comma region gives "shot , the woman", a period region "the book ."), as there.
- ``syntaxgym/agg_surprisals.py`` (``compute_mapping_huggingface``, ``aggregate_surprisals``) and
  ``syntaxgym/utils.py`` (``METRICS['sum']``; every suite here has metric "sum"): a region's
  surprisal is the sum of its tokens' surprisals (bits, as lm-zoo reports them); a token
  belongs to the region its first non-space character falls in (the reference compares the
  token's start with region left edges that include the joining space, which is the same thing
  whether or not a tokenizer puts the leading space inside the token's span); an empty region
  has no tokens and surprisal 0.
- ``syntaxgym/prediction.py``: the formula grammar. Atoms: ``(N;%condition%)`` (condition names
  of letters, digits, ``_`` and ``-``), ``(*;%condition%)`` (the sum over all regions of the
  condition) and numbers. Precedence, loosest first: ``& |`` (one level, left to right), then
  one comparison ``< > =`` (``=`` is ``numpy.isclose`` with rtol 1e-5, atol 1e-3), then ``+ -``
  (left to right). Grouping with ``( )``; the suites use ``[ ]``, accepted the same way.

Beyond the reference: ``* /`` (binding tighter than ``+ -``; division by zero gives NaN, so any
comparison with it is false) and unary minus; formulas are type-checked when parsed (a
comparison of truth values, arithmetic on one, a chained ``a < b < c`` or a formula that is not
a truth value is an error, where the reference would evaluate something unintended); region
contents are stripped on both sides and inner runs of whitespace collapsed (the reference only
strips the left side; fgd-embed3/4 item 8 and subordination_pp-pp item 16 have trailing spaces,
which would give double spaces; the npz suites have leading ones).
"""
from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable

import pandas as pd

from rlshift.errors import InputError
from rlshift.requests import Text

EQUALITY_RTOL, EQUALITY_ATOL = 1e-5, 1e-3  # syntaxgym/prediction.py
LN2 = math.log(2.0)
REGION_COLUMNS = ["item_id", "suite", "item", "condition", "region", "start", "end", "content"]


def item_id(suite: str, item: int, condition: str) -> str:
    return f"{suite}/{item}/{condition}"


# ------------------------------------------------------------------ texts and region spans
def _regions_of(suite: str, item, condition: dict) -> list[tuple[int, str]]:
    try:
        regions = [(int(r["region_number"]), " ".join(str(r["content"]).split())) for r in condition["regions"]]
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"SyntaxGym suite {suite!r} item {item}: a region lacks an integer 'region_number' or "
                         f"a 'content' ({err}).") from None
    numbers = [n for n, _ in regions]
    if len(set(numbers)) != len(numbers):
        raise InputError(f"SyntaxGym suite {suite!r} item {item} condition {condition.get('condition_name')!r}: "
                         f"region numbers repeat: {numbers}.")
    return sorted(regions)


def condition_texts(suites: dict[str, dict]) -> tuple[list[Text], pd.DataFrame]:
    """One Text per (suite, item, condition), item_id "suite/item/condition", and a frame of
    region spans: item_id, suite, item, condition, region, start, end (characters of the
    region's content in the text; an empty region has start == end) and content."""
    texts, rows, seen = [], [], set()
    for suite, spec in suites.items():
        for item in _items(suite, spec):
            number = item["item_number"]
            for condition in item["conditions"]:
                name = condition.get("condition_name")
                key = item_id(suite, number, name)
                if key in seen:
                    raise InputError(f"SyntaxGym suite {suite!r}: item {number} condition {name!r} appears twice.")
                seen.add(key)
                parts, at = [], 0
                for region, content in _regions_of(suite, number, condition):
                    if content and parts:
                        at += 1  # the joining space
                    rows.append((key, suite, number, name, region, at, at + len(content), content))
                    if content:
                        parts.append(content)
                        at += len(content)
                if not parts:
                    raise InputError(f"SyntaxGym suite {suite!r} item {number} condition {name!r}: "
                                     f"every region is empty.")
                texts.append(Text(key, " ".join(parts)))
    return texts, pd.DataFrame(rows, columns=REGION_COLUMNS)


def _items(suite: str, spec: dict) -> list[dict]:
    items = spec.get("items") if isinstance(spec, dict) else None
    if not items or not all(isinstance(i, dict) and "item_number" in i and i.get("conditions") for i in items):
        raise InputError(f"SyntaxGym suite {suite!r}: expected a dict with 'items', each with 'item_number' and "
                         f"'conditions' (the SyntaxGym suite JSON).")
    return items


# ------------------------------------------------------------------ token surprisals -> regions
def region_surprisals(sequence_rows: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """Surprisal in bits per (item_id, region): the sum over the tokens assigned to the region.

    A token goes to the region holding its first non-space character (a whitespace-only token:
    the next non-space character of the text). Columns: the region frame's identifiers, then
    surprisal, n_tokens, empty (the region has no content: surprisal 0) and split_tokens (tokens
    assigned here whose characters run on into the next region); attrs["split_tokens"] is the
    total. Every token lands in exactly one region: the regions of a text sum to its surprisal."""
    missing = {"item_id", "text", "token_logprobs", "offsets"} - set(sequence_rows.columns)
    if missing:
        raise InputError(f"sequence rows lack columns {sorted(missing)}; expected the frame of "
                         f"Scorer.sequence_logprobs (item_id, text, token_logprobs, offsets).")
    if sequence_rows["item_id"].duplicated().any():
        raise InputError("sequence rows: an item_id appears twice; expected one row per text.")
    by_id = sequence_rows.set_index("item_id")
    out = []
    for key, group in regions.groupby("item_id", sort=False):
        if key not in by_id.index:
            raise InputError(f"sequence rows lack the text {key!r}; score every text of condition_texts.")
        row = by_id.loc[key]
        out += _assign(key, row["text"], list(row["token_logprobs"]), [tuple(map(int, o)) for o in row["offsets"]],
                       group.sort_values("region"))
    frame = pd.DataFrame(out, columns=REGION_COLUMNS[:5] + ["surprisal", "n_tokens", "empty", "split_tokens"])
    frame.attrs["split_tokens"] = int(frame["split_tokens"].sum())
    return frame


def _assign(key: str, text: str, logprobs: list, offsets: list[tuple[int, int]], group: pd.DataFrame) -> list:
    if len(logprobs) != len(offsets):
        raise InputError(f"text {key!r}: {len(logprobs)} token log-probabilities but {len(offsets)} offsets.")
    spans = list(zip(group["start"], group["end"], group["content"]))
    for start, end, content in spans:
        if text[start:end] != content:
            raise InputError(f"text {key!r}: characters {start}..{end} are {text[start:end]!r}, not the region's "
                             f"{content!r}; the sequence rows were scored on other texts than condition_texts made.")
    filled = [k for k, (s, e, _) in enumerate(spans) if e > s]
    starts = [spans[k][0] for k in filled]
    bits = [0.0] * len(spans)
    counts, splits = [0] * len(spans), [0] * len(spans)
    for logprob, (a, b) in zip(logprobs, offsets):
        if not 0 <= a <= b <= len(text):
            raise InputError(f"text {key!r}: token offsets ({a}, {b}) fall outside the text of {len(text)} characters.")
        pos = a + len(text[a:]) - len(text[a:].lstrip())
        k = filled[max(bisect.bisect_right(starts, min(pos, len(text) - 1)) - 1, 0)]
        bits[k] -= float(logprob) / LN2
        counts[k] += 1
        splits[k] += bool(text[spans[k][1]:b].strip())
    return [(key, *ids, bits[k], counts[k], spans[k][1] == spans[k][0], splits[k])
            for k, ids in enumerate(group[["suite", "item", "condition", "region"]].itertuples(index=False))]


# ------------------------------------------------------------------ formulas
_TOKEN = re.compile(r"\s*(?:(?P<region>\(\s*(?P<num>\d+|\*)\s*;\s*%(?P<cond>[A-Za-z0-9_-]+)%\s*\))"
                    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<op>[-+*/<>=&|()\[\]]))")
_CLOSE = {"(": ")", "[": "]"}


@dataclass(frozen=True)
class Formula:
    """A parsed prediction. `terms`: the (region, condition) pairs it reads, in order of first
    use (region None for ``(*;%c%)``, the sum over all of c's regions)."""

    text: str
    root: tuple
    terms: tuple

    def evaluate(self, lookup: Callable[[int | None, str], float]) -> bool:
        """Whether the prediction holds; lookup(region, condition) gives a region's surprisal
        (region None: the condition's total)."""
        return bool(_value(self.root, lookup))

    def __str__(self) -> str:
        return _show(self.root)


def parse_formula(text: str) -> Formula:
    """Parse a SyntaxGym prediction formula; a bad one raises InputError naming it and the position."""
    if not isinstance(text, str):
        raise InputError(f"SyntaxGym formula must be a string, got {text!r}.")
    tokens, at = [], 0
    while text[at:].strip():
        m = _TOKEN.match(text, at)
        if not m:
            bad = at + len(text[at:]) - len(text[at:].lstrip())
            raise _error(text, bad, "unexpected character; accepted: (N;%condition%), numbers, + - * /, < > =, & |, "
                                    "( ) and [ ]")
        where = m.start(m.lastgroup)
        if m["region"]:
            tokens.append(("region", (None if m["num"] == "*" else int(m["num"]), m["cond"]), where))
        elif m["number"]:
            tokens.append(("number", float(m["number"]), where))
        else:
            tokens.append(("op", m["op"], where))
        at = m.end()
    parser = _Parser(text, tokens)
    root, kind = parser.boolean()
    if parser.i < len(tokens):
        raise _error(text, tokens[parser.i][2], f"unexpected {tokens[parser.i][1]!r}")
    if kind != "bool":
        raise _error(text, 0, "the formula is a number, not a comparison")
    return Formula(text, root, tuple(dict.fromkeys(_terms(root))))


def _error(text: str, pos: int, message: str) -> InputError:
    return InputError(f"SyntaxGym formula {text!r}, at position {pos} (here: {text[pos:pos + 12]!r}): {message}.")


class _Parser:
    def __init__(self, text: str, tokens: list):
        self.text, self.tokens, self.i = text, tokens, 0

    def peek(self, *ops):
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "op" and self.tokens[self.i][1] in ops:
            return self.tokens[self.i]
        return None

    def where(self) -> int:
        return self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)

    def operands(self, level, ops: str, want: str, result: str):
        left, kind = level()
        while tok := self.peek(*ops):
            self.i += 1
            right, kind2 = level()
            if kind != want or kind2 != want:
                raise _error(self.text, tok[2], f"{tok[1]!r} needs {'truth values' if want == 'bool' else 'numbers'} "
                                                f"on both sides")
            left, kind = ("op", tok[1], left, right), result
        return left, kind

    def boolean(self):
        return self.operands(self.comparison, "&|", "bool", "bool")

    def comparison(self):
        left, kind = self.sum()
        if tok := self.peek("<", ">", "="):
            self.i += 1
            right, kind2 = self.sum()
            if kind != "num" or kind2 != "num":
                raise _error(self.text, tok[2], f"{tok[1]!r} needs numbers on both sides")
            left, kind = ("op", tok[1], left, right), "bool"
            if again := self.peek("<", ">", "="):
                raise _error(self.text, again[2], "chained comparison; group each comparison with [ ] and join with &")
        return left, kind

    def sum(self):
        return self.operands(self.product, "+-", "num", "num")

    def product(self):
        return self.operands(self.unary, "*/", "num", "num")

    def unary(self):
        if tok := self.peek("-", "+"):
            self.i += 1
            node, kind = self.unary()
            if kind != "num":
                raise _error(self.text, tok[2], f"unary {tok[1]!r} needs a number")
            return (("neg", node) if tok[1] == "-" else node), kind
        return self.atom()

    def atom(self):
        if self.i >= len(self.tokens):
            raise _error(self.text, len(self.text), "the formula ends where a term was expected")
        kind, value, pos = self.tokens[self.i]
        self.i += 1
        if kind == "region":
            return ("region", *value), "num"
        if kind == "number":
            return ("number", value), "num"
        if value in _CLOSE:
            node, inner = self.boolean()
            if not self.peek(_CLOSE[value]):
                raise _error(self.text, self.where(),
                             f"expected {_CLOSE[value]!r} to close the {value!r} at position {pos}")
            self.i += 1
            return node, inner
        raise _error(self.text, pos, f"unexpected {value!r} where a term was expected")


def _terms(node) -> Iterable[tuple]:
    if node[0] == "region":
        yield node[1], node[2]
    for child in node[1:]:
        if isinstance(child, tuple):
            yield from _terms(child)


def _value(node, lookup):
    tag = node[0]
    if tag == "number":
        return node[1]
    if tag == "region":
        return float(lookup(node[1], node[2]))
    if tag == "neg":
        return -_value(node[1], lookup)
    op, a, b = node[1], _value(node[2], lookup), _value(node[3], lookup)
    if op == "&":
        return a and b
    if op == "|":
        return a or b
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op == "=":
        return abs(a - b) <= EQUALITY_ATOL + EQUALITY_RTOL * abs(b)  # numpy.isclose, as the reference
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b != 0 else math.nan


def _show(node) -> str:
    if node[0] == "number":
        return f"{node[1]:g}"
    if node[0] == "region":
        return f"({'*' if node[1] is None else node[1]};%{node[2]}%)"
    if node[0] == "neg":
        return f"-{_show(node[1])}"
    return f"[{_show(node[2])} {node[1]} {_show(node[3])}]"


# ------------------------------------------------------------------ predictions per item
def evaluate(suites: dict[str, dict], surprisals: pd.DataFrame) -> pd.DataFrame:
    """One row per (suite, item, prediction index): suite, item, prediction, formula, correct.
    `surprisals`: region_surprisals' frame (suite, item, condition, region, surprisal)."""
    missing = {"suite", "item", "condition", "region", "surprisal"} - set(surprisals.columns)
    if missing:
        raise InputError(f"surprisal table lacks columns {sorted(missing)}; expected region_surprisals' frame.")
    table, totals = {}, {}
    for suite, item, condition, region, value in surprisals[["suite", "item", "condition", "region",
                                                             "surprisal"]].itertuples(index=False):
        table[suite, int(item), condition, int(region)] = float(value)
        totals[suite, int(item), condition] = totals.get((suite, int(item), condition), 0.0) + float(value)
    rows = []
    for suite, spec in suites.items():
        formulas = [_prediction(suite, k, p) for k, p in enumerate(spec.get("predictions") or [])]
        if not formulas:
            raise InputError(f"SyntaxGym suite {suite!r} has no predictions.")
        for item in _items(suite, spec):
            number = int(item["item_number"])
            for k, formula in enumerate(formulas):
                for region, condition in formula.terms:
                    if (region is None and (suite, number, condition) not in totals) or \
                            (region is not None and (suite, number, condition, region) not in table):
                        raise InputError(
                            f"SyntaxGym suite {suite!r} item {number}: prediction {k} ({formula.text!r}) needs "
                            f"region {'*' if region is None else region} of condition {condition!r}, which the "
                            f"surprisal table lacks (score every text of condition_texts; check the suite's "
                            f"condition names).")

                def lookup(region, condition, _key=(suite, number)):
                    if region is None:
                        return totals[(*_key, condition)]
                    return table[(*_key, condition, region)]

                rows.append((suite, number, k, formula.text, formula.evaluate(lookup)))
    return pd.DataFrame(rows, columns=["suite", "item", "prediction", "formula", "correct"])


def _prediction(suite: str, k: int, prediction: dict) -> Formula:
    if not isinstance(prediction, dict) or prediction.get("type") != "formula" or "formula" not in prediction:
        raise InputError(f"SyntaxGym suite {suite!r} prediction {k}: expected {{'type': 'formula', 'formula': ...}}, "
                         f"got {prediction!r}.")
    return parse_formula(prediction["formula"])

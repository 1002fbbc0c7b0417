"""Tasks as data (as in lm-evaluation-harness): a task is `dataset:style:k_shot`, and a style
says how an item becomes a prompt and its options, and which engine verb scores it.

| style | prompt | options | verb |
| --- | --- | --- | --- |
| `letter` | Kadavath et al.'s lettered multiple choice, ending in "Answer:" | " A", " B", ... | next-token `choice_logprobs` |
| `nota` | `letter` with the last option's text replaced by "None of the above" (Kadavath et al.) | " A", " B", ... | `choice_logprobs` |
| `cloze` | the question as a context | each option's text | `continuation_logprobs` |

Lettered styles can be asked in every cyclic order of their options (`rotation`; request ids get
a `~r<k>` suffix, `displayed_order` maps positions back), so that averaging over orders removes
letter-position bias; `content_free_request` asks the same format with "N/A" for the content
(Zhao et al. 2021), which measures that bias directly.

Calibration, the benchmark throughput scripts and the linguistic study build requests here, the
same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rlshift import data, prompts
from rlshift.errors import InputError, unknown
from rlshift.requests import Request


@dataclass(frozen=True)
class Style:
    name: str
    verb: str  # "choice" | "continuation"
    render: Callable  # (item, shots, fmt, tokenizer, preamble) -> (context, options)


def _letter(item: dict, shots, fmt: str, tokenizer, preamble: str) -> tuple[str, list[str]]:
    return (prompts.render_letter(item, shots, fmt, tokenizer, preamble),
            prompts.letter_options(len(item["choices"])))


def _nota(item: dict, shots, fmt: str, tokenizer, preamble: str) -> tuple[str, list[str]]:
    """The correct answer stays at its index: where it was the last option, "None of the above"
    is now right (the true answer's text is gone and the others are wrong)."""
    return _letter(with_none_of_the_above(item), [with_none_of_the_above(s) for s in shots], fmt, tokenizer,
                   preamble)


def with_none_of_the_above(item: dict) -> dict:
    return dict(item, choices=list(item["choices"][:-1]) + [prompts.NONE_OF_THE_ABOVE])


def _cloze(item: dict, shots, fmt: str, tokenizer, preamble: str) -> tuple[str, list[str]]:
    return prompts.render_cloze(item, shots, fmt, tokenizer)


STYLES: dict[str, Style] = {s.name: s for s in [Style("letter", "choice", _letter),
                                               Style("nota", "choice", _nota),
                                               Style("cloze", "continuation", _cloze)]}


def displayed_order(n_options: int, rotation: int, style: str) -> list[int]:
    """Original option indices in the order shown at `rotation` (cyclic); `nota` keeps "None of
    the above" last and rotates the others."""
    fixed = 1 if style == "nota" else 0
    k = n_options - fixed
    return [(j + rotation) % k for j in range(k)] + list(range(k, n_options))


def n_rotations(n_options: int, style: str) -> int:
    """How many distinct cyclic orders a lettered item has (1 for cloze: order is not shown)."""
    if STYLES[style].verb != "choice":
        return 1
    return n_options - 1 if style == "nota" else n_options


def rotation_of(request_id: str) -> tuple[str, int]:
    """(item id, rotation) of a request id made by Task.requests."""
    item_id, sep, k = str(request_id).rpartition("~r")
    return (item_id, int(k)) if sep and k.isdigit() else (str(request_id), 0)


@dataclass(frozen=True)
class Task:
    dataset: str
    style: str  # a key of STYLES
    k_shot: int

    @classmethod
    def parse(cls, text: str) -> "Task":
        parts = str(text).split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            raise InputError(f"task {text!r} must read 'dataset:style:k_shot', e.g. 'arc_easy:letter:0'.")
        dataset, style, k = parts[0], parts[1], int(parts[2])
        if dataset not in data.SPECS:
            raise unknown("dataset in task " + repr(text) + ":", dataset, data.SPECS)
        if style not in STYLES:
            raise InputError(f"task {text!r}: style {style!r} is not accepted. Accepted: {', '.join(STYLES)}.")
        if k > 10:
            raise InputError(f"task {text!r}: k_shot={k} is out of range: accepted 0..10.")
        return cls(dataset, style, k)

    @property
    def label(self) -> str:
        return f"{self.dataset}:{self.style}:{self.k_shot}"

    @property
    def verb(self) -> str:
        return STYLES[self.style].verb

    def template_id(self, fmt: str) -> str:
        return prompts.PromptFormat(self.style, fmt, self.k_shot).template_id

    def preamble(self, item: dict) -> str:
        return data.SPECS[self.dataset].preamble.format(subject=item["subject"].replace("_", " "))

    def requests(self, items: data.Items, fmt: str, tokenizer, seed: int, rotation: int = 0) -> list[Request]:
        """The scoring requests of this task on sampled items: rendered contexts and options;
        with rotation k > 0, each item that has more than k orders, its options shown in the k-th
        cyclic order (the shots keep theirs)."""
        render = STYLES[self.style].render
        out = []
        for item in items.frame.to_dict("records"):
            n = len(item["choices"])
            if rotation >= n_rotations(n, self.style):
                continue
            shots = data.fewshot(items, item, self.k_shot, seed)
            shown = item
            if rotation:  # (nota replaces the last option's text after this, and keeps it last)
                shown = dict(item, choices=[item["choices"][i] for i in displayed_order(n, rotation, self.style)])
            context, options = render(shown, shots, fmt, tokenizer, self.preamble(item))
            out.append(Request(item["item_id"] + (f"~r{rotation}" if rotation else ""), context, tuple(options)))
        return out

    def content_free_request(self, items: data.Items, fmt: str, tokenizer, seed: int) -> Request:
        """The task's format with "N/A" for the question and every option (Zhao et al. 2021):
        the letter distribution it gets is the model's prior over positions."""
        n = int(items.frame["choices"].map(len).mode().iloc[0])
        first = items.frame.iloc[0].to_dict()
        blank = dict(first, question="N/A", choices=["N/A"] * n)
        shots = data.fewshot(items, first, self.k_shot, seed)
        context, options = STYLES[self.style].render(blank, shots, fmt, tokenizer, self.preamble(first))
        return Request(f"content-free-{n}", context, tuple(options))


def check_tasks(tasks) -> None:
    """A parameter check: a non-empty list of task strings that parse."""
    if not tasks:
        raise InputError("parameter 'tasks' is empty: give at least one 'dataset:style:k_shot'.")
    for t in tasks:
        Task.parse(t)


def prepare(tasks: list[str], n_items, seed: int, data_source: str = "auto") -> list[tuple[Task, data.Items]]:
    """Load and sample every task's dataset first: bad names or sizes fail before any model loads."""
    out = []
    for text in tasks:
        task = Task.parse(text)
        out.append((task, data.sample(data.load(task.dataset, data_source), n_items, seed)))
    return out

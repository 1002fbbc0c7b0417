"""Tasks as data (as in lm-evaluation-harness): a task is `dataset:style:k_shot`, and a style
says how an item becomes a prompt and its options, and which engine verb scores it.

| style | prompt | options | verb |
| --- | --- | --- | --- |
| `letter` | Kadavath et al.'s lettered multiple choice, ending in "Answer:" | " A", " B", ... | next-token `choice_logprobs` |
| `cloze` | the question as a context | each option's text | `continuation_logprobs` |

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


def _cloze(item: dict, shots, fmt: str, tokenizer, preamble: str) -> tuple[str, list[str]]:
    return prompts.render_cloze(item, shots, fmt, tokenizer)


STYLES: dict[str, Style] = {s.name: s for s in [Style("letter", "choice", _letter),
                                               Style("cloze", "continuation", _cloze)]}


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

    def requests(self, items: data.Items, fmt: str, tokenizer, seed: int) -> list[Request]:
        """The scoring requests of this task on sampled items: rendered contexts and options."""
        preamble_tpl = data.SPECS[self.dataset].preamble
        render = STYLES[self.style].render
        out = []
        for item in items.frame.to_dict("records"):
            shots = data.fewshot(items, item, self.k_shot, seed)
            preamble = preamble_tpl.format(subject=item["subject"].replace("_", " "))
            context, options = render(item, shots, fmt, tokenizer, preamble)
            out.append(Request(item["item_id"], context, tuple(options)))
        return out


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

"""Prompt formats as data: how an item becomes text, for base (raw) and tuned (chat) models.

Two ways of asking a multiple-choice question, each in a raw and a chat rendering:
- `letter`: Kadavath et al.'s lettered multiple choice (question, lettered options, "Answer:"),
  scored as the next-token distribution over the letters (one forward pass per question).
- `cloze`: each option's text as a continuation of the question, scored by its log-likelihood
  (lm-evaluation-harness style); small models are above chance here where letters are not.
Both renderings end in the same answer cue, so base and tuned models answer the same text.
The template id (name + hash of the template strings) goes into every cache key.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

LETTERS = "ABCDEFGHIJ"
ANSWER_CUE = "Answer:"
CHAT_INSTRUCTION = "Answer with the letter of the correct choice."
STYLES = ("letter", "cloze")


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:10]


TEMPLATE_VERSION = _hash(ANSWER_CUE, CHAT_INSTRUCTION, "{question}\n{letter}. {choice}", "v1")


@dataclass(frozen=True)
class PromptFormat:
    style: str  # letter | cloze
    fmt: str  # raw | chat
    k_shot: int = 0

    @property
    def template_id(self) -> str:
        return f"{self.style}-{self.fmt}-{self.k_shot}shot-{TEMPLATE_VERSION}"


def letter_block(question: str, choices: Sequence[str]) -> str:
    lines = [question.strip()] + [f"{LETTERS[i]}. {c.strip()}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def letter_options(n: int) -> list[str]:
    """The answers scored after the cue: ' A', ' B', ... (one token each in common tokenizers)."""
    return [f" {LETTERS[i]}" for i in range(n)]


def _chat(tokenizer, turns: list[tuple[str, str]]) -> str:
    messages = [{"role": role, "content": text} for role, text in turns]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def chat_context(tokenizer, turns: list[tuple[str, str]]) -> str:
    """The chat template's text for (role, text) turns, ending where the assistant's reply
    begins (a scored continuation follows it directly)."""
    return _chat(tokenizer, turns)


def render_letter(item: dict, shots: Sequence[dict], fmt: str, tokenizer=None, preamble: str = "") -> str:
    """Context for lettered MC; the scored options are letter_options(len(choices))."""
    if fmt == "raw":
        parts = [f"{letter_block(s['question'], s['choices'])}\n{ANSWER_CUE} {LETTERS[s['answer']]}"
                 for s in shots]
        parts.append(f"{letter_block(item['question'], item['choices'])}\n{ANSWER_CUE}")
        return preamble + "\n\n".join(parts)
    turns: list[tuple[str, str]] = []
    for i, s in enumerate(shots):
        head = preamble if i == 0 else ""
        turns += [("user", f"{head}{letter_block(s['question'], s['choices'])}\n{CHAT_INSTRUCTION}"),
                  ("assistant", f"{ANSWER_CUE} {LETTERS[s['answer']]}")]
    head = preamble if not shots else ""
    turns.append(("user", f"{head}{letter_block(item['question'], item['choices'])}\n{CHAT_INSTRUCTION}"))
    return _chat(tokenizer, turns) + ANSWER_CUE


def render_cloze(item: dict, shots: Sequence[dict], fmt: str, tokenizer=None) -> tuple[str, list[str]]:
    """(context, continuations) for cloze scoring; raw continuations start with a space."""
    if fmt == "raw":
        options = [f" {c.strip()}" for c in item["cloze_choices"]]
        parts = [f"{s['cloze_context']} {s['cloze_choices'][s['answer']].strip()}" for s in shots]
        parts.append(item["cloze_context"])
        return "\n\n".join(parts), options
    turns: list[tuple[str, str]] = []
    for s in shots:
        turns += [("user", s["cloze_context"]),
                  ("assistant", s["cloze_choices"][s["answer"]].strip())]
    turns.append(("user", item["cloze_context"]))
    return _chat(tokenizer, turns), [c.strip() for c in item["cloze_choices"]]

"""Prompt formats as data: how an item becomes text, for base (raw) and tuned (chat) models.

Two ways of asking a multiple-choice question, each in a raw and a chat rendering:
- `letter`: Kadavath et al.'s lettered multiple choice (question, lettered options, "Answer:"),
  scored as the next-token distribution over the letters (one forward pass per question).
- `cloze`: each option's text as a continuation of the question, scored by its log-likelihood
  (lm-evaluation-harness style); small models are above chance here where letters are not.
Both renderings end in the same answer cue; the chat rendering adds a chat template and an
instruction (`CHAT_INSTRUCTION`). A base model read in its raw rendering and a tuned model in its
chat rendering do not read the same text, so format and tuning are confounded: `formats("both")`
reads every model in both renderings (the base through the tuned model's template), a 2x2 design
that separates the format effect from the tuning effect.
The template id (name + hash of the template strings) goes into every cache key.

Chat templates live here too: Gemma 3's (the embedded base ships none; the book's SFT and DPO
stages learned it), its end-of-turn token, and HH-RLHF histories as chat messages.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Sequence

from rlshift.errors import InputError, unknown

LETTERS = "ABCDEFGHIJ"
ANSWER_CUE = "Answer:"
CHAT_INSTRUCTION = "Answer with the letter of the correct choice."
FORMATS = ("both", "auto", "raw", "chat")
RENDERINGS = ("raw", "chat")

# Gemma 3's chat template, text-only: a system message is folded into the first user turn, the
# assistant speaks as `model`. TRL 1.16's `gemma3_chat_template` renders the same bytes for
# alternating turns but raises on two consecutive human turns, which 4 HH-RLHF dialogues have.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)
END_OF_TURN = "<end_of_turn>"


def turn_end_ids(tokenizer) -> list[int]:
    """The tokens that end a reply under Gemma's chat template: the tokenizer's eos and
    end-of-turn (a base model's generation config knows only eos)."""
    return [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(END_OF_TURN)]


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:10]


TEMPLATE_VERSION = _hash(ANSWER_CUE, CHAT_INSTRUCTION, "{question}\n{letter}. {choice}", "v1")

# Kadavath et al.'s "none of the above" variant: the last option's text replaced by this.
NONE_OF_THE_ABOVE = "None of the above"

# Kadavath et al.'s P(True) self-evaluation prompt (their section 4), word for word, except that
# the cue ends in "(" so that the letter is one next token: P(True) = P(A) / (P(A) + P(B)).
P_TRUE_QUESTION = "Question: {question}\nProposed Answer: {proposed}\nIs the proposed answer:\n (A) True\n (B) False"
P_TRUE_CUE = "The proposed answer is: ("
P_TRUE_OPTIONS = ("A", "B")

# Verbalised confidence (Tian et al. 2023; Xiong et al. 2024): the model is asked for a letter
# and a percentage after the lettered question; the reply is sampled and parsed.
VERBALIZED_INSTRUCTION = ("Give the letter of the correct choice and how confident you are that it is "
                          "correct, from 0 to 100, as: Answer: X. Confidence: N%")
READING_VERSION = _hash(NONE_OF_THE_ABOVE, P_TRUE_QUESTION, P_TRUE_CUE, VERBALIZED_INSTRUCTION, "v1")


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


def resolve_formats(fmt: str, role: str, info: dict) -> tuple[str, ...]:
    """The renderings a model reads: both for 'both' (the 2x2 design), else one."""
    if fmt == "both":
        if not info["has_chat_template"]:
            raise InputError(f"prompt format 'both' needs a chat template for {info['spec']} and none was "
                             f"found or borrowed (no model of the pair has one). Accepted: 'raw' or 'auto'.")
        return RENDERINGS
    return (resolve_format(fmt, role, info),)


def resolve_format(fmt: str, role: str, info: dict) -> str:
    """'auto' prompts base models with raw text and tuned ones through their chat template
    (`info`: what rlshift.models.load recorded)."""
    if fmt not in FORMATS or fmt == "both":
        raise unknown("prompt format", fmt, [f for f in FORMATS if f != "both"])
    if fmt == "auto":
        fmt = "chat" if role != "base" and info["has_chat_template"] else "raw"
    if fmt == "chat" and not info["has_chat_template"]:
        raise InputError(f"prompt format 'chat' was asked for {info['spec']}, whose tokenizer "
                         f"has no chat template (a base model). Accepted for it: 'raw' or 'auto'.")
    return fmt


def with_chat_template(tokenizer):
    """The tokenizer, given Gemma 3's template where it has none (the embedded base)."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    return tokenizer


def chat_messages(tokenizer, messages: list[dict]) -> str:
    """The chat template's text for messages, ending where the assistant's reply begins."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def chat_context(tokenizer, turns: list[tuple[str, str]]) -> str:
    """The chat template's text for (role, text) turns, ending where the assistant's reply
    begins (a scored continuation follows it directly)."""
    return chat_messages(tokenizer, [{"role": role, "content": text} for role, text in turns])



def reply_text(reply: str) -> str:
    """A reply as the chat template renders an assistant turn after the prompt (what TRL scores)."""
    return reply.strip() + END_OF_TURN + "\n"


def dialogue_messages(hh_prompt: str) -> list[dict]:
    """An HH-RLHF history ('Human: ... Assistant: ... Human: ...') as chat messages."""
    text = "\n\n" + hh_prompt.strip()
    messages = []
    for chunk in text.split("\n\nHuman:")[1:]:
        human, *assistant = chunk.split("\n\nAssistant:")
        messages.append({"role": "user", "content": human.strip()})
        for reply in assistant:
            messages.append({"role": "assistant", "content": reply.strip()})
    if not messages or messages[-1]["role"] != "user" or any(not m["content"] for m in messages):
        raise InputError(f"not an HH-RLHF history ending in a human turn: {hh_prompt[:80]!r}")
    return messages


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
    return chat_context(tokenizer, turns) + ANSWER_CUE


def render_p_true(question: str, proposed: str, fmt: str, tokenizer=None) -> str:
    """Context of Kadavath's P(True) question about a proposed answer; options P_TRUE_OPTIONS."""
    body = P_TRUE_QUESTION.format(question=question.strip(), proposed=proposed.strip())
    if fmt == "raw":
        return f"{body}\n{P_TRUE_CUE}"
    return chat_context(tokenizer, [("user", body)]) + P_TRUE_CUE


def render_verbalized(item: dict, fmt: str, tokenizer=None, preamble: str = "") -> str:
    """Prompt asking for a letter and a stated confidence; the reply continues after "Answer:"."""
    body = f"{preamble}{letter_block(item['question'], item['choices'])}\n{VERBALIZED_INSTRUCTION}"
    if fmt == "raw":
        return f"{body}\n{ANSWER_CUE}"
    return chat_context(tokenizer, [("user", body)]) + ANSWER_CUE


_VERBALIZED = re.compile(r"^\s*\(?([A-J])\b.{0,40}?confidence\W{0,3}(\d{1,3}(?:\.\d+)?)\s*%", re.I | re.S)


def parse_verbalized(reply: str, n_options: int) -> tuple[int | None, float | None]:
    """(option index, confidence in [0, 1]) from a reply to render_verbalized, or (None, None)
    when the reply does not state both, names no option, or states more than 100%."""
    match = _VERBALIZED.match(reply)
    if not match:
        return None, None
    letter, number = match.group(1).upper(), float(match.group(2))
    index = LETTERS.index(letter)
    if index >= n_options or number > 100:
        return None, None
    return index, number / 100.0


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
    return chat_context(tokenizer, turns), [c.strip() for c in item["cloze_choices"]]

"""The chapter's tasks as data (as lm-evaluation-harness's YAMLs): which dataset, which linguistic
domain, how an item becomes a prompt, what is scored, and what lm-evaluation-harness does for the
task and where this chapter departs from it.

Kinds of scoring:
- `minimal_pair`: the grammatical and the ungrammatical sentence, each scored whole (summed
  log-probability after the prefix token, " " + sentence, as lm-eval's `blimp`); correct when the
  grammatical one is likelier. Shots: k grammatical sentences before both.
- `regions`: SyntaxGym's suites, region surprisal and each suite's prediction formula.
- `label`: a prompt ending in an answer cue and one answer word per label (single tokens: the
  model's next-token distribution is read whole, so the mass on the answer words and the entropy
  at the answer position come with it).
- `option`: the item's own options continue the prompt (summed log-probability, lm-eval's `acc`).
- `blank`: Winogrande's partial scoring (lm-eval): the sentence up to the blank, with each option
  filled in, is the context; the rest of the sentence is the scored continuation.
- `generation`: CoQA, answered freely, scored by token F1 and exact match against every reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DOMAINS = ("syntax", "semantics", "pragmatics")
KINDS = ("minimal_pair", "regions", "label", "option", "blank", "generation")


@dataclass(frozen=True)
class LingTask:
    name: str
    dataset: str  # a name in rlshift.data.linguistic.DATASETS
    domain: str  # syntax | semantics | pragmatics
    kind: str  # a name in KINDS
    prompt: str = ""  # over the item's columns; ends at the answer cue
    words: dict = field(default_factory=dict)  # label: label name -> answer word (one token)
    option: str = " {option}"  # option: how an item's option continues the prompt
    conversational: bool = False  # the plan's "more conversational benchmarks" (H2's second part)
    answer: str = "answer"  # the column holding the gold index
    where: dict = field(default_factory=dict)  # rows of the dataset the task reads (column -> value)
    free_prompt: str = ""  # the prompt answered freely, where the scoring context is not a question
    lm_eval: str = ""  # what lm-evaluation-harness does, and where this chapter departs


NLI3 = {"entailment": " True", "neutral": " Neither", "contradiction": " False"}
NLI_PROMPT = "{premise}\nQuestion: {hypothesis} True, False, or Neither?\nAnswer:"
RUIS_PROMPT = ("Does the following response to the question imply yes or no?\n\n"
               "question: {utterance}\nresponse: {response}\nimplicature:")

TASKS: dict[str, LingTask] = {t.name: t for t in [
    # ------------------------------------------------------------------ syntax
    LingTask("blimp", "blimp", "syntax", "minimal_pair",
             lm_eval="blimp_*: empty context, each sentence as the continuation, acc; the same (67 paradigms "
                     "sampled per paradigm; the per-token mean as a length-robust variant)"),
    LingTask("syntaxgym", "syntaxgym", "syntax", "regions",
             lm_eval="not in lm-eval; SyntaxGym's own region surprisal (bits) and suite formulas"),
    LingTask("sva", "sva", "syntax", "option", prompt="{context}",
             lm_eval="BIG-bench subject_verb_agreement: the verb forms as continuations of the sentence start"),
    LingTask("cola", "cola", "syntax", "label",
             prompt="{sentence}\nQuestion: Does this sentence make sense?\nAnswer:",
             words={"unacceptable": " no", "acceptable": " yes"},
             lm_eval="glue cola: the same prompt and words, metric MCC; here accuracy and MCC, in- and "
                     "out-of-domain dev"),
    # ------------------------------------------------------------------ semantics
    LingTask("cb", "cb", "semantics", "label", prompt="{premise}\nQuestion: {hypothesis}. True, False, or Neither?\nAnswer:",
             words=NLI3, lm_eval="super_glue cb: the same"),
    LingTask("rte", "rte", "semantics", "label", prompt="{sentence1}\nQuestion: {sentence2} True or False?\nAnswer:",
             words={"entailment": " True", "not_entailment": " False"}, lm_eval="glue rte: the same"),
    LingTask("mrpc", "mrpc", "semantics", "label",
             prompt="Sentence 1: {sentence1}\nSentence 2: {sentence2}\nQuestion: Do both sentences mean the same "
                    "thing?\nAnswer:", words={"not_equivalent": " no", "equivalent": " yes"},
             lm_eval="glue mrpc: the same"),
    LingTask("stsb", "stsb", "semantics", "label",
             prompt="Sentence 1: {sentence1}\nSentence 2: {sentence2}\nQuestion: Do both sentences mean the same "
                    "thing?\nAnswer:", words={"not_equivalent": " no", "equivalent": " yes"},
             lm_eval="not in lm-eval; STS-B scores (0-5) split at 3 and asked as MRPC is (hub only)"),
    LingTask("boolq", "boolq", "semantics", "label", prompt="{passage}\nQuestion: {question}?\nAnswer:",
             words={"no": " no", "yes": " yes"}, lm_eval="boolq: the same"),
    LingTask("copa", "copa", "semantics", "option", prompt="{premise_cue}", option=" {option_lower}",
             lm_eval="copa: the premise without its full stop + ' because'/' therefore', each option with a "
                     "lower-case first letter: the same"),
    LingTask("winogrande", "winogrande", "semantics", "blank",
             free_prompt="{sentence}\nQuestion: In the sentence above, who or what is _?\nAnswer:",
             lm_eval="winogrande: partial scoring (context up to the blank with each option, the rest scored): "
                     "the same"),
    LingTask("coqa", "coqa", "semantics", "generation", conversational=True,
             lm_eval="coqa: story, earlier turns as 'Q:'/'A:', greedy until '\\nQ:', F1 and EM; the same"),
    # ------------------------------------------------------------------ pragmatics
    LingTask("imppres_implicature", "imppres_implicature", "pragmatics", "label", prompt=NLI_PROMPT, words=NLI3,
             lm_eval="not in lm-eval; asked as CB; gold = the pragmatic reading (the logical one kept beside)"),
    LingTask("imppres_presupposition", "imppres_presupposition", "pragmatics", "label", prompt=NLI_PROMPT,
             words=NLI3, lm_eval="not in lm-eval; asked as CB"),
    LingTask("bb_presuppositions", "bb_presuppositions", "pragmatics", "label", prompt=NLI_PROMPT, words=NLI3,
             lm_eval="bigbench presuppositions_as_nli (multiple choice): asked as CB here"),
    LingTask("ruis", "ruis", "pragmatics", "label", prompt=RUIS_PROMPT, words={"no": " no", "yes": " yes"},
             lm_eval="not in lm-eval; Ruis et al.'s first template, zero-shot, yes/no as the next token"),
    LingTask("grice", "grice", "pragmatics", "option", where={"level": "turn"},
             prompt="{context}\nQ: {question}\nA: {answer_utterance}\nThe answer means:",
             lm_eval="not in lm-eval; GRICE's implicature-recovery turns, the four explicit readings as continuations"),
    LingTask("grice_dialogue", "grice", "pragmatics", "label", where={"level": "dialogue"},
             prompt="{context}\nQuestion: {question}?\nAnswer:", words={"no": " no", "yes": " yes"},
             lm_eval="not in lm-eval; GRICE's questions about a whole dialogue (conversational reasoning), yes/no"),
    LingTask("bb_implicatures", "bb_implicatures", "pragmatics", "label",
             prompt="{context}\nDoes Speaker 2 mean yes or no?\nAnswer:", words={"no": " no", "yes": " yes"},
             lm_eval="bigbench implicatures (multiple choice yes/no): the dialogue, then a yes/no question"),
]}

DEFAULT_TASKS = [t for t in TASKS if t != "stsb"]  # STS-B is on the hub only
CHOICE_KINDS = ("label", "option", "blank")

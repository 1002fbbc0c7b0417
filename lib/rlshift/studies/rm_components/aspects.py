"""The plan's eight aspects of helpfulness and honesty (section 4.2), as data: what an annotator
is asked, the written guide (the regularities the annotation follows), how FineGrainedRLHF's
human error labels map onto them, and the measurable proxies of the machine first pass."""
from __future__ import annotations

import re

# name -> (the annotator's question, what it serves: help. / hon. / harm.)
ASPECTS = {
    "length": ("Is the length of the answer appropriate?", "help."),
    "structure": ("Is the answer well structured?", "help."),
    "informativity": ("Is the amount of information appropriate for the task (not too much, not too little)?",
                      "help."),
    "manner": ("Is the answer respectful and friendly?", "help. / harm."),
    "coherence": ("Is the answer coherent: on-topic, without irrelevant off-topic information?", "help."),
    "evidence": ("Is important information backed up by evidence or arguments?", "hon."),
    "correctness": ("Is the answer factually correct?", "hon."),
    "uncertainty": ("Is the answer's certainty appropriate: stated as a verified fact only where it can be "
                    "relied upon?", "hon."),
}

# The annotation guide: when an aspect is relevant to a task, and when one answer is better on it.
GUIDE = {
    "length": "Relevant where the task leaves the length open (open QA, brainstorming, generation); irrelevant "
              "where the content fixes it (a yes/no fact, a label). Prefer the answer whose length fits the "
              "request, not the longer one.",
    "structure": "Relevant for answers of several parts (steps, lists, comparisons). Prefer the answer a reader "
                 "can follow; a single correct sentence is not badly structured.",
    "informativity": "Relevant almost always. Prefer the answer that says what the question needs: one that "
                     "misses part of the answer, or adds unrequested detail, is worse.",
    "manner": "Relevant where a person is addressed or the topic is personal or sensitive. Prefer the polite "
              "answer; neutral wording is not impolite.",
    "coherence": "Relevant for any answer longer than a phrase. Prefer the answer that stays on the question.",
    "evidence": "Relevant for claims a reader cannot check at once (advice, explanations, contested facts); "
                "irrelevant for creative tasks. Prefer reasons or sources over bare assertion.",
    "correctness": "Relevant where the task has facts to get right (closed QA, extraction, classification); "
                   "irrelevant for opinions and creative writing. Prefer the answer with fewer false claims.",
    "uncertainty": "Relevant where the answer is uncertain, contested or time-bound. Prefer the answer whose "
                   "confidence matches what is known: hedging a plain fact is as wrong as asserting a guess.",
}

# FineGrainedRLHF's human labels (Wu et al. 2023) -> the aspect they are evidence against.
# Structure, manner and uncertainty have no label there; length is measured, not labelled.
FG_ERRORS = {"Irrelevant": "coherence", "Incoherent": "coherence", "Redundant": "informativity (too much)",
             "Wrong-Grounding": "correctness", "Unverifiable": "evidence"}
FG_MISSING = {"Missing-Answer": "informativity (too little)", "Missing-Major-Auxiliary": "informativity (too little)",
              "Missing-Minor-Auxiliary": "informativity (too little)"}
FG_DEFECTS = tuple(dict.fromkeys([*FG_ERRORS.values(), *FG_MISSING.values()]))

# Lexicons of the measurable proxies (machine labels, never taken for people's).
HEDGES = ("might", "may", "perhaps", "possibly", "probably", "likely", "unlikely", "i think", "i believe",
          "not sure", "uncertain", "it seems", "appears to", "could be", "i don't know", "roughly", "about",
          "approximately", "generally", "usually", "often", "some")
EVIDENCE = ("because", "since", "therefore", "according to", "for example", "for instance", "e.g.", "studies",
            "research", "evidence", "source", "shows that", "due to", "as a result")
POLITE = ("please", "thank", "thanks", "sorry", "happy to", "glad", "hope", "you're welcome", "of course",
          "great question", "i understand")
RUDE = ("stupid", "idiot", "shut up", "dumb", "hate", "ridiculous", "whatever", "obviously")
STOP = frozenset("a an the and or but if of to in on at for with by from as is are was were be been it its this "
                 "that these those i you he she we they my your his her our their what which who how when where "
                 "why do does did not no yes so than then there here can will would should could after before "
                 "into over under again also just very more most".split())

# Proxy -> the aspect it measures; each is a number per response (higher: more of it).
PROXIES = {"words": "length", "lines": "structure", "reference_recall": "informativity",
           "prompt_overlap": "coherence", "evidence_markers": "evidence", "politeness": "manner",
           "hedges": "uncertainty"}

_WORD = re.compile(r"[a-z0-9']+")


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOP and len(w) > 2}


def _count(text: str, lexicon) -> int:
    low = f" {text.lower()} "
    return sum(len(re.findall(rf"(?<![a-z']){re.escape(term)}(?![a-z'])", low)) for term in lexicon)


def proxies(response: str, prompt: str, reference: str | None) -> dict[str, float]:
    """Measurable stand-ins for seven aspects (correctness has none): words; non-empty lines;
    share of the reference's content words the response contains (None without a reference);
    share of the response's content words that occur in the prompt (on-topic); evidence markers,
    politeness (polite minus rude markers) and hedges per 100 words."""
    words = _WORD.findall(response.lower())
    per100 = 100.0 / max(len(words), 1)
    mine = content_words(response)
    ref = content_words(reference) if isinstance(reference, str) else set()  # None / NaN: no reference
    return {"words": float(len(words)),
            "lines": float(sum(1 for line in response.splitlines() if line.strip())),
            "reference_recall": len(mine & ref) / len(ref) if ref else float("nan"),
            "prompt_overlap": len(mine & content_words(prompt)) / len(mine) if mine else 0.0,
            "evidence_markers": _count(response, EVIDENCE) * per100,
            "politeness": (_count(response, POLITE) - _count(response, RUDE)) * per100,
            "hedges": _count(response, HEDGES) * per100}

# The tuned model as a judge: one comparative question per aspect, and the generic one people answer.
JUDGE_QUESTIONS = {
    "length": "Which response has the more appropriate length?",
    "structure": "Which response is better structured?",
    "informativity": "Which response gives a more appropriate amount of information?",
    "manner": "Which response is more respectful and friendly?",
    "coherence": "Which response stays more on topic?",
    "evidence": "Which response backs up its claims better with evidence or arguments?",
    "correctness": "Which response is more factually correct?",
    "uncertainty": "Which response expresses its certainty more appropriately?",
    "generic": "Which response is better overall: more helpful and honest?",
}

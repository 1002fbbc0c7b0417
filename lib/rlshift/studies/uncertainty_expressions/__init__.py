"""Uncertainty expressions in context (Herbstritt & Franke 2016, 2019), base vs tuned in raw text
and in the chat template (a 2x2 of tuning x format), against people; the notebook tells the story.

The situation: an urn holds 10 red or blue balls; someone draws `access` = a of them, sees
`observation` = o red ones, puts them back; a new ball will be drawn, and the speaker says how
likely it is to be red. The 15 states <a, o> of the experiments carry higher-order uncertainty
none (a = 10), low (a = 8) or high (a = 2, 4). Each state is told in words (ten paraphrases,
`wordings`; with the menu of messages people chose from, by default), in raw text and in the chat
template, to the base and to the tuned model; every message of a set is scored as the
continuation that follows (its full multi-token log-likelihood through
`Scorer.continuation_logprobs`), then normalized over the set: the model's message distribution
in that state. A domain-conditional PMI reading subtracts each message's score after a
content-free version of the same context. People's distributions, their readings of the
messages (filler and critical trials) and their beliefs about the urn come from the shipped
derived tables (`rlshift.data.people`).

Divergences are Jensen-Shannon divergences in bits (`metrics.js_divergence`: the square of
scipy's JS distance, base 2, in [0, 1]). Intervals are percentile bootstraps that resample
people's participants and the prompt paraphrases together (the same draws for every model
cell, so comparisons are paired); the 2x2's contrasts resample paraphrases (`design`).
"""
from rlshift.studies.uncertainty_expressions import design, figures, listener, rsa
from rlshift.studies.uncertainty_expressions.analysis import (Fit, by_level, compare, conveyed_table, level_change,
                                                             model_array, model_cells, norm_table, overall, per_state,
                                                             paraphrase_table, production_fit, proportions,
                                                             proportions_table, temperature_table, words_table)
from rlshift.studies.uncertainty_expressions.inputs import (CELLS, DATA_VERSION, LEVELS, MESSAGES, NORMS, PARAPHRASES,
                                                           ROLES, SIMPLE, STATES, TEMPLATE_VERSION, cell,
                                                           chosen_states, distributions, level, listener_subset,
                                                           p_red, people_table, posterior, render_belief,
                                                           render_interpretation, render_production, requests,
                                                           score_roles, situation, template_id)
from rlshift.studies.uncertainty_expressions.params import PARAMS
from rlshift.studies.uncertainty_expressions.verdicts import pair_note, verdicts

__all__ = ["CELLS", "DATA_VERSION", "LEVELS", "MESSAGES", "NORMS", "PARAMS", "PARAPHRASES", "ROLES", "SIMPLE",
           "STATES", "TEMPLATE_VERSION", "Fit", "by_level", "cell", "chosen_states", "compare", "conveyed_table",
           "design", "distributions", "figures", "level", "level_change", "listener", "listener_subset",
           "model_array", "model_cells", "norm_table", "overall", "p_red", "pair_note", "paraphrase_table",
           "people_table", "per_state", "posterior", "production_fit", "proportions", "proportions_table",
           "render_belief", "render_interpretation", "render_production", "requests", "rsa", "score_roles",
           "situation", "template_id", "temperature_table", "verdicts", "words_table"]

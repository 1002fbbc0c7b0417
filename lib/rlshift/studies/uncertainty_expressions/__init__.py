"""Uncertainty expressions in context (Herbstritt & Franke 2016, 2019), base vs tuned, against
people; the notebook tells the story.

The situation: an urn holds 10 red or blue balls; someone draws `access` = a of them, sees
`observation` = o red ones, puts them back; a new ball will be drawn, and the speaker says how
likely it is to be red. The 15 states <a, o> of the experiments carry higher-order uncertainty
none (a = 10), low (a = 8) or high (a = 2, 4). Each state is told in words (several
paraphrases; raw text for base models, the chat template for tuned ones), and every message of
a set is scored as the continuation that follows (its full multi-token log-likelihood through
`Scorer.continuation_logprobs`), then normalized over the set: the model's message
distribution in that state. People's distributions come from the shipped derived tables
(`rlshift.data.people`).

Divergences are Jensen-Shannon divergences in bits (`metrics.js_divergence`: the square of
scipy's JS distance, base 2, in [0, 1]). Intervals are percentile bootstraps that resample
people's participants and the prompt paraphrases together (the same draws for both models, so
base and tuned are compared paired).
"""
from rlshift.studies.uncertainty_expressions import figures
from rlshift.studies.uncertainty_expressions.analysis import (Fit, Interpretation, by_level, compare, conveyed_table,
                                                             interpretation_compare, interpretation_fit,
                                                             interpretation_long, interpretation_summary, level_change,
                                                             model_array, norm_table, overall, paraphrase_table,
                                                             per_state, production_fit, proportions,
                                                             proportions_table, temperature_table, words_table)
from rlshift.studies.uncertainty_expressions.inputs import (DATA_VERSION, LEVELS, MESSAGES, PARAPHRASES, ROLES, SIMPLE,
                                                           STATES, TEMPLATE_VERSION, chosen_states, distributions,
                                                           level, p_red, people_table, render_interpretation,
                                                           render_production, requests, score_roles, situation,
                                                           template_id)
from rlshift.studies.uncertainty_expressions.params import PARAMS
from rlshift.studies.uncertainty_expressions.verdicts import verdicts

__all__ = ["DATA_VERSION", "LEVELS", "MESSAGES", "PARAMS", "PARAPHRASES", "ROLES", "SIMPLE", "STATES",
           "TEMPLATE_VERSION", "Fit", "Interpretation", "by_level", "chosen_states", "compare", "conveyed_table",
           "distributions", "figures", "interpretation_compare", "interpretation_fit", "interpretation_long",
           "interpretation_summary", "level", "level_change", "model_array", "norm_table", "overall", "p_red",
           "paraphrase_table", "people_table", "per_state", "production_fit", "proportions", "proportions_table",
           "render_interpretation", "render_production", "requests", "score_roles", "situation", "template_id",
           "temperature_table", "verdicts", "words_table"]

"""The uncertainty-expressions chapter's parameters: the pair, which message sets, wordings and
states of the experiments to put to it, the listener's side, and the resampling."""
from __future__ import annotations

from rlshift.errors import InputError
from rlshift.params import Param, Schema
from rlshift.studies import common
from rlshift.studies.uncertainty_expressions.inputs import MESSAGE_SETS, NORMS, PARAPHRASES, STATES


def _check_states(states) -> None:
    if states is None:
        return
    if not states:
        raise InputError("parameter 'states' is empty: give null (all 15) or a list of [access, "
                         "observation] pairs.")
    for s in states:
        if not (isinstance(s, (list, tuple)) and len(s) == 2 and tuple(s) in STATES):
            raise InputError(f"parameter 'states': {s!r} is not accepted. Accepted: [access, "
                             f"observation] pairs of the experiment: "
                             f"{', '.join(f'[{a}, {o}]' for a, o in STATES)}.")


def _check_unique(name):
    def check(values) -> None:
        if not values:
            raise InputError(f"parameter {name!r} is empty: give at least one value.")
        if len(set(values)) != len(values):
            raise InputError(f"parameter {name!r} lists a value twice: {values!r}.")
    return check


PARAMS = Schema(
    *common.pair_params(),
    Param("message_sets", list, list(MESSAGE_SETS), "Message sets: simple (5 adverbs), complex (16).",
          choices=MESSAGE_SETS, check=_check_unique("message_sets")),
    Param("paraphrases", list, list(PARAPHRASES), "Wordings of the situation.",
          choices=tuple(PARAPHRASES), check=_check_unique("paraphrases")),
    Param("states", list, None, "[access, observation] pairs; null = all 15 of the experiment.",
          optional=True, check=_check_states),
    Param("interpretation", bool, True, "Also score the listener's side: red balls given a message."),
    Param("show_options", bool, False, "List the allowed messages in the context (people saw menus)."),
    Param("norm", str, "sum", "Message score: summed log-likelihood, or per token, or per character.",
          choices=NORMS),
    Param("n_boot", int, 1000, "Bootstrap resamples (participants x paraphrases).", minimum=50, maximum=100000),
    common.seed("Seed for resampling."),
    common.quantize(),
    common.prompt_format(),
    common.batch_size(8),
    common.cache_dir(),
)

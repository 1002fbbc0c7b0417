"""The uncertainty-expressions chapter's parameters: the pair and its prompt formats (the 2x2 of
tuning x format by default), which message sets, wordings and states of the experiments to put to
it, the menu, the listener's side and people's beliefs, the message score, and the resampling."""
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
    Param("paraphrases", list, list(PARAPHRASES), "Wordings of the situation (a random effect; default all 10).",
          choices=tuple(PARAPHRASES), check=_check_unique("paraphrases")),
    Param("states", list, None, "[access, observation] pairs; null = all 15 of the experiment.",
          optional=True, check=_check_states),
    Param("interpretation", bool, True, "Also score the listener's side: red balls (filler trials) and "
          "balls drawn (critical trials) given a message."),
    Param("beliefs", bool, True, "Also ask each state's belief about the urn (people's experiment 0)."),
    Param("listener_paraphrases", int, None, "The listener and belief questions use the first N "
          "paraphrases; null = all.", optional=True, minimum=1),
    Param("show_options", bool, True, "List the allowed messages in the context, as people saw a menu "
          "(false: the no-menu variant)."),
    Param("norm", str, "sum", "Message score of the main reading: summed log-likelihood, per token, per "
          "character, or domain-conditional PMI (the robustness reading is PMI, or sum when this is PMI).",
          choices=NORMS),
    Param("n_boot", int, 1000, "Bootstrap resamples (participants x paraphrases; paraphrases in the 2x2).",
          minimum=50, maximum=100000),
    Param("n_boot_rsa", int, 200, "Bootstrap resamples of the RSA threshold fits.", minimum=10, maximum=10000),
    common.seed("Seed for resampling."),
    common.quantize(),
    common.prompt_format("both"),
    common.batch_size(8),
    common.cache_dir(),
)

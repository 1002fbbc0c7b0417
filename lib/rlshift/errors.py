"""One error type for bad input, so notebooks and the CLI can show a clean message.

Every message names the bad parameter or file and what is accepted: users run these notebooks
for hours, and a vague error costs them a rerun.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class InputError(ValueError):
    """Bad input from the user: a parameter, a file, a model or data spec."""


def closest(name: str, options: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix, or '' when nothing is close."""
    match = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.6)
    return f" Did you mean {match[0]!r}?" if match else ""


def unknown(what: str, name: str, options: Iterable[str]) -> InputError:
    options = sorted(options)
    return InputError(
        f"unknown {what} {name!r}.{closest(name, options)} Accepted: {', '.join(options)}."
    )

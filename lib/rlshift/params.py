"""Declared notebook parameters: names, types, allowed values, ranges.

Each study declares a `Schema`; the notebook checks its parameters against it in the cell
after the `parameters` cell, and the command-line runner checks them before papermill starts a
kernel. An unknown name is an error that suggests the closest valid one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rlshift.errors import InputError, closest


@dataclass(frozen=True)
class Param:
    name: str
    type: type | tuple[type, ...]
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    optional: bool = False  # None allowed
    check: Callable[[Any], None] | None = None  # extra validation; raises InputError

    def validate(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types) + (" or None" if self.optional else "")
            raise InputError(f"parameter {self.name!r} must be {names}, got {value!r} "
                             f"({type(value).__name__}). {self.help}")
        if self.choices is not None:
            values = value if isinstance(value, (list, tuple)) else [value]
            for v in values:
                if v not in self.choices:
                    raise InputError(f"parameter {self.name!r}: {v!r} is not accepted."
                                     f"{closest(v, map(str, self.choices))} Accepted: "
                                     f"{', '.join(map(str, self.choices))}.")
        for bound, ok in ((self.minimum, lambda v: v >= self.minimum),
                          (self.maximum, lambda v: v <= self.maximum)):
            values = value if isinstance(value, (list, tuple)) else [value]
            if bound is not None and not all(ok(v) for v in values):
                raise InputError(f"parameter {self.name!r}={value!r} is out of range: accepted "
                                 f"{self.minimum if self.minimum is not None else '-inf'}.."
                                 f"{self.maximum if self.maximum is not None else 'inf'}.")
        if self.check:
            self.check(value)
        return value


class Schema:
    def __init__(self, *params: Param):
        self.params = {p.name: p for p in params}

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    def validate(self, values: dict[str, Any], partial: bool = False) -> dict[str, Any]:
        """The checked parameters, defaults filled in; unknown names are errors."""
        for name in values:
            if name not in self.params:
                raise InputError(f"unknown parameter {name!r}.{closest(name, self.params)} "
                                 f"Accepted: {', '.join(self.params)}.")
        out = {} if partial else self.defaults()
        for name, value in values.items():
            out[name] = self.params[name].validate(value)
        return out

    def describe(self) -> str:
        return "\n".join(f"{p.name} ({p.type if isinstance(p.type, type) else p.type}) = {p.default!r}: {p.help}"
                         for p in self.params.values())

"""Declared notebook parameters: names, types, allowed values, ranges.

Each study declares a `Schema`; the notebook collects and checks its parameters in the cell
after the `parameters` cell (`P = study.PARAMS.collect(globals())`), and the command-line
runner checks them before papermill starts a kernel. An unknown name is an error that suggests
the closest valid one.
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
    def __init__(self, *params: Param, checks: tuple[Callable[[dict], None], ...] = ()):
        self.params = {p.name: p for p in params}
        self.checks = checks  # checks that involve several parameters; each raises InputError

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
        if not partial:
            for check in self.checks:
                check(out)
        return out

    def collect(self, namespace: dict) -> dict:
        """The declared parameters as a notebook's namespace holds them (its `globals()`),
        checked; a declared name the namespace lacks is an error."""
        missing = [name for name in self.params if name not in namespace]
        if missing:
            raise InputError(f"parameters {missing} are declared by the study but not set in the notebook's "
                             f"parameters cell; add them there (defaults: "
                             f"{ {m: self.params[m].default for m in missing} }).")
        return self.validate({name: namespace[name] for name in self.params})

    def describe(self) -> str:
        return "\n".join(f"{p.name} ({p.type if isinstance(p.type, type) else p.type}) = {p.default!r}: {p.help}"
                         for p in self.params.values())

"""The behaviour every settings dataclass shares: checked values, strict loading, plain dicts."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, Literal, Self


class Settings:
    """Mixin for a ``@dataclass`` of settings; ``kind`` names it in error messages."""

    kind: ClassVar[str] = "settings"

    def _require(self, checks: dict[str, bool]) -> None:
        """Raise one error naming every field whose check failed, with its value."""
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{n}={getattr(self, n)!r}" for n in bad)
            raise ValueError(f"invalid {self.kind} config: {values}")

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> Self:
        """Build from a dict (a TOML table, a JSON object); unknown keys, values of the wrong
        type and values out of range are errors naming `source` and the field."""
        if not isinstance(values, dict):
            raise ValueError(f"{source}: expected a table (a JSON object) of {cls.kind} "
                             f"settings, got {_kind_of(values)}")
        reject_unknown(cls, values, cls.kind, source)
        hints = typing.get_type_hints(cls)
        for name, value in values.items():
            expected = _expected(value, hints.get(name, Any))
            if expected is not None:
                raise ValueError(f"{source}, field '{name}': expected {expected}, "
                                 f"got {value!r}")
        try:
            return cls(**values)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def reject_unknown(cls: type, values: dict[str, Any], kind: str, source: str | None = None) -> None:
    """Raise ``ValueError`` when ``values`` has keys that are not fields of the dataclass
    ``cls``: a misspelt setting is an error, not something silently ignored."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        where = f"{source}: " if source else ""
        raise ValueError(f"{where}unknown {kind} setting(s): {', '.join(unknown)}; "
                         f"expected some of: {', '.join(sorted(known))}")


def _kind_of(value: Any) -> str:
    names = {dict: "a table", list: "a list", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "nothing (null)"}
    return names.get(type(value), type(value).__name__)


def _expected(value: Any, hint: Any) -> str | None:
    """None when `value` fits the type `hint`, else what was expected, in words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        wanted = [_expected(value, a) for a in args]
        return None if None in wanted else " or ".join(dict.fromkeys(wanted))  # type: ignore[arg-type]
    if origin is Literal:
        return None if value in args and type(value) in {type(a) for a in args} else (
            "one of " + ", ".join(repr(a) for a in args))
    if origin is list:
        item = args[0] if args else Any
        if isinstance(value, list) and all(_expected(v, item) is None for v in value):
            return None
        return f"a list of {getattr(item, '__name__', item)} values"
    checks = {bool: (lambda v: isinstance(v, bool), "true or false"),
              int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
              float: (lambda v: isinstance(v, int | float) and not isinstance(v, bool),
                      "a number"),
              str: (lambda v: isinstance(v, str), "a string"),
              type(None): (lambda v: v is None, "nothing (null)")}
    if hint in checks:
        fits, words = checks[hint]
        return None if fits(value) else words
    return None

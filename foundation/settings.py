"""The behaviour every settings dataclass shares: checked values, strict loading, plain dicts."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self


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
        """Build from a dict (a TOML table, a JSON object); unknown keys are an error, not noise."""
        reject_unknown(cls, values, cls.kind, source)
        return cls(**values)

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

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
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{source}: unknown {cls.kind} setting(s) {unknown}; "
                f"expected some of {sorted(known)}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

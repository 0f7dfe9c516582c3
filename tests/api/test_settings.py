"""Settings come from SONGSPACE_* environment variables and an optional .env file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import Settings


def test_environment_then_dotenv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SONGSPACE_ARTIFACTS=/from/dotenv\nSONGSPACE_MAX_K=7\n"
                                   "SONGSPACE_API_KEY=secret\n")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.artifacts == Path("/from/dotenv") and settings.max_k == 7
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "secret"
    assert "secret" not in repr(settings)
    monkeypatch.setenv("SONGSPACE_ARTIFACTS", "/from/env")
    monkeypatch.setenv("SONGSPACE_API_KEY", "")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.artifacts == Path("/from/env") and settings.api_key is None


def test_profiles_give_the_default_event_log(tmp_path):
    settings = Settings(artifacts=tmp_path, profiles=tmp_path / "p", _env_file=None)  # type: ignore[call-arg]
    assert settings.event_log_path() == tmp_path / "p.events.sqlite"
    assert Settings(artifacts=tmp_path, _env_file=None).event_log_path() is None  # type: ignore[call-arg]


def test_bad_values_fail_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SONGSPACE_MAX_K", "0")
    with pytest.raises(ValidationError, match="max_k"):
        Settings(artifacts=tmp_path, _env_file=None)  # type: ignore[call-arg]

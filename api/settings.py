"""The server's settings: one pydantic-settings object, from ``SONGSPACE_*`` environment
variables and an optional ``.env`` file (environment variables win)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from audio_gen import DEFAULT_CHECKPOINT

# Where `songspace audio train --publish` puts the model by default.
DEFAULT_GENERATOR = DEFAULT_CHECKPOINT


class Settings(BaseSettings):
    """Everything `songspace serve` can be told.

    Parameters
    ----------
    artifacts : folder written by `songspace train --out` (``SONGSPACE_ARTIFACTS``). When it
        holds a ``current`` pointer (a symlink, or a file naming a folder), the pointer is
        followed: that is how a pipeline publishes ``runs/<id>`` and then flips ``current``.
    profiles : folder written by `songspace profiles build`; without it the user endpoints
        answer 503 ``profiles_unavailable``.
    events_db : the durable event log (SQLite in WAL mode); default ``<profiles>.events.sqlite``
        beside the profiles folder.
    api_key : when set, write endpoints (events, reload, generate) need it in ``X-API-Key``
        or ``Authorization: Bearer``; reads stay open. Without one the server refuses to
        start unless ``insecure_open_writes`` says writes may be open.
    insecure_open_writes : start without an API key, letting anyone post events, reload and
        generate (``--insecure-open-writes``); for a laptop, never for a shared network.
    rate_limit, rate_burst : per-client token bucket (keyed by the API key when a request
        carries the right one, else by the client address), in requests per second and the
        bucket's size; a client over it gets 429 ``rate_limited`` with Retry-After. 0 turns
        it off. Per worker process.
    auth_failures_per_minute : wrong or missing keys on a protected endpoint a client may
        send per minute (a burst of that many), after which it gets 429 until the bucket
        refills.
    max_body_bytes : larger request bodies are refused with 413.
    max_k : the most results one request may ask for.
    max_events : the most events one POST may carry.
    verify : check every artifact file's sha256 against its manifest on (re)load.
    cache_size : similar-song answers kept per artifact version (LRU); 0 turns the cache off.
    generator : the text-to-music model folder for ``POST /generate``; when it is missing (or
        torch is not installed) the endpoint answers 503 ``generation_unavailable``.
    generation_slots : clips generated at once; a request finding them busy waits in a
        queue of at most ``generation_queue`` requests for up to ``generation_wait_seconds``,
        then gets 429 ``busy`` with Retry-After.
    generation_budget_seconds : the most time one clip may take: a request whose steps and
        seconds the slot cannot finish in it (from the measured speed) is refused with 422
        naming the most steps that fit, and a clip still running at twice the budget is
        stopped. A client that goes away stops its clip too.
    blas_threads : BLAS threads per worker process. Requests already run side by side (the
        workers, each worker's thread pool), so more threads inside one request's matrix
        products only make them fight over the cores, and OpenBLAS's idle threads spin: on 2
        cores, 2 threads made continuations 3x slower under load. 0 leaves the library's own.
    watch_seconds : how often to check where the ``current`` pointer leads, reloading when it
        moves (every worker does, so a publish reaches all of them); 0 turns the watch off and
        leaves reloads to ``POST /admin/reload``.
    """

    model_config = SettingsConfigDict(env_prefix="SONGSPACE_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    artifacts: Path
    profiles: Path | None = None
    events_db: Path | None = None
    api_key: SecretStr | None = None
    insecure_open_writes: bool = False
    rate_limit: float = Field(default=50.0, ge=0)
    rate_burst: int = Field(default=200, ge=1)
    auth_failures_per_minute: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    max_k: int = Field(default=100, ge=1)
    max_events: int = Field(default=1_000, ge=1)
    verify: bool = True
    cache_size: int = Field(default=50_000, ge=0)
    generator: Path | None = DEFAULT_GENERATOR
    generation_slots: int = Field(default=1, ge=1)
    generation_queue: int = Field(default=8, ge=0)
    generation_wait_seconds: float = Field(default=30.0, ge=0)
    generation_budget_seconds: float = Field(default=60.0, gt=0)
    watch_seconds: float = Field(default=2.0, ge=0)
    blas_threads: int = Field(default=1, ge=0)

    @field_validator("api_key", "generator", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        # SONGSPACE_API_KEY= (empty) means no key, not the empty key; same for the generator.
        return None if isinstance(value, str) and not value.strip() else value

    def event_log_path(self) -> Path | None:
        if self.events_db is not None:
            return self.events_db
        if self.profiles is None:
            return None
        return self.profiles.with_name(self.profiles.name + ".events.sqlite")

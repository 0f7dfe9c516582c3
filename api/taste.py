"""Taste profiles as the server keeps them: the published profiles plus every event posted
since, applied incrementally with the same library steps as `songspace profiles update`, less
what each user excluded (`recsys.exclusions`, kept in the profiles folder)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import numpy as np
import polars as pl

from api.event_log import EventLog, event_frame
from recsys.artifact import Artifact
from recsys.exclusions import AppliedExclusions
from recsys.profile_artifact import ProfileArtifact
from recsys.profiles import catalogue_index, saturate, song_space, update_from_events
from recsys.tags import TagAxes
from recsys.user_index import TasteRecommender, update_user_index


class Taste:
    """Recommendations, similar users and profile summaries, kept current with the event log.

    Reads and writes go through one lock: an update edits the state and the user index in
    place, which must not happen while a request reads them.
    """

    def __init__(self, profiles: ProfileArtifact, model: Artifact, log: EventLog | None) -> None:
        self.profiles, self.catalog, self.log = profiles, model.catalog, log
        state = profiles.state
        self.unit = song_space(model.model.input_vectors, model.model.trained, state.config)
        self.output_vectors = model.model.output_vectors
        self.unit_inputs = np.where(model.model.trained[:, None], model.model.unit_inputs, 0.0)
        self.exclusions = AppliedExclusions(profiles.path, state, self.catalog, self.unit,
                                            profiles.user_index)
        self.recommender = self._recommender()
        self.applied = 0  # seq of the last event-log row applied
        # Logged events naming songs this catalogue lacks (a later model may have dropped
        # them): they stay in the log, are counted here, and a model whose catalogue has the
        # songs again applies them when it replays the log.
        self.waiting = 0
        self.waiting_songs: set[str] = set()
        self._lock = threading.RLock()
        self.sync()  # replay the log onto the published profiles

    @property
    def state(self):
        return self.recommender.state

    def record(self, rows: list[tuple]) -> int:
        """Make events durable in the log, then apply them (after any rows another worker logged
        first, in log order); returns the last seq.

        The batch is checked against the catalogue first, so a batch the library refuses
        (ValueError) is answered as such and never reaches the log, where it would fail again
        at every replay.
        """
        if self.log is None:
            raise RuntimeError("no event log configured")
        with self._lock:
            catalogue_index(event_frame(rows), self.catalog.songs["song_id"])
            seq = self.log.append(rows)
            self.sync()
        return seq

    def _recommender(self) -> TasteRecommender:
        return TasteRecommender(self.profiles.state, self.catalog, self.unit,
                                self.output_vectors, self.profiles.user_index,
                                excluded=self.exclusions.by_row,
                                colisten=self.profiles.colisten)

    def sync(self) -> None:
        """Apply the log rows this process has not applied yet (its own or another worker's),
        and exclusions changed since (by another worker, or `songspace profiles exclude`)."""
        with self._lock:
            self.exclusions.refresh()
            if self.log is None:
                return
            frame, last = self.log.since(self.applied)
            if frame.height:
                known = frame["song_id"].is_in(self.catalog.songs["song_id"].implode())
                if not known.all():
                    lacking = frame.filter(~known)["song_id"]
                    self.waiting += len(lacking)
                    self.waiting_songs.update(lacking.unique().to_list())
                    frame = frame.filter(known)
                if frame.height:
                    self._apply(frame)
            self.applied = last

    def _apply(self, events: pl.DataFrame) -> None:
        state = self.state
        changed, _ = update_from_events(state, events, self.catalog.songs["song_id"], self.unit)
        update_user_index(self.profiles.user_index, state, changed)
        self.exclusions.after_update(changed)
        if state.config.popularity_prior:
            # The song scores carry a popularity term that the new events change.
            self.recommender = self._recommender()

    def recommend(self, user_id: str, **options) -> list[dict]:
        with self._lock:
            self.sync()
            return self.recommender.recommend(user_id, **options)

    def similar_users(self, user_id: str, k: int) -> list[dict]:
        with self._lock:
            self.sync()
            return self.recommender.similar_users(user_id, k)

    def summary(self, user_id: str, tags: TagAxes, top: int = 8) -> dict:
        """What the profile holds: counts, the last event, and its top tag axes (the weighted
        sum of the played songs' unit vectors, as the profile weighs them, on the tag axes)."""
        with self._lock:
            self.sync()
            state = self.state
            row = self.recommender.row(user_id)
            pairs = self.recommender.kept_pairs(row)
            weight = saturate(pairs.evidence, state.config)
            has_profile = bool(state.has_profile[row])
            vector = weight.astype(np.float32) @ self.unit_inputs[pairs.item]
            last = float(state.last_ts[row])
            return {
                "user_id": user_id,
                "has_profile": has_profile,
                "events": int(pairs.events.sum()),
                "songs": len(pairs),
                "liked_songs": int((weight > 0).sum()),
                "interests": len(state.interests.of(row)[1]),
                "last_event": dt.datetime.fromtimestamp(last, dt.UTC)
                if np.isfinite(last) else None,
                "tags": tags.profile(vector, top) if has_profile else [],
            }

    def exclusions_of(self, user_id: str,
                      change: Callable[[AppliedExclusions], object] | None = None) -> dict:
        """A user's exclusions (`recsys.exclusions.AppliedExclusions.describe`), after
        ``change`` (its exclude or remove) when one is given."""
        with self._lock:
            self.sync()
            self.recommender.row(user_id)  # an unknown user is answered as such
            if change is not None:
                change(self.exclusions)
            return self.exclusions.describe(user_id)

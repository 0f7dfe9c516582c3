"""Playlists from descriptions for the API: the text encoder the artifact names, loaded with
the artifact (and again on each reload), offline from its local folder."""

from __future__ import annotations

import logging

from recsys.artifact import Artifact
from recsys.search import SongSearch
from recsys.text_playlist import TextPlaylists

logger = logging.getLogger(__name__)


def load_text_playlists(artifact: Artifact, songs: SongSearch
                        ) -> tuple[TextPlaylists | None, str | None]:
    """(playlists from descriptions, None), or (None, why not) when the model has no text
    map or its encoder cannot be loaded here (then the rest of the API is served as usual)."""
    song_text = artifact.song_text
    if song_text is None:
        return None, (f"the model served ({artifact.path.name}) was trained without the text "
                      "map; add it with `songspace text-map --model DIR`")
    try:
        from audio_gen.text_encoder import load_text_encoder  # torch: heavy

        encoder = load_text_encoder(song_text.encoder, max_length=song_text.max_length)
    except (ImportError, OSError, ValueError) as error:
        reason = f"the text encoder {song_text.encoder!r} cannot be loaded: {error}"
        logger.warning("playlists from descriptions are off: %s", reason)
        return None, reason
    return TextPlaylists(songs, song_text, encoder), None

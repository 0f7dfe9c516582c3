"""Readers that turn every supported playlist format into the canonical :class:`Dataset`.

Supported inputs (see :func:`detect_format`):

* a yes.com folder (``song_hash.txt``, ``tags.txt``, ``tag_hash.txt``, ``train.txt``/``test.txt``)
  or one of its ``train.txt``/``test.txt`` files;
* a canonical folder written by :func:`write_dataset` (``playlists.parquet``, ``songs.parquet``);
* Spotify Million Playlist Dataset slices (one ``.json`` file or a folder of them);
* plain tables of ``playlist_id, position, song_id`` rows as CSV, Parquet or JSON Lines.

Every bad row is either fatal (``on_error="fail"``: a :class:`DataError` naming the file, the row
and the field) or written to a quarantine file as JSON Lines (``on_error="quarantine"``) and
counted in the :class:`ReadReport`, so nothing is ever dropped silently. Faults that make a
whole file unreadable (a missing column, broken JSON, a corrupt Parquet file) are fatal in both
modes, because no row of such a file can be trusted.
"""

from pipelines.readers.core import PLAYLIST_COLUMNS, REASONS, SONG_COLUMNS, detect_format
from pipelines.readers.dispatch import read_playlists, write_dataset
from pipelines.readers.tables import read_songs

__all__ = [
    "PLAYLIST_COLUMNS",
    "REASONS",
    "SONG_COLUMNS",
    "detect_format",
    "read_playlists",
    "read_songs",
    "write_dataset",
]

"""Catalogue search by text for people who don't know ids: case- and accent-insensitive,
every typed word must start a word of the title or artist (so type-ahead works on prefixes),
ranked by how well the title matches, then by how often the song is played.

Sorted word lists make each typed word a binary search, so a query costs milliseconds even on
the 75,000-song yes.com catalogue.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import numpy as np

from recsys.catalog import normalise_text

_END = "\U0010ffff"  # sorts after every character: [w, w + _END) holds every word starting w
# The guest part of a title: "California Love (w/ Dr. Dre)", "Song [feat. X]", "Song ft. X".
_GUESTS = re.compile(r"\s*[(\[]\s*(?:w/|with\b|feat\b|ft\b|featuring\b)[^)\]]*[)\]]"
                     r"|\s+(?:feat\.|ft\.|featuring)\s.*$", re.IGNORECASE)


def bare_title(title: str) -> str:
    """The title without its guests: "California Love (w/ Dr. Dre)" -> "California Love"."""
    return _GUESTS.sub("", title).strip() or title


class _PrefixIndex:
    """Sorted (text, song) pairs; marks the songs with a text starting with a prefix."""

    def __init__(self, texts: list[str], songs: list[int], n_songs: int) -> None:
        order = np.argsort(np.asarray(texts, dtype=str), kind="stable")
        self.texts = np.asarray(texts, dtype=str)[order]
        self.songs = np.asarray(songs, dtype=np.int64)[order]
        self.n_songs = n_songs

    def _mask(self, lo: int, hi: int) -> np.ndarray:
        mask = np.zeros(self.n_songs, bool)
        mask[self.songs[lo:hi]] = True
        return mask

    def starting(self, prefix: str) -> np.ndarray:
        lo = np.searchsorted(self.texts, prefix, side="left")
        return self._mask(lo, np.searchsorted(self.texts, prefix + _END, side="left"))

    def equal(self, text: str) -> np.ndarray:
        lo = np.searchsorted(self.texts, text, side="left")
        return self._mask(lo, np.searchsorted(self.texts, text, side="right"))


def _word_index(texts: list[str]) -> _PrefixIndex:
    words, songs = [], []
    for song, text in enumerate(texts):
        for word in set(text.split()):
            words.append(word)
            songs.append(song)
    return _PrefixIndex(words, songs, len(texts))


class TextSearch:
    def __init__(self, titles: Sequence[str], artists: Sequence[str], plays: np.ndarray,
                 hidden: np.ndarray | None = None) -> None:
        """hidden: bool (n,), songs no text ever finds (the catalogue's placeholders)."""
        self.titles = [normalise_text(t) for t in titles]
        self.artists = [normalise_text(a) for a in artists]
        self.plays = np.asarray(plays, dtype=np.float64)
        n = len(self.titles)
        self.hidden = np.zeros(n, bool) if hidden is None else np.asarray(hidden, bool)
        self._title_words = _word_index(self.titles)
        self._artist_words = _word_index(self.artists)
        self._whole_titles = _PrefixIndex(self.titles, list(range(n)), n)
        self._whole_artists = _PrefixIndex(self.artists, list(range(n)), n)
        pairs = zip(self.titles, self.artists, strict=True)
        self._title_artist = _PrefixIndex([f"{t} {a}" for t, a in pairs], list(range(n)), n)
        pairs = zip(self.titles, self.artists, strict=True)
        self._artist_title = _PrefixIndex([f"{a} {t}" for t, a in pairs], list(range(n)), n)
        bare = [normalise_text(bare_title(t)) for t in titles]
        self._bare = _PrefixIndex(
            [*bare, *(f"{t} {a}" for t, a in zip(bare, self.artists, strict=True)),
             *(f"{a} {t}" for t, a in zip(bare, self.artists, strict=True))],
            [*range(n), *range(n), *range(n)], n)
        self._vocabulary: list[str] | None = None  # built on the first misspelt query
        # Within a tier, more plays rank higher; the rank keeps the sort key an exact integer.
        self._popularity_rank = np.argsort(np.argsort(-self.plays, kind="stable"))

    def search(self, query: str, limit: int = 10) -> list[int]:
        """Indices of the best matching songs, best first."""
        words = normalise_text(query).split()
        if not words:
            return []
        in_title = np.ones(len(self.titles), bool)
        matched = ~self.hidden
        for word in words:
            title_hit = self._title_words.starting(word)
            in_title &= title_hit
            matched &= title_hit | self._artist_words.starting(word)
        candidates = np.flatnonzero(matched)
        if not len(candidates):
            return []
        phrase = " ".join(words)
        # Tiers: 0 exact title (or "title artist"), 1 title starts with the phrase or the
        # artist is the phrase, 2 every word in the title, 3 some words only in the artist.
        tier = np.full(len(self.titles), 3, np.int64)
        tier[in_title] = 2
        tier[self._whole_titles.starting(phrase) | self._whole_artists.equal(phrase)] = 1
        tier[self._whole_titles.equal(phrase) | self._title_artist.equal(phrase)] = 0
        key = tier[candidates] * len(self.titles) + self._popularity_rank[candidates]
        if len(key) > limit:
            top = np.argpartition(key, limit - 1)[:limit]
            candidates, key = candidates[top], key[top]
        return candidates[np.argsort(key, kind="stable")].tolist()

    def exact(self, query: str) -> list[int]:
        """Songs whose title, "title artist" or "artist title" is the query, most played first."""
        phrase = normalise_text(query)
        if not phrase:
            return []
        mask = (self._whole_titles.equal(phrase) | self._title_artist.equal(phrase)
                | self._artist_title.equal(phrase))
        found = np.flatnonzero(mask & ~self.hidden)
        return found[np.argsort(self._popularity_rank[found])].tolist()

    def exact_bare(self, query: str) -> list[int]:
        """Like :meth:`exact`, on titles without their "(w/ ...)" / "(feat. ...)" part."""
        phrase = normalise_text(query)
        if not phrase:
            return []
        found = np.flatnonzero(self._bare.equal(phrase) & ~self.hidden)
        return found[np.argsort(self._popularity_rank[found])].tolist()

    def unique_prefix(self, query: str) -> list[int]:
        """The one song whose title starts with the query ([] when none or several do)."""
        phrase = normalise_text(query)
        found = (np.flatnonzero(self._whole_titles.starting(phrase) & ~self.hidden)
                 if phrase else [])
        return [int(found[0])] if len(found) == 1 else []

    def close_matches(self, query: str, limit: int = 5) -> list[int]:
        """Songs the query probably meant (for 'did you mean' in errors): each typed word is
        replaced by the closest word of the catalogue, then searched as usual."""
        found = self.search(query, limit)
        if found:
            return found
        if self._vocabulary is None:
            self._vocabulary = sorted(set(self._title_words.texts) | set(self._artist_words.texts))
        fixed = []
        for word in normalise_text(query).split():
            close = difflib.get_close_matches(word, self._vocabulary, n=1, cutoff=0.7)
            fixed.append(close[0] if close else word)
        return self.search(" ".join(fixed), limit)

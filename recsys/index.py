"""A FAISS vector index over string ids that knows nothing about models.

- cosine (vectors normalised, inner product) or raw inner product;
- the index kind follows the size unless set: exact `IndexFlatIP` for small catalogues,
  HNSW for large ones, IVF-PQ where memory matters more than recall;
- string ids map to stable int64 ids; songs can be added and removed without a rebuild;
- filters (exclude ids, restrict to an allowed subset) run inside FAISS through id selectors,
  so a filtered search returns k results that pass the filter, not k minus the ones dropped.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

Kind = Literal["auto", "flat", "hnsw", "ivfpq"]
Metric = Literal["cosine", "ip"]


@dataclass
class IndexConfig:
    """How to index.

    Parameters
    ----------
    kind : "auto" picks "flat" below `exact_below` vectors and "hnsw" from there on.
    metric : "cosine" normalises vectors (and queries); "ip" keeps raw inner products.
    hnsw_m, ef_construction, ef_search : HNSW graph degree and build/search beam widths.
    nlist, nprobe : IVF cells (default about 4 sqrt(n)) and cells visited per query.
    pq_m : PQ sub-quantisers of 8 bits each (must divide the dimension); 0 means dim / 4.
    """

    kind: Kind = "auto"
    metric: Metric = "cosine"
    exact_below: int = 100_000
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 96
    nlist: int | None = None
    nprobe: int = 32
    pq_m: int = 0

    def resolved_kind(self, n: int) -> str:
        if self.kind != "auto":
            return self.kind
        return "flat" if n < self.exact_below else "hnsw"


@contextmanager
def _threads_for(n_queries: int) -> Iterator[None]:
    """One OpenMP thread for a handful of queries: there is nothing to split, and waking idle
    threads costs more than the search (6-12x slower single queries on a busy 2-core machine,
    measured in bench/README.md)."""
    import faiss

    if n_queries > _SMALL_BATCH:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


_SMALL_BATCH = 4


class UnknownIdError(KeyError):
    """An id the index does not hold."""


class VectorIndex:
    """Nearest-neighbour search over (string id, vector) pairs.

    Build with `VectorIndex.build(ids, vectors, config)`; `search` returns ids and scores, best
    first. Ids stay stable across `add` and `remove`.
    """

    def __init__(self, dim: int, config: IndexConfig | None = None, kind: str = "flat") -> None:
        self.dim = dim
        self.config = config or IndexConfig()
        self.kind = kind
        self._ids: list[str | None] = []  # int64 id -> string id (None once removed)
        self._lookup: dict[str, int] = {}
        self._tombstones: set[int] = set()  # HNSW cannot delete; its removals are filtered
        self._index: Any = None

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def build(
        cls, ids: Sequence[str], vectors: np.ndarray, config: IndexConfig | None = None
    ) -> VectorIndex:
        config = config or IndexConfig()
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(ids) != len(vectors):
            raise ValueError(f"need one vector per id: {len(ids)} ids, vectors {vectors.shape}")
        index = cls(vectors.shape[1], config, config.resolved_kind(len(ids)))
        index._index = index._make(vectors)
        index.add(ids, vectors)
        return index

    def _make(self, sample: np.ndarray) -> Any:
        import faiss

        cfg, dim = self.config, self.dim
        if self.kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        if self.kind == "hnsw":
            base = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = cfg.ef_construction
            return faiss.IndexIDMap2(base)
        if self.kind == "ivfpq":
            pq_m = cfg.pq_m or max(1, dim // 4)
            if dim % pq_m:
                raise ValueError(f"pq_m={pq_m} must divide the dimension {dim}")
            nlist = cfg.nlist or max(1, int(4 * np.sqrt(len(sample))))
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
            ivf.train(self._prepare(sample))
            ivf.nprobe = cfg.nprobe
            # A hash-table direct map lets single vectors be read back, and still allows removal.
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
            return ivf  # IVF stores external ids itself and supports remove_ids
        raise ValueError(f"unknown index kind {self.kind!r}; expected flat, hnsw or ivfpq")

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {vectors.shape[1]}, index has {self.dim}")
        if self.config.metric == "cosine":
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return vectors

    # -- changing -----------------------------------------------------------------------------
    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add songs; an id already present is replaced by its new vector."""
        if len(set(ids)) != len(ids):
            raise ValueError("ids to add must be unique")
        if self.kind == "flat":
            ids, vectors = self._overwrite_present(ids, vectors)
            if not ids:
                return
        present = [i for i in ids if i in self._lookup]
        if present:
            self.remove(present)
        start = len(self._ids)
        numeric = np.arange(start, start + len(ids), dtype=np.int64)
        self._ids.extend(ids)
        self._lookup.update({song: start + n for n, song in enumerate(ids)})
        self._index.add_with_ids(self._prepare(vectors), numeric)

    def _overwrite_present(self, ids: Sequence[str], vectors: np.ndarray
                           ) -> tuple[Sequence[str], np.ndarray]:
        """Write the new vectors of ids a flat index already holds over the stored ones, in
        place; returns the ids (and vectors) still to add. Removing and re-adding would shift
        every vector stored after each removed one: at a million users that memmove is most of
        the cost of updating a batch of them."""
        import faiss

        vectors = np.asarray(vectors, np.float32)
        if not self._lookup:  # a build: nothing to overwrite, and no scan of a million ids
            return ids, vectors
        lookup = self._lookup.get
        numeric = np.fromiter((lookup(i, -1) for i in ids), np.int64, len(ids))  # one pass
        present = numeric >= 0
        if not present.any():
            return ids, vectors
        numeric = numeric[present]
        # Numeric ids are handed out in increasing order and removals keep the stored order,
        # so the id map is sorted and a binary search finds each stored row.
        id_map = faiss.vector_to_array(self._index.id_map)
        rows = np.searchsorted(id_map, numeric)
        if rows.max() >= len(id_map) or not np.array_equal(id_map[rows], numeric):
            return ids, vectors  # not the layout this relies on: remove and add instead
        flat = faiss.downcast_index(self._index.index)
        stored = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * self.dim)
        stored.reshape(flat.ntotal, self.dim)[rows] = self._prepare(vectors[present])
        return [i for i, p in zip(ids, present, strict=True) if not p], vectors[~present]

    def remove(self, ids: Iterable[str]) -> None:
        numeric = np.asarray([self._numeric(i) for i in ids], dtype=np.int64)
        for n in numeric:
            del self._lookup[self._ids[n]]
            self._ids[n] = None
        if self.kind == "hnsw":
            self._tombstones.update(int(n) for n in numeric)
        else:
            self._index.remove_ids(numeric)

    def _numeric(self, song_id: str) -> int:
        try:
            return self._lookup[song_id]
        except KeyError:
            raise UnknownIdError(f"id {song_id!r} is not in the index") from None

    def __len__(self) -> int:
        return len(self._lookup)

    def __contains__(self, song_id: object) -> bool:
        return song_id in self._lookup

    # -- searching ----------------------------------------------------------------------------
    def _params(self, exclude: Iterable[str] | None, allow: Iterable[str] | None, k: int):
        import faiss

        blocked = {self._lookup[i] for i in exclude or () if i in self._lookup}
        blocked |= self._tombstones
        selector = None
        keep_alive = []  # FAISS selectors hold raw pointers to these arrays
        if allow is not None:
            allowed = np.asarray([self._lookup[i] for i in allow if i in self._lookup], np.int64)
            keep_alive.append(allowed)
            selector = faiss.IDSelectorBatch(allowed)
        if blocked:
            blocked_arr = np.fromiter(blocked, dtype=np.int64, count=len(blocked))
            keep_alive.append(blocked_arr)
            inner = faiss.IDSelectorBatch(blocked_arr)
            keep_alive.append(inner)
            negated = faiss.IDSelectorNot(inner)
            if selector is not None:
                keep_alive.extend([selector, negated])
                selector = faiss.IDSelectorAnd(selector, negated)
            else:
                selector = negated
        if selector is not None:
            keep_alive.append(selector)
        cfg = self.config
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(cfg.ef_search, k))
        elif self.kind == "ivfpq":
            params = faiss.SearchParametersIVF(nprobe=cfg.nprobe)
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        return params, keep_alive

    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        exclude: Iterable[str] | None = None,
        allow: Iterable[str] | None = None,
    ) -> tuple[list[list[str]], list[np.ndarray]]:
        """Top-k ids and scores for each query row, best first.

        exclude : ids never returned (e.g. the query songs themselves).
        allow : if given, only these ids can be returned.
        Rows may hold fewer than k results when fewer ids pass the filters.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        queries = self._prepare(queries)
        if allow is not None and self.kind != "flat":
            allow = [i for i in allow if i in self._lookup]
            if len(allow) <= self.SMALL_SUBSET:
                return self._search_subset(queries, k, set(exclude or ()), allow)
        params, _keep_alive = self._params(exclude, allow, k)
        with _threads_for(len(queries)):
            scores, numeric = self._index.search(queries, k, params=params)
        found = numeric >= 0
        out_ids = [[self._ids[n] for n in row[ok]] for row, ok in zip(numeric, found, strict=True)]
        return out_ids, [row[ok] for row, ok in zip(scores, found, strict=True)]

    # An approximate graph or cell search finds too few members of a tiny allowed set, while
    # scoring a few thousand vectors exactly is cheap.
    SMALL_SUBSET = 4096

    def _search_subset(self, queries: np.ndarray, k: int, exclude: set[str], allow: list[str]):
        candidates = [i for i in allow if i not in exclude and self._lookup[i] not in
                      self._tombstones]
        if not candidates:
            return [[] for _ in queries], [np.zeros(0, np.float32) for _ in queries]
        numeric = np.asarray([self._lookup[i] for i in candidates], dtype=np.int64)
        vectors = self._reconstruct(numeric)
        scores = queries @ vectors.T
        take = min(k, len(candidates))
        order = np.argsort(-scores, axis=1, kind="stable")[:, :take]
        return ([[candidates[j] for j in row] for row in order],
                list(np.take_along_axis(scores, order, axis=1)))

    def _reconstruct(self, numeric: np.ndarray) -> np.ndarray:
        # For IVF-PQ this decodes PQ codes: lossy, but close enough to rank a small subset.
        return np.stack([self._index.reconstruct(int(n)) for n in numeric])

    # -- persistence --------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write `index.faiss` and `index.json` into `folder` (each via a temp file + rename)."""
        import faiss

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "dim": self.dim,
            "kind": self.kind,
            "config": dataclasses.asdict(self.config),
            "ids": self._ids,
            "tombstones": sorted(self._tombstones),
        }
        tmp_index, tmp_meta = folder / ".index.faiss.tmp", folder / ".index.json.tmp"
        faiss.write_index(self._index, str(tmp_index))
        tmp_meta.write_text(json.dumps(meta))
        os.replace(tmp_index, folder / "index.faiss")
        os.replace(tmp_meta, folder / "index.json")

    @classmethod
    def load(cls, folder: str | Path) -> VectorIndex:
        import faiss

        folder = Path(folder)
        meta = json.loads((folder / "index.json").read_text())
        index = cls(meta["dim"], IndexConfig(**meta["config"]), meta["kind"])
        index._ids = meta["ids"]
        index._lookup = {s: n for n, s in enumerate(index._ids) if s is not None}
        index._tombstones = set(meta["tombstones"])
        index._index = faiss.read_index(str(folder / "index.faiss"))
        return index

"""The appearance index of the identity registry: every gallery embedding in one FAISS inner-product index.

Embeddings are L2-normalised, so inner product is cosine similarity. Two kinds:

- `flat`: exact search (`IndexFlatIP`), linear in the number of embeddings.
- `hnsw`: approximate search on a Hierarchical Navigable Small World graph (`IndexHNSWFlat`;
  Malkov & Yashunin, IEEE TPAMI 2020), logarithmic in practice. HNSW cannot delete, so removed
  entries are masked and the graph is rebuilt once a quarter of it is dead.

`auto` starts flat and switches to HNSW from `hnsw_from` embeddings; `benchmarks/identity.py`
measures both.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["GalleryIndex"]


class GalleryIndex:
    """Gallery embeddings by integer entry id, searchable by cosine similarity.

    Args:
        kind: `flat`, `hnsw` or `auto`.
        hnsw_from: with `auto`, the number of embeddings from which HNSW is used.
        hnsw_m: HNSW neighbours per node (more: better recall, more memory and build time).
        ef_search: HNSW search breadth (more: better recall, slower lookups).
        ef_construction: HNSW build breadth.

    Raises:
        ValueError: an unknown kind.
    """

    def __init__(self, kind: str = "auto", *, hnsw_from: int = 20000, hnsw_m: int = 32, ef_search: int = 64,
                 ef_construction: int = 80) -> None:
        if kind not in ("auto", "flat", "hnsw"):
            raise ValueError(f"index kind must be auto, flat or hnsw, but got {kind!r}")
        self.kind, self.hnsw_from = kind, hnsw_from
        self.hnsw_m, self.ef_search, self.ef_construction = hnsw_m, ef_search, ef_construction
        self.dim: int | None = None
        self._vectors: dict[int, npt.NDArray[np.float32]] = {}
        self._index = None
        self._hnsw = False
        self._dead: set[int] = set()

    def __len__(self) -> int:
        return len(self._vectors)

    @property
    def active_kind(self) -> str:
        """`flat` or `hnsw`: the structure in use now."""
        return "hnsw" if self._hnsw else "flat"

    def _want_hnsw(self, n: int) -> bool:
        return self.kind == "hnsw" or (self.kind == "auto" and n >= self.hnsw_from)

    def _new_index(self, hnsw: bool):
        import faiss

        assert self.dim is not None
        if hnsw:
            base = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efSearch = self.ef_search
            base.hnsw.efConstruction = self.ef_construction
            return faiss.IndexIDMap(base)
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _rebuild(self, hnsw: bool) -> None:
        self._hnsw = hnsw
        self._dead.clear()
        self._index = self._new_index(hnsw)
        if self._vectors:
            ids = np.fromiter(self._vectors.keys(), np.int64, len(self._vectors))
            self._index.add_with_ids(np.stack(list(self._vectors.values())), ids)

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add embeddings under their entry ids.

        Args:
            ids: `(N,)` int64 entry ids, new ones.
            vectors: `(N, D)` float32 L2-normalised embeddings.

        Raises:
            ValueError: a dimension other than the index's, or mismatched lengths.
        """
        ids_arr = np.asarray(ids, np.int64).reshape(-1)
        vec = np.ascontiguousarray(np.asarray(vectors, np.float32).reshape(len(ids_arr), -1))
        if len(ids_arr) == 0:
            return
        if self.dim is None:
            self.dim = int(vec.shape[1])
        elif vec.shape[1] != self.dim:
            raise ValueError(f"embeddings must have dimension {self.dim}, but got {vec.shape[1]} "
                             "(the embedder changed: expire or rebuild the registry)")
        for i, v in zip(ids_arr.tolist(), vec):
            self._vectors[i] = v
        if self._index is None or (not self._hnsw and self._want_hnsw(len(self._vectors))):
            self._rebuild(self._want_hnsw(len(self._vectors)))
            return
        self._index.add_with_ids(vec, ids_arr)

    def remove(self, ids: npt.ArrayLike) -> None:
        """Remove entries (unknown ids are ignored)."""
        gone = [i for i in np.asarray(ids, np.int64).reshape(-1).tolist() if self._vectors.pop(i, None) is not None]
        if not gone or self._index is None:
            return
        if self._hnsw:
            self._dead.update(gone)
            if len(self._dead) > 0.25 * (len(self._vectors) + len(self._dead)):
                self._rebuild(self._want_hnsw(len(self._vectors)))
        else:
            self._index.remove_ids(np.asarray(gone, np.int64))

    def search(self, query: npt.ArrayLike, k: int) -> list[tuple[int, float]]:
        """The `k` most similar entries to `query`.

        Args:
            query: `(D,)` float32 L2-normalised embedding.
            k: number of neighbours.

        Returns:
            `(entry_id, cosine similarity)` pairs, best first (fewer when the index is small).
        """
        if self._index is None or not self._vectors or k <= 0:
            return []
        q = np.ascontiguousarray(np.asarray(query, np.float32).reshape(1, -1))
        if q.shape[1] != self.dim:
            raise ValueError(f"query must have dimension {self.dim}, but got {q.shape[1]}")
        want = min(len(self._vectors) + len(self._dead), 2 * k if self._dead else k)  # masked entries may take slots
        sims, ids = self._index.search(q, want)
        out = [(int(i), float(s)) for i, s in zip(ids[0], sims[0]) if i >= 0 and int(i) not in self._dead]
        return out[:k]

import numpy as np
import pytest

from recsys.index import IndexConfig, UnknownIdError, VectorIndex


def clustered(n=3000, dim=32, clusters=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    vectors = centres[rng.integers(0, clusters, n)] + 0.3 * rng.normal(size=(n, dim))
    return [f"s{i}" for i in range(n)], vectors.astype(np.float32)


def brute_force(vectors, queries, k, metric="cosine"):
    if metric == "cosine":
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = queries @ vectors.T
    order = np.argsort(-scores, axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, 1)


KINDS = {
    "flat": IndexConfig(kind="flat"),
    "hnsw": IndexConfig(kind="hnsw", hnsw_m=16, ef_search=128),
    "ivfpq": IndexConfig(kind="ivfpq", nlist=32, nprobe=32, pq_m=16),
}


@pytest.mark.parametrize("metric", ["cosine", "ip"])
def test_exact_search_matches_numpy(metric):
    ids, vectors = clustered()
    index = VectorIndex.build(ids, vectors, IndexConfig(kind="flat", metric=metric))
    queries = vectors[:50] + 0.01
    found, scores = index.search(queries, k=10)
    order, expected = brute_force(vectors, queries, 10, metric)
    assert found == [[ids[j] for j in row] for row in order]
    np.testing.assert_allclose(np.stack(scores), expected, rtol=1e-4, atol=1e-5)


def test_auto_kind_follows_size():
    ids, vectors = clustered(n=500)
    assert VectorIndex.build(ids, vectors).kind == "flat"
    assert VectorIndex.build(ids, vectors, IndexConfig(exact_below=100)).kind == "hnsw"


@pytest.mark.parametrize("kind", list(KINDS))
def test_approximate_kinds_find_most_true_neighbours(kind):
    ids, vectors = clustered()
    index = VectorIndex.build(ids, vectors, KINDS[kind])
    found, _ = index.search(vectors[:100], k=10)
    order, _ = brute_force(vectors, vectors[:100], 10)
    truth = [{ids[j] for j in row} for row in order]
    recall = np.mean([len(set(f) & t) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= (0.9 if kind != "ivfpq" else 0.5), recall


@pytest.mark.parametrize("kind", list(KINDS))
def test_filters_never_return_excluded_ids(kind):
    ids, vectors = clustered()
    index = VectorIndex.build(ids, vectors, KINDS[kind])
    exact, _ = index.search(vectors[:5], k=20)
    banned = {i for row in exact for i in row[:15]}
    found, _ = index.search(vectors[:5], k=20, exclude=banned)
    assert all(len(row) == 20 and not banned & set(row) for row in found)
    allowed = [f"s{i}" for i in range(0, 3000, 7)]  # 429 songs scattered over every cluster
    found, scores = index.search(vectors[:5], k=10, allow=allowed, exclude=["s0"])
    assert all(len(row) == 10 and set(row) <= set(allowed) - {"s0"} for row in found)
    assert all(np.all(np.diff(s) <= 1e-6) for s in scores)


@pytest.mark.parametrize("kind", list(KINDS))
def test_add_and_remove_keep_ids_stable(kind, tmp_path):
    ids, vectors = clustered()
    index = VectorIndex.build(ids[:2000], vectors[:2000], KINDS[kind])
    index.add(ids[2000:], vectors[2000:])
    assert len(index) == 3000
    index.remove(["s5", "s2500"])
    assert len(index) == 2998 and "s5" not in index
    found, _ = index.search(vectors[[5, 2500, 7]], k=5)
    assert "s5" not in found[0] and "s2500" not in found[1]
    assert found[2][0] == "s7"  # an untouched song still finds itself first
    with pytest.raises(UnknownIdError, match="s5"):
        index.remove(["s5"])
    index.save(tmp_path / "idx")
    again = VectorIndex.load(tmp_path / "idx")
    assert again.kind == index.kind and len(again) == 2998
    assert again.search(vectors[[5, 2500, 7]], k=5)[0] == found
    # a re-added song is findable again under the same string id
    again.add(["s5"], vectors[[5]])
    assert again.search(vectors[[5]], k=1)[0] == [["s5"]]


@pytest.mark.parametrize("kind", list(KINDS))
def test_replacing_vectors_equals_building_with_the_new_ones(kind, tmp_path):
    ids, vectors = clustered()
    index = VectorIndex.build(ids, vectors, KINDS[kind])
    index.remove(["s10", "s2000"])  # removals before: stored rows have shifted
    index.save(tmp_path / "idx")
    index = VectorIndex.load(tmp_path / "idx")  # and a loaded index behaves the same
    rng = np.random.default_rng(1)
    changed = [3, 1500, 2999]
    new = vectors.copy()
    new[changed] = vectors[rng.choice(3000, 3)] + 0.01 * rng.normal(size=(3, 32))
    index.add([ids[i] for i in changed] + ["s10"], new[[*changed, 10]])  # three replaced, one new
    keep = [i for i in range(3000) if i != 2000]
    fresh = VectorIndex.build([ids[i] for i in keep], new[keep], KINDS[kind])
    assert len(index) == len(fresh) == 2999
    queries = new[[*changed, 10, 7]]
    if kind == "flat":
        assert index.search(queries, k=10)[0] == fresh.search(queries, k=10)[0]
        np.testing.assert_allclose(index.search(queries, k=10)[1], fresh.search(queries, k=10)[1],
                                   rtol=1e-5)
    else:  # approximate kinds: the changed songs are found where their new vectors are
        found, _ = index.search(queries, k=10)
        assert all(ids[i] in row for i, row in zip([*changed, 10], found, strict=False))


def test_bad_input_is_named():
    ids, vectors = clustered(n=10)
    with pytest.raises(ValueError, match="one vector per id"):
        VectorIndex.build(ids[:5], vectors)
    index = VectorIndex.build(ids, vectors)
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="unique"):
        index.add(["x", "x"], vectors[:2])

"""SemDeDup: the within-cluster step against brute force, and out-of-core equal to in-memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.data.dataset import open_dataset
from thresher.scores.semdedup import fit_centroids, kmeans_assign, semdedup_clusters
from thresher.stream.semdedup import read_semdedup, stream_semdedup


def _brute(X, clusters, C, ids, eps, which):
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    Cu = C / np.linalg.norm(C, axis=1, keepdims=True)
    dup = np.zeros(len(X), bool)
    cnt = np.zeros(len(X), int)
    for c in np.unique(clusters):
        mem = [i for i in range(len(X)) if clusters[i] == c]
        key = {i: (float(U[i] @ Cu[c]) if which == "hard" else -float(U[i] @ Cu[c]), ids[i]) for i in mem}
        mem.sort(key=lambda i: key[i])
        for a, i in enumerate(mem):
            for b, j in enumerate(mem):
                if i != j and float(U[i] @ U[j]) >= 1 - eps:
                    cnt[i] += 1
                    if b < a:
                        dup[i] = True
    return dup, cnt


@pytest.mark.parametrize("which", ["hard", "easy"])
def test_within_cluster_step_equals_brute_force(which: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    X[60:90] = X[:30] + rng.normal(scale=0.05, size=(30, 6))
    ids = rng.permutation(1000)[:120]
    C = fit_centroids(X, 7, seed=0)
    cl = kmeans_assign(X, C)
    res = semdedup_clusters(X, cl, C, ids, eps=0.02, which_to_keep=which, block=16)
    dup, cnt = _brute(X.astype(np.float32).astype(np.float64), cl, C, ids, 0.02, which)
    np.testing.assert_array_equal(res.n_similar, cnt)
    np.testing.assert_array_equal(res.is_duplicate, dup)
    assert 20 <= dup.sum() <= 40


def test_stream_equals_in_memory_and_resumes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(900, 8)).astype(np.float32)
    X[600:] = X[:300] + rng.normal(scale=1e-3, size=(300, 8)).astype(np.float32)
    (tmp_path / "d").mkdir()
    for i in range(3):
        blk = X[i * 300 : (i + 1) * 300]
        pq.write_table(pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(blk.reshape(-1)), 8)}),
                       tmp_path / "d" / f"p{i}.parquet")
    ds = open_dataset(tmp_path / "d", embedding_columns="x")
    s = stream_semdedup(ds, tmp_path / "out", n_clusters=6, eps=1e-3, n_train=900, max_group_rows=250)
    assert s["n_groups"] > 1 and s["n_duplicates"] == 300
    got = read_semdedup(tmp_path / "out").to_pandas().set_index("row_id").sort_index()
    t = ds.to_table()
    from thresher.stream.ann import sample_rows

    _, sample = sample_rows(ds, 900, column="embeddings", seed=0)
    C = fit_centroids(sample, 6, seed=0)
    ref = semdedup_clusters(t.embeddings, kmeans_assign(t.embeddings, C), C, t.row_id, eps=1e-3)
    order = np.argsort(t.row_id)
    np.testing.assert_array_equal(got["is_duplicate"].to_numpy(), ref.is_duplicate[order])
    np.testing.assert_array_equal(got["n_similar"].to_numpy(), ref.n_similar[order])
    mt = (tmp_path / "out" / "semdedup" / "part-00000.parquet").stat().st_mtime_ns
    again = stream_semdedup(ds, tmp_path / "out", n_clusters=6, eps=1e-3, n_train=900, max_group_rows=250)
    assert again == s and (tmp_path / "out" / "semdedup" / "part-00000.parquet").stat().st_mtime_ns == mt

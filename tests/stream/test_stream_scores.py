"""Streaming scores over Parquet/JSONL files: equal to in-memory scoring, resumable, keyed, and
the same on Ray Data (one node and a two-node cluster) as locally."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.data.dataset import file_row_ids, open_dataset
from thresher.data.table import Table
from thresher.errors import DataError, InvalidParameterError
from thresher.scores.density import KNNDistance
from thresher.scores.text import TextQuality
from thresher.scores.uncertainty import Entropy, Margin
from thresher.stream.partitions import PartitionStore
from thresher.stream.scores import read_stream_scores, stream_scores


def _write_parts(d: Path, n_files: int = 4, rows: int = 25, seed: int = 0, fmt: str = "parquet") -> Table:
    rng = np.random.default_rng(seed)
    tables = []
    for i in range(n_files):
        logits = rng.normal(size=(rows, 3))
        P = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
        y = rng.integers(0, 3, size=rows)
        text = [" ".join(rng.choice(["data", "model", "lorem", "ipsum", "{x}", "the"], size=6)) for _ in range(rows)]
        at = pa.table({"label": y, "probs": pa.FixedSizeListArray.from_arrays(pa.array(P.reshape(-1)), 3),
                       "text": text})
        if fmt == "parquet":
            pq.write_table(at, d / f"part-{i:03d}.parquet", row_group_size=7)
        else:
            with open(d / f"part-{i:03d}.jsonl", "w") as fh:
                for r in at.to_pylist():
                    fh.write(json.dumps(r) + "\n")
        ids = file_row_ids(f"part-{i:03d}.{'parquet' if fmt == 'parquet' else 'jsonl'}", 0, rows)
        tables.append(Table(ids, columns={"label": y, "text": np.asarray(text, dtype=object)}, matrices={"probs": P}))
    from thresher.data.dataset import concat_tables

    return concat_tables(tables)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_stream_equals_in_memory(tmp_path: Path, fmt: str) -> None:
    whole = _write_parts(tmp_path / "d" if (tmp_path / "d").mkdir() is None else tmp_path, fmt=fmt)
    ds = open_dataset(tmp_path / "d", label_column="label", text_column="text")
    assert ds.n_rows == 100 and ds.n_partitions == 4
    out = tmp_path / "out"
    r = stream_scores(ds, [Margin(), Entropy(), TextQuality()], out, batch_size=6)
    assert (r.n_computed, r.n_skipped, r.n_rows) == (4, 0, 100)
    got = read_stream_scores(out).to_pandas()
    assert got["row_id"].tolist() == whole.row_id.tolist()
    for s in (Margin(), Entropy(), TextQuality()):
        np.testing.assert_allclose(got[s.column].to_numpy(), s.score(whole), rtol=1e-6, atol=1e-7)


def test_row_ids_stable_when_files_are_added(tmp_path: Path) -> None:
    _write_parts(tmp_path, n_files=2)
    before = open_dataset(tmp_path).read_partition(open_dataset(tmp_path).partitions[1]).row_id
    pq.write_table(pa.table({"label": [0], "probs": pa.FixedSizeListArray.from_arrays(pa.array([1.0, 0, 0], pa.float32()), 3),
                             "text": ["x"]}), tmp_path / "part-000a.parquet")
    ds = open_dataset(tmp_path)
    p = [q for q in ds.partitions if q.rel_path == "part-001.parquet"][0]
    assert ds.read_partition(p).row_id.tolist() == before.tolist()


def test_resume_noop_and_parameter_change(tmp_path: Path) -> None:
    _write_parts(tmp_path / "d" if (tmp_path / "d").mkdir() is None else tmp_path)
    ds, out = open_dataset(tmp_path / "d", text_column="text"), tmp_path / "out"
    first = stream_scores(ds, [TextQuality()], out)
    part2 = PartitionStore(out, "scores").part_path(2)
    mtimes = {i: PartitionStore(out, "scores").part_path(i).stat().st_mtime_ns for i in range(4)}
    # a killed job: partition 2's marker never got written
    PartitionStore(out, "scores").marker_path(2).unlink()
    again = stream_scores(ds, [TextQuality()], out)
    assert (again.n_computed, again.n_skipped) == (1, 3)
    assert all(PartitionStore(out, "scores").part_path(i).stat().st_mtime_ns == mtimes[i] for i in (0, 1, 3))
    assert part2.exists()
    noop = stream_scores(ds, [TextQuality()], out)
    assert (noop.n_computed, noop.n_skipped) == (0, 4)
    changed = stream_scores(ds, [TextQuality(rules=["lorem_ipsum"])], out)
    assert changed.n_computed == 4, "a changed scorer parameter must recompute every partition"
    assert first.n_rows == 100


def test_changed_file_recomputes_only_that_partition(tmp_path: Path) -> None:
    _write_parts(tmp_path / "d" if (tmp_path / "d").mkdir() is None else tmp_path)
    ds, out = open_dataset(tmp_path / "d", text_column="text"), tmp_path / "out"
    stream_scores(ds, [TextQuality()], out)
    f = tmp_path / "d" / "part-001.parquet"
    at = pq.read_table(f)
    pq.write_table(at.slice(0, 20), f)
    os.utime(f, ns=(1, 1))
    ds2 = open_dataset(tmp_path / "d", text_column="text")
    r = stream_scores(ds2, [TextQuality()], out)
    assert (r.n_computed, r.n_skipped) == (1, 3)
    assert read_stream_scores(out).num_rows == 95


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="matches no file"):
        open_dataset(tmp_path / "nothing*.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="bad.parquet"):
        open_dataset(tmp_path / "bad.parquet")
    (tmp_path / "bad.parquet").unlink()
    _write_parts(tmp_path, n_files=1)
    ds = open_dataset(tmp_path)
    with pytest.raises(InvalidParameterError, match="KNNDistance depends on other rows"):
        stream_scores(ds, [KNNDistance()], tmp_path / "out")
    with pytest.raises(InvalidParameterError, match="batch_size"):
        stream_scores(ds, [Entropy()], tmp_path / "out", batch_size=0)
    with pytest.raises(InvalidParameterError, match="distinct columns"):
        stream_scores(ds, [Entropy(), Entropy()], tmp_path / "out")


def test_float32_embeddings_stay_float32(tmp_path: Path) -> None:
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    pq.write_table(pa.table({"emb": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 3), "y": [0, 1, 0, 1]}),
                   tmp_path / "a.parquet")
    ds = open_dataset(tmp_path, embedding_columns="emb", label_column="y")
    t = ds.read_partition(ds.partitions[0])
    np.testing.assert_array_equal(t.matrix("embeddings"), X)
    assert t.matrix("embeddings").dtype == np.float32


@pytest.mark.ray
def test_ray_data_equals_local(tmp_path: Path, ray_local) -> None:
    _write_parts(tmp_path / "d" if (tmp_path / "d").mkdir() is None else tmp_path)
    ds = open_dataset(tmp_path / "d", label_column="label", text_column="text")
    a = stream_scores(ds, [Margin(), TextQuality()], tmp_path / "local")
    b = stream_scores(ds, [Margin(), TextQuality()], tmp_path / "ray", executor="ray", n_workers=2)
    assert a.n_rows == b.n_rows == 100
    for i in range(4):
        pa_ = PartitionStore(tmp_path / "local", "scores").part_path(i).read_bytes()
        pb_ = PartitionStore(tmp_path / "ray", "scores").part_path(i).read_bytes()
        assert pa_ == pb_, f"partition {i} differs between local and Ray"
    assert stream_scores(ds, [Margin(), TextQuality()], tmp_path / "ray", executor="ray").n_skipped == 4


@pytest.mark.ray
def test_two_node_cluster_equals_local(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        cluster.wait_for_nodes()
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        _write_parts(tmp_path / "d" if (tmp_path / "d").mkdir() is None else tmp_path)
        ds = open_dataset(tmp_path / "d", label_column="label", text_column="text")
        stream_scores(ds, [Entropy(), TextQuality()], tmp_path / "local")
        r = stream_scores(ds, [Entropy(), TextQuality()], tmp_path / "ray", executor="ray", n_workers=2)
        assert r.n_computed == 4
        a = read_stream_scores(tmp_path / "local")
        b = read_stream_scores(tmp_path / "ray")
        assert a.equals(b)
    finally:
        ray.shutdown()
        cluster.shutdown()

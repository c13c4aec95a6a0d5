"""``thresher stream``: the four commands end to end on Parquet files, and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from thresher.cli import app
from thresher.stream.scores import read_stream_scores

runner = CliRunner()


def _data(d: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(3):
        X = rng.normal(size=(60, 4)).astype(np.float32)
        P = rng.dirichlet(np.ones(3), size=60).astype(np.float32)
        pq.write_table(pa.table({"emb": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), 4),
                                 "probs": pa.FixedSizeListArray.from_arrays(pa.array(P.reshape(-1)), 3),
                                 "y": rng.integers(0, 3, 60)}), d / f"p{i}.parquet")


def test_stream_commands(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    _data(tmp_path / "d")
    src, out = str(tmp_path / "d"), str(tmp_path / "out")
    r = runner.invoke(app, ["stream", "score", src, "-o", out, "-s", "margin", "-s", "entropy", "--label-column", "y"])
    assert r.exit_code == 0, r.output
    assert read_stream_scores(out).num_rows == 180
    r = runner.invoke(app, ["stream", "score", src, "-o", out, "-s", "margin", "-s", "entropy", "--label-column", "y"])
    assert r.exit_code == 0 and "resuming: 3 of 3 partitions already stored" in r.output
    r = runner.invoke(app, ["stream", "score", src, "-o", out, "-s", "margin", "-p", "bogus.k=1", "--label-column", "y"])
    assert r.exit_code != 0 and "bogus" in str(r.exception) + r.output
    r = runner.invoke(app, ["stream", "dedup", src, "-o", out, "--n-clusters", "4", "--embedding-columns", "emb"])
    assert r.exit_code == 0 and "of 180 rows" in r.output
    r = runner.invoke(app, ["stream", "select", src, "-o", out, "-S", "kcenter", "--n", "9", "--embedding-columns", "emb"])
    assert r.exit_code == 0, r.output
    assert pq.read_table(Path(out) / "selection.parquet").num_rows == 9


def test_stream_knn_command(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    (tmp_path / "d").mkdir()
    _data(tmp_path / "d")
    r = runner.invoke(app, ["stream", "knn", str(tmp_path / "d"), "-o", str(tmp_path / "o"), "--k", "3",
                            "--embedding-columns", "emb", "--n-probe", "64"])
    assert r.exit_code == 0, r.output
    assert "recall@3 1.000" in r.output
    r = runner.invoke(app, ["stream", "sieve", str(tmp_path / "o"), "-o", str(tmp_path / "s"), "--n", "5"])
    assert r.exit_code == 0, r.output
    from thresher.stream.sieve import stream_facility_location
    from thresher.select.base import Budget

    sel, _ = stream_facility_location(tmp_path / "o", Budget(n=5))
    got = pq.read_table(tmp_path / "s" / "selection.parquet").column("row_id").to_pylist()
    assert got == sel.row_ids.tolist() and len(got) == 5
    r = runner.invoke(app, ["stream", "greedi", str(tmp_path / "o"), "-o", str(tmp_path / "gr"), "--n", "5",
                            "--local-budget", "k"])
    assert r.exit_code == 0, r.output
    from thresher.stream.graph_greedi import graph_greedi

    gsel, _ = graph_greedi(tmp_path / "o", Budget(n=5), local_budget="k")
    got = pq.read_table(tmp_path / "gr" / "selection.parquet").column("row_id").to_pylist()
    assert got == gsel.row_ids.tolist() and len(got) == 5
    assert json.loads((tmp_path / "gr" / "selection.json").read_text())["union_size"] >= 5

"""Concurrent writers: eight processes writing scores, evaluations and metrics lose nothing.

Every writer process stores, in several rounds, its own score columns, its own metric
results, its own training-run records and one record that every writer computes (the
same key): afterwards each value must be there exactly once, equal to what its writer
computed. Without the run lock these read-modify-write cycles lose columns and
duplicate records (as reported in issue 13: 56, 2 and 35 duplicated rows).
"""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
import pandas  # noqa: F401  (imported once here, so the forked writers do not each import it)
import pytest

from thresher.errors import RunDirLockedError
from thresher.metrics.base import MetricResult
from thresher.store import RunDir
from thresher.store.lock import run_lock

N_WRITERS = 8
N_ROUNDS = 4
IDS = np.arange(50, dtype=np.int64)


def _values(w: int, r: int) -> np.ndarray:
    return np.random.default_rng(100 * w + r).random(len(IDS))


def _writer(path: str, w: int, start: float) -> None:
    while time.time() < start:  # all writers start together
        time.sleep(0.001)
    rd = RunDir(path)
    for r in range(N_ROUNDS):
        col = f"score.w{w}r{r}"
        rd.write_scores(IDS, {col: _values(w, r)}, keys={col: f"k{w}{r}"})
        rd.write_metric(f"m{w}/r{r}", MetricResult("m", float(w * 10 + r)), key=f"mk{w}{r}")
        rd.append_evaluation(
            [
                {"arm": f"a{w}", "fraction": 0.5, "seed": r, "model": "logreg", "accuracy": w + r / 10, "key": f"e{w}{r}"},
                {"arm": "shared", "fraction": 0.5, "seed": r, "model": "logreg", "accuracy": 0.5, "key": f"shared{r}"},
            ]
        )


def test_eight_concurrent_writers_lose_and_duplicate_nothing(tmp_path) -> None:
    ctx = mp.get_context("fork")
    start = time.time() + 0.5
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, start)) for w in range(N_WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * N_WRITERS
    rd = RunDir(tmp_path)
    scores = rd.read_scores().set_index("row_id").loc[IDS]
    assert len(rd.score_columns()) == N_WRITERS * N_ROUNDS
    for w in range(N_WRITERS):
        for r in range(N_ROUNDS):
            np.testing.assert_array_equal(scores[f"score.w{w}r{r}"].to_numpy(), _values(w, r))
            assert rd.score_keys()[f"score.w{w}r{r}"] == f"k{w}{r}"
    metrics = rd.read_metrics()
    assert {k: v["value"] for k, v in metrics.items()} == {
        f"m{w}/r{r}": float(w * 10 + r) for w in range(N_WRITERS) for r in range(N_ROUNDS)
    }
    raw = __import__("pyarrow.parquet", fromlist=["x"]).read_table(rd.evaluation_path).to_pandas()
    # one record per key on disk, not only after de-duplication on read
    assert len(raw) == N_WRITERS * N_ROUNDS + N_ROUNDS and raw["key"].is_unique
    ev = rd.read_evaluation()
    assert ev.attrs["n_duplicates_dropped"] == 0
    assert sorted(ev.loc[ev["arm"] == "a3", "accuracy"]) == pytest.approx([3.0, 3.1, 3.2, 3.3])
    arts = rd.artifacts()  # the manifest survived every writer and records every artifact
    assert sum(a.startswith("scores/") for a in arts) == N_WRITERS * N_ROUNDS
    assert sum(a.startswith("metrics/") for a in arts) == N_WRITERS * N_ROUNDS
    assert sum(a.startswith("evaluation/") for a in arts) == N_WRITERS * N_ROUNDS + N_ROUNDS


def _hold(path: str, ready, release) -> None:
    with run_lock(path):
        ready.set()
        release.wait(30)


def test_a_second_run_fails_fast_naming_the_holder_or_waits(tmp_path) -> None:
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    p.start()
    try:
        assert ready.wait(30)
        t0 = time.perf_counter()
        with pytest.raises(RunDirLockedError, match=rf"held by process {p.pid}"):
            with run_lock(tmp_path, timeout=0):
                pass
        assert time.perf_counter() - t0 < 1.0  # fails fast
        with pytest.raises(RunDirLockedError, match="waited 0.2 s"):
            with run_lock(tmp_path, timeout=0.2):
                pass
        release.set()
        with run_lock(tmp_path, timeout=10):  # waits, then gets it
            pass
    finally:
        release.set()
        p.join(30)
    assert p.exitcode == 0


def test_duplicated_records_in_an_old_file_are_counted_once_and_said(tmp_path, caplog) -> None:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher.evaluate.harness import summarize

    rows = [{"arm": "a", "fraction": 0.5, "seed": s, "model": "logreg", "accuracy": acc} for s, acc in [(0, 0.8), (1, 0.9), (2, 0.7)]]
    df = pd.DataFrame(rows + rows[:2])  # two duplicated training runs (no keys: an old file)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "evaluation.parquet")
    with caplog.at_level("WARNING"):
        s = summarize(RunDir(tmp_path).read_evaluation())
    assert int(s["n_seeds"][0]) == 3 and s["mean"][0] == pytest.approx(0.8)
    assert s.attrs["n_duplicates_dropped"] == 2 and "dropped 2 duplicated" in caplog.text
